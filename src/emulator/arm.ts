// The emulated Azure Resource Manager: bearer-token checks as ARM makes them, and the Microsoft.Storage
// calls MsiStorage uses.
import { armAudiences, cloudFromAzEnvironment } from '../arm/clouds.js';
import { type Ctx, armError, send } from './http.js';
import type { Claims, TokenSigner } from './jwt.js';


export interface EmulatorAccount {
  name: string;
  /** key1 and key2, as the storage service (Azurite) knows them. */
  keys: [string, string];
  /** The account's blob endpoint, e.g. http://127.0.0.1:10000/<name>/ for Azurite. */
  blobEndpoint: string;
  /** Defaults to the emulator's resource group. */
  resourceGroupName?: string;
  /** Switch: the identity lacks Microsoft.Storage/storageAccounts/listKeys/action (ARM answers 403). */
  withholdListKeys?: boolean;
  /** Switch: allowSharedKeyAccess=false. ARM reports it; the storage front (enforcingEndpoint) applies it. */
  allowSharedKeyAccess?: boolean;
  /**
   * A front of the storage service that refuses shared-key and key-signed SAS requests when the account says
   * allowSharedKeyAccess=false (see the stack). When set, it is the account's primaryEndpoints.blob, whatever
   * the switch says: in Azure the setting changes what the endpoint accepts, not where it is.
   */
  enforcingEndpoint?: string;
}

export type StoredAccount = EmulatorAccount & { resourceGroupName: string };

export const ROLE_SCOPES = ['subscription', 'accounts', 'key-operator'] as const;
export type RoleScope = (typeof ROLE_SCOPES)[number];

export interface ArmDeps {
  signer: TokenSigner;
  subscriptionId: string;
  resourceGroups: Set<string>;
  accounts: StoredAccount[];
  location: string;
  /** Accounts per page of the subscription-wide list (nextLink beyond). */
  pageSize: () => number;
  /** The emulated VM's cloud (IMDS compute.azEnvironment): its ARM audiences are the ones accepted. */
  azEnvironment: () => string | undefined;
  /**
   * Where the identity's roles are assigned: the subscription, or only each storage account; or, as the
   * tutorial assigns it, only "Storage Account Key Operator Service Role" on each account (listKeys and
   * regenerateKey: the account's properties cannot be read, nor a SAS listed).
   */
  roleScope: RoleScope;
}

/**
 * Microsoft.Storage's published api-versions for storageAccounts (newest first), so that a script written
 * against any of them works here as on Azure: the tutorials themselves use 2016-12-01 (listKeys) and
 * 2017-06-01 (listServiceSas).
 */
export const STORAGE_API_VERSIONS = [
  '2026-04-01', '2025-06-01', '2025-01-01', '2024-01-01', '2023-05-01', '2023-04-01', '2023-01-01', '2022-09-01', '2022-05-01', '2021-09-01',
  '2021-08-01', '2021-06-01', '2021-04-01', '2021-02-01', '2021-01-01', '2020-08-01-preview', '2019-06-01', '2019-04-01', '2018-11-01', '2018-07-01',
  '2018-03-01-preview', '2018-02-01', '2017-10-01', '2017-06-01', '2016-12-01', '2016-05-01', '2016-01-01', '2015-06-15', '2015-05-01-preview',
];

/** Microsoft.Resources api-versions for subscriptions (Get-MsiToken's help lists the subscriptions with one). */
const SUBSCRIPTION_API_VERSIONS = ['2022-12-01', '2022-09-01', '2022-01-01', '2021-04-01', '2021-01-01', '2020-01-01', '2019-11-01', '2019-06-01', '2018-06-01', '2016-06-01', '2016-01-01', '2015-01-01', '2014-04-01'];
const SUBSCRIPTIONS_PATH = /^\/subscriptions(?:\/([^/]+))?\/?$/i;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACCOUNT_PATH = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.storage\/storageaccounts\/([^/]+)(?:\/([^/]+))?\/?$/i;

/**
 * Checks the bearer token the way ARM does, for the given audiences (those of the emulated VM's cloud);
 * returns the claims, or has already answered 401.
 */
export function armAuth(ctx: Ctx, signer: TokenSigner, audiences: string[]): Claims | undefined {
  const header = ctx.req.headers.authorization;
  const challenge = (description: string) => ({
    'WWW-Authenticate': `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="${description}"`,
  });
  if (!header) {
    armError(ctx.res, 401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", challenge("The authentication failed because of missing 'Authorization' header."));
    return undefined;
  }
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) {
    armError(ctx.res, 401, 'AuthenticationFailedInvalidHeader', "Authentication failed. The 'Authorization' header is provided in an invalid format.", challenge('The authentication failed because of invalid header format.'));
    return undefined;
  }
  const claims = signer.verify(m[1]);
  if (!claims) {
    armError(ctx.res, 401, 'InvalidAuthenticationToken', 'The access token is invalid.', challenge('The access token is invalid.'));
    return undefined;
  }
  if (!audiences.includes(String(claims.aud))) {
    armError(
      ctx.res,
      401,
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences ${audiences.map((a) => `'${a}'`).join(',')}.`,
      challenge('The access token has been obtained for wrong audience or resource.'),
    );
    return undefined;
  }
  if (Number(claims.exp) * 1000 < Date.now()) {
    const fmt = (d: Date) => d.toLocaleString('en-US', { timeZone: 'UTC' }).replace(',', '');
    armError(
      ctx.res,
      401,
      'ExpiredAuthenticationToken',
      `The access token expiry UTC time '${fmt(new Date(Number(claims.exp) * 1000))}' is earlier than current UTC time '${fmt(new Date())}'.`,
      challenge('The access token expiry UTC time is earlier than current UTC time.'),
    );
    return undefined;
  }
  return claims;
}

function findAccount(ctx: Ctx, deps: ArmDeps, sub: string, rg: string, name: string) {
  if (!GUID.test(sub)) {
    armError(ctx.res, 400, 'InvalidSubscriptionId', `The provided subscription identifier '${sub}' is malformed or invalid.`);
    return undefined;
  }
  if (sub.toLowerCase() !== deps.subscriptionId) {
    armError(ctx.res, 404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
    return undefined;
  }
  if (!deps.resourceGroups.has(rg.toLowerCase())) {
    armError(ctx.res, 404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
    return undefined;
  }
  const account = deps.accounts.find((a) => a.name === name.toLowerCase() && a.resourceGroupName.toLowerCase() === rg.toLowerCase());
  if (!account) {
    armError(ctx.res, 404, 'ResourceNotFound', `The Resource 'Microsoft.Storage/storageAccounts/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
    return undefined;
  }
  return account;
}

function accountId(deps: ArmDeps, a: StoredAccount): string {
  return `/subscriptions/${deps.subscriptionId}/resourceGroups/${a.resourceGroupName}/providers/Microsoft.Storage/storageAccounts/${a.name}`;
}

/** The storage account resource as ARM returns it (2023-05-01 shape, abridged). */
function accountResource(deps: ArmDeps, a: StoredAccount) {
  const blob = a.enforcingEndpoint ?? a.blobEndpoint;
  return {
    id: accountId(deps, a),
    kind: 'StorageV2',
    location: deps.location,
    name: a.name,
    type: 'Microsoft.Storage/storageAccounts',
    sku: { name: 'Standard_LRS', tier: 'Standard' },
    properties: {
      // As in Azure: present only once it has been set (absent means allowed; a script must not rely on true).
      ...(a.allowSharedKeyAccess === undefined ? {} : { allowSharedKeyAccess: a.allowSharedKeyAccess }),
      creationTime: '2026-01-01T00:00:00.0000000Z',
      primaryEndpoints: { blob, dfs: blob.replace('.blob.', '.dfs.') },
      primaryLocation: deps.location,
      provisioningState: 'Succeeded',
      statusOfPrimary: 'available',
      supportsHttpsTrafficOnly: false,
    },
  };
}

function forbidden(ctx: Ctx, claims: Claims, action: string, scope: string): void {
  armError(
    ctx.res,
    403,
    'AuthorizationFailed',
    `The client '${claims.oid}' with object id '${claims.oid}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/** listServiceSas / listAccountSas: SAS tokens signed with the account key, as Azure Storage accepts them. */
async function listSas(ctx: Ctx, a: StoredAccount, service: boolean): Promise<void> {
  let body: Record<string, string>;
  try {
    body = JSON.parse(ctx.body || '{}') as Record<string, string>;
  } catch {
    return armError(ctx.res, 400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
  }
  const bad = (m: string) => armError(ctx.res, 400, 'InvalidValuesForRequestParameters', `Values for request parameters are invalid: ${m}.`);
  // A service SAS may name a stored access policy (signedIdentifier) that supplies the expiry and the
  // permissions; otherwise both are required.
  const policy = service && typeof body.signedIdentifier === 'string' && body.signedIdentifier !== '' ? body.signedIdentifier : undefined;
  if (body.signedExpiry !== undefined && Number.isNaN(Date.parse(body.signedExpiry))) return bad('signedExpiry');
  if (!policy && !body.signedExpiry) return bad('signedExpiry');
  // ARM's Permissions enum is r w d l a c u p; its SignedProtocol is 'https' or 'https,http'.
  if (body.signedPermission !== undefined && !/^[rwdlacup]+$/.test(body.signedPermission)) return bad('signedPermission');
  if (!policy && !body.signedPermission) return bad('signedPermission');
  // signedIp: one address, or a range 'a-b' (IPv4).
  const ip = /^(\d{1,3}(?:\.\d{1,3}){3})(?:-(\d{1,3}(?:\.\d{1,3}){3}))?$/.exec(body.signedIp ?? '');
  if (body.signedIp !== undefined && !ip) return bad('signedIp');
  if (body.signedProtocol !== undefined && body.signedProtocol !== 'https' && body.signedProtocol !== 'https,http') return bad('signedProtocol');
  if (body.signedStart !== undefined && Number.isNaN(Date.parse(body.signedStart))) return bad('signedStart');
  if (body.keyToSign !== undefined && body.keyToSign !== 'key1' && body.keyToSign !== 'key2') return bad('keyToSign');
  const sdk = await import('@azure/storage-blob');
  const key = body.keyToSign === 'key2' ? a.keys[1] : a.keys[0];
  const credential = new sdk.StorageSharedKeyCredential(a.name, key);
  const common = {
    expiresOn: body.signedExpiry ? new Date(body.signedExpiry) : undefined,
    startsOn: body.signedStart ? new Date(body.signedStart) : undefined,
    // As Azure: spr only when signedProtocol was given.
    protocol: body.signedProtocol === 'https' ? sdk.SASProtocol.Https : body.signedProtocol === 'https,http' ? sdk.SASProtocol.HttpsAndHttp : undefined,
    ipRange: ip ? { start: ip[1], end: ip[2] } : undefined,
  };
  if (service) {
    // The file service's SAS (signedResource f or s, /file/...) is valid in Azure, but this emulator has no file service.
    if (body.signedResource === 'f' || body.signedResource === 's' || /^\/file\//i.test(body.canonicalizedResource ?? '')) {
      return armError(ctx.res, 501, 'NotImplemented', 'The MsiStorage emulator signs blob-service SAS only; a file-service SAS (signedResource f or s) is valid in Azure but not emulated.');
    }
    const m = /^\/blob\/([^/]+)\/([^/]+)(?:\/(.+))?$/.exec(body.canonicalizedResource ?? '');
    if (!m || m[1].toLowerCase() !== a.name) return bad('canonicalizedResource');
    // signedResource is b (blob) or c (container) for the blob service (f and s are the file service's).
    if (body.signedResource !== 'b' && body.signedResource !== 'c') return bad('signedResource');
    const blobName = body.signedResource === 'b' ? m[3] : undefined;
    if (body.signedResource === 'b' && !blobName) return bad('signedResource');
    // A letter the resource cannot carry (l on a blob; u or p on the blob service) is an invalid value.
    if (body.signedPermission && !/^[racwd]+$/.test(body.signedPermission) && !(body.signedResource === 'c' && /^[racwdl]+$/.test(body.signedPermission))) return bad('signedPermission');
    const permissions = body.signedPermission ? (blobName ? sdk.BlobSASPermissions.parse(body.signedPermission) : sdk.ContainerSASPermissions.parse(body.signedPermission)) : undefined;
    // The response headers a blob SAS may set (rscc, rscd, rsce, rscl, rsct).
    const headers = { cacheControl: body.rscc, contentDisposition: body.rscd, contentEncoding: body.rsce, contentLanguage: body.rscl, contentType: body.rsct };
    const sas = sdk.generateBlobSASQueryParameters({ containerName: m[2], blobName, permissions, identifier: policy, ...headers, ...common }, credential).toString();
    return send(ctx.res, 200, { serviceSasToken: sas });
  }
  if (!body.signedServices || !/^[bqtf]+$/.test(body.signedServices)) return bad('signedServices');
  if (!body.signedResourceTypes || !/^[sco]+$/.test(body.signedResourceTypes)) return bad('signedResourceTypes');
  const sas = sdk
    .generateAccountSASQueryParameters(
      {
        services: sdk.AccountSASServices.parse(body.signedServices).toString(),
        resourceTypes: sdk.AccountSASResourceTypes.parse(body.signedResourceTypes).toString(),
        permissions: sdk.AccountSASPermissions.parse(body.signedPermission),
        ...common,
        expiresOn: new Date(body.signedExpiry),
      },
      credential,
    )
    .toString();
  return send(ctx.res, 200, { accountSasToken: sas });
}

// The accounts of a subscription, or of one of its resource groups (Get-AzStorageAccount with and without
// -ResourceGroupName).
const LIST_PATH = /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?\/providers\/microsoft\.storage\/storageaccounts\/?$/i;

/** GET /subscriptions (the identity's one subscription) and GET /subscriptions/{id}, as ARM answers them. */
function listSubscriptions(ctx: Ctx, deps: ArmDeps, apiVersion: string, id: string | undefined): void {
  if (!SUBSCRIPTION_API_VERSIONS.includes(apiVersion)) {
    return armError(ctx.res, 400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid. The supported versions are '${SUBSCRIPTION_API_VERSIONS.join(',')}'.`);
  }
  const claims = armAuth(ctx, deps.signer, armAudiences(cloudFromAzEnvironment(deps.azEnvironment())));
  if (!claims) return;
  const subscription = {
    id: `/subscriptions/${deps.subscriptionId}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: deps.subscriptionId,
    tenantId: claims.tid,
    displayName: 'MsiStorage emulator subscription',
    state: 'Enabled',
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
  };
  if (id === undefined) return send(ctx.res, 200, { value: [subscription], count: { type: 'Total', value: 1 } });
  if (!GUID.test(id)) return armError(ctx.res, 400, 'InvalidSubscriptionId', `The provided subscription identifier '${id}' is malformed or invalid.`);
  if (id.toLowerCase() !== deps.subscriptionId) return armError(ctx.res, 404, 'SubscriptionNotFound', `The subscription '${id}' could not be found.`);
  return send(ctx.res, 200, subscription);
}

export async function arm(ctx: Ctx, deps: ArmDeps): Promise<void> {
  const { req, res, url } = ctx;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return armError(res, 400, 'InvalidRequestUri', `The request URI '${url.pathname}' is not valid: it has a malformed percent-encoding.`);
  }
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) {
    return armError(res, 400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  }
  const subscriptions = req.method === 'GET' ? SUBSCRIPTIONS_PATH.exec(path) : null;
  if (subscriptions) return listSubscriptions(ctx, deps, apiVersion, subscriptions[1]);
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) {
    return armError(res, 400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid. The supported versions are '${STORAGE_API_VERSIONS.join(',')}'.`);
  }
  if (!STORAGE_API_VERSIONS.includes(apiVersion)) {
    return armError(
      res,
      400,
      'NoRegisteredProviderFound',
      `No registered resource provider found for location '${deps.location}' and API version '${apiVersion}' for type 'storageAccounts'. The supported api-versions are '${STORAGE_API_VERSIONS.join(', ')}'. The supported locations are '${deps.location}'.`,
    );
  }
  const claims = armAuth(ctx, deps.signer, armAudiences(cloudFromAzEnvironment(deps.azEnvironment())));
  if (!claims) return;
  const list = LIST_PATH.exec(path);
  if (list && req.method === 'GET') {
    const [, sub, rg] = list;
    if (!GUID.test(sub)) return armError(res, 400, 'InvalidSubscriptionId', `The provided subscription identifier '${sub}' is malformed or invalid.`);
    if (sub.toLowerCase() !== deps.subscriptionId) return armError(res, 404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
    const scope = rg === undefined ? `/subscriptions/${sub}` : `/subscriptions/${sub}/resourceGroups/${rg}`;
    if (deps.roleScope !== 'subscription') return forbidden(ctx, claims, 'Microsoft.Storage/storageAccounts/read', scope);
    if (rg !== undefined && !deps.resourceGroups.has(rg.toLowerCase())) return armError(res, 404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
    const listed = rg === undefined ? deps.accounts : deps.accounts.filter((a) => a.resourceGroupName.toLowerCase() === rg.toLowerCase());
    const skip = Number(url.searchParams.get('$skipToken') ?? 0);
    const size = deps.pageSize();
    const page = listed.slice(skip, skip + size).map((a) => accountResource(deps, a));
    const next = skip + size < listed.length ? new URL(url.href.replace(/^http:\/\/emulator/, `http://${req.headers.host}`)) : undefined;
    next?.searchParams.set('$skipToken', String(skip + size));
    return send(res, 200, next ? { value: page, nextLink: next.href } : { value: page });
  }
  const m = ACCOUNT_PATH.exec(path);
  if (!m) return armError(res, 404, 'NotFound', `The emulator does not serve '${req.method} ${url.pathname}'.`);
  const [, sub, rg, name, action] = m;
  if (deps.roleScope !== 'subscription' && sub.toLowerCase() === deps.subscriptionId) {
    // Roles only on the accounts themselves: ARM authorizes before it looks for the resource, so a scope
    // with no assignment is 403 "... or the scope is invalid" whether or not anything exists there. The Key
    // Operator role allows listKeys alone (and regenerateKey, not served here): a read or a SAS is 403 too.
    const held = deps.accounts.find((a) => a.name === name.toLowerCase() && a.resourceGroupName.toLowerCase() === rg.toLowerCase());
    const act = action?.toLowerCase();
    if (!held || (deps.roleScope === 'key-operator' && act !== 'listkeys')) {
      const verb = act === 'listkeys' ? 'listKeys/action' : act === 'listservicesas' ? 'listServiceSas/action' : act === 'listaccountsas' ? 'listAccountSas/action' : 'read';
      return forbidden(ctx, claims, `Microsoft.Storage/storageAccounts/${verb}`, `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${name}`);
    }
  }
  const account = findAccount(ctx, deps, sub, rg, name);
  if (!account) return;
  const scope = accountId(deps, account);
  const act = action?.toLowerCase();
  if (!act && req.method === 'GET') return send(res, 200, accountResource(deps, account));
  if (act === 'listkeys' && req.method === 'POST') {
    if (account.withholdListKeys) return forbidden(ctx, claims, 'Microsoft.Storage/storageAccounts/listKeys/action', scope);
    const created = new Date(Date.now() - 86_400_000).toISOString();
    return send(res, 200, {
      keys: account.keys.map((value, i) => ({ creationTime: created, keyName: `key${i + 1}`, value, permissions: 'FULL' })),
    });
  }
  if ((act === 'listservicesas' || act === 'listaccountsas') && req.method === 'POST') return listSas(ctx, account, act === 'listservicesas');
  return armError(res, 405, 'HttpMethodNotAllowed', `The emulator does not serve '${req.method}' on '${action ?? 'the account'}'.`);
}
