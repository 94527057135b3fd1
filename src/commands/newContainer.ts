import { containerClient, storageError, validateContainerName } from '../blob/client.js';
import { verbose } from '../log.js';
import type { ContainerResult, RequestOf } from '../protocol.js';

export async function run(req: RequestOf<'newContainer'>, signal: AbortSignal): Promise<ContainerResult> {
  // New-MsiStorageContainer calls it -Name.
  validateContainerName(req.container, 'Name');
  const client = await containerClient(req.context, req.container);
  verbose(`PUT ${client.url} (create container).`);
  try {
    const res = await client.create({ abortSignal: signal });
    return { name: req.container, lastModified: res.lastModified?.toISOString(), etag: res.etag };
  } catch (err) {
    throw storageError(err, { container: req.container });
  }
}
