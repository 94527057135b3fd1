// The local stack: Azurite (blob, in memory) + the IMDS/ARM emulator, on free loopback ports.
// Used by the tests, the demo and the benchmark; users can run it too (`npm run stack`).
//
//   node dist/stack.cjs [--account <name>] [--https] [--disk]
//
//   --disk    Azurite keeps its data in a folder of the stack's (removed at exit), not in memory: what was
//             committed survives stop-azurite / start-azurite, as a storage service's data survives a restart.
//   --https   Azurite serves HTTPS with a self-signed certificate made here (for 127.0.0.1 and localhost),
//             and accepts OAuth bearer tokens (--oauth basic). Its PEM is in the output as caFile: give it
//             to Node with NODE_EXTRA_CA_CERTS.
//
// Two accounts: the main one in the VM's resource group, and a "data" one in another resource group (to
// exercise the search across the subscription). Keys are random and never printed. A front of Azurite,
// `enforcingEndpoint` (HTTPS with --https), refuses shared-key and key-signed SAS requests to accounts whose
// emulated ARM resource says allowSharedKeyAccess=false, with 403 KeyBasedAuthenticationNotPermitted, as Azure
// Storage does. It is every account's primaryEndpoints.blob in ARM; `blobEndpoint` is Azurite itself.
//
// Prints one JSON line describing the endpoints. Then reads commands on stdin, one per line, answering each
// with one JSON line on stdout:
//   stop-azurite   kills Azurite at once (simulates the storage service going away mid-transfer); with
//                  --disk it stops it as a service stops for a restart (SIGTERM: it closes its store)
//   start-azurite  starts it again on the same port (its in-memory data is gone)
//   stop-front     resets every connection through the front and closes it (the service goes away; Azurite,
//                  and what it holds, stays); start-front opens it again on the same port
//   fail-front <status> <n> [code [on]]   the next n requests through the front get <status> (500, 503...),
//                             with the storage error code <code> (default InternalError, or ServerBusy for
//                             503); with <on>, only requests of that kind: a comp= value (block, blocklist...),
//                             or 'blob' for a Put Blob (a PUT without comp)
//   stall-front <n>           the next n downloads (GET with a body) through the front send their headers and
//                             the first 1000 bytes of the body, and then nothing, with the connection open
//   short-front <n>           the next n downloads (GET with a body) through the front are answered with their
//                             first 1000 bytes only, Content-Length (and Content-Range) saying so: a clean answer
//                             that ends short of the range asked for, as a proxy that cuts answers gives
//   hang-front <n>            the next n requests through the front are accepted and never answered
//   delay-front <ms>          every request through the front waits <ms> before it is forwarded (a slow
//                             service: transfers take long enough to be interrupted); delay-front 0 ends it
//   front-requests            how many requests the front has seen
//   front-log                 the requests since the last front-log: method, path, comp, range and length
//                             (never the query string, which may hold a SAS); and peakInFlight, the most
//                             requests the front had at once (received, not yet answered) since then, and
//                             inFlight, how many it has now
// Closing stdin, SIGINT or SIGTERM stops everything.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { StoredAccount } from '../emulator/arm.js';
import { startEmulator } from '../emulator/server.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const suffix = randomBytes(4).toString('hex');
const accounts = [
  { name: arg('account') ?? `msi${suffix}`, keys: [randomBytes(64).toString('base64'), randomBytes(64).toString('base64')] as [string, string], resourceGroupName: undefined as string | undefined },
  { name: `msidata${suffix}`, keys: [randomBytes(64).toString('base64'), randomBytes(64).toString('base64')] as [string, string], resourceGroupName: 'msistorage-data-rg' },
];
const useHttps = process.argv.includes('--https');
const onDisk = process.argv.includes('--disk');
const work = mkdtempSync(path.join(tmpdir(), 'msistorage-stack-'));
let tls: { cert: string; key: string; certFile: string; keyFile: string } | undefined;

let azurite: ChildProcess | undefined;
let azuritePort = 0;

async function makeCertificate(): Promise<void> {
  const selfsigned = (await import('selfsigned')).default ?? (await import('selfsigned'));
  const pems = await (selfsigned as { generate: (a: unknown, o: unknown) => Promise<{ cert: string; private: string }> }).generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  const certFile = path.join(work, 'azurite-cert.pem');
  const keyFile = path.join(work, 'azurite-key.pem');
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  tls = { cert: pems.cert, key: pems.private, certFile, keyFile };
}

function startAzurite(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const persistence = onDisk ? ['--location', path.join(work, 'azurite')] : ['--inMemoryPersistence'];
    const args = ['--blobHost', '127.0.0.1', '--blobPort', String(port), ...persistence, '--disableTelemetry', '--skipApiVersionCheck', '--silent', '--loose'];
    if (tls) args.push('--cert', tls.certFile, '--key', tls.keyFile, '--oauth', 'basic');
    const child = spawn(process.execPath, [path.join(__dirname, 'azurite-host.cjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
    azurite = child;
    child.stdin!.write(`${JSON.stringify({ accounts: accounts.map((a) => `${a.name}:${a.keys[0]}:${a.keys[1]}`).join(';'), args })}\n`);
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
    if (!onDisk) {
      child.kill('SIGKILL');
      return;
    }
    // On disk, Azurite stops the way a service does on a restart: it closes (what it committed is saved;
    // its metadata store would otherwise keep up to 5 s of changes in memory), and new connections are
    // refused. It gets 10 s before it is killed.
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    // Its host process lives on (it waits on stdin): once Azurite says it has closed, it is done.
    const onClosed = (c: Buffer) => {
      if (/successfully closed/.test(c.toString())) child.kill('SIGKILL');
    };
    child.stdout!.on('data', onClosed);
    child.once('exit', () => {
      clearTimeout(killer);
      child.stdout!.off('data', onClosed);
    });
    child.kill('SIGTERM');
  });
}

/** Azure Storage's answer to a shared-key request on an account with allowSharedKeyAccess=false. */
function keyBasedNotPermitted(res: http.ServerResponse): void {
  const body =
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>KeyBasedAuthenticationNotPermitted</Code>' +
    `<Message>Key based authentication is not permitted on this storage account.\nRequestId:${randomBytes(16).toString('hex')}\nTime:${new Date().toISOString()}</Message></Error>`;
  res.writeHead(403, 'Key based authentication is not permitted on this storage account.', {
    'Content-Type': 'application/xml',
    'Content-Length': String(Buffer.byteLength(body)),
    'x-ms-error-code': 'KeyBasedAuthenticationNotPermitted',
  });
  res.end(body);
}

/**
 * The front: a transparent HTTP proxy to Azurite that applies allowSharedKeyAccess=false, and that the tests
 * drive to fail like a storage service does: it can stop (connections reset, then refused), answer the next
 * requests with a status, or accept them and never answer.
 */
const front = {
  stopped: false,
  failStatus: 0,
  failCount: 0,
  failCode: '',
  failOn: '',
  hangCount: 0,
  stallCount: 0,
  shortCount: 0,
  delayMs: 0,
  requests: 0,
  inFlight: 0,
  peakInFlight: 0,
  log: [] as { method: string; path: string; comp: string | null; range: string | null; length: number }[],
  sockets: new Set<import('node:net').Socket>(),
};
let frontServer: http.Server | https.Server | undefined;
let frontPort = 0;

/** How much of a download's body stall-front and short-front let through. */
const CUT_BYTES = 1000;

/** Writes the first CUT_BYTES of `up`'s body to `res`, then calls `then` once; later data is dropped. */
function passFirstBytes(up: http.IncomingMessage, res: http.ServerResponse, then: () => void): void {
  let sent = 0;
  up.on('data', (chunk: Buffer) => {
    if (sent >= CUT_BYTES) return;
    const part = chunk.subarray(0, CUT_BYTES - sent);
    sent += part.length;
    res.write(part);
    if (sent >= CUT_BYTES) then();
  });
}

function startFront(target: string, stored: () => StoredAccount[]): Promise<string> {
  const upstream = new URL(target);
  // Over HTTPS when Azurite is: OAuth clients (New-MsiStorageContext -UseManagedIdentity) refuse plain HTTP.
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    front.requests++;
    // In flight from its arrival (a delay-front wait included) until its answer ends or its connection goes.
    front.inFlight++;
    front.peakInFlight = Math.max(front.peakInFlight, front.inFlight);
    res.once('close', () => front.inFlight--);
    const seen = new URL(req.url ?? '/', 'http://front');
    if (front.log.length < 10_000) {
      const range = req.headers['x-ms-range'] ?? req.headers.range;
      front.log.push({ method: req.method ?? '', path: seen.pathname, comp: seen.searchParams.get('comp'), range: typeof range === 'string' ? range : null, length: Number(req.headers['content-length'] ?? 0) });
    }
    if (front.delayMs > 0) {
      setTimeout(() => proxy(req, res), front.delayMs);
      return;
    }
    proxy(req, res);
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, listener) : http.createServer(listener);
  function proxy(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (front.hangCount > 0) {
      front.hangCount--;
      req.resume();
      return;
    }
    const params = new URL(req.url ?? '/', 'http://front').searchParams;
    const kind = params.get('comp') ?? (req.method === 'PUT' && !params.has('restype') ? 'blob' : '');
    if (front.failCount > 0 && (!front.failOn || front.failOn === kind)) {
      front.failCount--;
      req.resume();
      const code = front.failCode || (front.failStatus === 503 ? 'ServerBusy' : 'InternalError');
      const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>Injected fault.</Message></Error>`;
      res.writeHead(front.failStatus, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(body)), 'x-ms-error-code': code });
      res.end(body);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://front');
    const account = stored().find((a) => a.name === url.pathname.split('/')[1]?.toLowerCase());
    const keyBased = /^SharedKey(Lite)?\s/i.test(req.headers.authorization ?? '') || (url.searchParams.has('sig') && !url.searchParams.has('skoid'));
    if (account && account.allowSharedKeyAccess === false && keyBased) {
      req.resume();
      return keyBasedNotPermitted(res);
    }
    const lib = upstream.protocol === 'https:' ? https : http;
    const proxied = lib.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, ca: tls?.cert },
      (up) => {
        // stall-front and short-front take a download's answer (a GET with more than 1000 bytes of body) and
        // pass its first 1000 bytes only.
        const cuttable = req.method === 'GET' && (up.statusCode === 200 || up.statusCode === 206) && Number(up.headers['content-length'] ?? 0) > CUT_BYTES;
        if (cuttable && front.shortCount > 0) {
          // A short answer, whole in itself: its headers promise those bytes, and they come. The rest is read
          // and dropped (Azurite's answer ends as usual).
          front.shortCount--;
          const range = /^bytes (\d+)-\d+\/(\d+)$/.exec(String(up.headers['content-range'] ?? ''));
          const headers = { ...up.headers, 'content-length': String(CUT_BYTES) };
          if (range) headers['content-range'] = `bytes ${range[1]}-${Number(range[1]) + CUT_BYTES - 1}/${range[2]}`;
          res.writeHead(up.statusCode ?? 206, up.statusMessage, headers);
          passFirstBytes(up, res, () => res.end());
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
        if (cuttable && front.stallCount > 0) {
          // A body that stalls: then nothing, the connection left open until the client gives up on it.
          front.stallCount--;
          passFirstBytes(up, res, () => up.pause());
          res.on('close', () => up.destroy());
          return;
        }
        up.pipe(res);
      },
    );
    // Azurite gone (stop-azurite): the connection is reset, as a service that went away resets it.
    proxied.on('error', () => {
      if (!res.headersSent) req.socket.resetAndDestroy();
      else res.destroy();
    });
    req.pipe(proxied);
  }
  server.on('connection', (socket: import('node:net').Socket) => {
    front.sockets.add(socket);
    socket.on('close', () => front.sockets.delete(socket));
  });
  frontServer = server;
  return new Promise((resolve) =>
    server.listen(frontPort, '127.0.0.1', () => {
      frontPort = (server.address() as AddressInfo).port;
      resolve(`${tls ? 'https' : 'http'}://127.0.0.1:${frontPort}`);
    }),
  );
}

function stopFront(): Promise<void> {
  return new Promise((resolve) => {
    for (const s of front.sockets) s.resetAndDestroy();
    if (!frontServer) return resolve();
    frontServer.close(() => resolve());
    frontServer = undefined;
  });
}

const STACK_COMMANDS = 'stop-azurite, start-azurite, stop-front, start-front, fail-front <status> <n> [code [on]], hang-front <n>, delay-front <ms>, stall-front <n>, short-front <n>, front-requests and front-log';

async function main(): Promise<void> {
  if (useHttps) await makeCertificate();
  const azuriteUrl = await startAzurite(0);
  azuritePort = Number(new URL(azuriteUrl).port);
  const endpoint = (name: string) => `${azuriteUrl}/${name}/`;
  const emu = await startEmulator({ accounts: accounts.map((a) => ({ name: a.name, keys: a.keys, blobEndpoint: endpoint(a.name), resourceGroupName: a.resourceGroupName })) });
  const storedAccounts = () => emu.accounts;
  const frontUrl = await startFront(azuriteUrl, storedAccounts);
  for (const a of emu.accounts) a.enforcingEndpoint = `${frontUrl}/${a.name}/`;
  const info = {
    imdsHost: emu.url,
    legacyTokenEndpoint: `${emu.url}/oauth2/token`,
    armEndpoint: `${emu.url}/`,
    blobEndpoint: endpoint(accounts[0].name),
    enforcingEndpoint: `${frontUrl}/${accounts[0].name}/`,
    frontBlobEndpoint: `${frontUrl}/${accounts[0].name}/`,
    azuriteUrl,
    storageAccountName: accounts[0].name,
    subscriptionId: emu.subscriptionId,
    resourceGroupName: emu.resourceGroupName,
    dataStorageAccountName: accounts[1].name,
    dataResourceGroupName: accounts[1].resourceGroupName,
    dataBlobEndpoint: endpoint(accounts[1].name),
    tenantId: emu.tenantId,
    identity: emu.identity,
    caFile: tls?.certFile ?? null,
    pid: process.pid,
    azuritePid: azurite?.pid,
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);

  const shutdown = async () => {
    await stopAzurite();
    await emu.close();
    rmSync(work, { recursive: true, force: true });
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
        } else if (cmd === 'stop-front') {
          await stopFront();
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (cmd === 'start-front') {
          await startFront(azuriteUrl, storedAccounts);
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (/^fail-front \d{3} \d+( [A-Za-z]+( [a-z]+)?)?$/.test(cmd)) {
          const [, status, count, code, on] = cmd.split(' ');
          front.failStatus = Number(status);
          front.failCount = Number(count);
          front.failCode = code ?? '';
          front.failOn = on ?? '';
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (/^hang-front \d+$/.test(cmd)) {
          front.hangCount = Number(cmd.split(' ')[1]);
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (/^delay-front \d+$/.test(cmd)) {
          front.delayMs = Number(cmd.split(' ')[1]);
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (/^short-front \d+$/.test(cmd)) {
          front.shortCount = Number(cmd.split(' ')[1]);
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (/^stall-front \d+$/.test(cmd)) {
          front.stallCount = Number(cmd.split(' ')[1]);
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd })}\n`);
        } else if (cmd === 'front-log') {
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd, requests: front.log, peakInFlight: front.peakInFlight, inFlight: front.inFlight })}\n`);
          front.log = [];
          front.peakInFlight = front.inFlight;
        } else if (cmd === 'front-requests') {
          process.stdout.write(`${JSON.stringify({ ok: true, command: cmd, requests: front.requests })}\n`);
        } else if (cmd) {
          // Not echoed: a line that is no command may be anything pasted here, keys included.
          process.stdout.write(`${JSON.stringify({ ok: false, error: `unknown command (a ${cmd.length}-character line, not repeated here); the commands are ${STACK_COMMANDS}` })}\n`);
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
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
