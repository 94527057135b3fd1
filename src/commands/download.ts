// Receive-MsiBlob: one batch (a single blob, or a whole pipeline), blobs in parallel, one line per blob.
import { serviceClient, validateContainerName } from '../blob/client.js';
import { downloadOne } from '../blob/download.js';
import { MEMORY_BUDGET, MemoryBudget, ProgressReporter, runBatch, transferOptions } from '../blob/transfer.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MsiError, invalidArgument } from '../errors.js';
import type { BatchResult, RequestOf } from '../protocol.js';

/**
 * Blobs of a batch that would land on the same file in their folder ('a//b' and 'a/b'; on Windows and macOS
 * also 'A.txt' and 'a.txt'): each later one, by index, with the index of the first. Only the first is written.
 */
export function destinationClashes(items: readonly { blob: string; destination: string }[], platform: NodeJS.Platform = process.platform): Map<number, number> {
  const clashes = new Map<number, number>();
  if (items.length < 2) return clashes;
  const p = platform === 'win32' ? path.win32 : path.posix;
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const file = p.resolve(item.destination, ...item.blob.split('/').filter((s) => s.length > 0));
    const key = platform === 'win32' || platform === 'darwin' ? file.toLowerCase() : file;
    const seen = first.get(key);
    if (seen === undefined) first.set(key, i);
    else clashes.set(i, seen);
  });
  return clashes;
}

export async function run(req: RequestOf<'download'>, signal: AbortSignal): Promise<BatchResult> {
  const options = transferOptions(req);
  if (req.items.length > 1) {
    for (const d of new Set(req.items.map((i) => i.destination))) {
      const stat = await fs.stat(d).catch(() => undefined);
      if (!stat && /[\\/]$/.test(d)) {
        throw new MsiError('DestinationFolderNotFound', `The folder -Destination '${d}' does not exist. Create it first (New-Item -ItemType Directory '${d}').`, 'ObjectNotFound', {
          parameter: 'Destination',
          target: d,
        });
      }
      if (!stat?.isDirectory()) {
        throw invalidArgument('Destination', `Several blobs cannot all be written to the file '${d}': give an existing folder as -Destination.`, 'DestinationNotFolder');
      }
    }
  }
  const service = await serviceClient(req.context);
  // The batch's byte total is unknown (a blob's size comes with its transfer): its progress counts files.
  const reporter = new ProgressReporter(options.progress, 'Downloading', req.items.length, undefined, { offset: req.progressOffset, total: req.progressTotal });
  // Every range in flight, across the batch's blobs, holds its unwritten data under one budget.
  const memory = new MemoryBudget(MEMORY_BUDGET);
  const clashes = destinationClashes(req.items);
  try {
    return await runBatch(req.items, options.fileConcurrency, signal, async (item, i) => {
      const earlier = clashes.get(i);
      if (earlier !== undefined) {
        throw new MsiError(
          'DuplicateDestination',
          `The blob '${item.blob}' would be written to the same file as '${req.items[earlier].blob}' (in '${item.destination}'), so it was not downloaded. Download it on its own, with a -Destination file path.`,
          'InvalidArgument',
          { parameter: 'Destination', target: item.blob },
        );
      }
      validateContainerName(item.container);
      const result = await downloadOne(service.getContainerClient(item.container), item, options, (size) => reporter.file(i, item.blob, size), signal, memory);
      return { result, bytes: result.length };
    });
  } finally {
    reporter.finish();
  }
}
