// What every transfer shares: sizes and concurrency (with their defaults), a byte budget that bounds memory
// whatever the file sizes (MemoryBudget: every buffer a batch holds, spare block buffers included), progress
// events, and per-item result lines on stdout.
import { MsiError, invalidArgument, toMsiError } from '../errors.js';
import { queueStdout, setQueueDelay } from '../io.js';
import { progress } from '../log.js';
import { PROTOCOL_VERSION } from '../protocol.js';

const MiB = 1024 * 1024;
export const DEFAULT_BLOCK_SIZE = 8 * MiB;
export const MAX_BLOCK_SIZE = 4000 * MiB;
export const MAX_BLOCKS = 50_000;
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_FILE_CONCURRENCY = 16;
/** Transfer buffers in memory at once (upload blocks, spare ones included; download ranges), across all files of a batch. */
export const MEMORY_BUDGET = 96 * MiB;
/** Files smaller than this get no progress bar of their own. */
export const PROGRESS_THRESHOLD = 4 * MiB;

export interface TransferOptions {
  blockSize: number;
  concurrency: number;
  fileConcurrency: number;
  force: boolean;
  verify: boolean;
  progress: boolean;
}

export function transferOptions(req: { blockSize?: number; concurrency?: number; fileConcurrency?: number; force?: boolean; skipIntegrityCheck?: boolean; progress?: boolean }): TransferOptions {
  const blockSize = req.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < 64 * 1024 || blockSize > MAX_BLOCK_SIZE) {
    throw invalidArgument('BlockSize', `-BlockSize ${blockSize} is out of range: give 64KB to 4000MB (the default is 8MB).`, 'InvalidBlockSize');
  }
  const concurrency = req.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw invalidArgument('Concurrency', `-Concurrency ${concurrency} is out of range: give 1 to 64 (the default is 8).`, 'InvalidConcurrency');
  const fileConcurrency = req.fileConcurrency ?? DEFAULT_FILE_CONCURRENCY;
  if (!Number.isInteger(fileConcurrency) || fileConcurrency < 1 || fileConcurrency > 256) {
    throw invalidArgument('ConcurrentTaskCount', `-ConcurrentTaskCount ${fileConcurrency} is out of range: give 1 to 256 (the default is 16).`, 'InvalidConcurrency');
  }
  return { blockSize, concurrency, fileConcurrency, force: req.force ?? false, verify: !req.skipIntegrityCheck, progress: req.progress ?? true };
}

/** The block size for one file: at least the requested one, large enough that no file needs more than 50,000 blocks. */
export function blockSizeFor(size: number, requested: number): number {
  const needed = Math.ceil(size / MAX_BLOCKS);
  if (needed <= requested) return requested;
  const rounded = Math.ceil(needed / MiB) * MiB;
  if (rounded > MAX_BLOCK_SIZE) throw invalidArgument('File', `The file is ${size} bytes, more than a block blob can hold (50,000 blocks of 4000 MiB).`, 'FileTooLarge');
  return rounded;
}

/** A counting semaphore over units (requests, or bytes of buffer). */
export class Budget {
  private waiters: { units: number; resolve: () => void }[] = [];
  constructor(private available: number) {}

  async take(units: number): Promise<void> {
    if (this.waiters.length === 0 && units <= this.available) {
      this.available -= units;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ units, resolve }));
  }

  give(units: number): void {
    this.available += units;
    while (this.waiters.length && this.waiters[0].units <= this.available) {
      const w = this.waiters.shift()!;
      this.available -= w.units;
      w.resolve();
    }
  }

  /** A single request larger than the whole budget would wait forever: let it through alone. */
  static capped(total: number, units: number): number {
    return Math.min(units, total);
  }
}

/**
 * The memory of a batch, in bytes: every buffer its transfers hold counts against one budget, shared by all
 * its files. take/give cover memory held for a while (a small file's body, a download range's unwritten
 * data). acquire/release hand out upload block buffers, which are kept for reuse once released, because
 * allocating a fresh one per block would fault in every page of the file again; a kept (spare) buffer
 * still counts, and is dropped only when a request cannot be served otherwise. So what a batch holds never
 * exceeds the budget, however many files it has. Requests are served in order.
 *
 * Block buffers are backed by SharedArrayBuffers: the MD5 worker reads them in place (hasher.ts).
 */
export class MemoryBudget {
  private available: number;
  private readonly spares = new Map<number, Buffer[]>();
  private readonly waiters: { units: number; capacity?: number; resolve: (buffer: Buffer | undefined) => void }[] = [];

  constructor(readonly total: number) {
    this.available = total;
  }

  /** Holds `units` bytes (at most the whole budget: see Budget.capped). */
  take(units: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ units: Budget.capped(this.total, units), resolve: () => resolve() });
      this.grant();
    });
  }

  give(units: number): void {
    this.available += Budget.capped(this.total, units);
    this.grant();
  }

  /** A block buffer of exactly `capacity` bytes: a spare one, or a new one. Its contents are undefined. */
  acquire(capacity: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.waiters.push({ units: Budget.capped(this.total, capacity), capacity, resolve: (b) => resolve(b!) });
      this.grant();
    });
  }

  /** Gives a block buffer back; it is kept for the next acquire of its size, and still counts. */
  release(buffer: Buffer): void {
    const list = this.spares.get(buffer.length);
    if (list) list.push(buffer);
    else this.spares.set(buffer.length, [buffer]);
    this.grant();
  }

  /** Bytes held: taken, and in block buffers (in use or spare). */
  get held(): number {
    return this.total - this.available;
  }

  private grant(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      const spare = w.capacity === undefined ? undefined : this.spares.get(w.capacity)?.pop();
      if (spare) {
        this.waiters.shift();
        w.resolve(spare);
        continue;
      }
      // Spare buffers of other sizes (none of this one's, or it would have had it) make room.
      for (const [capacity, list] of this.spares) {
        while (w.units > this.available && list.length > 0) {
          list.pop();
          this.available += Budget.capped(this.total, capacity);
        }
        if (list.length === 0) this.spares.delete(capacity);
        if (w.units <= this.available) break;
      }
      if (w.units > this.available) return;
      this.available -= w.units;
      this.waiters.shift();
      w.resolve(w.capacity === undefined ? undefined : Buffer.from(new SharedArrayBuffer(w.capacity)));
    }
  }
}

/** Runs fn over items with at most `limit` in flight; results in input order. */
/**
 * Runs fn over items, at most limit at a time. After the first failure no new item starts, and the ones
 * under way are waited for (so that the caller's cleanup never races them); then that first error is thrown.
 */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(workers);
  if (failure) throw failure.error;
  return results;
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** Progress of one file (bytes, percent, rate) and of the batch (files done of total), throttled. */
export class ProgressReporter {
  private readonly started = Date.now();
  private last = 0;
  private bytesDone = 0;
  private filesDone = 0;

  /** Files before this request and in the whole pipeline: a long one is sent in parts, and counts on. */
  private readonly offset: number;
  private readonly overall: number;

  constructor(
    private readonly enabled: boolean,
    private readonly verb: string,
    private readonly filesTotal: number,
    /** Unknown for downloads: a blob's size is learned only when its transfer starts. */
    private readonly bytesTotal: number | undefined,
    part?: { offset?: number; total?: number },
  ) {
    this.offset = part?.offset ?? 0;
    this.overall = Math.max(part?.total ?? filesTotal, this.offset + filesTotal);
  }

  private emitBatch(force = false): void {
    if (!this.enabled || this.overall < 2) return;
    const now = Date.now();
    if (!force && now - this.last < 250) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? this.bytesDone / seconds : 0;
    // The bytes are this request's; across parts only the files count on.
    const total = this.overall === this.filesTotal ? this.bytesTotal : undefined;
    const filesDone = this.offset + this.filesDone;
    progress({
      id: 1,
      activity: `${this.verb} ${this.overall} files`,
      status: `${filesDone} of ${this.overall} files, ${human(this.bytesDone)}${total === undefined ? '' : ` of ${human(total)}`}, ${human(rate)}/s`,
      percent: total ? Math.min(100, Math.floor((100 * this.bytesDone) / total)) : Math.floor((100 * filesDone) / this.overall),
      filesDone,
      filesTotal: this.overall,
      bytesDone: this.bytesDone,
      bytesTotal: total,
    });
  }

  /** A per-file reporter; silent for small files. */
  file(index: number, name: string, size: number): (delta: number, completed?: boolean) => void {
    const own = this.enabled && size >= PROGRESS_THRESHOLD;
    const started = Date.now();
    let done = 0;
    let last = 0;
    return (delta, completed = false) => {
      done += delta;
      this.bytesDone += delta;
      if (completed) this.filesDone++;
      this.emitBatch(completed && this.filesDone === this.filesTotal);
      if (!own) return;
      const now = Date.now();
      if (!completed && now - last < 250) return;
      last = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      progress({
        id: 2 + index,
        parentId: this.overall > 1 ? 1 : undefined,
        activity: `${this.verb} ${name}`,
        status: `${human(done)} of ${human(size)}, ${human(rate)}/s`,
        percent: size > 0 ? Math.floor((100 * done) / size) : 100,
        secondsRemaining: rate > 0 ? Math.round((size - done) / rate) : undefined,
        bytesDone: done,
        bytesTotal: size,
        completed,
      });
    };
  }

  finish(): void {
    // A part before the last leaves the bar up for the next one.
    if (this.enabled && this.overall >= 2 && this.offset + this.filesTotal >= this.overall) progress({ id: 1, activity: `${this.verb} ${this.overall} files`, completed: true });
  }
}

/** Writes one per-item line on stdout (the protocol's streaming part), within a few milliseconds. */
export function emitItem(index: number, outcome: { result: unknown } | { error: unknown }, target?: string): void {
  let line;
  if ('result' in outcome) {
    line = { v: PROTOCOL_VERSION, item: index, ok: true, result: outcome.result };
  } else {
    const error = toMsiError(outcome.error).toJson();
    if (!error.target && target) error.target = target;
    line = { v: PROTOCOL_VERSION, item: index, ok: false, error };
  }
  queueStdout(JSON.stringify(line));
}

/** Runs a batch: each item's success or failure is its own line; the batch fails only if it was stopped. */
export async function runBatch<T extends { file?: string; blob?: string }>(
  items: T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T, index: number) => Promise<{ result: unknown; bytes: number }>,
) {
  let done = 0;
  let failed = 0;
  let bytes = 0;
  // The bridge's own threshold for a large batch (see $coalesce in Invoke-MsiNode.ps1).
  if (items.length > 20) setQueueDelay(250);
  await mapLimit(items, limit, async (item, i) => {
    if (signal.aborted) return;
    try {
      const r = await fn(item, i);
      done++;
      bytes += r.bytes;
      emitItem(i, { result: r.result });
    } catch (err) {
      if (signal.aborted) return;
      failed++;
      emitItem(i, { error: err }, item.file ?? item.blob);
    }
  });
  if (signal.aborted) throw new MsiError('OperationStopped', 'The transfer was stopped; temporary files were removed.', 'OperationStopped');
  return { done, failed, bytes };
}
