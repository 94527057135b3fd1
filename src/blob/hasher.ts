// MD5 of a file, computed on a worker thread so that hashing a large transfer does not stall the event loop
// that moves its bytes. The worker reads the file itself (from the page cache: the transfer has just read or
// written those bytes), in order, up to the offset it is told is ready.
//   upload:   the whole file is ready at once; the digest is awaited before Put Block List.
//   download: ranges finish out of order; each time the finished prefix grows, the worker hashes further.
// Small files are hashed inline: starting a worker costs more than hashing a few megabytes.
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
