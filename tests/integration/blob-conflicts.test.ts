// What a write without -Force reports when the service refuses it, against Azurite: a real lease, and (through
// the stack's front, fail-front) the conflict codes Azurite cannot be brought to give, each on the very
// request that writes: Put Blob for a small file, Put Block List for one in blocks. Only "already exists"
// (409 BlobAlreadyExists, or 412 ConditionNotMet, which here can only be the If-None-Match: *) may be told as
// "already exists, pass -Force"; anything else is reported as what it is.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, type StorageContext, keyContextWithContainer, runBundle, startStack } from '../helpers/stack.js';

let stack: Stack;
let context: (blobEndpoint: string) => StorageContext;
let work: string;
let small: string;
let large: string;
const env = () => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost, MSISTORAGE_RETRY_DELAY_SCALE: '0.01' });
const upload = (file: string, blob: string, force = false) =>
  runBundle({ command: 'upload', context: context(stack.frontBlobEndpoint), container: 'cont', blockSize: 64 * 1024, force, items: [{ file, blob }] }, env());

beforeAll(async () => {
  stack = await startStack();
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-conflicts-'));
  context = await keyContextWithContainer(stack, 'cont');
  small = path.join(work, 'small.txt');
  writeFileSync(small, 'small');
  large = path.join(work, 'large.bin');
  writeFileSync(large, randomBytes(200 * 1024));
});
afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('conflicts on a write without -Force', () => {
  const cases = [
    { status: 409, code: 'BlobAlreadyExists', expected: { code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' } },
    { status: 412, code: 'ConditionNotMet', expected: { code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' } },
    { status: 409, code: 'BlobImmutableDueToPolicy', expected: { code: 'StorageRequestFailed', category: 'InvalidOperation', statusCode: 409, azure: { code: 'BlobImmutableDueToPolicy' } } },
    { status: 412, code: 'LeaseIdMismatchWithBlobOperation', expected: { code: 'StorageRequestFailed', category: 'InvalidOperation', statusCode: 412, azure: { code: 'LeaseIdMismatchWithBlobOperation' } } },
  ];
  it.each(cases)('$status $code on the write is reported as $expected.code', async ({ status, code, expected }) => {
    const name = `${code}-${status}`;
    for (const [file, on] of [
      [small, 'blob'],
      [large, 'blocklist'],
    ]) {
      await stack.command('front-log');
      expect((await stack.command(`fail-front ${status} 1 ${code} ${on}`)).ok).toBe(true);
      const run = await upload(file, `${name}-${on}`);
      expect(run.items).toHaveLength(1);
      expect(run.items[0].ok).toBe(false);
      expect(run.items[0].error).toMatchObject(expected);
      if (expected.code !== 'BlobAlreadyExists') {
        expect(run.items[0].error.message).toContain('Injected fault');
        expect(run.items[0].error.message).not.toMatch(/already exists|-Force/);
      }
      // The refusal came on the write itself (for blocks: after they were staged).
      const log = (await stack.command('front-log')).requests as { method: string; comp: string | null }[];
      expect(log.some((r) => r.method === 'PUT' && (on === 'blob' ? r.comp === null : r.comp === on))).toBe(true);
      if (on === 'blocklist') expect(log.filter((r) => r.comp === 'block').length).toBeGreaterThan(1);
    }
  });

  it("a real lease on the blob (Azurite's own 412) is not told as 'already exists', with or without -Force", async () => {
    const blob = new BlobServiceClient(stack.blobEndpoint, new StorageSharedKeyCredential(stack.storageAccountName, context(stack.blobEndpoint).storageAccountKey)).getContainerClient('cont').getBlockBlobClient('leased.txt');
    await blob.upload('leased', 6);
    await blob.getBlobLeaseClient().acquireLease(30);
    const forced = await upload(small, 'leased.txt', true);
    expect(forced.items[0].error).toMatchObject({ code: 'StorageRequestFailed', statusCode: 412, azure: { code: 'LeaseIdMissing' } });
    expect(forced.items[0].error.message).not.toMatch(/already exists|-Force/);
    // Without -Force, the blob exists: that is what is said (If-None-Match: * is refused first).
    const plain = await upload(small, 'leased.txt');
    expect(plain.items[0].error).toMatchObject({ code: 'BlobAlreadyExists' });
    expect((await blob.downloadToBuffer()).toString()).toBe('leased');
  });
});

describe("blobs another tool named with a trailing '/' or '.' (Azure advises against them for new blobs only)", () => {
  it('are refused as new names, but read by exact name, refused into a folder (a marker has no file name), and deleted', async () => {
    const sdk = new BlobServiceClient(stack.blobEndpoint, new StorageSharedKeyCredential(stack.storageAccountName, context(stack.blobEndpoint).storageAccountKey)).getContainerClient('cont');
    await sdk.getBlockBlobClient('marker/').upload('', 0);
    await sdk.getBlockBlobClient('trail.').upload('trailing', 8);
    const made = await upload(small, 'new.');
    expect(made.items[0].error).toMatchObject({ code: 'InvalidBlobName', parameter: 'Blob' });
    const ctx = context(stack.blobEndpoint);
    const file = path.join(work, 'trail.txt');
    const got = await runBundle({ command: 'download', context: ctx, force: false, items: [{ container: 'cont', blob: 'trail.', destination: file }] }, env());
    expect(got.items[0].ok).toBe(true);
    expect((await import('node:fs')).readFileSync(file, 'utf8')).toBe('trailing');
    const intoFolder = await runBundle({ command: 'download', context: ctx, force: false, items: [{ container: 'cont', blob: 'marker/', destination: work + path.sep }] }, env());
    expect(intoFolder.items[0].error).toMatchObject({ code: 'InvalidFileName', parameter: 'Destination' });
    expect(intoFolder.items[0].error.message).toContain('folder marker');
    const removed = await runBundle({ command: 'remove', context: ctx, items: [{ container: 'cont', blob: 'marker/' }, { container: 'cont', blob: 'trail.' }] }, env());
    expect(removed.items.map((i: { ok: boolean }) => i.ok)).toEqual([true, true]);
    expect(await sdk.getBlobClient('marker/').exists()).toBe(false);
    expect(await sdk.getBlobClient('trail.').exists()).toBe(false);
  });
});
