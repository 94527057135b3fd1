// The process's standard streams, used directly through their file descriptors. Node's process.stdin,
// process.stdout and process.stderr are stream objects whose creation, for pipes, costs milliseconds at every
// start; a cmdlet call needs only to read one line and write a few. Writes are synchronous (the pipes are
// blocking unless process.std* was touched), so a line is never lost or interleaved at exit.
import { readSync, writeSync } from 'node:fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function retrying<T>(op: () => T): T {
  for (;;) {
    try {
      return op();
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let done = 0;
  while (done < buf.length) done += retrying(() => writeSync(fd, buf, done, buf.length - done));
}

export function writeStdout(line: string): void {
  flushStdout();
  writeAll(1, `${line}\n`);
}

// Per-item lines of a batch are gathered for a moment and written together: one write per line costs a
// system call and wakes the reader each time, which for a thousand small files is a tenth of a second of
// CPU taken from the transfer itself. Anything written with writeStdout (the reply) goes after them.
let queueDelayMs = 20;
let queued: string[] = [];
let queuedBytes = 0;
let flushTimer: ReturnType<typeof setTimeout> | undefined;

export function queueStdout(line: string): void {
  queued.push(line);
  queuedBytes += line.length;
  if (queuedBytes >= 64 * 1024) flushStdout();
  else flushTimer ??= setTimeout(flushStdout, queueDelayMs);
}

/**
 * A large batch waits longer between writes: PowerShell shapes its results at most once a second anyway, and
 * every wake-up of its reading loop costs CPU (and, in a young session, JIT work) that the transfer needs.
 */
export function setQueueDelay(ms: number): void {
  queueDelayMs = ms;
}

export function flushStdout(): void {
  if (flushTimer !== undefined) {
    clearTimeout(flushTimer);
    flushTimer = undefined;
  }
  if (queued.length === 0) return;
  const text = `${queued.join('\n')}\n`;
  queued = [];
  queuedBytes = 0;
  writeAll(1, text);
}

export function writeStderr(line: string): void {
  try {
    writeAll(2, `${line}\n`);
  } catch {
    // Nobody reads diagnostics any more (the caller went away): they are not worth dying for.
  }
}

/**
 * Gathers stdin chunks until the first newline (or end of input), at most `limit` bytes. One byte order mark
 * before the request is dropped: Windows PowerShell 5.1 (.NET Framework) wraps a child's stdin in a writer with
 * the console's input encoding, which under code page 65001 writes EF BB BF into the pipe as soon as it is made.
 */
export class LineReader {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  /** Takes `n` bytes read into `buf` (0 at end of input); returns the outcome once there is one. */
  add(buf: Buffer, n: number): { line: string | undefined; rest: string; tooLarge: boolean } | undefined {
    if (n === 0) {
      const all = withoutBom(Buffer.concat(this.chunks).toString('utf8'));
      return { line: all.trim() ? all : undefined, rest: '', tooLarge: false };
    }
    const chunk = Buffer.from(buf.subarray(0, n));
    const nl = chunk.indexOf(10);
    if (nl >= 0) {
      this.chunks.push(chunk.subarray(0, nl));
      const line = withoutBom(Buffer.concat(this.chunks).toString('utf8')).replace(/\r$/, '');
      return { line, rest: chunk.subarray(nl + 1).toString('utf8'), tooLarge: this.size + nl > this.limit };
    }
    this.chunks.push(chunk);
    this.size += n;
    if (this.size > this.limit) return { line: undefined, rest: '', tooLarge: true };
    return undefined;
  }
}

function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function endOfInput(err: unknown): boolean {
  return (err as { code?: string }).code === 'EOF';
}

/**
 * Reads stdin until the first newline (or end of input), at most `limit` bytes. Returns the line and
 * whatever arrived after it.
 */
export function readLineSync(limit: number): { line: string | undefined; rest: string; tooLarge: boolean } {
  const reader = new LineReader(limit);
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = retrying(() => readSync(0, buf, 0, buf.length, null));
    } catch (err) {
      if (endOfInput(err)) n = 0;
      else throw err;
    }
    const outcome = reader.add(buf, n);
    if (outcome) return outcome;
  }
}

/**
 * The same, without blocking the event loop (a prepared process waits for its request beside a watchdog
 * timer), through process.stdin: a blocking read on the thread pool would hold up the process's exit.
 * The stream is left paused, so that whatever follows the request waits for its next reader.
 */
export function readLineAsync(limit: number): Promise<{ line: string | undefined; rest: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const reader = new LineReader(limit);
    const stdin = process.stdin;
    const done = (outcome: { line: string | undefined; rest: string; tooLarge: boolean }) => {
      stdin.off('data', onData).off('end', onEnd).off('error', onError);
      stdin.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      const outcome = reader.add(chunk, chunk.length);
      if (outcome) done(outcome);
    };
    const onEnd = () => done(reader.add(Buffer.alloc(0), 0)!);
    const onError = (err: Error) => {
      stdin.off('data', onData).off('end', onEnd).off('error', onError);
      reject(err);
    };
    stdin.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
