// The upload's MD5: computed from the very block buffers that are sent, inline for small files and on a
// worker (over shared memory) for large ones. Both must give the MD5 of the whole file.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WORKER_THRESHOLD, createBlockHash } from '../../src/blob/hasher.js';

const blocks = [randomBytes(1000), randomBytes(65536), randomBytes(1), randomBytes(300_000)];
const expected = createHash('md5').update(Buffer.concat(blocks)).digest('base64');

describe.each([
  ['inline', 1024],
  ['worker', WORKER_THRESHOLD],
])('BlockHash (%s)', (_kind, size) => {
  it('hashes blocks added in order, each acknowledged before its buffer is reused', async () => {
    const hash = createBlockHash(size);
    try {
      // One buffer reused for every block, as the upload does once a block is sent and hashed.
      const buffer = hash.allocate(300_000);
      for (const block of blocks) {
        block.copy(buffer);
        await hash.add(buffer.subarray(0, block.length));
      }
      expect(await hash.digest()).toBe(expected);
    } finally {
      hash.abort();
    }
  });

  it('hashes several blocks in flight at once, in the order they were added', async () => {
    const hash = createBlockHash(size);
    try {
      const acks = blocks.map((block) => {
        const buffer = hash.allocate(block.length);
        block.copy(buffer);
        return hash.add(buffer);
      });
      await Promise.all(acks);
      expect(await hash.digest()).toBe(expected);
    } finally {
      hash.abort();
    }
  });
});

describe('BlockHash on a worker', () => {
  it.runIf(process.platform === 'linux')('hashes on a thread of lower priority than the transfer (Linux)', async () => {
    // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value.
    const niceOf = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]);
    const mine = niceOf(String(process.pid));
    const hash = createBlockHash(WORKER_THRESHOLD);
    try {
      // The worker lowers its priority first thing; once a block is acknowledged, that is done.
      const buffer = hash.allocate(16);
      await hash.add(buffer);
      const nices = readdirSync('/proc/self/task').map(niceOf);
      expect(Math.max(...nices)).toBe(Math.min(19, mine + 10));
    } finally {
      hash.abort();
    }
  });

  it('leaves no block waiting when the worker goes away, and then has no digest', async () => {
    const hash = createBlockHash(WORKER_THRESHOLD);
    const buffer = hash.allocate(16);
    hash.abort();
    // Settles (acknowledged by the failure, or refused outright) rather than waiting forever.
    await hash.add(buffer).catch(() => undefined);
    await expect(hash.digest()).rejects.toThrow(/exited/);
  });

  it('shares its buffers with the worker rather than copying them, and refuses any other buffer', () => {
    const hash = createBlockHash(WORKER_THRESHOLD);
    try {
      expect(hash.allocate(16).buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(() => hash.add(Buffer.alloc(16))).toThrow(/allocate/);
    } finally {
      hash.abort();
    }
  });
});
