// New-MsiStorageContext: the account's blob endpoint (given, from ARM, or from the cloud's suffix) and its
// credential (a key, a SAS, a managed-identity token for storage, or the key fetched from ARM).
import { ArmSession } from '../arm/discovery.js';
import { STORAGE_RESOURCE } from '../arm/clouds.js';
import { type ArmStorageAccount, validateStorageAccountName } from '../arm/arm.js';
import { blobEndpointFor, endpointShape, normalizeSas, validateAccountKey } from '../blob/client.js';
import { MsiError, firstSentence, invalidArgument } from '../errors.js';
import { getToken } from '../identity/token.js';
import { verbose, warning } from '../log.js';
import type { ContextResult, RequestOf } from '../protocol.js';
import { listKey } from './keys.js';

/** How long the endpoint lookup of a context with a credential may take, unless told otherwise. */
const ENDPOINT_LOOKUP_SEC = 10;

/**
 * The account's ARM resource, for its blob endpoint. An identity that may list the keys but not read the
 * account (the tutorial's "Storage Account Key Operator Service Role" allows listKeys and regenerateKey
 * alone) gets the cloud's storage suffix instead, and its key: undefined then. Any other failure stands.
 */
async function readAccount(session: ArmSession, forKey: boolean): Promise<ArmStorageAccount | undefined> {
  try {
    return await session.getAccount();
  } catch (err) {
    if (!forKey || !(err instanceof MsiError) || err.code !== 'AuthorizationFailed') throw err;
    verbose(
      `This identity may not read storage account ${session.ref.storageAccountName}'s properties (Microsoft.Storage/storageAccounts/read; "Storage Account Key Operator Service Role" does not include it): using the cloud's storage suffix, https://${session.ref.storageAccountName}.blob.${session.cloud.storageSuffix}/, and going on to list its keys. Give -BlobEndpoint if the account has another endpoint.`,
    );
    return undefined;
  }
}

export async function run(req: RequestOf<'context'>, signal: AbortSignal): Promise<ContextResult> {
  const given = [req.storageAccountKey !== undefined, req.sasToken !== undefined, req.useManagedIdentity === true].filter(Boolean).length;
  if (given > 1) throw new MsiError('ConflictingCredentials', 'Give only one of -StorageAccountKey, -SasToken and -UseManagedIdentity.', 'InvalidArgument', { parameter: 'StorageAccountKey' });
  if (req.storageAccountKey !== undefined) validateAccountKey(req.storageAccountKey);
  const sas = req.sasToken !== undefined ? normalizeSas(req.sasToken) : undefined;
  if (req.storageAccountName) validateStorageAccountName(req.storageAccountName);

  const needArmForKey = given === 0;
  // With a key or a SAS in hand, Azure Resource Manager is asked only for the account's own blob endpoint, a
  // nicety with the cloud's suffix to fall back on: unless the user named where the account is (or gave a
  // deadline), it may not hold the context up for long where the identity endpoint is slow or black-holed.
  const lookupOnly = given === 1 && !req.useManagedIdentity && req.blobEndpoint === undefined;
  const located = req.resourceGroupName !== undefined || req.subscriptionId !== undefined || req.resourceId !== undefined || req.armEndpoint !== undefined || req.timeoutSec !== undefined;
  const session = new ArmSession(lookupOnly && !located ? { ...req, timeoutSec: ENDPOINT_LOOKUP_SEC } : req, signal);
  let name = req.storageAccountName;
  let blobEndpoint = req.blobEndpoint !== undefined ? blobEndpointFor(name ?? 'account', req.blobEndpoint) : undefined;
  let location: ContextResult['location'];

  if (needArmForKey || !blobEndpoint || !name) {
    if (lookupOnly) verbose(`Looking up the account's blob endpoint in Azure Resource Manager${located ? '' : ` (for at most ${ENDPOINT_LOOKUP_SEC} s)`}; -BlobEndpoint skips this.`);
    try {
      await session.resolve();
      name = session.ref.storageAccountName;
      if (!blobEndpoint) {
        const account = await readAccount(session, needArmForKey);
        if (account?.blobEndpoint) {
          blobEndpoint = blobEndpointFor(name, account.blobEndpoint);
          verbose(`Blob endpoint from Azure Resource Manager: ${blobEndpoint}.`);
        }
        if (account && !account.allowSharedKeyAccess && !req.useManagedIdentity) {
          warning(`Storage account ${name} does not permit shared-key authorization: keys and key-signed SAS will be refused. Use New-MsiStorageContext -UseManagedIdentity.`);
        }
      }
      location = { subscriptionId: session.ref.subscriptionId, resourceGroupName: session.ref.resourceGroupName, environment: session.cloud.name };
    } catch (err) {
      // A credential was given: the endpoint can still come from the cloud's storage suffix.
      if (needArmForKey || !name) throw err;
      const why = firstSentence((err as Error).message);
      // The user named where the account is: that this failed is worth more than a verbose line.
      const notFound = ['ResourceGroupNotFound', 'SubscriptionNotFound', 'StorageAccountNotFound'].includes((err as { code?: string }).code ?? '');
      if (notFound && (req.resourceGroupName || req.subscriptionId || req.resourceId)) {
        warning(`The account's blob endpoint could not be read from Azure Resource Manager (${why}); using the cloud's storage suffix, ${`https://${name}.blob.${session.cloud.storageSuffix}/`}. Check -ResourceGroupName and -SubscriptionId (or -ResourceId), or give -BlobEndpoint.`);
      } else {
        verbose(`The account's endpoint could not be read from Azure Resource Manager (${why}); using the cloud's storage suffix.`);
        if (lookupOnly && !located && session.deadline.expired()) verbose(`The lookup was cut short at ${ENDPOINT_LOOKUP_SEC} s; give -TimeoutSec to let it take longer.`);
      }
    }
  }
  if (!name) throw new MsiError('MissingStorageAccount', 'Give -StorageAccountName or -ResourceId.', 'InvalidArgument', { parameter: 'StorageAccountName' });
  // Another account's endpoint, or one with a container in it, would fail only at the first request, as a
  // credential refused or a container not found.
  const shape: ReturnType<typeof endpointShape> = req.blobEndpoint !== undefined && blobEndpoint ? endpointShape(blobEndpoint) : {};
  if (shape.extraPath) {
    throw invalidArgument(
      'BlobEndpoint',
      `-BlobEndpoint ${blobEndpoint} goes on past the account, with '${shape.extraPath}': give only the service URL (${shape.serviceUrl}), and the container to each cmdlet's -Container.`,
      'InvalidEndpoint',
    );
  }
  const named = shape.account;
  if (named && named !== name.toLowerCase()) {
    throw invalidArgument(
      'BlobEndpoint',
      `-BlobEndpoint ${blobEndpoint} is the endpoint of account '${named}', not of '${name}'. Give the endpoint of '${name}', or leave -BlobEndpoint out to have it found.`,
      'BlobEndpointAccountMismatch',
    );
  }
  blobEndpoint ??= `https://${name}.blob.${session.cloud.storageSuffix}/`;

  const result: ContextResult = { storageAccountName: name, blobEndpoint, authType: 'SharedKey' };
  if (location) result.location = location;
  if (sas !== undefined) {
    result.authType = 'SAS';
  } else if (req.useManagedIdentity) {
    // The SDK refuses a bearer token over HTTP at the first request; say so now, where the endpoint is given.
    if (new URL(blobEndpoint).protocol !== 'https:') {
      throw invalidArgument(req.blobEndpoint !== undefined ? 'BlobEndpoint' : 'UseManagedIdentity', `Azure Storage accepts bearer tokens only over HTTPS, and the blob endpoint ${blobEndpoint} is HTTP. Give the account's https:// endpoint as -BlobEndpoint, or use a key (-StorageAccountKey) or a SAS (-SasToken).`, 'OAuthNeedsHttps');
    }
    result.authType = 'OAuth';
    // PowerShell passes its cached storage token when it has one; otherwise get one and hand it back.
    if (!req.storageToken) result.storageToken = await getToken({ ...req.identity, resource: STORAGE_RESOURCE }, signal, session.deadline);
  } else if (needArmForKey) {
    const key = await listKey(session, req.keyName);
    result.storageAccountKey = key.value;
    result.keyName = key.keyName;
  }
  if (session.fetchedToken) result.token = session.fetchedToken;
  verbose(`Context: ${name} at ${blobEndpoint}, ${result.authType}.`);
  return result;
}
