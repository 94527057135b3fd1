// A ranged GET answered with 206 and a body that ends, cleanly, before the range does (its Content-Length
// says so: nothing to notice in the HTTP exchange itself). Azurite never does this, and the stack's front
// cannot make it, so the peer here is a minimal loopback server that misbehaves on purpose: that is the
// point of the test. The download must count such a try against its limit, resume after the bytes that came,
// and end with a clear error; before the fix, it asked for the rest again forever (the test's own deadline
// stops it then, rather than hanging).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AnonymousCredential, ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineOptions } from '../../src/blob/client.js';
import { downloadOne } from '../../src/blob/download.js';
import { MEMORY_BUDGET, MemoryBudget, transferOptions } from '../../src/blob/transfer.js';
import { setVerbose } from '../../src/log.js';

const SIZE = 100_000;
const CUT = 1000;
const data = randomBytes(SIZE);
let server: http.Server;
let endpoint: string;
let work: string;
/** How many of the next ranged GETs get a short body; then they are answered in full. */
let shortAnswers = 0;
let ranges: string[] = [];

beforeAll(async () => {
  setVerbose(false);
  process.env.MSISTORAGE_RETRY_DELAY_SCALE = '0.01';
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-short-'));
  server = http.createServer((req, res) => {
    req.resume();
    const common = { 'x-ms-blob-type': 'BlockBlob', etag: '"0x1"', 'last-modified': new Date(0).toUTCString(), 'x-ms-version': '2025-01-05' };
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...common, 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
      return res.end();
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers['x-ms-range'] ?? req.headers.range ?? ''));
    if (req.method !== 'GET' || !m) {
      res.writeHead(400);
      return res.end();
    }
    ranges.push(m[0]);
    const from = Number(m[1]);
    const to = shortAnswers > 0 ? Math.min(Number(m[2]), from + CUT - 1) : Number(m[2]);
    if (shortAnswers > 0) shortAnswers--;
    res.writeHead(206, { ...common, 'content-length': String(to - from + 1), 'content-range': `bytes ${from}-${to}/${SIZE}` });
    res.end(data.subarray(from, to + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acct/cont`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(work, { recursive: true, force: true });
  delete process.env.MSISTORAGE_RETRY_DELAY_SCALE;
  setVerbose(true);
});

async function download(dest: string) {
  const container = new ContainerClient(endpoint, new AnonymousCredential(), await pipelineOptions());
  // No integrity check: this server stores no Content-MD5. One range covers the blob.
  const options = transferOptions({ blockSize: 128 * 1024, skipIntegrityCheck: true, force: false });
  // A deadline of its own: if short answers were retried without end again, the test fails instead of hanging.
  const stop = new AbortController();
  const deadline = setTimeout(() => stop.abort(), 10_000);
  try {
    return await downloadOne(container, { blob: 'short.bin', destination: dest }, options, () => () => undefined, stop.signal, new MemoryBudget(MEMORY_BUDGET)).then(
      (result) => ({ result, error: undefined }),
      (error: { code?: string; message?: string }) => ({ result: undefined, error }),
    );
  } finally {
    clearTimeout(deadline);
  }
}

describe('a range answered with a body shorter than asked', () => {
  it('on every try: IncompleteDownload after four tries, each resuming after what came, and no file left', async () => {
    const dir = mkdtempSync(path.join(work, 'dl-'));
    const dest = path.join(dir, 'out.bin');
    ranges = [];
    shortAnswers = 1_000_000;
    const { error } = await download(dest);
    shortAnswers = 0;
    expect(error).toMatchObject({ code: 'IncompleteDownload', category: 'ConnectionError' });
    expect(error?.message).toMatch(/short of the range asked for .* on each of 4 tries of that range\. The destination was left untouched/);
    expect(ranges).toEqual([`bytes=0-${SIZE - 1}`, `bytes=${CUT}-${SIZE - 1}`, `bytes=${2 * CUT}-${SIZE - 1}`, `bytes=${3 * CUT}-${SIZE - 1}`]);
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  }, 20_000);

  it('once: the rest is asked for, and the file is whole', async () => {
    const dir = mkdtempSync(path.join(work, 'dl-'));
    const dest = path.join(dir, 'out.bin');
    ranges = [];
    shortAnswers = 1;
    const { result, error } = await download(dest);
    expect(error).toBeUndefined();
    expect(result?.length).toBe(SIZE);
    expect(readFileSync(dest).equals(data)).toBe(true);
    expect(ranges).toEqual([`bytes=0-${SIZE - 1}`, `bytes=${CUT}-${SIZE - 1}`]);
    expect(readdirSync(dir)).toEqual(['out.bin']);
  }, 20_000);
});
