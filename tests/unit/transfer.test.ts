import { describe, expect, it } from 'vitest';
import { blobNameFor } from '../../src/commands/upload.js';
import { Budget, MAX_BLOCKS, blockSizeFor, mapLimit, transferOptions } from '../../src/blob/transfer.js';

const MiB = 1024 * 1024;

describe('block size', () => {
  it('keeps the requested size while it needs at most 50,000 blocks', () => {
    expect(blockSizeFor(10 * 1024 * MiB, 8 * MiB)).toBe(8 * MiB);
  });
  it('grows, in whole MiB, so that no file needs more than 50,000 blocks', () => {
    const size = 1024 * 1024 * MiB; // 1 TiB
    const b = blockSizeFor(size, 8 * MiB);
    expect(b % MiB).toBe(0);
    expect(Math.ceil(size / b)).toBeLessThanOrEqual(MAX_BLOCKS);
    expect(Math.ceil(size / (b - MiB))).toBeGreaterThan(MAX_BLOCKS);
  });
  it('refuses a file larger than a block blob can hold', () => {
    expect(() => blockSizeFor(50_000 * 4000 * MiB + 1, 8 * MiB)).toThrow(/more than a block blob can hold/);
  });
  it('validates -BlockSize, -Concurrency and -ConcurrentTaskCount by name', () => {
    expect(() => transferOptions({ blockSize: 1000 })).toThrow(/-BlockSize/);
    expect(() => transferOptions({ concurrency: 0 })).toThrow(/-Concurrency/);
    expect(() => transferOptions({ fileConcurrency: 1000 })).toThrow(/-ConcurrentTaskCount/);
    expect(transferOptions({})).toMatchObject({ blockSize: 8 * MiB, concurrency: 8, fileConcurrency: 16, verify: true, force: false });
  });
});

describe('blob names', () => {
  it('uses -Blob, else the path under -SourceRoot with slashes, else the file name', () => {
    expect(blobNameFor('/data/a/b.txt', 'x', '/data')).toBe('x');
    expect(blobNameFor('/data/a/b.txt', undefined, '/data')).toBe('a/b.txt');
    expect(blobNameFor('/data/a/b.txt', undefined, undefined)).toBe('b.txt');
    expect(() => blobNameFor('/other/b.txt', undefined, '/data')).toThrow(/-SourceRoot/);
  });
});

describe('concurrency helpers', () => {
  it('never has more than the limit in flight, and keeps the order of results', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 6], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 60]);
    expect(peak).toBe(2);
  });
  it('a byte budget makes takers wait until enough is given back', async () => {
    const budget = new Budget(10);
    await budget.take(8);
    let got = false;
    const waiting = budget.take(5).then(() => (got = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toBe(false);
    budget.give(8);
    await waiting;
    expect(got).toBe(true);
  });
  it('starts nothing new after the first failure, waits for what is under way, then throws that failure', async () => {
    const started: number[] = [];
    let underWay = 0;
    let finishedAfterFailure = 0;
    let failed = false;
    const run = mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      started.push(n);
      underWay++;
      try {
        if (n === 1) {
          await new Promise((r) => setTimeout(r, 5));
          failed = true;
          throw new Error('range 1 failed');
        }
        await new Promise((r) => setTimeout(r, 30));
        if (failed) finishedAfterFailure++;
        return n;
      } finally {
        underWay--;
      }
    });
    await expect(run).rejects.toThrow('range 1 failed');
    expect(underWay).toBe(0);
    expect(finishedAfterFailure).toBe(2);
    expect(started).toEqual([0, 1, 2]);
  });
});

describe('blob properties', () => {
  it('maps the four properties case-insensitively and refuses anything else, naming -Properties', async () => {
    const { blobProperties } = await import('../../src/commands/upload.js');
    expect(blobProperties({ CacheControl: 'no-cache', contentlanguage: 'en' })).toEqual({ properties: { cacheControl: 'no-cache', contentLanguage: 'en' } });
    expect(() => blobProperties({ Colour: 'blue' })).toThrow(/-Properties has 'Colour'.*CacheControl/);
    expect(blobProperties(undefined)).toEqual({});
    expect(blobProperties(undefined, 'text/csv')).toEqual({ contentType: 'text/csv' });
  });

  it("takes ContentType in -Properties, as Az's Set-AzStorageBlobContent does, and refuses ContentMD5", async () => {
    const { blobProperties } = await import('../../src/commands/upload.js');
    expect(blobProperties({ ContentType: 'image/png', CacheControl: 'no-cache' })).toEqual({ properties: { cacheControl: 'no-cache' }, contentType: 'image/png' });
    expect(blobProperties({ contenttype: 'image/png' }, 'image/png')).toEqual({ properties: {}, contentType: 'image/png' });
    expect(() => blobProperties({ ContentType: 'image/png' }, 'text/plain')).toThrow(/-Properties has ContentType 'image\/png', but -ContentType is 'text\/plain'/);
    expect(() => blobProperties({ ContentMD5: 'x' })).toThrow(/computes the file's MD5 itself/);
  });
});
