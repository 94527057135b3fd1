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
  return clashesOf(items, platform).same;
}

/**
 * Blobs of a batch whose file another blob of it needs as a folder ('logs' and 'logs/app.log' in one
 * folder): each such blob, by index, with the index of the first blob under it. The folder wins: it holds
 * the other blobs, and a file cannot be written where a folder is.
 */
export function folderClashes(items: readonly { blob: string; destination: string }[], platform: NodeJS.Platform = process.platform): Map<number, number> {
  return clashesOf(items, platform).folder;
}

function clashesOf(items: readonly { blob: string; destination: string }[], platform: NodeJS.Platform): { same: Map<number, number>; folder: Map<number, number> } {
  const same = new Map<number, number>();
  const folder = new Map<number, number>();
  if (items.length < 2) return { same, folder };
  const p = platform === 'win32' ? path.win32 : path.posix;
  const fold = (f: string) => (platform === 'win32' || platform === 'darwin' ? f.toLowerCase() : f);
  const first = new Map<string, number>();
  const folders = new Map<string, number>();
  const files = items.map((item, i) => {
    const root = p.resolve(item.destination);
    const file = p.resolve(root, ...item.blob.split('/').filter((s) => s.length > 0));
    const key = fold(file);
    const seen = first.get(key);
    if (seen === undefined) first.set(key, i);
    else same.set(i, seen);
    // The folders this blob's file needs, below its destination.
    for (let dir = p.dirname(file); dir.length > root.length && dir !== p.dirname(dir); dir = p.dirname(dir)) {
      if (!folders.has(fold(dir))) folders.set(fold(dir), i);
    }
    return key;
  });
  files.forEach((key, i) => {
    const under = folders.get(key);
    if (under !== undefined && !same.has(i)) folder.set(i, under);
  });
  return { same, folder };
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
      if (!stat) {
        throw invalidArgument(
          'Destination',
          `-Destination '${d}' does not exist, so it names one file, and several blobs cannot all be written to it. To download them into a folder, create it first (New-Item -ItemType Directory '${d}') and give it with a trailing slash.`,
          'DestinationNotFolder',
        );
      }
      if (!stat.isDirectory()) {
        throw invalidArgument('Destination', `Several blobs cannot all be written to the file '${d}': give an existing folder as -Destination.`, 'DestinationNotFolder');
      }
    }
  }
  const service = await serviceClient(req.context);
  // The batch's byte total is unknown (a blob's size comes with its transfer): its progress counts files.
  const reporter = new ProgressReporter(options.progress, 'Downloading', req.items.length, undefined, { offset: req.progressOffset, total: req.progressTotal });
  // Every range in flight, across the batch's blobs, holds its unwritten data under one budget.
  const memory = new MemoryBudget(MEMORY_BUDGET);
  const clashes = clashesOf(req.items, process.platform);
  try {
    return await runBatch(req.items, options.fileConcurrency, signal, async (item, i) => {
      const earlier = clashes.same.get(i);
      if (earlier !== undefined) {
        throw new MsiError(
          'DuplicateDestination',
          `The blob '${item.blob}' would be written to the same file as '${req.items[earlier].blob}' (in '${item.destination}'), so it was not downloaded. Download it on its own, with a -Destination file path.`,
          'InvalidArgument',
          { parameter: 'Destination', target: item.blob },
        );
      }
      const under = clashes.folder.get(i);
      if (under !== undefined) {
        throw new MsiError(
          'DestinationIsDirectory',
          `The blob '${item.blob}' would be written to a file where the blob '${req.items[under].blob}' needs a folder (in '${item.destination}'): a file and a folder cannot share a name, so it was not downloaded. Download it on its own, with a -Destination file path.`,
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
