// Send-MsiBlob: one batch (a single file, or a whole pipeline), files in parallel, one line per file.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { containerClient } from '../blob/client.js';
import { MEMORY_BUDGET, MemoryBudget, ProgressReporter, runBatch, transferOptions } from '../blob/transfer.js';
import { uploadOne } from '../blob/upload.js';
import { MsiError, invalidArgument } from '../errors.js';

/** The blob name of a file: -Blob, else its path under -SourceRoot ('/'-separated), else its file name. */
export function blobNameFor(file: string, blob: string | undefined, sourceRoot: string | undefined): string {
  if (blob) return blob;
  // A file name may hold a backslash (not on Windows): Azure Storage would store it as '/' (canonicalBlobNames).
  if (!sourceRoot) return path.basename(file).replace(/\\/g, '/');
  const rel = path.relative(sourceRoot, file);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw invalidArgument('SourceRoot', `'${file}' is not inside -SourceRoot '${sourceRoot}'. Give a -SourceRoot that contains every file.`, 'FileOutsideSourceRoot');
  }
  return rel.split(path.sep).join('/').replace(/\\/g, '/');
}
import type { BatchResult, RequestOf } from '../protocol.js';

/** Azure metadata: names are C# identifiers; values travel in HTTP headers, so printable ASCII. */
export function validateMetadata(metadata: Record<string, string> | undefined): void {
  for (const [name, value] of Object.entries(metadata ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw invalidArgument('Metadata', `-Metadata name '${name}' is not allowed: names are letters, digits and '_', not starting with a digit.`, 'InvalidMetadata');
    }
    const bad = /[^\x20-\x7e]/u.exec(value);
    if (bad) {
      // Named by its code point too: a control character or a look-alike letter cannot be seen in a message.
      const code = `U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
      const shown = /\p{L}|\p{N}|\p{P}|\p{S}/u.test(bad[0]) ? `'${bad[0]}' (${code})` : code;
      throw invalidArgument('Metadata', `-Metadata value of '${name}' has ${shown}, which an HTTP header cannot carry: use printable ASCII (encode anything else, e.g. as base64).`, 'InvalidMetadata');
    }
  }
}

const BLOB_PROPERTIES = { cachecontrol: 'cacheControl', contentdisposition: 'contentDisposition', contentencoding: 'contentEncoding', contentlanguage: 'contentLanguage' } as const;
type BlobProperties = { [K in (typeof BLOB_PROPERTIES)[keyof typeof BLOB_PROPERTIES]]?: string };

/**
 * -Properties: CacheControl, ContentDisposition, ContentEncoding, ContentLanguage (any case), and ContentType,
 * as Az's Set-AzStorageBlobContent -Properties takes it (returned apart: it is -ContentType's). Nothing else.
 */
export function blobProperties(properties: Record<string, string> | undefined, contentType?: string): { properties?: BlobProperties; contentType?: string } {
  if (!properties) return { contentType };
  const out: BlobProperties = {};
  for (const [name, value] of Object.entries(properties)) {
    const lower = name.toLowerCase();
    if (lower === 'contenttype') {
      // Empty: not given (the type is guessed, as the service would otherwise store application/octet-stream).
      if (value === '') continue;
      if (contentType !== undefined && contentType !== value) {
        throw invalidArgument('Properties', `-Properties has ContentType '${value}', but -ContentType is '${contentType}'. Give the content type once.`, 'InvalidBlobProperty');
      }
      contentType = value;
      continue;
    }
    if (lower === 'contentmd5') {
      throw invalidArgument('Properties', "-Properties has ContentMD5: MsiStorage computes the file's MD5 itself and stores it (-SkipIntegrityCheck turns that off). Leave ContentMD5 out.", 'InvalidBlobProperty');
    }
    const key = BLOB_PROPERTIES[lower as keyof typeof BLOB_PROPERTIES];
    if (!key) {
      throw invalidArgument('Properties', `-Properties has '${name}', which is not a blob property MsiStorage sets. Use CacheControl, ContentDisposition, ContentEncoding, ContentLanguage or ContentType.`, 'InvalidBlobProperty');
    }
    out[key] = value;
  }
  return { properties: out, contentType };
}

export async function run(req: RequestOf<'upload'>, signal: AbortSignal): Promise<BatchResult> {
  const options = transferOptions(req);
  validateMetadata(req.metadata);
  const { properties, contentType } = blobProperties(req.properties, req.contentType);
  const container = await containerClient(req.context, req.container);
  // Sizes only feed the batch's progress bar.
  const sizes = options.progress && req.items.length > 1 ? await Promise.all(req.items.map((i) => fs.stat(i.file).then((s) => (s.isFile() ? s.size : 0), () => 0))) : req.items.map(() => 0);
  const reporter = new ProgressReporter(options.progress, 'Uploading', req.items.length, sizes.reduce((a, b) => a + b, 0), { offset: req.progressOffset, total: req.progressTotal });
  // One budget for the whole batch: block buffers (kept for reuse, and counted while kept) and small bodies.
  const memory = new MemoryBudget(MEMORY_BUDGET);
  const seen = new Map<string, string>();
  const settings = { contentType, metadata: req.metadata, properties, tier: req.tier, options };
  try {
    return await runBatch(req.items, options.fileConcurrency, signal, async (item, i) => {
      const blob = blobNameFor(item.file, item.blob, req.sourceRoot);
      const earlier = seen.get(blob);
      if (earlier !== undefined) {
        throw new MsiError('DuplicateBlobName', `'${item.file}' and '${earlier}' would both be uploaded as '${blob}'. Give -SourceRoot so that blob names keep their folders.`, 'InvalidArgument', {
          parameter: 'Blob',
          target: item.file,
        });
      }
      seen.set(blob, item.file);
      const result = await uploadOne(container, { file: item.file, blob }, settings, memory, (size) => reporter.file(i, blob, size), signal);
      return { result, bytes: result.length };
    });
  } finally {
    reporter.finish();
  }
}
