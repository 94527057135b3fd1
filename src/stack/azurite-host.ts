// Runs Azurite's blob service in this process with accounts and keys read from stdin, so that the keys
// never appear in any process's command line or environment block (/proc/<pid>/environ shows the
// environment a process started with, not later assignments). Exits when stdin closes (its parent died).
//   stdin: {"accounts":"name:key1:key2", "args":["--blobPort","0",...]}\n
let buffered = '';
let started = false;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  if (started) return;
  buffered += chunk;
  const nl = buffered.indexOf('\n');
  if (nl < 0) return;
  started = true;
  const cfg = JSON.parse(buffered.slice(0, nl)) as { accounts: string; args: string[] };
  buffered = '';
  process.env.AZURITE_ACCOUNTS = cfg.accounts;
  process.argv = [process.argv[0], 'azurite-blob', ...cfg.args];
  // Resolved at run time from node_modules (Azurite is a dev dependency, not bundled).
  require('azurite/dist/src/blob/main.js');
});
process.stdin.on('end', () => process.exit(0));
