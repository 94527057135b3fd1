// Block uploads against Azurite, through the stack's front (a proxy that can hold a request unanswered or
// delay every request), for two things a plain run cannot show: a file that shrinks while its blocks are in
// flight, and the auto-scaled block size of a file too large to send (a 3 GiB sparse file, stopped after a few
// blocks, whose staged blocks Azurite then lists with their sizes).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { containerClient } from '../../src/blob/client.js';
import { MEMORY_BUDGET, MemoryBudget, blockSizeFor, transferOptions } from '../../src/blob/transfer.js';
import { uploadOne } from '../../src/blob/upload.js';
import type { StorageContextJson } from '../../src/protocol.js';
import { type Stack, type StorageContext, keyContextWithContainer, startStack } from '../helpers/stack.js';

interface FrontLog {
  requests: { method: string; path: string; comp: string | null; length: number }[];
  inFlight: number;
}

let stack: Stack;
let context: (blobEndpoint: string) => StorageContext;
let work: string;
const CONTAINER = 'uploads';

const frontLog = async () => (await stack.command('front-log')) as unknown as FrontLog;
const frontRequests = async () => (await stack.command('front-requests')).requests as number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const container = (endpoint: string) => containerClient(context(endpoint) as StorageContextJson, CONTAINER);

beforeAll(async () => {
  stack = await startStack();
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-upload-'));
  context = await keyContextWithContainer(stack, CONTAINER);
});
afterEach(async () => {
  await stack.command('delay-front 0');
  await stack.command('hang-front 0');
});
afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a file that shrinks while its blocks are uploaded', () => {
  it('fails with FileChanged only after stopping the blocks in flight, and commits nothing', async () => {
    const file = path.join(work, 'shrinks.bin');
    const block = 64 * 1024;
    writeFileSync(file, randomBytes(10 * block));
    await frontLog();
    // Every request waits 300 ms at the front, and the first one is never answered: both blocks of the
    // first pair are in flight while the test shrinks the file. When the other one is answered, the reader
    // (which takes a request slot before it reads) finds nothing at block 2's offset.
    await stack.command('delay-front 300');
    await stack.command('hang-front 1');
    const before = await frontRequests();
    const options = transferOptions({ blockSize: block, concurrency: 2, force: true });
    const upload = uploadOne(await container(stack.frontBlobEndpoint), { file, blob: 'shrinks.bin' }, { options }, new MemoryBudget(MEMORY_BUDGET), () => () => undefined, new AbortController().signal);
    const outcome = upload.then(
      () => undefined,
      (err: unknown) => err,
    );
    const deadline = Date.now() + 5000;
    while ((await frontRequests()) < before + 2 && Date.now() < deadline) await sleep(5);
    truncateSync(file, 2 * block);
    expect(await outcome).toMatchObject({ code: 'FileChanged' });
    // The held block was aborted, not left running: the front sees its connection go (at once; a second is plenty).
    let log = await frontLog();
    const blocks = log.requests.filter((r) => r.comp === 'block');
    const stopBy = Date.now() + 1000;
    while (log.inFlight > 0 && Date.now() < stopBy) {
      await sleep(10);
      log = await frontLog();
    }
    expect(log.inFlight).toBe(0);
    expect(blocks).toHaveLength(2);
    expect(blocks.every((b) => b.length === block)).toBe(true);
    expect(log.requests.some((r) => r.comp === 'blocklist')).toBe(false);
    // And Azurite holds no blob under the name.
    expect(await (await container(stack.blobEndpoint)).getBlockBlobClient('shrinks.bin').exists()).toBe(false);
  }, 20_000);
});

describe('the block size', () => {
  it('is the auto-scaled one (blockSizeFor) for a file that would need more than 50,000 blocks of -BlockSize', async () => {
    // A sparse file one block over 50,000 blocks of 64 KiB: the blocks must grow to 1 MiB.
    const file = path.join(work, 'huge.sparse');
    const requested = 64 * 1024;
    const size = 50_001 * requested;
    writeFileSync(file, '');
    truncateSync(file, size);
    const expected = blockSizeFor(size, requested);
    expect(expected).toBe(1024 * 1024);
    const blob = (await container(stack.blobEndpoint)).getBlockBlobClient('huge.bin');
    const stop = new AbortController();
    const options = transferOptions({ blockSize: requested, concurrency: 2, force: true, skipIntegrityCheck: true });
    // Through the front, slowed (each request waits 100 ms): however slowly this test polls on a busy
    // machine, the 3 GiB cannot be sent and committed before it sees a few blocks and stops the upload.
    await stack.command('delay-front 100');
    const upload = uploadOne(await container(stack.frontBlobEndpoint), { file, blob: 'huge.bin' }, { options }, new MemoryBudget(MEMORY_BUDGET), () => () => undefined, stop.signal);
    const outcome = upload.then(
      () => undefined,
      (err: unknown) => err,
    );
    // A few staged blocks tell the size; the rest of the 3 GiB is not sent.
    const deadline = Date.now() + 10_000;
    let staged = 0;
    while (staged < 3 && Date.now() < deadline) {
      // Until its first block is staged, the blob is not there at all (404).
      staged = await blob.getBlockList('uncommitted').then(
        (l) => l.uncommittedBlocks?.length ?? 0,
        (err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
          return 0;
        },
      );
      if (staged < 3) await sleep(5);
    }
    stop.abort();
    expect(await outcome).toMatchObject({ code: 'OperationStopped' });
    const list = await blob.getBlockList('uncommitted');
    expect(list.uncommittedBlocks?.length).toBeGreaterThanOrEqual(3);
    for (const b of list.uncommittedBlocks ?? []) expect(b.size).toBe(expected);
    expect(list.committedBlocks ?? []).toEqual([]);
    expect(await blob.exists()).toBe(false);
  }, 30_000);
});
