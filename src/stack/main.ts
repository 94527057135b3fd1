// The local stack: Azurite (blob, in memory) + the IMDS/ARM emulator, on free loopback ports.
// Used by the tests, the demo and the benchmark; users can run it too (`npm run stack`).
//
//   node dist/stack.cjs [--account <name>] [--https --cert <pem> --key <pem> [--oauth]]
//
// Prints one JSON line describing the endpoints (never a key). Then reads commands on stdin, one per line,
// answering each with one JSON line on stdout:
//   stop-azurite   kills Azurite at once (simulates the storage service going away mid-transfer)
//   start-azurite  starts it again on the same port (its in-memory data is gone)
// Closing stdin, SIGINT or SIGTERM stops everything.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { startEmulator } from '../emulator/server.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const accountName = arg('account') ?? `msi${randomBytes(5).toString('hex')}`;
const keys: [string, string] = [randomBytes(64).toString('base64'), randomBytes(64).toString('base64')];
const https = process.argv.includes('--https');

let azurite: ChildProcess | undefined;
let azuritePort = 0;

function startAzurite(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--silent', '--loose'];
    if (https) args.push('--cert', arg('cert') ?? '', '--key', arg('key') ?? '');
    if (process.argv.includes('--oauth')) args.push('--oauth', 'basic');
    const child = spawn(process.execPath, [path.join(__dirname, 'azurite-host.cjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
    azurite = child;
    child.stdin!.write(`${JSON.stringify({ accounts: `${accountName}:${keys[0]}:${keys[1]}`, args })}\n`);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30 s: ${out}`)), 30_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /successfully listens on (https?:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => process.stderr.write(`[azurite] ${c}`));
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (azurite === child) azurite = undefined;
      reject(new Error(`Azurite exited with code ${code}: ${out}`));
    });
  });
}

function stopAzurite(): Promise<void> {
  const child = azurite;
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function main(): Promise<void> {
  const azuriteUrl = await startAzurite(0);
  azuritePort = Number(new URL(azuriteUrl).port);
  const blobEndpoint = `${azuriteUrl.replace('://127.0.0.1', '://127.0.0.1')}/${accountName}/`;
  const emu = await startEmulator({ accounts: [{ name: accountName, keys, blobEndpoint }] });
  const info = {
    imdsHost: emu.url,
    legacyTokenEndpoint: `${emu.url}/oauth2/token`,
    armEndpoint: `${emu.url}/`,
    blobEndpoint,
    azuriteUrl,
    storageAccountName: accountName,
    subscriptionId: emu.subscriptionId,
    resourceGroupName: emu.resourceGroupName,
    tenantId: emu.tenantId,
    identity: emu.identity,
    pid: process.pid,
    azuritePid: azurite?.pid,
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);

  const shutdown = async () => {
    await stopAzurite();
    await emu.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const cmd = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      try {
        if (cmd === 'stop-azurite') {
          await stopAzurite();
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (cmd === 'start-azurite') {
          await startAzurite(azuritePort);
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd, azuritePid: azurite?.pid })}\n`);
        } else if (cmd) {
          process.stdout.write(`${JSON.stringify({ ok: false, command: cmd, error: 'unknown command' })}\n`);
        }
      } catch (err) {
        process.stdout.write(`${JSON.stringify({ ok: false, command: cmd, error: (err as Error).message })}\n`);
      }
    }
  });
  process.stdin.on('end', () => void shutdown());
}

main().catch(async (err) => {
  process.stderr.write(`stack: ${(err as Error).message}\n`);
  await stopAzurite();
  process.exit(1);
});
