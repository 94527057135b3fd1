// getToken in process, against the project's emulator (and loopback listeners): the caller's deadline, the
// retry counts, the second connect attempt, each source's error format and Arc found by its agent's
// executable. Nothing leaves loopback: every source here points at 127.0.0.1.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentityState, identityRoutes } from '../../src/emulator/identity.js';
import { TokenSigner } from '../../src/emulator/jwt.js';
import { type Emulator, startEmulator } from '../../src/emulator/server.js';
import type { MsiError } from '../../src/errors.js';
import { imdsRetryPolicy, getToken } from '../../src/identity/token.js';
import { setVerbose } from '../../src/log.js';
import { Deadline, sendWithRetries } from '../../src/retry.js';

const VARS = [
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'MSISTORAGE_ARC_KEY_DIR',
  'MSISTORAGE_ARC_HIMDS_PATH',
  'MSISTORAGE_RETRY_DELAY_SCALE',
] as const;
const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
const NO_AGENT = path.join(tmpdir(), 'msistorage-no-such-dir', 'himds');

let emu: Emulator;
const identityStatuses = async () =>
  ((await (await fetch(`${emu.url}/__emulator/requests`)).json()) as { target: string; status: number }[]).filter((r) => r.target !== 'arm').map((r) => r.status);
/** The promise's error, or a failure if it takes longer than ms (so a test of a deadline cannot hang). */
const failureOf = async (p: Promise<unknown>, ms = 10_000): Promise<MsiError> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)));
  try {
    await Promise.race([p, late]);
  } catch (err) {
    return err as MsiError;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected a failure, got a token');
};

beforeAll(async () => {
  setVerbose(false);
  emu = await startEmulator({ accounts: [] });
});
afterAll(async () => {
  for (const k of VARS) saved[k] === undefined ? delete process.env[k] : (process.env[k] = saved[k]);
  await emu?.close();
});
beforeEach(async () => {
  for (const k of VARS) delete process.env[k];
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = emu.url;
  process.env.MSISTORAGE_ARC_HIMDS_PATH = NO_AGENT;
  process.env.MSISTORAGE_RETRY_DELAY_SCALE = '0.01';
  emu.faults.clear();
  emu.state.configure(true, 2);
  await fetch(`${emu.url}/__emulator/requests`, { method: 'DELETE' });
});

describe("the caller's deadline", () => {
  it('replaces the default: a session with 1 s left gets no fresh 90 s for its token', async () => {
    emu.faults.add('imds', [{ hang: true }, { hang: true }, { hang: true }]);
    const started = Date.now();
    const err = await failureOf(getToken({ timeoutSec: 90 }, undefined, new Deadline(1)));
    expect(err.code).toBe('IdentityEndpointTimeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('names the parameter that set it', async () => {
    emu.faults.add('imds', [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }]);
    const err = await failureOf(getToken({}, undefined, new Deadline(0.05, 'SessionTimeoutSec')));
    expect(err.message).toContain('-SessionTimeoutSec');
  });

  it('without one, -TimeoutSec still bounds the call', async () => {
    emu.faults.add('imds', [{ hang: true }, { hang: true }]);
    const started = Date.now();
    expect((await failureOf(getToken({ timeoutSec: 1 }))).code).toBe('IdentityEndpointTimeout');
    expect(Date.now() - started).toBeLessThan(2500);
  });
});

describe('retry counts', () => {
  it('410 ×6, then 503, then success: the 410s do not use up the other retries', async () => {
    emu.faults.add('imds', [...Array.from({ length: 6 }, () => ({ status: 410 })), { status: 503 }]);
    const token = await getToken({});
    expect(token.source).toBe('IMDS');
    expect(await identityStatuses()).toEqual([410, 410, 410, 410, 410, 410, 503, 200]);
  });

  it('still stops after five other retries', async () => {
    emu.faults.add('imds', Array.from({ length: 7 }, () => ({ status: 500 })));
    expect((await failureOf(getToken({}))).code).toBe('IdentityEndpointUnavailable');
    expect(await identityStatuses()).toEqual([500, 500, 500, 500, 500, 500]);
  });
});

describe('connecting to an endpoint where connects hang (as to 169.254.169.254 off Azure)', () => {
  let listener: ChildProcess;
  let port: number;
  const fillers: net.Socket[] = [];

  beforeAll(async () => {
    // A listening socket whose process never accepts (its event loop is blocked): once the accept queue is
    // full, the kernel drops further SYNs, and a connect hangs. (Node takes a backlog of 0 for its default, 511.)
    listener = spawn(process.execPath, [
      '-e',
      "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(String(s.address().port)+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0)})",
    ]);
    port = await new Promise<number>((resolve, reject) => {
      listener.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      listener.once('exit', (code) => reject(new Error(`listener exited (${code})`)));
    });
    for (let i = 0; i < 4; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => undefined));
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(() => {
    for (const s of fillers) s.destroy();
    listener?.kill();
  });

  // The wall-clock upper bounds leave room for a loaded machine (vitest runs files in parallel, beside
  // integration tests that start stacks and move hundreds of MiB): the exact waits are the policy's own.
  it('tries a second time within the fast-fail budget, then stops', async () => {
    const policy = imdsRetryPolicy();
    const timeouts: number[] = [];
    const observed = {
      ...policy,
      connectTimeoutFor(attempt: number, elapsedMs: number, earlier?: Parameters<NonNullable<typeof policy.connectTimeoutFor>>[2]) {
        const ms = policy.connectTimeoutFor!(attempt, elapsedMs, earlier);
        timeouts.push(ms);
        return ms;
      },
    };
    const started = Date.now();
    const request = { method: 'GET' as const, url: `http://127.0.0.1:${port}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x`, headers: { Metadata: 'true' } };
    const outcome = await sendWithRetries(() => request, observed, new Deadline(90));
    const elapsed = Date.now() - started;
    expect(outcome.error?.kind).toBe('connectTimeout');
    expect(outcome.attempts).toBe(2);
    // 1000 ms, then what is left of the 1600 ms budget (never less than 400 ms).
    expect(timeouts).toHaveLength(2);
    expect(timeouts[0]).toBe(1000);
    expect(timeouts[1]).toBeGreaterThanOrEqual(400);
    expect(timeouts[1]).toBeLessThanOrEqual(600);
    // Both waits were spent (a refused connect would end at once), and nothing more was tried.
    expect(elapsed).toBeGreaterThanOrEqual(1550);
    expect(elapsed).toBeLessThan(2800);
  });

  it('then says no endpoint is reachable from this machine', async () => {
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = `http://127.0.0.1:${port}`;
    const started = Date.now();
    const err = await failureOf(getToken({}));
    expect(err.code).toBe('ManagedIdentityUnavailable');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1550);
    expect(Date.now() - started).toBeLessThan(2800);
  });
});

describe("each source's error format", () => {
  beforeEach(() => {
    process.env.IDENTITY_ENDPOINT = `${emu.url}/msi/token`;
    process.env.IDENTITY_HEADER = emu.state.appServiceHeader;
  });

  it("App Service's not-found body with -ClientId: IdentityNotFound naming the client id and -ClientId", async () => {
    const clientId = randomUUID();
    const err = await failureOf(getToken({ clientId }));
    expect(err.code).toBe('IdentityNotFound');
    expect(err.parameter).toBe('ClientId');
    expect(err.message).toContain(`No managed identity with client id ${clientId} is assigned to this resource.`);
    expect(err.message).toContain('No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.');
  });

  it('App Service without a system-assigned identity and no selector: IdentityNotFound, which says how to select one', async () => {
    emu.state.configure(false, 1);
    const err = await failureOf(getToken({}));
    expect(err.code).toBe('IdentityNotFound');
    expect(err.message).toMatch(/-ClientId, -ObjectId or -IdentityResourceId/);
  });

  it("App Service's unknown resource is InvalidResource", async () => {
    expect((await failureOf(getToken({ resource: 'bogus' }))).code).toBe('InvalidResource');
  });

  it("Cloud Shell's unknown audience is InvalidResource", async () => {
    delete process.env.IDENTITY_ENDPOINT;
    process.env.MSI_ENDPOINT = `${emu.url}/cloudshell/oauth2/token`;
    const err = await failureOf(getToken({ resource: 'bogus' }));
    expect(err.code).toBe('InvalidResource');
    expect(err.azure?.code).toBe('AudienceNotSupported');
  });

  it('an injected App Service fault comes in App Service format', async () => {
    emu.faults.add('appservice', Array.from({ length: 6 }, () => ({ status: 500 })));
    const res = await fetch(`${emu.url}/msi/token`);
    expect(await res.json()).toMatchObject({ statusCode: 500, message: 'Failed to retrieve token from the Active directory.' });
  });
});

describe('sources MsiStorage refuses', () => {
  it('Service Fabric: refused before any request', async () => {
    process.env.IDENTITY_ENDPOINT = `${emu.url}/msi/token`;
    process.env.IDENTITY_HEADER = emu.state.appServiceHeader;
    process.env.IDENTITY_SERVER_THUMBPRINT = 'A1B2C3';
    expect((await failureOf(getToken({}))).code).toBe('ManagedIdentitySourceNotSupported');
    expect(await identityStatuses()).toEqual([]);
  });
});

describe("Azure Arc found by its agent's executable", () => {
  // MSAL's fixed endpoint for this case is http://127.0.0.1:40342/metadata/identity/oauth2/token: the
  // emulator's Arc route is served there.
  let server: http.Server;
  /** Why the test cannot run here: the port is taken (an Arc agent, or another run of these tests). */
  let portBusy: string | undefined;
  const statuses: number[] = [];
  const keyDir = mkdtempSync(path.join(tmpdir(), 'arc-keys-'));
  const himds = path.join(mkdtempSync(path.join(tmpdir(), 'azcmagent-')), 'himds');

  beforeAll(async () => {
    writeFileSync(himds, '');
    const state = new IdentityState(randomUUID(), 'msistorage-rg');
    state.arc = { keyDir };
    const arc = identityRoutes({ state, signer: new TokenSigner(), tenantId: randomUUID(), lifetimeSec: () => 3600 })['/arc/metadata/identity/oauth2/token'];
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1:40342');
        res.on('finish', () => statuses.push(res.statusCode));
        if (url.pathname !== '/metadata/identity/oauth2/token') return res.writeHead(404).end();
        arc.handle({ req, res, url, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    // The port is MSAL's, fixed in src/identity/arc.ts (ARC_DEFAULT_ENDPOINT): it cannot be given another.
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE') return reject(new Error(`port 40342 (the Arc agent's) is needed for this test: ${err.message}`));
        portBusy = `127.0.0.1:40342 (the Arc agent's fixed port) is in use on this machine (an Arc agent, or another run of these tests): ${err.message}`;
        console.warn(`[identity-emulator] SKIPPING the Arc agent test: ${portBusy}`);
        resolve();
      });
      server.listen(40342, '127.0.0.1', () => resolve());
    });
  });
  afterAll(async () => {
    if (portBusy) return;
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('gets the token from 127.0.0.1:40342 through the key-file challenge', async (ctx) => {
    if (portBusy) ctx.skip(portBusy);
    process.env.MSISTORAGE_ARC_HIMDS_PATH = himds;
    process.env.MSISTORAGE_ARC_KEY_DIR = keyDir;
    const token = await getToken({});
    expect(token.source).toBe('AzureArc');
    expect(token.endpoint).toBe('http://127.0.0.1:40342/metadata/identity/oauth2/token');
    expect(statuses).toEqual([401, 200]);
  });
});
