// A download whose body stalls: the bundle, run as PowerShell runs it, against a loopback stub of the blob
// service that sends the headers and the first 1000 bytes of each range, and then nothing. The stall timer
// and the batch's cancellation must both reach the socket (the per-try policy must keep the caller's signal
// linked for as long as the body flows), and neither may leave the temporary file behind.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, runBundle } from '../helpers/stack.js';
import { type StubStorage, startStubStorage } from '../helpers/stub-storage.js';

const SIZE = 4 * 1024 * 1024;
let stub: StubStorage;
let gets: string[] = [];
let endpoint: string;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-stall-'));
  stub = await startStubStorage((req, res) => {
    const headers = { etag: '"0x8DC0STALL"', 'x-ms-blob-type': 'BlockBlob', 'last-modified': new Date().toUTCString(), 'x-ms-version': '2025-01-05', 'content-type': 'application/octet-stream' };
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'content-length': String(SIZE) });
      res.end();
      return;
    }
    const range = String(req.headers['x-ms-range'] ?? req.headers.range ?? '');
    gets.push(range);
    const m = /bytes=(\d+)-(\d+)/.exec(range);
    const start = Number(m?.[1] ?? 0);
    const end = Number(m?.[2] ?? SIZE - 1);
    res.writeHead(206, { ...headers, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${SIZE}` });
    res.write(Buffer.alloc(1000, 7));
    // ...and then nothing, with the connection open.
  });
  endpoint = stub.endpoint;
});
afterAll(async () => {
  await stub?.close();
  rmSync(work, { recursive: true, force: true });
});

function request(destination: string) {
  return {
    v: 1,
    command: 'download',
    context: { storageAccountName: 'acct', blobEndpoint: endpoint, authType: 'SharedKey', storageAccountKey: Buffer.alloc(64, 3).toString('base64') },
    items: [{ container: 'cont', blob: 'stalled.bin', destination }],
  };
}

const partials = (dir: string) => readdirSync(dir).filter((f) => f.includes('msistorage-partial'));

describe('a download whose body stalls', () => {
  it('fails with StorageTimeout within a bounded time, resumes after the bytes that came, and leaves no file', async () => {
    gets = [];
    const dir = mkdtempSync(path.join(work, 'dl-'));
    const dest = path.join(dir, 'out.bin');
    const started = Date.now();
    const run = await runBundle(request(dest), { MSISTORAGE_STALL_TIMEOUT_MS: '300', MSISTORAGE_RETRY_DELAY_SCALE: '0.01' });
    const elapsed = Date.now() - started;
    expect(run.items).toHaveLength(1);
    expect(run.items[0].error).toMatchObject({ code: 'StorageTimeout', category: 'OperationTimeout' });
    expect(run.items[0].error.message).toMatch(/no data for 0\.3 s on 'stalled\.bin'/);
    // Four tries of 0.3 s each, and start-up: far from the per-try limit (2 minutes) or forever.
    expect(elapsed).toBeLessThan(15_000);
    // Each try asked for the rest: the 1000 bytes that did arrive were kept.
    expect(gets).toEqual(['bytes=0-4194303', 'bytes=1000-4194303', 'bytes=2000-4194303', 'bytes=3000-4194303']);
    expect(partials(dir)).toEqual([]);
    expect(existsSync(dest)).toBe(false);
  }, 30_000);

  it('a cancel ({"cancel":true} on stdin, as Ctrl+C sends it) stops the stalled body at once and removes the temporary file', async () => {
    gets = [];
    const dir = mkdtempSync(path.join(work, 'dl-'));
    const dest = path.join(dir, 'out.bin');
    // The stall timer is far away: only the cancel can end this download in time.
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [bundle], { env: { ...process.env, MSISTORAGE_STALL_TIMEOUT_MS: '60000' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.write(`${JSON.stringify(request(dest))}\n`);
    const deadline = Date.now() + 15_000;
    while ((gets.length === 0 || partials(dir).length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(gets.length).toBe(1);
    expect(partials(dir)).toHaveLength(1);
    // While it fills, the temporary file is private: no other user can open it and read along.
    if (process.platform !== 'win32') expect(statSync(path.join(dir, partials(dir)[0])).mode & 0o777).toBe(0o600);
    // The body has stalled (its 1000 bytes are in, nothing more comes).
    await new Promise((r) => setTimeout(r, 300));
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
