// Issue 3 at the bundle level: every source, every selector, the retry table, the deadline, proxies.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, runBundle, startStack } from '../helpers/stack.js';

let stack: Stack;
let info: any;
const control = async (p: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') =>
  (await fetch(`${stack.imdsHost}/__emulator/${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body) })).json() as Promise<any>;
const identityRequests = async () => ((await control('requests')) as { target: string; status: number }[]).filter((r) => r.target !== 'arm');
const token = (req: Record<string, unknown> = {}, env: Record<string, string | undefined> = {}) =>
  runBundle({ command: 'token', ...req }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost, MSISTORAGE_RETRY_DELAY_SCALE: '0.01', ...env });
const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());
beforeEach(async () => {
  await control('faults', undefined, 'DELETE');
  await control('requests', undefined, 'DELETE');
  await control('identities', { systemAssigned: true, userAssigned: 2 });
  info = await control('info');
});

describe('sources', () => {
  it('App Service', async () => {
    const run = await token({}, { IDENTITY_ENDPOINT: info.endpoints.appService, IDENTITY_HEADER: info.appServiceHeader });
    expect(run.reply.result.source).toBe('AppService');
    expect(run.stderr).not.toContain(info.appServiceHeader);
  });
  it('Azure Arc, through the key-file challenge', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'arc-'));
    await control('arc', { keyDir });
    const run = await token({}, { IDENTITY_ENDPOINT: info.endpoints.arc, IMDS_ENDPOINT: info.endpoints.arcImds, MSISTORAGE_ARC_KEY_DIR: keyDir });
    expect(run.reply.result.source).toBe('AzureArc');
    expect((await identityRequests()).map((r) => r.status)).toEqual([401, 200]);
  });
  it('Cloud Shell', async () => {
    const run = await token({}, { MSI_ENDPOINT: info.endpoints.cloudShell });
    expect(run.reply.result.source).toBe('CloudShell');
  });
  it('IMDS and the legacy extension', async () => {
    expect((await token()).reply.result.source).toBe('IMDS');
    expect((await token({ endpoint: info.endpoints.vmExtension })).reply.result.source).toBe('VMExtension');
  });
});

describe('selectors', () => {
  it.each([
    ['clientId', 'clientId', 'appid'],
    ['objectId', 'objectId', 'oid'],
    ['identityResourceId', 'resourceId', 'xms_mirid'],
  ])('%s selects the user-assigned identity', async (field, prop, claim) => {
    const uai = info.userAssigned[1];
    const run = await token({ [field]: uai[prop] });
    expect(claims(run.reply.result.accessToken)[claim]).toBe(uai[prop]);
  });
  it('App Service gets the same selectors under its own names', async () => {
    const uai = info.userAssigned[0];
    const run = await token({ identityResourceId: uai.resourceId }, { IDENTITY_ENDPOINT: info.endpoints.appService, IDENTITY_HEADER: info.appServiceHeader });
    expect(claims(run.reply.result.accessToken).xms_mirid).toBe(uai.resourceId);
  });
  it('several identities and no selector', async () => {
    await control('identities', { systemAssigned: false, userAssigned: 2 });
    expect((await token()).reply.error.code).toBe('MultipleIdentities');
  });
});

describe('retries', () => {
  it('410, 410, 429 + Retry-After, 500, then success', async () => {
    await control('faults', { target: 'imds', faults: [{ status: 410 }, { status: 410 }, { status: 429, retryAfter: 1 }, { status: 500 }] });
    const started = Date.now();
    const run = await token();
    expect(run.reply.ok).toBe(true);
    expect((await identityRequests()).map((r) => r.status)).toEqual([410, 410, 429, 500, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(run.events.filter((e) => e.event === 'verbose' && /retrying/.test(e.message))).toHaveLength(4);
    // The bridge may return at the reply once it has the 'end' event: nothing may follow it on stderr.
    expect(run.events.at(-1)).toEqual({ event: 'end' });
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe('{"event":"end"}');
  });
  it('an error reply, too, comes after the end event', async () => {
    await control('faults', { target: 'imds', faults: [{ status: 400 }] });
    const run = await token();
    expect(run.reply.ok).toBe(false);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe('{"event":"end"}');
  });
  it.each([400, 401, 403, 405])('does not retry HTTP %i', async (status) => {
    await control('faults', { target: 'imds', faults: [{ status }, { status }] });
    expect((await token()).reply.ok).toBe(false);
    expect(await identityRequests()).toHaveLength(1);
  });
  it('retries 404 (IMDS updating)', async () => {
    await control('faults', { target: 'imds', faults: [{ status: 404 }] });
    expect((await token()).reply.ok).toBe(true);
  });
  it('waits at least 1 s before asking IMDS again, even when Retry-After says 0 (IMDS guidance)', async () => {
    await control('faults', { target: 'imds', faults: [{ status: 503, retryAfter: 0 }] });
    const started = Date.now();
    const run = await token({}, { MSISTORAGE_RETRY_DELAY_SCALE: '' });
    expect(run.reply.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });
  it("App Service's local agent gets MSAL's default policy: 503 three times at most, 410 and 501 not at all", async () => {
    const appService = { IDENTITY_ENDPOINT: info.endpoints.appService, IDENTITY_HEADER: info.appServiceHeader };
    await control('faults', { target: 'appservice', faults: [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }] });
    const run = await token({}, appService);
    expect(run.reply.error.code).toBe('IdentityEndpointUnavailable');
    expect((await identityRequests()).map((r) => r.status)).toEqual([503, 503, 503, 503]);
    for (const status of [410, 501]) {
      await control('faults', undefined, 'DELETE');
      await control('requests', undefined, 'DELETE');
      await control('faults', { target: 'appservice', faults: [{ status }, { status }] });
      expect((await token({}, appService)).reply.ok).toBe(false);
      expect(await identityRequests()).toHaveLength(1);
    }
  });
  it('a Retry-After longer than the deadline is named in the error, not called retries', async () => {
    await control('faults', { target: 'imds', faults: [{ status: 429, retryAfter: 300 }] });
    const run = await token({ timeoutSec: 5 });
    expect(run.reply.error.code).toBe('IdentityEndpointUnavailable');
    expect(run.reply.error.message).toContain('failed with HTTP 429 and asked to wait 300 s, longer than -TimeoutSec allows');
    expect(await identityRequests()).toHaveLength(1);
  });
  it('is bounded by the deadline when the endpoint hangs', async () => {
    await control('faults', { target: 'imds', faults: [{ hang: true }, { hang: true }] });
    const started = Date.now();
    const run = await token({ timeoutSec: 1 });
    expect(run.reply.error.code).toBe('IdentityEndpointTimeout');
    expect(Date.now() - started).toBeLessThan(2500);
  });
});

describe('proxies', () => {
  // Both spellings of every variable: undici reads the lower-case ones first.
  const deadProxy = { HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9', http_proxy: 'http://127.0.0.1:9', https_proxy: 'http://127.0.0.1:9', NO_PROXY: '', no_proxy: '' };
  it('identity requests ignore HTTP_PROXY and HTTPS_PROXY', async () => {
    const run = await token({}, deadProxy);
    expect(run.reply.ok).toBe(true);
    expect(run.reply.result.source).toBe('IMDS');
  });
  it('while ARM requests in the same environment go through the (dead) proxy', async () => {
    // The control: the same variables do reach the HTTP client, so the test above is not vacuous.
    const run = await runBundle(
      { command: 'keys', storageAccountName: stack.storageAccountName, resourceGroupName: stack.resourceGroupName, subscriptionId: stack.subscriptionId, armEndpoint: stack.armEndpoint, timeoutSec: 5 },
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost, MSISTORAGE_RETRY_DELAY_SCALE: '0.01', ...deadProxy },
    );
    expect(run.reply.ok).toBe(false);
    expect(run.reply.error.code).toBe('ArmUnreachable');
    // The token itself came (directly), and ARM never saw a request.
    expect(((await control('requests')) as { target: string }[]).filter((r) => r.target === 'arm')).toEqual([]);
  });
});
