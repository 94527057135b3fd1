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

// ARM's Permissions enum (listServiceSas and listAccountSas) has r w d l a c u p; which of them mean anything
// depends on what the SAS is for. A letter outside a kind's set is refused here, with the letters that fit.
const PERMISSIONS = {
  blob: { letters: 'racwd', words: 'r (read), a (add), c (create), w (write), d (delete)' },
  container: { letters: 'racwdl', words: 'r (read), a (add), c (create), w (write), d (delete), l (list)' },
  account: { letters: 'rwdlacup', words: 'r (read), w (write), d (delete), l (list), a (add), c (create), u (update), p (process)' },
} as const;
const DEFAULT_PERMISSION = { blob: 'r', container: 'rl', account: 'rl' } as const;

function checkPermission(permission: string, kind: keyof typeof PERMISSIONS): void {
  const allowed = PERMISSIONS[kind];
  const wrong = [...new Set(permission)].filter((c) => !allowed.letters.includes(c));
  if (permission.length === 0 || wrong.length > 0) {
    const what = kind === 'account' ? 'an account SAS' : `a SAS for a ${kind}`;
    throw invalidArgument('Permission', `-Permission '${permission}' has ${wrong.length ? `letters ${what} cannot carry (${wrong.join('')})` : 'no letters'}. Use letters from ${allowed.letters}: ${allowed.words}.`, 'InvalidSasPermission');
  }
}

export async function run(req: RequestOf<'sas'>, signal: AbortSignal): Promise<SasResult> {
  if (req.blob && !req.container) throw invalidArgument('Container', '-Blob needs -Container.', 'MissingContainer');
  const kind = req.container ? (req.blob ? 'blob' : 'container') : 'account';
  // Letters in any case, as Az's -Permission takes them (ARM wants lower case).
  const permission = (req.permission ?? DEFAULT_PERMISSION[kind]).toLowerCase();
  checkPermission(permission, kind);
  const expiry = isoSeconds(req.expiry, 'ExpiryTime');
  if (Date.parse(expiry) <= Date.now()) throw invalidArgument('ExpiryTime', `-ExpiryTime ${expiry} is in the past. Give a time in the future.`, 'InvalidSasTime');
  const start = req.start ? isoSeconds(req.start, 'StartTime') : undefined;
  if (req.container) validateContainerName(req.container);
  if (req.blob) validateBlobName(req.blob);
  const protocol = req.protocol === 'HttpsOrHttp' ? 'https,http' : 'https';

  const session = new ArmSession(req, signal);
  await session.resolve();
  const account = session.ref.storageAccountName;
  const common = { signedPermission: permission, signedExpiry: expiry, signedStart: start, signedProtocol: protocol, keyToSign: req.keyName };
  const body: ServiceSasParameters | AccountSasParameters = req.container
    ? { canonicalizedResource: `/blob/${account}/${req.container}${req.blob ? `/${req.blob}` : ''}`, signedResource: req.blob ? 'b' : 'c', ...common }
    : { signedServices: 'b', signedResourceTypes: 'sco', ...common };
  const service = kind !== 'account';
  const action = `Microsoft.Storage/storageAccounts/${service ? 'listServiceSas' : 'listAccountSas'}/action`;
  const sasToken = await session.onAccount(async () => {
    verbose(`POST ${service ? 'ListServiceSas' : 'ListAccountSas'} for ${req.container ? `/${req.container}${req.blob ? `/${req.blob}` : ''}` : 'the blob service'} (permissions ${permission}, until ${expiry}, ${protocol}).`);
    return parseSasResponse(await session.send((t) => buildListSasRequest(session.armEndpoint, session.ref, t, body), action));
  });
  const result: SasResult = {
    sasToken,
    kind: service ? 'service' : 'account',
    storageAccountName: account,
    expiresOn: expiry,
    subscriptionId: session.ref.subscriptionId,
    resourceGroupName: session.ref.resourceGroupName,
    environment: session.cloud.name,
  };
  if (session.fetchedToken) result.token = session.fetchedToken;
  return result;
}
