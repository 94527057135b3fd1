// A conditional commit (If-None-Match: *) whose first try was committed but whose answer never came back:
// the retry is refused (the blob exists), although this very upload wrote it. The stack's front cannot lose
// an answer after Azurite committed: it answers fail-front itself (nothing reaches Azurite), and a request
// it holds back (delay-front, hang-front) loses its body when the client gives up on it. So the front fails
// the commit's first try (500), and the test makes that try happen at Azurite itself, between the tries: the
// very blocks the upload staged, committed with the file's MD5 (or, for a small file, its bytes and MD5), as
// the service would have committed them. What the upload sees is then what it sees after a lost answer.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerClient } from '../../src/blob/client.js';
import type { StorageContextJson } from '../../src/protocol.js';
import { type BundleRun, type Stack, type StorageContext, keyContextWithContainer, runBundle, startStack } from '../helpers/stack.js';

const CONTAINER = 'commits';
const BLOCK = 64 * 1024;
let stack: Stack;
let context: (blobEndpoint: string) => StorageContext;
let direct: ContainerClient;
let work: string;
const md5 = (data: Buffer) => createHash('md5').update(data).digest();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What each upload here sends besides its bytes: a commit that stands for its first try carries them too. */
const SENT = { contentType: 'application/x-msistorage-test', metadata: { run: 'commit-retry' } };
const sentOptions = (data: Buffer) => ({ blobHTTPHeaders: { blobContentMD5: md5(data), blobContentType: SENT.contentType }, metadata: SENT.metadata });

beforeAll(async () => {
  stack = await startStack();
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-commit-'));
  context = await keyContextWithContainer(stack, CONTAINER);
  direct = await containerClient(context(stack.blobEndpoint) as StorageContextJson, CONTAINER);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

/**
 * Uploads `data` as `blob` through the front, whose first two commit requests (kind 'blocklist' or 'blob')
 * are answered 500; as soon as the second has been, `between` runs against Azurite, before the third try
 * (the storage retry policy sends the second try at once, and the third after its back-off: 1.5 s here, a
 * window wide enough for a busy machine). The upload names its content type and metadata, which a commit
 * standing for its first try must carry too (SENT). Returns the upload's run, and how many commit requests
 * the front saw.
 */
async function uploadWithFailedCommit(blob: string, data: Buffer, kind: 'blocklist' | 'blob', between: () => Promise<void>, skipIntegrityCheck = false) {
  const file = path.join(work, `${blob}.src`);
  writeFileSync(file, data);
  await stack.command('front-log');
  expect((await stack.command(`fail-front 500 2 InternalError ${kind}`)).ok).toBe(true);
  const isCommit = (r: { method: string; path: string; comp: string | null }) => r.method === 'PUT' && r.path.endsWith(`/${blob}`) && (kind === 'blocklist' ? r.comp === 'blocklist' : r.comp === null);
  const run = runBundle(
    { command: 'upload', verbose: true, context: context(stack.frontBlobEndpoint), container: CONTAINER, blockSize: BLOCK, skipIntegrityCheck, ...SENT, items: [{ file, blob }] },
    { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost, MSISTORAGE_RETRY_DELAY_SCALE: '3' },
  );
  const commits: unknown[] = [];
  const deadline = Date.now() + 15_000;
  while (commits.length < 2 && Date.now() < deadline) {
    commits.push(...((await stack.command('front-log')).requests as { method: string; path: string; comp: string | null }[]).filter(isCommit));
    if (commits.length < 2) await sleep(5);
  }
  expect(commits).toHaveLength(2);
  await between();
  const done: BundleRun = await run;
  commits.push(...((await stack.command('front-log')).requests as { method: string; path: string; comp: string | null }[]).filter(isCommit));
  return { run: done, commits: commits.length };
}

/** Commits the blocks the upload staged, in order, with the file's MD5: what its first Put Block List did. */
async function commitStagedBlocks(blob: string, data: Buffer) {
  const client = direct.getBlockBlobClient(blob);
  const staged = (await client.getBlockList('uncommitted')).uncommittedBlocks ?? [];
  const ids = staged.map((b) => b.name).sort((a, b) => Buffer.from(a, 'base64').toString().localeCompare(Buffer.from(b, 'base64').toString()));
  expect(ids).toHaveLength(Math.ceil(data.length / BLOCK));
  await client.commitBlockList(ids, sentOptions(data));
}

const verboseLines = (run: BundleRun) => run.events.filter((e) => e.event === 'verbose').map((e) => String(e.message));

describe('a commit whose first try was committed, its answer lost', () => {
  it('in blocks: the retry is refused, the blob holds this upload (MD5 and length), and the upload is done', async () => {
    const data = randomBytes(3 * BLOCK + 100);
    const { run, commits } = await uploadWithFailedCommit('blocks.bin', data, 'blocklist', () => commitStagedBlocks('blocks.bin', data));
    expect(commits).toBe(3);
    expect(run.items[0].error).toBeUndefined();
    const props = await direct.getBlockBlobClient('blocks.bin').getProperties();
    expect(run.items[0].result).toMatchObject({ name: 'blocks.bin', length: data.length, contentMD5: md5(data).toString('base64'), etag: props.etag });
    expect(verboseLines(run).join('\n')).toMatch(/The commit of blocks\.bin was sent again and refused \(the blob exists\), and the blob holds this upload's MD5 \(\S+\) and length \(196708 bytes\): the first try was committed/);
  }, 30_000);

  it('in one Put Blob: likewise', async () => {
    const data = randomBytes(1000);
    const { run, commits } = await uploadWithFailedCommit('small.bin', data, 'blob', async () => {
      await direct.getBlockBlobClient('small.bin').upload(data, data.length, sentOptions(data));
    });
    expect(commits).toBe(3);
    expect(run.items[0].error).toBeUndefined();
    expect(run.items[0].result).toMatchObject({ name: 'small.bin', length: 1000, contentMD5: md5(data).toString('base64') });
  }, 30_000);

  it('another writer whose blob has other content between the tries: BlobAlreadyExists, as for any blob that was there', async () => {
    const data = randomBytes(3 * BLOCK);
    const other = randomBytes(3 * BLOCK);
    const { run, commits } = await uploadWithFailedCommit('taken.bin', data, 'blocklist', async () => {
      await direct.getBlockBlobClient('taken.bin').upload(other, other.length, { blobHTTPHeaders: { blobContentMD5: md5(other) } });
    });
    expect(commits).toBe(3);
    expect(run.items[0].error).toMatchObject({ code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' });
    expect(run.items[0].error.message).not.toMatch(/may be this very upload/);
    // The other writer's blob is untouched.
    expect(Buffer.from(await direct.getBlockBlobClient('taken.bin').downloadToBuffer()).equals(other)).toBe(true);
  }, 30_000);

  it('another writer with the same bytes but its own content type or metadata: BlobAlreadyExists (this upload\'s settings were never applied)', async () => {
    const data = randomBytes(1000);
    for (const [blob, options] of [
      ['sametype.bin', { blobHTTPHeaders: { blobContentMD5: md5(data), blobContentType: 'text/plain' }, metadata: SENT.metadata }],
      ['samemeta.bin', { blobHTTPHeaders: { blobContentMD5: md5(data), blobContentType: SENT.contentType }, metadata: { run: 'another' } }],
    ] as const) {
      const { run, commits } = await uploadWithFailedCommit(blob, data, 'blob', async () => {
        await direct.getBlockBlobClient(blob).upload(data, data.length, options);
      });
      expect(commits).toBe(3);
      expect(run.items[0].error).toMatchObject({ code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' });
    }
  }, 30_000);

  it('with -SkipIntegrityCheck (no MD5 to tell): BlobAlreadyExists, saying the blob may be this upload', async () => {
    const data = randomBytes(1000);
    const { run, commits } = await uploadWithFailedCommit(
      'unchecked.bin',
      data,
      'blob',
      async () => {
        await direct.getBlockBlobClient('unchecked.bin').upload(data, data.length);
      },
      true,
    );
    expect(commits).toBe(3);
    expect(run.items[0].error).toMatchObject({ code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' });
    expect(run.items[0].error.message).toMatch(/Pass -Force to overwrite it\. Its commit was sent again .* may be this very upload's: with -SkipIntegrityCheck there is no MD5/);
  }, 30_000);
});
