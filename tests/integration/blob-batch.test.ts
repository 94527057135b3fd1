// Batches and downloaded files, with the bundle run as PowerShell runs it, against the local stack (Azurite):
// the memory a batch of large files takes, the batch progress of downloads, and the mode of downloaded files.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, runBundle, startStack } from '../helpers/stack.js';

const MiB = 1024 * 1024;
let stack: Stack;
let env: Record<string, string>;
let work: string;
let ctx: { storageAccountName: string; blobEndpoint: string; authType: string; storageAccountKey: string };

beforeAll(async () => {
  stack = await startStack();
  env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost };
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-batch-'));
  const keys = await runBundle({ command: 'keys', subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint }, env);
  expect(keys.reply.ok).toBe(true);
  ctx = { storageAccountName: stack.storageAccountName, blobEndpoint: stack.blobEndpoint, authType: 'SharedKey', storageAccountKey: keys.reply.result.value as string };
});
afterAll(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function newContainer(): Promise<string> {
  const container = `b${randomBytes(6).toString('hex')}`;
  expect((await runBundle({ command: 'newContainer', context: ctx, container }, env)).reply.ok).toBe(true);
  return container;
}

/**
 * Env for a bundle run that records the process's peak resident set on exit. VmHWM of /proc/self/status
 * belongs to the process's own address space; ru_maxrss (process.resourceUsage().maxRSS) would also count the
 * image of the parent it was forked from, here the whole test runner.
 */
function peakRssEnv(name: string): { env: Record<string, string>; read: () => number } {
  const file = path.join(work, `${name}.hwm`);
  const hook = path.join(work, 'hwm.cjs');
  writeFileSync(
    hook,
    `process.on('exit', () => { const m = /VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8')); require('fs').writeFileSync(${JSON.stringify(file)}, m[1]); });\n`,
  );
  return { env: { ...env, NODE_OPTIONS: `--require ${hook}` }, read: () => Number(readFileSync(file, 'utf8')) / 1024 };
}

describe('a batch of large files', () => {
  it.runIf(process.platform === 'linux')('16 files of 33 MiB go up and come down, MD5-checked, in at most 200 MiB of memory each way', async () => {
    const container = await newContainer();
    // One file read 16 times under 16 names: what counts is what the process holds, not the disk.
    const file = path.join(work, 'big33.bin');
    const data = randomBytes(33 * MiB);
    writeFileSync(file, data);
    const md5 = createHash('md5').update(data).digest('base64');
    const names = Array.from({ length: 16 }, (_, i) => `f${i}.bin`);

    const up = peakRssEnv('upload');
    const sent = await runBundle({ command: 'upload', context: ctx, container, items: names.map((blob) => ({ file, blob })), progress: false }, up.env);
    expect(sent.reply).toMatchObject({ ok: true, result: { done: 16, failed: 0 } });
    // Every file's MD5, computed from its blocks on the shared MD5 worker, is the file's.
    for (const item of sent.items) expect(item.result.contentMD5).toBe(md5);
    expect(up.read()).toBeLessThanOrEqual(200);

    const folder = path.join(work, 'down');
    mkdirSync(folder);
    const down = peakRssEnv('download');
    const got = await runBundle({ command: 'download', context: ctx, items: names.map((blob) => ({ container, blob, destination: folder })), progress: false }, down.env);
    expect(got.reply).toMatchObject({ ok: true, result: { done: 16, failed: 0 } });
    expect(got.stderr).toMatch(/MD5 and length verified/);
    expect(down.read()).toBeLessThanOrEqual(200);
    for (const name of names) expect(createHash('md5').update(readFileSync(path.join(folder, name))).digest('base64')).toBe(md5);
  }, 120_000);
});

describe('batch download progress', () => {
  it('counts files done of total, and never says "of 0 B" (the byte total is not known in advance)', async () => {
    const container = await newContainer();
    const file = path.join(work, 'five.bin');
    writeFileSync(file, randomBytes(5 * MiB));
    const sent = await runBundle({ command: 'upload', context: ctx, container, items: [{ file, blob: 'a.bin' }, { file, blob: 'b.bin' }], progress: false }, env);
    expect(sent.reply.ok).toBe(true);
    const folder = path.join(work, 'progress');
    mkdirSync(folder);
    const got = await runBundle({ command: 'download', context: ctx, items: ['a.bin', 'b.bin'].map((blob) => ({ container, blob, destination: folder })), progress: true }, env);
    expect(got.reply.ok).toBe(true);
    const batch = got.events.filter((e) => e.event === 'progress' && e.id === 1 && !e.completed);
    expect(batch.length).toBeGreaterThan(0);
    for (const e of batch) {
      expect(e.status).toMatch(/^[0-2] of 2 files, \d+(\.\d)? (B|KiB|MiB), \d+(\.\d)? (B|KiB|MiB|GiB)\/s$/);
      expect(e.status).not.toMatch(/ of 0 B/);
      expect(e.percent).toBe(Math.floor((100 * e.filesDone) / 2));
      expect(e.bytesTotal).toBeUndefined();
    }
    expect(batch.at(-1)).toMatchObject({ filesDone: 2, filesTotal: 2, percent: 100 });
    // Each file's own bar still has its size.
    expect(got.events.some((e) => e.event === 'progress' && e.id >= 2 && / of 5\.0 MiB, /.test(e.status))).toBe(true);
  });
});

describe('the mode of a downloaded file', () => {
  it.runIf(process.platform !== 'win32')('is 0666 less the umask, like any new file; a file that -Force replaces keeps its own', async () => {
    const container = await newContainer();
    const file = path.join(work, 'mode.txt');
    writeFileSync(file, 'mode');
    expect((await runBundle({ command: 'upload', context: ctx, container, items: [{ file, blob: 'mode.txt' }] }, env)).reply.ok).toBe(true);
    // Node under a known umask, as a shell would start it.
    const node = path.join(work, 'node-umask.sh');
    writeFileSync(node, `#!/bin/sh\numask 027\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
    const dest = path.join(work, 'mode-copy.txt');
    const first = await runBundle({ command: 'download', context: ctx, items: [{ container, blob: 'mode.txt', destination: dest }] }, env, node);
    expect(first.items[0].ok).toBe(true);
    expect(statSync(dest).mode & 0o777).toBe(0o640);

    chmodSync(dest, 0o604);
    const again = await runBundle({ command: 'download', context: ctx, items: [{ container, blob: 'mode.txt', destination: dest }], force: true }, env, node);
    expect(again.items[0].ok).toBe(true);
    expect(statSync(dest).mode & 0o777).toBe(0o604);
    expect(readFileSync(dest, 'utf8')).toBe('mode');
    expect(readdirSync(work).filter((f) => f.includes('msistorage-partial'))).toEqual([]);
  });
});
