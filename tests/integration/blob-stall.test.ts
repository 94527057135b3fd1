// A download whose body stalls: the bundle, run as PowerShell runs it, against Azurite behind the stack's
// front, which (stall-front) passes the headers and the first 1000 bytes of a download's body, and then
// nothing, with the connection open. The stall timer and the batch's cancellation must both reach the socket
// (the per-try policy must keep the caller's signal linked for as long as the body flows), and neither may
// leave the temporary file behind.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, type StorageContext, bundle, keyContextWithContainer, runBundle, startStack } from '../helpers/stack.js';

const SIZE = 4 * 1024 * 1024;
let stack: Stack;
let context: (blobEndpoint: string) => StorageContext;
let work: string;
const env = () => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost });
const frontLog = async () => ((await stack.command('front-log')).requests as { method: string; path: string; range: string | null }[]).filter((r) => r.method === 'GET' && r.path.endsWith('/stalled.bin'));

beforeAll(async () => {
  stack = await startStack();
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-stall-'));
  context = await keyContextWithContainer(stack, 'cont');
  const source = path.join(work, 'source.bin');
  writeFileSync(source, randomBytes(SIZE));
  const up = await runBundle({ command: 'upload', context: context(stack.blobEndpoint), container: 'cont', items: [{ file: source, blob: 'stalled.bin' }] }, env());
  expect(up.items[0].ok).toBe(true);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

function request(destination: string) {
  return { v: 1, command: 'download', context: context(stack.frontBlobEndpoint), items: [{ container: 'cont', blob: 'stalled.bin', destination }] };
}

/** Clears the front's log, has its next n downloads stall, and gives a fresh folder and destination. */
async function stallNext(n: number): Promise<{ dir: string; dest: string }> {
  await stack.command('front-log');
  expect((await stack.command(`stall-front ${n}`)).ok).toBe(true);
  const dir = mkdtempSync(path.join(work, 'dl-'));
  return { dir, dest: path.join(dir, 'out.bin') };
}

const partials = (dir: string) => readdirSync(dir).filter((f) => f.includes('msistorage-partial'));

describe('a download whose body stalls', () => {
  it('fails with StorageTimeout within a bounded time, resumes after the bytes that came, and leaves no file', async () => {
    const { dir, dest } = await stallNext(4);
    const started = Date.now();
    const run = await runBundle(request(dest), { ...env(), MSISTORAGE_STALL_TIMEOUT_MS: '300', MSISTORAGE_RETRY_DELAY_SCALE: '0.01' });
    const elapsed = Date.now() - started;
    expect(run.items).toHaveLength(1);
    expect(run.items[0].error).toMatchObject({ code: 'StorageTimeout', category: 'OperationTimeout' });
    expect(run.items[0].error.message).toMatch(/no data for 0\.3 s on 'stalled\.bin'/);
    // Four tries of 0.3 s each, and start-up: far from the per-try limit (2 minutes) or forever.
    expect(elapsed).toBeLessThan(15_000);
    // Each try asked for the rest: the 1000 bytes that did arrive were kept.
    expect((await frontLog()).map((r) => r.range)).toEqual([`bytes=0-${SIZE - 1}`, `bytes=1000-${SIZE - 1}`, `bytes=2000-${SIZE - 1}`, `bytes=3000-${SIZE - 1}`]);
    expect(partials(dir)).toEqual([]);
    expect(existsSync(dest)).toBe(false);
  }, 30_000);

  it('a stall that passes is resumed, and the file is whole and verified', async () => {
    const { dir, dest } = await stallNext(1);
    const run = await runBundle(request(dest), { ...env(), MSISTORAGE_STALL_TIMEOUT_MS: '300', MSISTORAGE_RETRY_DELAY_SCALE: '0.01' });
    expect(run.items[0].ok).toBe(true);
    expect(statSync(dest).size).toBe(SIZE);
    expect((await frontLog()).map((r) => r.range)).toEqual([`bytes=0-${SIZE - 1}`, `bytes=1000-${SIZE - 1}`]);
    expect(partials(dir)).toEqual([]);
  }, 30_000);

  it('a cancel ({"cancel":true} on stdin, as Ctrl+C sends it) stops the stalled body at once and removes the temporary file', async () => {
    const { dir, dest } = await stallNext(1);
    // The stall timer is far away: only the cancel can end this download in time.
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [bundle], { env: { ...process.env, ...env(), MSISTORAGE_STALL_TIMEOUT_MS: '60000' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.write(`${JSON.stringify(request(dest))}\n`);
    const deadline = Date.now() + 15_000;
    while (partials(dir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(partials(dir)).toHaveLength(1);
    // While it fills, the temporary file is private: no other user can open it and read along.
    if (process.platform !== 'win32') expect(statSync(path.join(dir, partials(dir)[0])).mode & 0o777).toBe(0o600);
    // The body has stalled (its 1000 bytes are in, nothing more comes).
    await new Promise((r) => setTimeout(r, 300));
    expect((await frontLog()).length).toBe(1);
    const cancelled = Date.now();
    child.stdin.write('{"cancel":true}\n');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    if (code === 'hung') child.kill();
    expect(code).not.toBe('hung');
    expect(Date.now() - cancelled).toBeLessThan(5_000);
    const reply = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(reply).toMatchObject({ ok: false, error: { code: 'OperationStopped' } });
    expect(partials(dir)).toEqual([]);
    expect(existsSync(dest)).toBe(false);
  }, 30_000);
});
