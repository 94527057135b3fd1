// Uploads against a loopback stub of the blob service, for what Azurite cannot be made to do: answer a
// conditional write with a conflict other than "already exists", hold a block while the file shrinks, or take
// a file too large to store. The stub speaks just enough of the REST API (Put Blob, Put Block, Put Block
// List, HEAD) for @azure/storage-blob.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerClient } from '../../src/blob/client.js';
import { MEMORY_BUDGET, MemoryBudget, blockSizeFor, transferOptions } from '../../src/blob/transfer.js';
import { uploadOne } from '../../src/blob/upload.js';
import type { StorageContextJson } from '../../src/protocol.js';
import { runBundle } from '../helpers/stack.js';
import { type StubStorage, startStubStorage } from '../helpers/stub-storage.js';

interface Seen {
  method: string;
  comp?: string;
  blockIndex?: number;
  length: number;
  socket: Socket;
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

let stub: StubStorage;
let handler: Handler;
let seen: Seen[] = [];
let endpoint: string;
let work: string;

const ok = (res: http.ServerResponse, status = 201) => {
  res.writeHead(status, { etag: '"0x8DC0STUB"', 'last-modified': new Date().toUTCString(), 'x-ms-version': '2025-01-05', 'x-ms-request-id': '1', 'content-length': '0' });
  res.end();
};
const fail = (res: http.ServerResponse, status: number, code: string, message: string) => {
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:1\nTime:2025-01-01T00:00:00.0000000Z</Message></Error>`;
  res.writeHead(status, { 'x-ms-error-code': code, 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(body)), 'x-ms-version': '2025-01-05' });
  res.end(body);
};
/** The SDK's block ids are base64 of "<prefix>-<index>". */
const blockIndex = (id: string | null) => (id ? Number(Buffer.from(id, 'base64').toString().split('-').pop()) : undefined);

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-upstub-'));
  stub = await startStubStorage((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const s: Seen = {
      method: req.method ?? '',
      comp: url.searchParams.get('comp') ?? undefined,
      blockIndex: blockIndex(url.searchParams.get('blockid')),
      length: Number(req.headers['content-length'] ?? 0),
      socket: req.socket,
    };
    seen.push(s);
    handler(req, res, s);
  });
  endpoint = stub.endpoint;
});
afterAll(async () => {
  await stub?.close();
  rmSync(work, { recursive: true, force: true });
});

const context = (): StorageContextJson => ({ storageAccountName: 'acct', blobEndpoint: endpoint, authType: 'SharedKey', storageAccountKey: Buffer.alloc(64, 5).toString('base64') }) as StorageContextJson;

describe('conflicts on a write without -Force', () => {
  // One small file (Put Blob) and one in blocks (Put Block List): the answer comes from the write itself.
  const cases = [
    { status: 409, code: 'BlobAlreadyExists', message: 'The specified blob already exists.', expected: { code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' } },
    { status: 412, code: 'ConditionNotMet', message: 'The condition specified using HTTP conditional header(s) is not met.', expected: { code: 'BlobAlreadyExists', category: 'ResourceExists', parameter: 'Force' } },
    {
      status: 409,
      code: 'BlobImmutableDueToPolicy',
      message: 'This operation is not permitted as the blob is immutable due to a policy.',
      expected: { code: 'StorageRequestFailed', category: 'InvalidOperation', statusCode: 409, azure: { code: 'BlobImmutableDueToPolicy' } },
    },
    {
      status: 412,
      code: 'LeaseIdMismatchWithBlobOperation',
      message: 'The lease ID specified did not match the lease ID for the blob.',
      expected: { code: 'StorageRequestFailed', category: 'InvalidOperation', statusCode: 412, azure: { code: 'LeaseIdMismatchWithBlobOperation' } },
    },
  ];
  it.each(cases)('$status $code is reported as $expected.code', async ({ status, code, message, expected }) => {
    seen = [];
    handler = (req, res, s) => {
      req.resume();
      req.on('end', () => {
        if (s.method === 'HEAD') return res.writeHead(404, { 'x-ms-error-code': 'BlobNotFound', 'content-length': '0' }).end();
        if (s.comp === 'block') return ok(res);
        fail(res, status, code, message);
      });
    };
    const small = path.join(work, 'small.txt');
    writeFileSync(small, 'small');
    const large = path.join(work, 'large.bin');
    writeFileSync(large, randomBytes(200 * 1024));
    const run = await runBundle({
      command: 'upload',
      context: context(),
      container: 'cont',
      blockSize: 64 * 1024,
      items: [
        { file: small, blob: 'small.txt' },
        { file: large, blob: 'large.bin' },
      ],
    });
    expect(run.items).toHaveLength(2);
    for (const item of run.items) {
      expect(item.ok).toBe(false);
      expect(item.error).toMatchObject(expected);
      if (expected.code !== 'BlobAlreadyExists') {
        expect(item.error.message).toContain(message);
        expect(item.error.message).not.toMatch(/already exists|-Force/);
      }
    }
    expect(seen.some((s) => s.comp === 'blocklist')).toBe(true);
  });
});

describe('a file that shrinks while its blocks are uploaded', () => {
  it('fails with FileChanged only after stopping the blocks in flight', async () => {
    const file = path.join(work, 'shrinks.bin');
    const block = 64 * 1024;
    writeFileSync(file, randomBytes(10 * block));
    seen = [];
    let held: Seen | undefined;
    let heldClosed = false;
    handler = (req, res, s) => {
      req.resume();
      if (s.comp === 'block' && s.blockIndex === 0) {
        // Block 0 is never answered: it is in flight when the file turns out shorter.
        held = s;
        s.socket.once('close', () => (heldClosed = true));
        return;
      }
      // Block 1 shrinks the file before it is answered: the reader, waiting for its request slot, then
      // finds nothing at block 2's offset.
      if (s.comp === 'block' && s.blockIndex === 1) truncateSync(file, 2 * block);
      req.on('end', () => ok(res));
    };
    const container = await containerClient(context(), 'cont');
    const options = transferOptions({ blockSize: block, concurrency: 2, force: true });
    await expect(uploadOne(container, { file, blob: 'shrinks.bin' }, { options }, new MemoryBudget(MEMORY_BUDGET), () => () => undefined, new AbortController().signal)).rejects.toMatchObject({
      code: 'FileChanged',
    });
    expect(held).toBeDefined();
    // The held block was aborted, not left running: its connection closes (at once; a second is plenty).
    const deadline = Date.now() + 1000;
    while (!heldClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(heldClosed).toBe(true);
    expect(seen.filter((s) => s.comp === 'block').map((s) => s.blockIndex)).toEqual([0, 1]);
    expect(seen.some((s) => s.comp === 'blocklist')).toBe(false);
  });
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
    seen = [];
    const stop = new AbortController();
    handler = (req, res, s) => {
      req.resume();
      req.on('end', () => {
        // A few blocks tell the size; the rest of the 3 GiB is not sent.
        if (seen.filter((x) => x.comp === 'block').length >= 3) stop.abort();
        ok(res);
      });
    };
    const container = await containerClient(context(), 'cont');
    const options = transferOptions({ blockSize: requested, concurrency: 2, force: true, skipIntegrityCheck: true });
    await expect(uploadOne(container, { file, blob: 'huge.bin' }, { options }, new MemoryBudget(MEMORY_BUDGET), () => () => undefined, stop.signal)).rejects.toMatchObject({ code: 'OperationStopped' });
    const blocks = seen.filter((s) => s.comp === 'block');
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const b of blocks) expect(b.length).toBe(expected);
  });
});
