import * as path from 'node:path';
import { containerClient, storageError, validateBlobName } from '../blob/client.js';
import { openSource } from '../blob/files.js';
import { verbose } from '../log.js';
import type { BlobResult, RequestOf } from '../protocol.js';

export async function guessContentType(file: string): Promise<string> {
  const { default: mime } = await import('mime');
  return mime.getType(file) ?? 'application/octet-stream';
}

export async function run(req: RequestOf<'upload'>, signal: AbortSignal): Promise<BlobResult> {
  const blobName = req.blob ?? path.basename(req.file);
  validateBlobName(blobName);
  const { handle, size } = await openSource(req.file);
  await handle.close();
  const client = await containerClient(req.context, req.container);
  const blob = client.getBlockBlobClient(blobName);
  const contentType = req.contentType ?? (await guessContentType(req.file));
  verbose(`Uploading '${req.file}' (${size} bytes, ${contentType}) to ${blob.url}${req.force ? ', overwriting' : ' unless it exists (If-None-Match: *)'}.`);
  try {
    const res = await blob.uploadFile(req.file, {
      abortSignal: signal,
      blobHTTPHeaders: { blobContentType: contentType },
      metadata: req.metadata,
      conditions: req.force ? undefined : { ifNoneMatch: '*' },
    });
    return {
      name: blobName,
      container: req.container,
      blobType: 'BlockBlob',
      length: size,
      contentType,
      lastModified: res.lastModified?.toISOString(),
      etag: res.etag,
    };
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
    // If-None-Match: * on an existing blob: the service says 409 BlobAlreadyExists; some emulators 412.
    if (!req.force && (e.statusCode === 409 || e.statusCode === 412) && (e.details?.errorCode ?? e.code) !== 'ContainerNotFound') {
      throw storageError(Object.assign(err as object, { details: { ...e.details, errorCode: 'BlobAlreadyExists' } }), { container: req.container, blob: blobName });
    }
    throw storageError(err, { container: req.container, blob: blobName });
  }
}
