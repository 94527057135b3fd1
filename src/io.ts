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
  writeAll(1, `${line}\n`);
}

export function writeStderr(line: string): void {
  try {
    writeAll(2, `${line}\n`);
  } catch {
    // Nobody reads diagnostics any more (the caller went away): they are not worth dying for.
  }
}

/**
 * Reads stdin until the first newline (or end of input), at most `limit` bytes. Returns the line and
 * whatever arrived after it.
 */
export function readLineSync(limit: number): { line: string | undefined; rest: string; tooLarge: boolean } {
  const chunks: Buffer[] = [];
  let size = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = retrying(() => readSync(0, buf, 0, buf.length, null));
    } catch (err) {
      if ((err as { code?: string }).code === 'EOF') n = 0;
      else throw err;
    }
    if (n === 0) {
      const all = Buffer.concat(chunks).toString('utf8');
      return { line: all.trim() ? all : undefined, rest: '', tooLarge: false };
    }
    const chunk = Buffer.from(buf.subarray(0, n));
    const nl = chunk.indexOf(10);
    if (nl >= 0) {
      chunks.push(chunk.subarray(0, nl));
      const line = Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
      return { line, rest: chunk.subarray(nl + 1).toString('utf8'), tooLarge: size + nl > limit };
    }
    chunks.push(chunk);
    size += n;
    if (size > limit) return { line: undefined, rest: '', tooLarge: true };
  }
}
