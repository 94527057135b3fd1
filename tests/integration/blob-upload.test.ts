// Uploads against a loopback stub of the blob service, for the two things no real service can be made to do
// on cue: hold one block unanswered while the test shrinks the file under the uploader, and take a 3 GiB file
// without storing it (to see the block size on the wire). The stub speaks just enough of the REST API (Put
// Block, Put Block List) for @azure/storage-blob. Everything else about uploads is tested against Azurite
// (blob-conflicts.test.ts, flow.test.ts, the Pester suites).
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
