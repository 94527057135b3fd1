// New-MsiStorageSas: ARM listServiceSas (a container or blob) or listAccountSas (the blob service), signed
// by Azure with the account key; the key itself never reaches this machine.
import { type AccountSasParameters, type ServiceSasParameters, buildListSasRequest, parseSasResponse } from '../arm/arm.js';
import { ArmSession } from '../arm/discovery.js';
import { validateBlobName, validateContainerName } from '../blob/client.js';
import { invalidArgument } from '../errors.js';
import { verbose } from '../log.js';
import type { RequestOf, SasResult } from '../protocol.js';

function isoSeconds(value: string, parameter: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalidArgument(parameter, `-${parameter} '${value}' is not a date and time.`, 'InvalidSasTime');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function run(req: RequestOf<'sas'>, signal: AbortSignal): Promise<SasResult> {
  if (!/^[racwdxltmeopi]+$/.test(req.permission)) {
    throw invalidArgument('Permission', `-Permission '${req.permission}' has letters a SAS does not know. Use letters from racwdl (read, add, create, write, delete, list).`, 'InvalidSasPermission');
  }
  const expiry = isoSeconds(req.expiry, 'ExpiryTime');
  if (Date.parse(expiry) <= Date.now()) throw invalidArgument('ExpiryTime', `-ExpiryTime ${expiry} is in the past. Give a time in the future.`, 'InvalidSasTime');
  const start = req.start ? isoSeconds(req.start, 'StartTime') : undefined;
  if (req.blob && !req.container) throw invalidArgument('Container', '-Blob needs -Container.', 'MissingContainer');
  if (req.container) validateContainerName(req.container);
  if (req.blob) validateBlobName(req.blob);
  const protocol = req.protocol === 'HttpsOrHttp' ? 'https,http' : 'https';

  const session = new ArmSession(req, signal);
  await session.resolve();
  const account = session.ref.storageAccountName;
  const common = { signedPermission: req.permission, signedExpiry: expiry, signedStart: start, signedProtocol: protocol, keyToSign: req.keyName };
  const body: ServiceSasParameters | AccountSasParameters = req.container
    ? { canonicalizedResource: `/blob/${account}/${req.container}${req.blob ? `/${req.blob}` : ''}`, signedResource: req.blob ? 'b' : 'c', ...common }
    : { signedServices: 'b', signedResourceTypes: 'sco', ...common };
  const kind = req.container ? 'service' : 'account';
  const action = `Microsoft.Storage/storageAccounts/${kind === 'service' ? 'listServiceSas' : 'listAccountSas'}/action`;
  const sasToken = await session.onAccount(async () => {
    verbose(`POST ${kind === 'service' ? 'ListServiceSas' : 'ListAccountSas'} for ${req.container ? `/${req.container}${req.blob ? `/${req.blob}` : ''}` : 'the blob service'} (permissions ${req.permission}, until ${expiry}, ${protocol}).`);
    return parseSasResponse(await session.send((t) => buildListSasRequest(session.armEndpoint, session.ref, t, body), action));
  });
  const result: SasResult = {
    sasToken,
    kind,
    storageAccountName: account,
    expiresOn: expiry,
    subscriptionId: session.ref.subscriptionId,
    resourceGroupName: session.ref.resourceGroupName,
    environment: session.cloud.name,
  };
  if (session.fetchedToken) result.token = session.fetchedToken;
  return result;
}
