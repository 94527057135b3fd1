import { buildListKeysRequest, parseListKeysResponse } from '../arm/arm.js';
import { ArmSession } from '../arm/discovery.js';
import { MsiError } from '../errors.js';
import { verbose } from '../log.js';
import type { KeysResult, RequestOf } from '../protocol.js';

/** listKeys on the resolved account, returning the chosen key. Shared by the keys and context commands. */
export async function listKey(session: ArmSession, wanted: 'key1' | 'key2' = 'key1') {
  const keys = await session.onAccount(async () => {
    // Told when the request is built, which is once the token is in hand: the story keeps its order.
    const build = (t: string) => {
      verbose(`POST listKeys on ${session.ref.storageAccountName}.`);
      return buildListKeysRequest(session.armEndpoint, session.ref, t);
    };
    return parseListKeysResponse(await session.send(build, 'Microsoft.Storage/storageAccounts/listKeys/action'));
  });
  const key = keys.find((k) => k.keyName.toLowerCase() === wanted);
  if (!key) {
    throw new MsiError('KeyNotFound', `Azure Resource Manager returned no key named '${wanted}' (it returned: ${keys.map((k) => k.keyName).join(', ') || 'none'}). Choose another -KeyName.`, 'ObjectNotFound', {
      parameter: 'KeyName',
    });
  }
  verbose(`Got ${key.keyName} (${key.permissions}) of storage account ${session.ref.storageAccountName}.`);
  return key;
}

export async function run(req: RequestOf<'keys'>, signal: AbortSignal): Promise<KeysResult> {
  const session = new ArmSession(req, signal);
  await session.resolve();
  const key = await listKey(session, req.keyName);
  const result: KeysResult = {
    storageAccountName: session.ref.storageAccountName,
    keyName: key.keyName,
    value: key.value,
    permissions: key.permissions,
    subscriptionId: session.ref.subscriptionId,
    resourceGroupName: session.ref.resourceGroupName,
    environment: session.cloud.name,
  };
  if (key.creationTime) result.creationTime = key.creationTime;
  if (session.fetchedToken) result.token = session.fetchedToken;
  return result;
}
