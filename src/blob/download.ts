// Download: parallel ranged GETs with If-Match on the ETag, each written at its offset into a temporary file
// in the destination's folder; the MD5 is computed in order as the ranges complete, and the length and MD5
// are checked before fsync and an atomic rename. Any failure removes the temporary file and leaves the
// destination untouched. A range that stalls, or whose answer ends short of it, is resumed where it stopped, a
// bounded number of times.
// A range in flight holds its unwritten data under the batch's memory budget.
import { promises as fs } from 'node:fs';
import type { BlobClient, ContainerClient } from '@azure/storage-blob';
import { MsiError } from '../errors.js';
import { verbose } from '../log.js';
import { type BlobResult, blobResult } from '../protocol.js';
import { storageError, validateBlobName } from './client.js';
import { commitDestination, removeQuietly, resolveDestination } from './files.js';
import { type Hasher, createHasher } from './hasher.js';
import { type MemoryBudget, type TransferOptions, mapLimit } from './transfer.js';

/** No data for this long on a range: abort it and resume. */
export const STALL_TIMEOUT_MS = Number(process.env.MSISTORAGE_STALL_TIMEOUT_MS ?? 60_000);
const RANGE_ATTEMPTS = 4;
const WRITE_BATCH = 256 * 1024;
/** What a range holds besides its write batch: the chunk that crosses the batch, and the stream's own buffer. */
const RANGE_SLACK = 128 * 1024;

/** The memory a range of this length holds at most, for the batch's budget. */
function rangeMemory(length: number): number {
  return Math.min(length, WRITE_BATCH) + RANGE_SLACK;
}

async function downloadRange(
  blob: BlobClient,
  file: fs.FileHandle,
  start: number,
  end: number,
  etag: string | undefined,
  report: (delta: number) => void,
  signal: AbortSignal,
): Promise<void> {
  let pos = start;
  for (let attempt = 1; pos < end; attempt++) {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let stalled = false;
    let short = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        ac.abort();
      }, STALL_TIMEOUT_MS);
    };
    // Chunks are gathered into one vectored write of about 256 KiB: far fewer file-system calls than one per
    // socket read, and no copying. (Larger batches were no faster, and a batch of files has a hundred ranges
    // in flight: each holds its batch.)
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      let buffers = pending;
      let left = pendingBytes;
      while (left > 0) {
        const { bytesWritten } = await file.writev(buffers, pos + (pendingBytes - left));
        left -= bytesWritten;
        if (left > 0) buffers = [Buffer.concat(buffers).subarray(bytesWritten)];
      }
      pos += pendingBytes;
      report(pendingBytes);
      pending = [];
      pendingBytes = 0;
    };
    try {
      arm();
      const res = await blob.download(pos, end - pos, { abortSignal: ac.signal, conditions: etag ? { ifMatch: etag } : undefined, maxRetryRequests: 0 });
      const body = res.readableStreamBody;
      if (!body) throw new MsiError('StorageUnreachable', 'The service answered without a body.', 'ResourceUnavailable');
      for await (const chunk of body as AsyncIterable<Buffer>) {
        arm();
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH) await flush();
      }
      await flush();
      // A 2xx answer whose body ended, cleanly, before the range did (its Content-Length was shorter than
      // asked: a proxy or the service cut it). A failed try like a stall: asked again without counting, it
      // would be asked again forever.
      if (pos < end) {
        short = true;
        throw new Error(`the answer ended at byte ${pos}, short of the range`);
      }
    } catch (err) {
      if (signal.aborted) throw err;
      const e = err as { statusCode?: number };
      // Answers from the service (412 changed, 404 gone, 403) are final; only the connection is retried.
      if (!stalled && e.statusCode !== undefined && e.statusCode < 500 && e.statusCode !== 408) throw err;
      if (attempt >= RANGE_ATTEMPTS) {
        if (short) {
          throw new MsiError(
            'IncompleteDownload',
            `Azure Storage ended its answers for '${blob.name}' short of the range asked for (the last one at byte ${pos}, of ${start}-${end - 1}), on each of ${RANGE_ATTEMPTS} tries of that range. The destination was left untouched; something on the way (a proxy) may cut answers short: check the network and try again.`,
            'ConnectionError',
          );
        }
        if (!stalled) throw err;
        throw new MsiError(
          'StorageTimeout',
          `Azure Storage sent no data for ${STALL_TIMEOUT_MS / 1000} s on '${blob.name}' (at byte ${pos}), on the last of ${RANGE_ATTEMPTS} tries of that range. The destination was left untouched; check the network and try again.`,
          'OperationTimeout',
        );
      }
      // What did arrive is kept (same ETag): the next try starts after it.
      await flush();
      const why = stalled ? `no data for ${STALL_TIMEOUT_MS / 1000} s` : ((err as Error).message?.split('\n')[0] ?? String(err));
      verbose(`Range ${pos}-${end - 1} of ${blob.name} failed (${why}); resuming, try ${attempt + 1} of ${RANGE_ATTEMPTS}.`);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

export async function downloadOne(
  container: ContainerClient,
  item: { blob: string; destination: string },
  options: TransferOptions,
  progressFor: (size: number) => (delta: number, completed?: boolean) => void,
  signal: AbortSignal,
  memory: MemoryBudget,
): Promise<BlobResult> {
  validateBlobName(item.blob);
  const where = { container: container.containerName, blob: item.blob };
  const dest = await resolveDestination(item.destination, item.blob, options.force);
  const blob = container.getBlobClient(item.blob);
  let props;
  try {
    props = await blob.getProperties({ abortSignal: signal });
  } catch (err) {
    throw storageError(err, where);
  }
  const size = props.contentLength ?? 0;
  const report = progressFor(size);
  const etag = props.etag;
  const expectedMd5 = props.contentMD5 ? Buffer.from(props.contentMD5).toString('base64') : undefined;
  // Private while it fills (no other user can open it and read along); commitDestination gives it its
  // final mode: that of the file -Force replaces, or 0666 less the umask.
  const file = await fs.open(dest.temp, 'wx', 0o600);
  let committed = false;
  let hasher: Hasher | undefined;
  try {
    const chunk = options.blockSize;
    const count = Math.ceil(size / chunk);
    verbose(`Downloading ${blob.url} (${size} bytes${count > 1 ? `, ${count} ranges of ${chunk} bytes, ${options.concurrency} at a time` : ''}) through '${dest.temp}'.`);
    // MD5 in order, on the side: whenever the ranges before it are complete, the hasher reads further
    // (from the page cache) while later ranges are still downloading.
    hasher = options.verify && expectedMd5 ? createHasher(dest.temp, size) : undefined;
    const done = new Array<boolean>(count).fill(false);
    let prefix = 0;
    // This file's ranges stop together: the first that fails stops its siblings (they would only fetch
    // what is thrown away, holding the batch's memory), and so does a stop of the whole batch.
    const local = new AbortController();
    const stopAll = () => local.abort();
    signal.addEventListener('abort', stopAll, { once: true });
    let firstFailure: { error: unknown } | undefined;
    try {
      await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        options.concurrency,
        async (i) => {
          if (local.signal.aborted) throw new MsiError('OperationStopped', 'The transfer was stopped.', 'OperationStopped');
          const start = i * chunk;
          const end = Math.min(size, start + chunk);
          const units = rangeMemory(end - start);
          await memory.take(units);
          try {
            await downloadRange(blob, file, start, end, etag, report, local.signal);
          } catch (err) {
            // The error to report is this one, not the aborts it causes in the siblings.
            firstFailure ??= { error: err };
            local.abort();
            throw err;
          } finally {
            memory.give(units);
          }
          done[i] = true;
          if (hasher) {
            while (prefix < count && done[prefix]) prefix++;
            hasher.ready(Math.min(size, prefix * chunk));
          }
        },
      );
    } catch (err) {
      throw firstFailure ? firstFailure.error : err;
    } finally {
      signal.removeEventListener('abort', stopAll);
    }
    const written = (await file.stat()).size;
    if (written !== size) {
      throw new MsiError('LengthMismatch', `The download of '${item.blob}' gave ${written} bytes, but the blob has ${size}. The destination was left untouched; try again.`, 'InvalidData', {
        target: dest.file,
      });
    }
    if (hasher) {
      const actual = await hasher.digest();
      if (actual !== expectedMd5) {
        throw new MsiError(
          'IntegrityCheckFailed',
          `The MD5 of the downloaded data (${actual}) does not match the blob's Content-MD5 (${expectedMd5}): the data was damaged, or the blob's Content-MD5 is wrong. The destination was left untouched. Try again; -SkipIntegrityCheck skips this check.`,
          'InvalidData',
          { target: dest.file },
        );
      }
      verbose(`MD5 and length verified: ${actual}, ${size} bytes.`);
    } else if (!options.verify) {
      verbose('-SkipIntegrityCheck: the MD5 was not verified; the length was.');
    } else {
      verbose(`The blob '${item.blob}' has no stored Content-MD5: only its length (${size} bytes) was checked.`);
    }
    await file.close();
    await commitDestination(dest, options.force);
    committed = true;
    report(0, true);
    return blobResult({
      name: item.blob,
      container: container.containerName,
      blobType: props.blobType,
      length: size,
      contentType: props.contentType,
      lastModified: props.lastModified,
      etag,
      contentMD5: expectedMd5,
      destination: dest.file,
    });
  } catch (err) {
    throw storageError(err, where);
  } finally {
    // The MD5 worker lets go of the temporary file before it is removed (Windows cannot remove an open file).
    await hasher?.abort();
    if (!committed) {
      await file.close().catch(() => undefined);
      await removeQuietly(dest.temp);
    }
  }
}
