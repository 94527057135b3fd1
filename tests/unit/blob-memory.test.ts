// What bounds a batch's memory: one byte budget that counts the block buffers it keeps for reuse, and one MD5
// worker thread for all the large transfers of the process (a worker per file would bring a thread and a V8
// heap each).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WORKER_THRESHOLD, createBlockHash, createHasher, stopHashWorkers } from '../../src/blob/hasher.js';
import { MemoryBudget } from '../../src/blob/transfer.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');
const settled = async <T>(p: Promise<T>) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);

afterAll(async () => {
  await stopHashWorkers();
});

describe('MemoryBudget', () => {
  it('keeps a released block buffer for the next block of its size, and still counts it', async () => {
    const memory = new MemoryBudget(10);
    const a = await memory.acquire(4);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    memory.release(a);
    expect(memory.held).toBe(4);
    expect(await memory.acquire(4)).toBe(a);
  });

  it('makes takers wait while buffers in use and spare ones fill the budget, and drops spares of another size to make room', async () => {
    const memory = new MemoryBudget(10);
    const a = await memory.acquire(4);
    const b = await memory.acquire(4);
    memory.release(a);
    // 4 in use, 4 spare: 2 left, so a third buffer of another size has to wait for the spare to be dropped...
    const c = memory.acquire(6);
    expect(await settled(c)).toBe(true);
    expect(memory.held).toBe(10);
    // ...and nothing more fits until something is given back.
    const d = memory.take(1);
    expect(await settled(d)).toBe(false);
    // The spare b is dropped for it: 6 (c) + 1 held.
    memory.release(b);
    expect(await settled(d)).toBe(true);
    expect(memory.held).toBe(7);
  });

  it('never holds more than the budget, however many files share it', async () => {
    const memory = new MemoryBudget(12);
    const made = new Set<ArrayBufferLike>();
    let peak = 0;
    // 16 "files" of 5 blocks of 4 each, 3 blocks of a file in flight at a time.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        const inFlight = new Set<Promise<void>>();
        for (let i = 0; i < 5; i++) {
          if (inFlight.size >= 3) await Promise.race(inFlight);
          const buffer = await memory.acquire(4);
          made.add(buffer.buffer);
          peak = Math.max(peak, memory.held);
          const p: Promise<void> = new Promise<void>((r) => setTimeout(r, Math.random() * 3)).then(() => {
            memory.release(buffer);
            inFlight.delete(p);
          });
          inFlight.add(p);
        }
        await Promise.all(inFlight);
      }),
    );
    expect(peak).toBeLessThanOrEqual(12);
    expect(made.size).toBeLessThanOrEqual(3);
  });
});

const tasks = () => readdirSync('/proc/self/task').length;

describe('one MD5 worker for the whole process', () => {
  it.runIf(process.platform === 'linux')('hashes several large uploads at once on one thread, each to its own MD5', async () => {
    await stopHashWorkers();
    const before = tasks();
    const files = Array.from({ length: 4 }, () => [randomBytes(100_000), randomBytes(70_000), randomBytes(1)]);
    const hashes = files.map(() => createBlockHash(WORKER_THRESHOLD));
    try {
      // Blocks of the four files interleaved, as a batch sends them.
      const acks: Promise<void>[] = [];
      for (let block = 0; block < 3; block++) {
        files.forEach((blocks, f) => {
          const buffer = hashes[f].allocate(blocks[block].length);
          blocks[block].copy(buffer);
          acks.push(hashes[f].add(buffer));
        });
      }
      await Promise.all(acks);
      expect(tasks() - before).toBe(1);
      const digests = await Promise.all(hashes.map((h) => h.digest()));
      expect(digests).toEqual(files.map((blocks) => md5(Buffer.concat(blocks))));
    } finally {
      for (const h of hashes) h.abort();
    }
  });

  it('an aborted upload does not disturb the others on the worker', async () => {
    const data = [randomBytes(50_000), randomBytes(50_000)];
    const [kept, stopped] = [createBlockHash(WORKER_THRESHOLD), createBlockHash(WORKER_THRESHOLD)];
    const add = (h: ReturnType<typeof createBlockHash>, b: Buffer) => {
      const buffer = h.allocate(b.length);
      b.copy(buffer);
      return h.add(buffer);
    };
    await Promise.all([add(kept, data[0]), add(stopped, data[0])]);
    stopped.abort();
    await expect(stopped.digest()).rejects.toThrow(/stopped/);
    await add(kept, data[1]);
    expect(await kept.digest()).toBe(md5(Buffer.concat(data)));
  });

  it('hashes several large downloads at once, and lets go of an aborted one before it is removed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msistorage-hash-'));
    try {
      const contents = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(2 * 1024 * 1024)];
      const files = contents.map((c, i) => {
        const f = path.join(dir, `f${i}`);
        writeFileSync(f, c);
        return f;
      });
      const hashers = files.map((f) => createHasher(f, WORKER_THRESHOLD));
      // The finished prefix grows in steps, as ranges complete.
      for (const step of [1, 2, 3]) hashers.forEach((h, i) => h.ready(Math.min(contents[i].length, step * 1024 * 1024)));
      hashers[0].ready(contents[0].length);
      expect(await Promise.all(hashers.map((h) => h.digest()))).toEqual(contents.map(md5));

      const third = path.join(dir, 'aborted');
      writeFileSync(third, randomBytes(1024 * 1024));
      const hasher = createHasher(third, WORKER_THRESHOLD);
      hasher.ready(512 * 1024);
      await hasher.abort();
      await expect(hasher.digest()).rejects.toThrow(/stopped/);
      if (process.platform === 'linux') {
        const open = readdirSync('/proc/self/fd').map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return '';
          }
        });
        expect(open).not.toContain(third);
      }
      rmSync(third);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
