import {
  type AccountRef,
  armSend,
  buildListKeysRequest,
  parseListKeysResponse,
  validateResourceGroupName,
  validateStorageAccountName,
  validateSubscriptionId,
} from '../arm/arm.js';
import { MsiError } from '../errors.js';
import { ARM_RESOURCE } from '../identity/sources.js';
import { DEFAULT_TOKEN_TIMEOUT_SEC, getToken } from '../identity/token.js';
import { verbose } from '../log.js';
import type { KeysResult, RequestOf, TokenResult } from '../protocol.js';
import { registerSecret } from '../redact.js';
import { Deadline } from '../retry.js';

export async function run(req: RequestOf<'keys'>, signal: AbortSignal): Promise<KeysResult> {
  validateSubscriptionId(req.subscriptionId);
  validateResourceGroupName(req.resourceGroupName);
  validateStorageAccountName(req.storageAccountName);
  const ref: AccountRef = { subscriptionId: req.subscriptionId, resourceGroupName: req.resourceGroupName, storageAccountName: req.storageAccountName };
  const deadline = new Deadline(req.identity?.timeoutSec ?? DEFAULT_TOKEN_TIMEOUT_SEC);

  let fetched: TokenResult | undefined;
  let token = req.token;
  if (token) {
    registerSecret(token);
  } else {
    verbose('No -Token given: getting an Azure Resource Manager token from the managed identity.');
    fetched = await getToken({ ...req.identity, resource: req.identity?.resource ?? ARM_RESOURCE }, signal);
    token = fetched.accessToken;
  }
  const request = buildListKeysRequest(req.armEndpoint, ref, token);
  verbose(`POST ${request.url.split('?')[0]} (listKeys).`);
  const res = await armSend(() => request, ref, 'Microsoft.Storage/storageAccounts/listKeys/action', deadline, signal);
  const keys = parseListKeysResponse(res);
  const wanted = req.keyName ?? 'key1';
  const key = keys.find((k) => k.keyName.toLowerCase() === wanted);
  if (!key) {
    throw new MsiError('KeyNotFound', `Azure Resource Manager returned no key named '${wanted}' (it returned: ${keys.map((k) => k.keyName).join(', ') || 'none'}). Choose another -KeyName.`, 'ObjectNotFound', {
      parameter: 'KeyName',
    });
  }
  verbose(`Got ${key.keyName} (${key.permissions}) of storage account ${ref.storageAccountName}.`);
  const result: KeysResult = { storageAccountName: ref.storageAccountName, keyName: key.keyName, value: key.value, permissions: key.permissions };
  if (key.creationTime) result.creationTime = key.creationTime;
  if (fetched) result.token = fetched;
  return result;
}
