import { promises as fs } from 'node:fs';
import { containerClient, storageError, validateBlobName } from '../blob/client.js';
import { commitDestination, removeQuietly, resolveDestination } from '../blob/files.js';
import { MsiError } from '../errors.js';
import { verbose } from '../log.js';
import type { BlobResult, RequestOf } from '../protocol.js';

export async function run(req: RequestOf<'download'>, signal: AbortSignal): Promise<BlobResult> {
  validateBlobName(req.blob);
  const client = await containerClient(req.context, req.container);
  const dest = await resolveDestination(req.destination, req.blob, req.force ?? false);
  const blob = client.getBlobClient(req.blob);
  verbose(`Downloading ${blob.url} to '${dest.file}' through a temporary file.`);
  try {
    const res = await blob.downloadToFile(dest.temp, 0, undefined, { abortSignal: signal });
    const { size } = await fs.stat(dest.temp);
    if (res.contentLength !== undefined && size !== res.contentLength) {
      throw new MsiError('LengthMismatch', `The download of '${req.blob}' gave ${size} bytes, but the blob has ${res.contentLength}. Nothing was written; try again.`, 'InvalidData');
    }
    await commitDestination(dest, req.force ?? false);
    return {
      name: req.blob,
      container: req.container,
      blobType: res.blobType ?? 'BlockBlob',
      length: size,
      contentType: res.contentType,
      lastModified: res.lastModified?.toISOString(),
      etag: res.etag,
      destination: dest.file,
    };
  } catch (err) {
    await removeQuietly(dest.temp);
    throw storageError(err, { container: req.container, blob: req.blob });
  }
}
