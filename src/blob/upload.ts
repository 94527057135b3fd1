// Upload: Put Blob up to one block; above it, blocks read in order (MD5 computed while streaming) and
// staged in parallel, then one Put Block List that stores the whole file's Content-MD5. Memory is bounded
// by the batch's byte budget, which also hands out (and counts) the block buffers. Without force, the write
// is conditional (If-None-Match: *).
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, read } from 'node:fs';
import * as path from 'node:path';
import type { BlobHTTPHeaders, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { MsiError } from '../errors.js';
import { verbose } from '../log.js';
import { type BlobResult, blobResult } from '../protocol.js';
import { storageError, triesWith, validateBlobName } from './client.js';
import { type BlockHash, createBlockHash } from './hasher.js';
import { openSourceSync, readFullySync } from './files.js';
import { Budget, type MemoryBudget, type TransferOptions, blockSizeFor } from './transfer.js';

export interface UploadSettings {
  contentType?: string;
  metadata?: Record<string, string>;
  properties?: { cacheControl?: string; contentDisposition?: string; contentEncoding?: string; contentLanguage?: string };
  tier?: 'Hot' | 'Cool' | 'Cold' | 'Archive';
  options: TransferOptions;
}

let mime: { getType(p: string): string | null } | undefined;
export async function guessContentType(file: string): Promise<string> {
  mime ??= (await import('mime')).default;
  return mime.getType(file) ?? 'application/octet-stream';
}

/** Reads a block off the event loop (a block is megabytes; small files are read synchronously). */
function readAt(fd: number, buffer: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number) => {
      if (done >= buffer.length) return resolve();
      read(fd, buffer, done, buffer.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new MsiError('FileChanged', 'The file became shorter while it was being uploaded. Nothing was committed; try again when it is no longer being written.', 'InvalidData'));
        step(done + n);
      });
    };
    step(0);
  });
}

/**
 * Whether a failed write without force means "the blob is already there": 409 BlobAlreadyExists, or 412
 * ConditionNotMet, which here can only be our If-None-Match: *. Any other conflict (a lease, an immutability
 * policy, a blob being rehydrated...) is reported as what it is.
 */
function alreadyExists(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  const code = e.details?.errorCode ?? e.code;
  return (e.statusCode === 409 && code === 'BlobAlreadyExists') || (e.statusCode === 412 && code === 'ConditionNotMet');
}

export async function uploadOne(
  container: ContainerClient,
  item: { file: string; blob: string },
  settings: UploadSettings,
  memory: MemoryBudget,
  progressFor: (size: number) => (delta: number, completed?: boolean) => void,
  signal: AbortSignal,
): Promise<BlobResult> {
  validateBlobName(item.blob, 'Blob', true);
  const { options } = settings;
  const source = openSourceSync(item.file);
  const { size } = source;
  const report = progressFor(size);
  const where = { container: container.containerName, blob: item.blob };
  const local = new AbortController();
  const onAbort = () => local.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const client = container.getBlockBlobClient(item.blob);
    const contentType = settings.contentType ?? (await guessContentType(item.file));
    const headers: BlobHTTPHeaders = {
      blobContentType: contentType,
      blobCacheControl: settings.properties?.cacheControl,
      blobContentDisposition: settings.properties?.contentDisposition,
      blobContentEncoding: settings.properties?.contentEncoding,
      blobContentLanguage: settings.properties?.contentLanguage,
    };
    const conditions = options.force ? undefined : { ifNoneMatch: '*' };
    // The commit (Put Blob, or Put Block List) has a signal of its own, stopped with the file's: by it, the
    // per-try policy counts the commit's tries (triesWith), which tell a refusal of its own retry.
    const commit = new AbortController();
    const stopCommit = () => commit.abort();
    local.signal.addEventListener('abort', stopCommit, { once: true });
    const common = { metadata: settings.metadata, tier: settings.tier, conditions, abortSignal: commit.signal };
    const blockSize = blockSizeFor(size, options.blockSize);
    let md5Base64: string | undefined;
    let response: { etag?: string; lastModified?: Date };
    try {
      if (size <= blockSize) {
        await memory.take(size);
        try {
          const body = Buffer.allocUnsafe(size);
          readFullySync(source.fd, body, 0);
          const md5 = options.verify ? createHash('md5').update(body).digest() : undefined;
          md5Base64 = md5?.toString('base64');
          verbose(`Put Blob ${client.url} (${size} bytes, ${contentType})${options.force ? '' : ', If-None-Match: *'}.`);
          response = await client.upload(body, size, { ...common, blobHTTPHeaders: { ...headers, blobContentMD5: md5 } });
        } finally {
          memory.give(size);
        }
        report(size);
      } else {
        // The file's MD5 is computed from the blocks as they go out, and stored by Put Block List.
        const hash = options.verify ? createBlockHash(size) : undefined;
        let ids: string[];
        try {
          ids = await uploadBlocks(client, source, blockSize, options, memory, report, local, item.blob, hash);
          md5Base64 = await hash?.digest();
        } finally {
          hash?.abort();
        }
        verbose(`Put Block List ${client.url}: ${ids.length} blocks of ${blockSize} bytes${md5Base64 ? ", with the file's Content-MD5" : ''}${options.force ? '' : ', If-None-Match: *'}.`);
        response = await client.commitBlockList(ids, { ...common, blobHTTPHeaders: { ...headers, blobContentMD5: md5Base64 ? Buffer.from(md5Base64, 'base64') : undefined } });
      }
    } catch (err) {
      if (options.force || !alreadyExists(err)) throw storageError(err, where);
      const exists = storageError(Object.assign(err as object, { details: { errorCode: 'BlobAlreadyExists' } }), where);
      if (triesWith(commit.signal) < 2) throw exists;
      response = await afterRetriedCommit(client, item.blob, size, md5Base64, { headers, metadata: settings.metadata }, exists, local.signal);
      if (size <= blockSize) report(size);
    } finally {
      local.signal.removeEventListener('abort', stopCommit);
    }
    report(0, true);
    return blobResult({
      name: item.blob,
      container: container.containerName,
      length: size,
      contentType,
      lastModified: response.lastModified,
      etag: response.etag,
      // Without our MD5, Put Blob's Content-MD5 is the one the service computed and stored; Put Block
      // List's is the MD5 of the block list it was sent, nothing the blob keeps.
      contentMD5: md5Base64 ?? (size <= blockSize ? (response as { contentMD5?: Uint8Array }).contentMD5 : undefined),
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
    closeSync(source.fd);
  }
}

/**
 * A conditional commit (If-None-Match: *) that was sent more than once, and refused on a later try because
 * the blob exists: its first try may well have been committed, its answer lost or later than the per-try
 * limit. The blob is this upload's if it holds the MD5 just computed, the file's length, and the content
 * settings and metadata this upload sent; its properties are then the commit's answer. Else it is another writer's: BlobAlreadyExists, as for any blob that was
 * there. Without an MD5 (-SkipIntegrityCheck) that cannot be told: BlobAlreadyExists still (nothing is
 * claimed that was not checked), saying that the blob may be this upload's.
 */
async function afterRetriedCommit(
  client: BlockBlobClient,
  blobName: string,
  size: number,
  md5Base64: string | undefined,
  sent: { headers: BlobHTTPHeaders; metadata?: Record<string, string> },
  exists: MsiError,
  signal: AbortSignal,
): Promise<{ etag?: string; lastModified?: Date }> {
  const mayBeOurs = (why: string) =>
    new MsiError(
      exists.code,
      `${exists.message} Its commit was sent again (the first try's answer was lost or too slow), so the blob may be this very upload's: ${why}. Compare it with the file (Get-MsiBlob) before passing -Force.`,
      exists.category,
      { statusCode: exists.statusCode, azure: exists.azure, parameter: exists.parameter, target: exists.target },
    );
  if (!md5Base64) throw mayBeOurs('with -SkipIntegrityCheck there is no MD5 of the file to tell');
  let props;
  try {
    props = await client.getProperties({ abortSignal: signal });
  } catch (err) {
    if (signal.aborted) throw err;
    const status = (err as { statusCode?: number }).statusCode;
    throw mayBeOurs(`its properties could not be read to tell (${status ? `HTTP ${status}` : 'no answer'})`);
  }
  const stored = props.contentMD5 ? Buffer.from(props.contentMD5).toString('base64') : undefined;
  if (stored !== md5Base64 || props.contentLength !== size) throw exists;
  // The same bytes from another writer would carry its own content settings and metadata: this upload's
  // were never applied to it, so it is not this upload's blob.
  const h = sent.headers;
  const sameHeaders =
    (props.contentType ?? '') === (h.blobContentType ?? '') &&
    (props.cacheControl ?? '') === (h.blobCacheControl ?? '') &&
    (props.contentDisposition ?? '') === (h.blobContentDisposition ?? '') &&
    (props.contentEncoding ?? '') === (h.blobContentEncoding ?? '') &&
    (props.contentLanguage ?? '') === (h.blobContentLanguage ?? '');
  const metadataKey = (m: Record<string, string> | undefined) =>
    JSON.stringify(Object.entries(m ?? {}).map(([k, v]) => [k.toLowerCase(), v]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (!sameHeaders || metadataKey(props.metadata) !== metadataKey(sent.metadata)) throw exists;
  verbose(
    `The commit of ${path.posix.basename(blobName)} was sent again and refused (the blob exists), and the blob holds this upload's MD5 (${md5Base64}) and length (${size} bytes): the first try was committed, its answer lost. The upload is done.`,
  );
  return { etag: props.etag, lastModified: props.lastModified };
}

/** Stages every block; returns the block ids in order (for Put Block List). */
async function uploadBlocks(
  client: BlockBlobClient,
  source: { fd: number; size: number; mtimeMs: number },
  blockSize: number,
  options: TransferOptions,
  memory: MemoryBudget,
  report: (delta: number) => void,
  local: AbortController,
  blobName: string,
  hash: BlockHash | undefined,
): Promise<string[]> {
  if (!options.force) {
    // Fail fast instead of staging gigabytes for a commit that If-None-Match will refuse. The commit stays
    // conditional: this check is only an early answer, not the guard. So only "it exists" stops here; any
    // other answer (a write-only SAS may not read the blob's properties: 403) means "unknown", and the
    // upload goes on.
    let exists = false;
    try {
      exists = await client.exists({ abortSignal: local.signal });
    } catch (err) {
      if (local.signal.aborted) throw err;
      const status = (err as { statusCode?: number }).statusCode;
      verbose(`Could not check whether ${path.posix.basename(blobName)} already exists (${status ? `HTTP ${status}` : 'no answer'}); going on, the commit is conditional (If-None-Match: *).`);
    }
    if (exists) throw Object.assign(new Error('exists'), { statusCode: 409, details: { errorCode: 'BlobAlreadyExists' } });
  }
  const { size, fd } = source;
  const count = Math.ceil(size / blockSize);
  const prefix = randomBytes(6).toString('hex');
  const ids = Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${String(i).padStart(6, '0')}`).toString('base64'));
  const requests = new Budget(options.concurrency);
  const pending = new Set<Promise<void>>();
  // Block buffers come from the batch's budget, which keeps them for reuse (see MemoryBudget). A buffer goes
  // back once its block is both staged and hashed.
  let failure: unknown;
  verbose(`Staging ${count} blocks of ${blockSize} bytes for ${path.posix.basename(blobName)}, ${options.concurrency} at a time.`);
  for (let i = 0; i < count && failure === undefined; i++) {
    const offset = i * blockSize;
    const length = Math.min(blockSize, size - offset);
    await requests.take(1);
    const buffer = await memory.acquire(blockSize);
    if (failure !== undefined) {
      requests.give(1);
      memory.release(buffer);
      break;
    }
    const body = buffer.subarray(0, length);
    try {
      await readAt(fd, body, offset);
    } catch (err) {
      requests.give(1);
      memory.release(buffer);
      failure ??= err;
      break;
    }
    // Blocks are read in file order, so they are hashed in file order.
    const hashed = hash ? hash.add(body) : Promise.resolve();
    const onFailure = (err: unknown) => {
      failure ??= err;
      local.abort();
    };
    const staged = client
      .stageBlock(ids[i], body, length, { abortSignal: local.signal })
      .then(() => report(length))
      .catch(onFailure)
      .finally(() => requests.give(1));
    const p = Promise.all([staged, hashed.catch(onFailure)]).then(() => {
      memory.release(buffer);
      pending.delete(p);
    });
    pending.add(p);
  }
  // On any failure (a block refused, the file shrinking under the reader), the blocks still in flight are
  // stopped and waited for: nothing of this file is sent after it has failed, and its buffers are back.
  if (failure !== undefined) local.abort();
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  const stat = fstatSync(fd);
  if (stat.size !== size || stat.mtimeMs !== source.mtimeMs) {
    throw new MsiError('FileChanged', 'The file changed while it was being uploaded. Nothing was committed; try again when it is no longer being written.', 'InvalidData');
  }
  return ids;
}
