// `node emulator.cjs [options]`: runs the IMDS + ARM emulator until Ctrl+C. Prints one JSON line with its
// endpoints on stdout, and how to use them on stderr.
//
//   --port <n>                 listen port (default 0: a free one)
//   --account <name>           storage account name (default devstoreaccount1, Azurite's default account)
//   --blob-endpoint <url>      the account's blob endpoint (default http://127.0.0.1:10000/<account>/)
//   --subscription-id <guid>   --resource-group <name>   --token-lifetime <sec>
//   --accounts-from-stdin      read {"accounts":[{"name","keys":[key1,key2],"blobEndpoint"}]} from stdin,
//                              so that custom keys never appear in a command line or the environment.
import { type EmulatorAccount, startEmulator } from './server.js';

/** Azurite's well-known development account; its key is public (documented by Microsoft). */
export const DEVSTORE_ACCOUNT = 'devstoreaccount1';
export const DEVSTORE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  let accounts: EmulatorAccount[];
  if (process.argv.includes('--accounts-from-stdin')) {
    accounts = (JSON.parse(await readStdin()) as { accounts: EmulatorAccount[] }).accounts;
  } else {
    const name = arg('account') ?? DEVSTORE_ACCOUNT;
    accounts = [{ name, keys: [DEVSTORE_KEY, DEVSTORE_KEY], blobEndpoint: arg('blob-endpoint') ?? `http://127.0.0.1:10000/${name}/` }];
  }
  const emu = await startEmulator({
    port: Number(arg('port') ?? 0),
    subscriptionId: arg('subscription-id'),
    resourceGroupName: arg('resource-group'),
    tokenLifetimeSec: arg('token-lifetime') ? Number(arg('token-lifetime')) : undefined,
    accounts,
  });
  const info = {
    url: emu.url,
    imdsHost: emu.url,
    legacyTokenEndpoint: `${emu.url}/oauth2/token`,
    appServiceEndpoint: `${emu.url}/msi/token`,
    arcEndpoint: `${emu.url}/arc/metadata/identity/oauth2/token`,
    cloudShellEndpoint: `${emu.url}/cloudshell/oauth2/token`,
    control: `${emu.url}/__emulator/info`,
    armEndpoint: `${emu.url}/`,
    subscriptionId: emu.subscriptionId,
    resourceGroupName: emu.resourceGroupName,
    accounts: accounts.map((a) => ({ name: a.name, blobEndpoint: a.blobEndpoint })),
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.stderr.write(
    [
      `MsiStorage emulator (IMDS + ARM) listening on ${emu.url}`,
      `  $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = '${emu.url}'`,
      `  Get-MsiStorageKey -ArmEndpoint '${emu.url}/' -SubscriptionId ${emu.subscriptionId} -ResourceGroupName ${emu.resourceGroupName} -StorageAccountName ${accounts[0]?.name}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  const stop = () => void emu.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`emulator: ${(err as Error).message}\n`);
  process.exit(1);
});
