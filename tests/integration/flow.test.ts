// The bundle run as a child process, exactly as the PowerShell bridge runs it, against the local stack.
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { type Stack, bundle, fixture, runBundle, startStack } from '../helpers/stack.js';

let stack: Stack;
let env: Record<string, string>;
let work: string;

/** Same keys, same JSON types: the shared reply fixtures describe what Node sends and PowerShell reads. */
function sameShape(actual: unknown, expected: unknown): void {
  if (expected === null || typeof expected !== 'object') return expect(typeof actual).toBe(typeof expected);
  expect(Object.keys(actual as object).sort()).toEqual(Object.keys(expected as object).sort());
  for (const k of Object.keys(expected as object)) sameShape((actual as any)[k], (expected as any)[k]);
}

beforeAll(async () => {
  stack = await startStack();
  env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost };
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-it-'));
});
afterAll(async () => {
  await stack?.stop();
});

async function context() {
  const keys = await runBundle({ command: 'keys', subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint }, env);
  expect(keys.reply.ok).toBe(true);
  return { storageAccountName: stack.storageAccountName, blobEndpoint: stack.blobEndpoint, authType: 'SharedKey', storageAccountKey: keys.reply.result.value as string };
}

describe('token', () => {
  it('comes from IMDS through AZURE_POD_IDENTITY_AUTHORITY_HOST, in the shape PowerShell expects', async () => {
    const run = await runBundle({ command: 'token' }, env);
    expect(run.code).toBe(0);
    expect(run.reply.ok).toBe(true);
    sameShape(run.reply, fixture('replies/token.json'));
    const t = run.reply.result;
    expect(t.source).toBe('IMDS');
    expect(t.endpoint).toBe(`${stack.imdsHost}/metadata/identity/oauth2/token`);
    expect(t.resource).toBe('https://management.azure.com/');
    expect(t.expiresOn).toBeGreaterThan(Date.now() / 1000 + 3600);
    const claims = JSON.parse(Buffer.from(t.accessToken.split('.')[1], 'base64url').toString());
    expect(claims.aud).toBe('https://management.azure.com/');
    expect(claims.oid).toBe(stack.identity.objectId);
  });

  it('comes from the tutorial legacy endpoint through -Endpoint', async () => {
    const run = await runBundle({ command: 'token', endpoint: stack.legacyTokenEndpoint, resource: 'https://storage.azure.com/' }, env);
    expect(run.reply.ok).toBe(true);
    expect(run.reply.result.source).toBe('VMExtension');
    expect(run.reply.result.resource).toBe('https://storage.azure.com/');
  });

  it('fails at once and says why when nothing listens', async () => {
    const started = Date.now();
    const run = await runBundle({ command: 'token' }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:9' });
    expect(run.code).toBe(1);
    expect(run.reply.error.code).toBe('ManagedIdentityUnavailable');
    expect(run.reply.error.category).toBe('ResourceUnavailable');
    expect(run.reply.error.message).toMatch(/No managed-identity endpoint is reachable/);
    expect(run.reply.error.message).toMatch(/AZURE_POD_IDENTITY_AUTHORITY_HOST/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('never leaves loopback when MSISTORAGE_LOOPBACK_ONLY is set', async () => {
    const run = await runBundle({ command: 'token' }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: '' });
    expect(run.reply.error.code).toBe('EndpointNotAllowed');
  });
});

describe('keys', () => {
  it('lists the keys of the Azurite account with a token from the token command', async () => {
    const token = (await runBundle({ command: 'token' }, env)).reply.result.accessToken;
    const run = await runBundle(
      { command: 'keys', token, subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint, keyName: 'key2' },
      env,
    );
    expect(run.reply.ok).toBe(true);
    expect(run.reply.result.keyName).toBe('key2');
    expect(run.reply.result.permissions).toBe('FULL');
    expect(run.reply.result).not.toHaveProperty('token');
    sameShape(run.reply, fixture('replies/keys.json'));
  });

  it('gets its own ARM token when none is given, and returns it for the cache', async () => {
    const run = await runBundle({ command: 'keys', subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint }, env);
    expect(run.reply.ok).toBe(true);
    expect(run.reply.result.token.resource).toBe('https://management.azure.com/');
  });

  // The first one is also the shared error fixture, which PowerShell's tests read (Replies.Tests.ps1).
  it.each([
    [{ resourceGroupName: 'no-such-rg' }, 'ResourceGroupNotFound', 'ResourceGroupName', /no-such-rg/, 'replies/error-resource-group-not-found.json'],
    [{ subscriptionId: '00000000-0000-0000-0000-000000000000' }, 'SubscriptionNotFound', 'SubscriptionId', /00000000-0000/, undefined],
    [{ storageAccountName: 'nosuchaccount' }, 'StorageAccountNotFound', 'StorageAccountName', /nosuchaccount/, undefined],
    [{ subscriptionId: 'not-a-guid' }, 'InvalidSubscriptionId', 'SubscriptionId', /GUID/, undefined],
    [{ storageAccountName: 'Bad_Name' }, 'InvalidStorageAccountName', 'StorageAccountName', /3-24 lowercase/, undefined],
  ])('%o gives %s naming -%s', async (override, code, parameter, message, shape) => {
    const run = await runBundle(
      { command: 'keys', subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint, ...override },
      env,
    );
    expect(run.code).toBe(1);
    expect(run.reply.error.code).toBe(code);
    expect(run.reply.error.parameter).toBe(parameter);
    expect(run.reply.error.message).toMatch(message);
    if (shape) sameShape(run.reply, fixture(shape));
  });

  it('a bad token is AuthenticationError from ARM', async () => {
    const run = await runBundle(
      { command: 'keys', token: 'not-a-token', subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint },
      env,
    );
    expect(run.reply.error.category).toBe('AuthenticationError');
    expect(run.reply.error.azure.code).toBe('InvalidAuthenticationToken');
    expect(run.stderr + run.stdout).not.toContain('not-a-token');
  });
});

describe('blobs', () => {
  it('uploads, refuses to overwrite without force, downloads byte-identical, refuses to clobber the file', async () => {
    const ctx = await context();
    const container = `it${Date.now()}`;
    expect((await runBundle({ command: 'newContainer', context: ctx, container }, env)).reply.ok).toBe(true);
    const file = path.join(work, 'test.txt');
    writeFileSync(file, 'This is a test text file.\n');

    const up = await runBundle({ command: 'upload', context: ctx, container, items: [{ file, blob: 'testblob' }] }, env);
    expect(up.reply).toMatchObject({ ok: true, result: { done: 1, failed: 0, bytes: 26 } });
    sameShape(up.items[0], fixture('replies/upload.json'));
    expect(up.items[0].result).toMatchObject({ name: 'testblob', container, blobType: 'BlockBlob', length: 26, contentType: 'text/plain' });

    const again = await runBundle({ command: 'upload', context: ctx, container, items: [{ file, blob: 'testblob' }] }, env);
    expect(again.items[0].error.code).toBe('BlobAlreadyExists');
    expect(again.items[0].error.category).toBe('ResourceExists');
    expect(again.reply.result.failed).toBe(1);
    expect((await runBundle({ command: 'upload', context: ctx, container, items: [{ file, blob: 'testblob' }], force: true }, env)).items[0].ok).toBe(true);

    const dest = path.join(work, 'test2.txt');
    const down = await runBundle({ command: 'download', context: ctx, items: [{ container, blob: 'testblob', destination: dest }] }, env);
    expect(down.items[0].ok).toBe(true);
    sameShape(down.items[0], fixture('replies/download.json'));
    expect(readFileSync(dest)).toEqual(readFileSync(file));

    writeFileSync(dest, 'keep me');
    const clobber = await runBundle({ command: 'download', context: ctx, items: [{ container, blob: 'testblob', destination: dest }] }, env);
    expect(clobber.items[0].error.code).toBe('DestinationExists');
    expect(readFileSync(dest, 'utf8')).toBe('keep me');
    expect(readdirSync(work).filter((f) => f.includes('msistorage-partial'))).toEqual([]);
  });

  it('a missing container is ObjectNotFound naming -Container', async () => {
    const ctx = await context();
    const file = path.join(work, 'x.txt');
    writeFileSync(file, 'x');
    const run = await runBundle({ command: 'upload', context: ctx, container: 'no-such-container', items: [{ file }] }, env);
    expect(run.items[0].error).toMatchObject({ code: 'ContainerNotFound', category: 'ObjectNotFound', parameter: 'Container' });
  });

  it('a missing blob leaves no file behind', async () => {
    const ctx = await context();
    const container = `miss${Date.now()}`;
    await runBundle({ command: 'newContainer', context: ctx, container }, env);
    const dest = path.join(work, 'never.txt');
    const run = await runBundle({ command: 'download', context: ctx, items: [{ container, blob: 'nope', destination: dest }] }, env);
    expect(run.items[0].error).toMatchObject({ code: 'BlobNotFound', category: 'ObjectNotFound' });
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(work).filter((f) => f.includes('msistorage-partial'))).toEqual([]);
  });

  it('a wrong key is an AuthenticationError and the key is never echoed', async () => {
    const ctx = { ...(await context()), storageAccountKey: Buffer.alloc(64, 7).toString('base64') };
    const file = path.join(work, 'y.txt');
    writeFileSync(file, 'y');
    const run = await runBundle({ command: 'upload', context: ctx, container: 'whatever', items: [{ file }] }, env);
    expect(run.items[0].error.category).toBe('AuthenticationError');
    expect(run.stdout + run.stderr).not.toContain(ctx.storageAccountKey);
  });
});

describe('a prepared process (--prepare, started by a pipeline cmdlet at its first item)', () => {
  /** Starts the bundle with --prepare and never writes a request; resolves with how it ended. */
  function prepared(command: string, extraEnv: Record<string, string>, closeStdinAfterMs?: number) {
    return new Promise<{ code: number | null; stdout: string; ms: number }>((resolve, reject) => {
      const started = Date.now();
      const child = spawn(process.execPath, [bundle, '--prepare', command], { env: { ...process.env, ...env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, stdout, ms: Date.now() - started }));
      if (closeStdinAfterMs !== undefined) setTimeout(() => child.stdin.end(), closeStdinAfterMs);
      setTimeout(() => child.kill(), 15_000);
    });
  }

  it('takes its request when the pipeline ends, and uploads', async () => {
    const ctx = await context();
    const container = `prep${Date.now()}`;
    await runBundle({ command: 'newContainer', context: ctx, container }, env);
    const files = ['p1.txt', 'p2.txt'].map((n) => path.join(work, n));
    files.forEach((f, i) => writeFileSync(f, `prepared ${i}`));
    const run = await runBundle({ command: 'upload', context: ctx, container, items: files.map((file) => ({ file })) }, env, process.execPath, { args: ['--prepare', 'upload'], delayMs: 300 });
    expect(run.reply).toMatchObject({ ok: true, result: { done: 2, failed: 0 } });
    expect(run.items.map((i) => i.result.name).sort()).toEqual(['p1.txt', 'p2.txt']);
  });

  it('exits quietly at end of input when no request came (the pipeline had nothing to send)', async () => {
    const end = await prepared('upload', {}, 200);
    expect(end.code).toBe(0);
    expect(end.stdout).toBe('');
  });

  it('exits by itself when the request never comes (the pipeline was stopped)', async () => {
    const end = await prepared('download', { MSISTORAGE_PREPARE_TIMEOUT_MS: '400' });
    expect(end.code).toBe(0);
    expect(end.stdout).toBe('');
    expect(end.ms).toBeLessThan(10_000);
  });
});

describe('the protocol boundary', () => {
  it('accepts a batch larger than the 256 KiB limit of other requests (a long pipeline), one line per item', async () => {
    const ctx = await context();
    const items = Array.from({ length: 3000 }, (_, i) => ({ file: path.join(work, 'a-folder-that-does-not-exist', `file-with-a-rather-long-name-${i}.txt`) }));
    expect(JSON.stringify(items).length).toBeGreaterThan(256 * 1024);
    const run = await runBundle({ command: 'upload', context: ctx, container: 'never-reached', items }, env);
    expect(run.reply).toMatchObject({ ok: true, result: { done: 0, failed: 3000 } });
    expect(run.items).toHaveLength(3000);
    expect(new Set(run.items.map((i) => i.error.code))).toEqual(new Set(['FileNotFound']));
  });

  it('refuses a batch over its own limit, saying to split the pipeline', async () => {
    const run = await runBundle({ command: 'upload', context: { storageAccountName: 'x', authType: 'SharedKey' }, container: 'c', items: [{ file: 'x'.repeat(33 * 1024 * 1024) }] }, env);
    expect(run.code).toBe(1);
    expect(run.reply.error).toMatchObject({ code: 'RequestTooLarge', category: 'ProtocolError' });
    expect(run.reply.error.message).toMatch(/split the pipeline/);
  });

  it.each([
    ['not json\n', 'MalformedRequest'],
    ['{"v":1,"command":"nope"}\n', 'UnknownCommand'],
    ['{"v":1,"command":"token","extra":true}\n', 'UnknownRequestKey'],
    ['{"v":99,"command":"token"}\n', 'ProtocolVersionMismatch'],
    ['', 'MalformedRequest'],
    [`{"v":1,"command":"token","resource":"${'x'.repeat(300 * 1024)}"}\n`, 'RequestTooLarge'],
  ])('%#: answers %s with a JSON error and exit code 1, no stack trace', async (input, code) => {
    const run = await runBundle(input, env);
    expect(run.code).toBe(1);
    expect(run.reply).toMatchObject({ v: 1, ok: false, error: { code, category: 'ProtocolError' } });
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('answers NodeTooOld on a Node older than 20', async () => {
    const preload = path.join(work, 'old-node.cjs');
    writeFileSync(preload, "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.19.0' } });");
    const run = await runBundle({ command: 'version' }, { NODE_OPTIONS: `--require ${preload}` });
    expect(run.code).toBe(1);
    expect(run.reply.error.code).toBe('NodeTooOld');
    expect(run.reply.error.message).toMatch(/Node\.js 20 or later/);
  });
});
