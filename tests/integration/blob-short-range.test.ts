// A ranged GET answered with 206 and a body that ends, cleanly, before the range does (its Content-Length
// says so: nothing to notice in the HTTP exchange itself), as a proxy that cuts answers short gives. The
// bundle, run as PowerShell runs it, against Azurite behind the stack's front, whose short-front cuts the next
// answers to their first 1000 bytes. The download must count such a try against its limit, resume after the
// bytes that came, and end with a clear error; before the fix it asked for the rest again forever (each
// test's time limit fails it then).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, type StorageContext, keyContextWithContainer, runBundle, startStack } from '../helpers/stack.js';

const SIZE = 100_000;
const CUT = 1000;
const data = randomBytes(SIZE);
let stack: Stack;
let context: (blobEndpoint: string) => StorageContext;
let work: string;
const env = { MSISTORAGE_RETRY_DELAY_SCALE: '0.01' };
const ranges = async () => ((await stack.command('front-log')).requests as { method: string; path: string; range: string | null }[]).filter((r) => r.method === 'GET' && r.path.endsWith('/short.bin')).map((r) => r.range);

beforeAll(async () => {
  stack = await startStack();
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-short-'));
  context = await keyContextWithContainer(stack, 'cont');
  const source = path.join(work, 'source.bin');
  writeFileSync(source, data);
  const up = await runBundle({ command: 'upload', context: context(stack.blobEndpoint), container: 'cont', items: [{ file: source, blob: 'short.bin' }] }, { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost });
  expect(up.items[0].ok).toBe(true);
});
afterAll(async () => {
  await stack?.command('short-front 0');
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Downloads short.bin through the front, whose next `n` answers are cut short, into a fresh folder. */
async function downloadCut(n: number) {
  await stack.command('front-log');
  expect((await stack.command(`short-front ${n}`)).ok).toBe(true);
  const dir = mkdtempSync(path.join(work, 'dl-'));
  const dest = path.join(dir, 'out.bin');
  const run = await runBundle({ command: 'download', context: context(stack.frontBlobEndpoint), items: [{ container: 'cont', blob: 'short.bin', destination: dest }] }, env);
  await stack.command('short-front 0');
  return { run, dir, dest };
}

describe('a range answered with a body shorter than asked', () => {
  it('on every try: IncompleteDownload after four tries, each resuming after what came, and no file left', async () => {
    const { run, dir, dest } = await downloadCut(1_000_000);
    expect(run.items[0].error).toMatchObject({ code: 'IncompleteDownload', category: 'ConnectionError' });
    expect(run.items[0].error.message).toMatch(/short of the range asked for .* on each of 4 tries of that range\. The destination was left untouched/);
    expect(await ranges()).toEqual([`bytes=0-${SIZE - 1}`, `bytes=${CUT}-${SIZE - 1}`, `bytes=${2 * CUT}-${SIZE - 1}`, `bytes=${3 * CUT}-${SIZE - 1}`]);
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);

  it('once: the rest is asked for, and the file is whole (and its MD5 verified)', async () => {
    const { run, dir, dest } = await downloadCut(1);
    expect(run.items[0].error).toBeUndefined();
    expect(run.items[0].result.length).toBe(SIZE);
    expect(readFileSync(dest).equals(data)).toBe(true);
    expect(await ranges()).toEqual([`bytes=0-${SIZE - 1}`, `bytes=${CUT}-${SIZE - 1}`]);
    expect(readdirSync(dir)).toEqual(['out.bin']);
  }, 30_000);
});
