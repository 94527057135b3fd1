// MD5 of a transfer, computed on a worker thread so that hashing a large transfer does not stall the event
// loop that moves its bytes. Small transfers are hashed inline: starting a worker costs more than hashing a
// few megabytes.
//   upload (BlockHash): the blocks are hashed from the very buffers that are sent, in file order. For the
//     worker they live in SharedArrayBuffers, so nothing is copied or read twice; a buffer is reused only
//     once it is both sent and hashed. The digest is awaited before Put Block List.
//   download (Hasher): ranges finish out of order; each time the finished prefix of the temporary file
//     grows, the worker reads and hashes further (from the page cache: those bytes were just written).
// One worker serves every large transfer of the process (one for uploads, one for downloads; a process runs
// one command), each transfer a stream of its own on it: a worker per file would give a batch of large files
// a thread and a V8 heap each, tens of megabytes apiece. The worker is started at the first large transfer
// and kept for the next; it keeps the process alive only while one of its streams is open.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Below this size a file is hashed on the main thread. */
export const WORKER_THRESHOLD = 32 * 1024 * 1024;

/** The inline download hasher reads this much at a time (once per file, reused). */
const INLINE_READ = 1024 * 1024;

// The worker's code, self-contained (the bundle is one script; a worker cannot require it). Messages carry a
// stream id; a stream is opened with `open` (a file to read for a download, '' for an upload's blocks) and
// ends with its digest, an error, or `drop`. Messages are handled in order, so a stream's blocks are hashed
// in the order they were posted.
// With workerData.nice (the upload's worker, on Linux) it first lowers its own thread's priority (nice +10,
// a per-thread setting there): hashing is background work, and when the CPU is contended (on the benchmark's
// two cores, with the storage emulator on the same machine) it should yield to the transfer, which it
// otherwise slows by about a tenth. It still runs whenever a core is free, and blocks wait for it, so memory
// stays bounded.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.nice) {
  try {
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
    const os = require('node:os');
    if (tid > 0) os.setPriority(tid, Math.min(19, os.getPriority(tid) + 10));
  } catch {}
}
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const streams = new Map();
let buffer;
function pump(s) {
  while (s.done < s.ready) {
    buffer = buffer || Buffer.allocUnsafe(4 * 1024 * 1024);
    const n = fs.readSync(s.fd, buffer, 0, Math.min(buffer.length, s.ready - s.done), s.done);
    if (n === 0) throw new Error('the file is shorter than expected');
    s.hash.update(buffer.subarray(0, n));
    s.done += n;
  }
}
function end(id, s) {
  streams.delete(id);
  if (s && s.fd !== undefined) {
    const fd = s.fd;
    s.fd = undefined;
    fs.closeSync(fd);
  }
}
parentPort.on('message', (m) => {
  let s = streams.get(m.id);
  try {
    if (m.open !== undefined) {
      s = { hash: createHash('md5'), done: 0, ready: 0, fd: undefined };
      streams.set(m.id, s);
      if (m.open) s.fd = fs.openSync(m.open, 'r');
    }
    if (m.drop) {
      end(m.id, s);
      parentPort.postMessage({ id: m.id, dropped: true });
      return;
    }
    if (!s) return;
    if (m.block) {
      s.hash.update(Buffer.from(m.block, 0, m.length));
      parentPort.postMessage({ id: m.id, hashed: m.seq });
    }
    if (typeof m.ready === 'number') {
      s.ready = Math.max(s.ready, m.ready);
      pump(s);
    }
    if (m.finish) {
      end(m.id, s);
      parentPort.postMessage({ id: m.id, digest: s.hash.digest('base64') });
    }
  } catch (err) {
    try { end(m.id, s); } catch {}
    parentPort.postMessage({ id: m.id, error: String(err && err.message) });
  }
});
`;

interface WorkerReply {
  id?: number;
  hashed?: number;
  digest?: string;
  dropped?: boolean;
  error?: string;
  /** Not from the worker: it is gone, and with it every stream. */
  gone?: Error;
}

/** One worker thread, many streams. */
class HashWorker {
  private readonly worker: Worker;
  private readonly streams = new Map<number, (m: WorkerReply) => void>();
  private nextId = 0;
  private gone: Error | undefined;

  constructor(nice: boolean, onGone: () => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { nice } });
    this.worker.unref();
    this.worker.on('message', (m: WorkerReply) => this.streams.get(m.id!)?.(m));
    const fail = (err: Error) => {
      if (this.gone) return;
      this.gone = err;
      onGone();
      const handlers = [...this.streams.values()];
      this.streams.clear();
      for (const handler of handlers) handler({ gone: err });
    };
    this.worker.once('error', fail);
    this.worker.once('exit', (code) => fail(new Error(`MD5 worker exited with code ${code}`)));
  }

  /** Opens a stream (reading `file`, for a download); replies go to handler until close(). */
  open(handler: (m: WorkerReply) => void, file = ''): number {
    const id = this.nextId++;
    if (this.gone) {
      const gone = this.gone;
      queueMicrotask(() => handler({ gone }));
      return id;
    }
    if (this.streams.size === 0) this.worker.ref();
    this.streams.set(id, handler);
    this.worker.postMessage({ id, open: file });
    return id;
  }

  post(message: { id: number } & Record<string, unknown>): void {
    if (!this.gone) this.worker.postMessage(message);
  }

  close(id: number): void {
    if (this.streams.delete(id) && this.streams.size === 0) this.worker.unref();
  }

  /** Stops the thread (the process's end, or a test); its open streams fail. */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

const workers: { block?: HashWorker; file?: HashWorker } = {};
function hashWorker(kind: 'block' | 'file'): HashWorker {
  const existing = workers[kind];
  if (existing) return existing;
  const created: HashWorker = new HashWorker(kind === 'block', () => {
    if (workers[kind] === created) workers[kind] = undefined;
  });
  workers[kind] = created;
  return created;
}

/** Ends the shared MD5 workers (for tests that count threads; a process's exit ends them anyway). */
export async function stopHashWorkers(): Promise<void> {
  const all = [workers.block, workers.file].filter((w): w is HashWorker => w !== undefined);
  workers.block = workers.file = undefined;
  await Promise.all(all.map((w) => w.terminate()));
}

/** The error a stream ends with when it is aborted before its digest. */
function stopped(): Error {
  return new Error('MD5 stream exited: the transfer was stopped before its digest.');
}

export interface Hasher {
  /** Bytes [0, offset) of the file are final and may be hashed. */
  ready(offset: number): void;
  /** The base64 MD5 of bytes [0, size). */
  digest(): Promise<string>;
  /** Gives up; resolves once the file is no longer open for hashing (so that it can be removed). */
  abort(): Promise<void>;
}

class WorkerHasher implements Hasher {
  private readonly worker = hashWorker('file');
  private readonly id: number;
  private readonly result: Promise<string>;
  private settle!: { resolve: (digest: string) => void; reject: (err: Error) => void };
  private done = false;
  private closed: Promise<void> | undefined;
  private onClosed: (() => void) | undefined;

  constructor(file: string) {
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined);
    this.id = this.worker.open((m) => this.reply(m), file);
  }

  private reply(m: WorkerReply): void {
    if (m.digest !== undefined || m.error !== undefined || m.dropped || m.gone) {
      this.worker.close(this.id);
      this.onClosed?.();
    }
    if (this.done) return;
    this.done = true;
    if (m.digest !== undefined) this.settle.resolve(m.digest);
    else this.settle.reject(m.gone ?? new Error(`MD5 worker: ${m.error ?? 'stopped'}`));
  }

  ready(offset: number): void {
    if (!this.done) this.worker.post({ id: this.id, ready: offset });
  }

  digest(): Promise<string> {
    if (!this.done) this.worker.post({ id: this.id, finish: true });
    return this.result;
  }

  abort(): Promise<void> {
    if (this.done) return this.closed ?? Promise.resolve();
    this.done = true;
    this.settle.reject(stopped());
    this.closed = new Promise((resolve) => (this.onClosed = resolve));
    this.worker.post({ id: this.id, drop: true });
    return this.closed;
  }
}

class InlineHasher implements Hasher {
  private done = 0;
  private readyTo = 0;
  private chain = Promise.resolve();
  private readonly hash = createHash('md5');
  private buffer: Buffer | undefined;

  constructor(
    private readonly file: string,
    private readonly size: number,
  ) {}

  ready(offset: number): void {
    this.readyTo = Math.max(this.readyTo, offset);
    this.chain = this.chain.then(() => this.pump());
  }

  private async pump(): Promise<void> {
    if (this.done >= this.readyTo) return;
    const handle = await fs.open(this.file, 'r');
    try {
      this.buffer ??= Buffer.allocUnsafe(Math.max(1, Math.min(INLINE_READ, this.size)));
      const buffer = this.buffer;
      while (this.done < this.readyTo) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, this.readyTo - this.done), this.done);
        if (bytesRead === 0) throw new Error('the file is shorter than expected');
        this.hash.update(buffer.subarray(0, bytesRead));
        this.done += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }

  async digest(): Promise<string> {
    await this.chain;
    return this.hash.digest('base64');
  }

  async abort(): Promise<void> {
    // A read under way holds the file open until it ends.
    await this.chain.catch(() => undefined);
  }
}

export function createHasher(file: string, size: number): Hasher {
  return size >= WORKER_THRESHOLD ? new WorkerHasher(file) : new InlineHasher(file, size);
}

/** The MD5 of a file sent as blocks, in order, from the buffers that are sent. */
export interface BlockHash {
  /** A buffer for one block: shared with the worker when there is one. */
  allocate(size: number): Buffer;
  /** Hashes the next block (they must come in file order); resolves when the buffer may be reused. */
  add(block: Buffer): Promise<void>;
  /** The base64 MD5 of every block added. */
  digest(): Promise<string>;
  abort(): void;
}

class InlineBlockHash implements BlockHash {
  private readonly hash = createHash('md5');
  allocate(size: number): Buffer {
    return Buffer.allocUnsafe(size);
  }
  add(block: Buffer): Promise<void> {
    this.hash.update(block);
    return Promise.resolve();
  }
  digest(): Promise<string> {
    return Promise.resolve(this.hash.digest('base64'));
  }
  abort(): void {}
}

class WorkerBlockHash implements BlockHash {
  private readonly worker = hashWorker('block');
  private readonly id: number;
  private readonly acks = new Map<number, () => void>();
  private readonly result: Promise<string>;
  private settle!: { resolve: (digest: string) => void; reject: (err: Error) => void };
  private failure: Error | undefined;
  private done = false;
  private seq = 0;

  constructor() {
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined);
    this.id = this.worker.open((m) => {
      if (m.hashed !== undefined) {
        this.acks.get(m.hashed)?.();
        this.acks.delete(m.hashed);
        return;
      }
      this.worker.close(this.id);
      if (m.digest !== undefined) this.finish(undefined, m.digest);
      else if (!m.dropped) this.finish(m.gone ?? new Error(`MD5 worker: ${m.error}`));
    });
  }

  /** Settles the digest; no block may wait forever for its acknowledgement after that. */
  private finish(err: Error | undefined, digest?: string): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    for (const ack of this.acks.values()) ack();
    this.acks.clear();
    if (err) this.settle.reject(err);
    else this.settle.resolve(digest!);
  }

  allocate(size: number): Buffer {
    return Buffer.from(new SharedArrayBuffer(size));
  }

  add(block: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!(block.buffer instanceof SharedArrayBuffer) || block.byteOffset !== 0) throw new Error('BlockHash.add needs a buffer from allocate()');
    const seq = this.seq++;
    const acked = new Promise<void>((resolve) => this.acks.set(seq, resolve));
    this.worker.post({ id: this.id, block: block.buffer, length: block.length, seq });
    return acked;
  }

  digest(): Promise<string> {
    if (!this.done) this.worker.post({ id: this.id, finish: true });
    return this.result;
  }

  abort(): void {
    if (this.done) return;
    this.worker.post({ id: this.id, drop: true });
    this.finish(stopped());
  }
}

export function createBlockHash(size: number): BlockHash {
  return size >= WORKER_THRESHOLD ? new WorkerBlockHash() : new InlineBlockHash();
}
