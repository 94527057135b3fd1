// Get-MsiBlob: the container's blobs (optionally under a prefix), one line per blob as the pages arrive.
import { containerClient, serviceClient, storageError } from '../blob/client.js';
import { emitItem } from '../blob/transfer.js';
import { verbose } from '../log.js';
import { type BatchResult, type RequestOf, blobResult, quotedEtag } from '../protocol.js';

export async function run(req: RequestOf<'list'>, signal: AbortSignal): Promise<BatchResult> {
  const container = await containerClient(req.context, req.container);
  verbose(`Listing ${container.url}${req.prefix ? ` under '${req.prefix}'` : ''}.`);
  let done = 0;
  let bytes = 0;
  try {
    for await (const b of container.listBlobsFlat({ prefix: req.prefix, abortSignal: signal })) {
      const p = b.properties;
      const result = blobResult({
        name: b.name,
        container: req.container,
        blobType: p.blobType,
        length: p.contentLength ?? 0,
        contentType: p.contentType,
        lastModified: p.lastModified,
        etag: p.etag,
        contentMD5: p.contentMD5,
      });
      emitItem(done++, { result });
      bytes += result.length;
    }
  } catch (err) {
    throw storageError(err, { container: req.container });
  }
  return { done, failed: 0, bytes };
}

/** The account's containers (for tab completion and listing), one line each. */
export async function containers(req: RequestOf<'containers'>, signal: AbortSignal): Promise<BatchResult> {
  const service = await serviceClient(req.context);
  let done = 0;
  try {
    for await (const c of service.listContainers({ prefix: req.prefix, abortSignal: signal })) {
      emitItem(done++, { result: { name: c.name, lastModified: c.properties.lastModified?.toISOString() ?? null, etag: quotedEtag(c.properties.etag) } });
    }
  } catch (err) {
    throw storageError(err, { container: req.prefix ?? '' });
  }
  return { done, failed: 0, bytes: 0 };
}
