import { validateStorageAccountName } from '../arm/arm.js';
import { blobEndpointFor, validateAccountKey } from '../blob/client.js';
import type { ContextResult, RequestOf } from '../protocol.js';

export async function run(req: RequestOf<'context'>): Promise<ContextResult> {
  validateStorageAccountName(req.storageAccountName);
  validateAccountKey(req.storageAccountKey);
  return { storageAccountName: req.storageAccountName, blobEndpoint: blobEndpointFor(req.storageAccountName, req.blobEndpoint) };
}
