// MD5 of a transfer, computed on a worker thread so that hashing a large transfer does not stall the event
// loop that moves its bytes. Small transfers are hashed inline: starting a worker costs more than hashing a
// few megabytes.
//   upload (BlockHash): the blocks are hashed from the very buffers that are sent, in file order. For the
//     worker they live in SharedArrayBuffers, so nothing is copied or read twice; a buffer is reused only
//     once it is both sent and hashed. The digest is awaited before Put Block List.
//   download (Hasher): ranges finish out of order; each time the finished prefix of the temporary file
//     grows, the worker reads and hashes further (from the page cache: those bytes were just written).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Below this size a file is hashed on the main thread. */
export const WORKER_THRESHOLD = 32 * 1024 * 1024;

// The worker's code, self-contained (the bundle is one script; a worker cannot require it).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const fd = fs.openSync(workerData.file, 'r');
const hash = createHash('md5');
const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
let done = 0;
let ready = 0;
let finishing = false;
function pump() {
  while (done < ready) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, ready - done), done);
    if (n === 0) throw new Error('the file is shorter than expected');
    hash.update(buffer.subarray(0, n));
    done += n;
  }
  if (finishing) {
    fs.closeSync(fd);
    parentPort.postMessage({ digest: hash.digest('base64') });
    parentPort.close();
  }
}
parentPort.on('message', (m) => {
  try {
    if (typeof m.ready === 'number') ready = Math.max(ready, m.ready);
    if (m.finish) finishing = true;
    pump();
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message) });
    parentPort.close();
  }
});
`;

export interface Hasher {
  /** Bytes [0, offset) of the file are final and may be hashed. */
  ready(offset: number): void;
  /** The base64 MD5 of bytes [0, size). */
  digest(): Promise<string>;
  abort(): void;
}

class WorkerHasher implements Hasher {
  private readonly worker: Worker;
  private readonly result: Promise<string>;

  constructor(file: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file } });
    this.result = new Promise((resolve, reject) => {
      this.worker.once('message', (m: { digest?: string; error?: string }) => (m.digest ? resolve(m.digest) : reject(new Error(`MD5 worker: ${m.error}`))));
      this.worker.once('error', reject);
    });
    this.result.catch(() => undefined);
  }

  ready(offset: number): void {
    this.worker.postMessage({ ready: offset });
  }

  digest(): Promise<string> {
    this.worker.postMessage({ finish: true });
    return this.result;
  }

  abort(): void {
    void this.worker.terminate();
  }
}

class InlineHasher implements Hasher {
  private done = 0;
  private readyTo = 0;
  private chain = Promise.resolve();
  private readonly hash = createHash('md5');

  constructor(private readonly file: string) {}

  ready(offset: number): void {
    this.readyTo = Math.max(this.readyTo, offset);
    this.chain = this.chain.then(() => this.pump());
  }

  private async pump(): Promise<void> {
    if (this.done >= this.readyTo) return;
    const handle = await fs.open(this.file, 'r');
    try {
      const buffer = Buffer.allocUnsafe(Math.min(4 * 1024 * 1024, this.readyTo - this.done));
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

  abort(): void {}
}

export function createHasher(file: string, size: number): Hasher {
  return size >= WORKER_THRESHOLD ? new WorkerHasher(file) : new InlineHasher(file);
}

// The upload worker: hashes shared block buffers in the order they are posted, acknowledging each.
// On Linux it first lowers its own thread's priority (nice +10, a per-thread setting there): hashing is
// background work, and when the CPU is contended (on the benchmark's two cores, with the storage emulator on
// the same machine) it should yield to the transfer, which it otherwise slows by about a tenth. It still
// runs whenever a core is free, and blocks wait for it, so memory stays bounded.
const BLOCK_WORKER_SOURCE = `
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  const os = require('node:os');
  if (tid > 0) os.setPriority(tid, Math.min(19, os.getPriority(tid) + 10));
} catch {}
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('md5');
parentPort.on('message', (m) => {
  try {
    if (m.block) {
      hash.update(Buffer.from(m.block, 0, m.length));
      parentPort.postMessage({ hashed: m.seq });
    }
    if (m.finish) {
      parentPort.postMessage({ digest: hash.digest('base64') });
      parentPort.close();
    }
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message) });
    parentPort.close();
  }
});
`;

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
  private readonly worker = new Worker(BLOCK_WORKER_SOURCE, { eval: true });
  private readonly acks = new Map<number, () => void>();
  private readonly result: Promise<string>;
  private failure: Error | undefined;
  private seq = 0;

  constructor() {
    this.result = new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        this.failure = err;
        for (const ack of this.acks.values()) ack();
        this.acks.clear();
        reject(err);
      };
      this.worker.on('message', (m: { hashed?: number; digest?: string; error?: string }) => {
        if (m.hashed !== undefined) {
          this.acks.get(m.hashed)?.();
          this.acks.delete(m.hashed);
        } else if (m.digest) resolve(m.digest);
        else fail(new Error(`MD5 worker: ${m.error}`));
      });
      this.worker.once('error', fail);
      // After the digest this changes nothing; before it, no block may wait forever for its acknowledgement.
      this.worker.once('exit', (code) => fail(new Error(`MD5 worker exited with code ${code}`)));
    });
    this.result.catch(() => undefined);
  }

  allocate(size: number): Buffer {
    return Buffer.from(new SharedArrayBuffer(size));
  }

  add(block: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!(block.buffer instanceof SharedArrayBuffer) || block.byteOffset !== 0) throw new Error('BlockHash.add needs a buffer from allocate()');
    const seq = this.seq++;
    const acked = new Promise<void>((resolve) => this.acks.set(seq, resolve));
    this.worker.postMessage({ block: block.buffer, length: block.length, seq });
    return acked;
  }

  digest(): Promise<string> {
    this.worker.postMessage({ finish: true });
    return this.result;
  }

  abort(): void {
    void this.worker.terminate();
  }
}

export function createBlockHash(size: number): BlockHash {
  return size >= WORKER_THRESHOLD ? new WorkerBlockHash() : new InlineBlockHash();
}
