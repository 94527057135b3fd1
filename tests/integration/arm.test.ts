// Issue 4 at the bundle level: discovery from the emulated VM, SAS from ARM that Azurite accepts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, runBundle, startStack } from '../helpers/stack.js';

let stack: Stack;
let env: Record<string, string>;
beforeAll(async () => {
  stack = await startStack();
  env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost, MSISTORAGE_ARM_ENDPOINT: stack.armEndpoint };
});
afterAll(async () => stack?.stop());

describe('discovery', () => {
  it('finds the account from its name alone', async () => {
    const run = await runBundle({ command: 'keys', storageAccountName: stack.storageAccountName }, env);
    expect(run.reply.result).toMatchObject({ subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, environment: 'AzureCloud' });
  });
  it('finds an account in another resource group', async () => {
    const run = await runBundle({ command: 'context', storageAccountName: (stack as any).dataStorageAccountName }, env);
    // The account's primaryEndpoints.blob: in the stack, the storage front before Azurite.
    expect(run.reply.result.blobEndpoint).toBe(`${new URL((stack as any).frontBlobEndpoint).origin}/${(stack as any).dataStorageAccountName}/`);
    expect(run.reply.result.location.resourceGroupName).toBe('msistorage-data-rg');
    expect(run.reply.result.authType).toBe('SharedKey');
  });
});

describe('a context with a key in hand', () => {
  it('looks up the blob endpoint for at most 10 s where the identity endpoint accepts and never answers, then uses the suffix', async () => {
    const control = (body: unknown, method = 'POST') => fetch(`${stack.imdsHost}/__emulator/faults`, { method, body: method === 'POST' ? JSON.stringify(body) : undefined });
    await control({ target: 'metadata', faults: Array.from({ length: 20 }, () => ({ hang: true })) });
    try {
      const key = Buffer.alloc(64, 1).toString('base64');
      const started = Date.now();
      const run = await runBundle({ command: 'context', storageAccountName: 'someaccount', storageAccountKey: key, verbose: true }, env);
      const took = Date.now() - started;
      expect(run.reply.result.blobEndpoint).toBe('https://someaccount.blob.core.windows.net/');
      expect(took).toBeGreaterThanOrEqual(9500);
      expect(took).toBeLessThan(15_000);
      expect(run.events.map((e) => e.message).join('\n')).toContain('for at most 10 s');
    } finally {
      await control(undefined, 'DELETE');
    }
  }, 30_000);
});

describe('SAS', () => {
  it('a service SAS from listServiceSas uploads to Azurite', async () => {
    const keys = await runBundle({ command: 'keys', storageAccountName: stack.storageAccountName }, env);
    const keyCtx = { storageAccountName: stack.storageAccountName, blobEndpoint: stack.blobEndpoint, authType: 'SharedKey', storageAccountKey: keys.reply.result.value };
    expect((await runBundle({ command: 'newContainer', context: keyCtx, container: 'sasit' }, env)).reply.ok).toBe(true);
    const sas = await runBundle({ command: 'sas', storageAccountName: stack.storageAccountName, container: 'sasit', permission: 'rwl', expiry: new Date(Date.now() + 600_000).toISOString(), protocol: 'HttpsOrHttp' }, env);
    expect(sas.reply.result.kind).toBe('service');
    expect(sas.reply.result.sasToken).toMatch(/(^|&)sig=/);
    // The signature, in both forms (as the query string carries it, and decoded), never on stderr.
    const sig = new URLSearchParams(sas.reply.result.sasToken).get('sig')!;
    const sigEncoded = /(?:^|&)sig=([^&]+)/.exec(sas.reply.result.sasToken)![1];
    expect(sigEncoded).not.toBe(sig);
    for (const secret of [sas.reply.result.sasToken, sig, sigEncoded]) expect(sas.stderr).not.toContain(secret);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'sas-')), 'f.txt');
    writeFileSync(file, 'sas');
    const ctx = { storageAccountName: stack.storageAccountName, blobEndpoint: stack.blobEndpoint, authType: 'SAS', sasToken: sas.reply.result.sasToken };
    const up = await runBundle({ command: 'upload', context: ctx, container: 'sasit', items: [{ file }] }, env);
    expect(up.items[0].ok).toBe(true);
  });
});
