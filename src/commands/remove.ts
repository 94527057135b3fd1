// Remove-MsiBlob: deletes blobs (and their snapshots), one line per blob.
import { serviceClient, storageError, validateBlobName, validateContainerName } from '../blob/client.js';
import { runBatch } from '../blob/transfer.js';
import { verbose } from '../log.js';
import type { BatchResult, RequestOf } from '../protocol.js';

export async function run(req: RequestOf<'remove'>, signal: AbortSignal): Promise<BatchResult> {
  const service = await serviceClient(req.context);
  return runBatch(req.items, 16, signal, async (item) => {
    validateContainerName(item.container);
    validateBlobName(item.blob);
    const blob = service.getContainerClient(item.container).getBlobClient(item.blob);
    verbose(`DELETE ${blob.url}${req.includeSnapshots ? ' (and its snapshots)' : ''}.`);
    try {
      await blob.delete({ abortSignal: signal, deleteSnapshots: req.includeSnapshots ? 'include' : undefined });
    } catch (err) {
      throw storageError(err, item);
    }
    return { result: { name: item.blob, container: item.container }, bytes: 0 };
  });
}
