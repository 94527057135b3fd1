// Azure Resource Manager: pure request builders and parsers for the storage calls, the ARM error mapping,
// and one send helper with ARM's retry rules (429 and 5xx, Retry-After, back-off, inside the deadline).
import { MsiError, invalidArgument } from '../errors.js';
import { type HttpRequest, type HttpResponse, tryParseJson } from '../http.js';
import { registerSecret } from '../redact.js';
import { type Deadline, type Outcome, type RetryPolicy, sendWithRetries } from '../retry.js';
import { parseEndpoint } from '../identity/sources.js';

export const ARM_DEFAULT_ENDPOINT = 'https://management.azure.com/';
/** Microsoft.Storage api-version: stable since 2023 and accepted in every public and sovereign cloud. */
export const STORAGE_API_VERSION = '2023-05-01';

export interface AccountRef {
  subscriptionId: string;
  resourceGroupName: string;
  storageAccountName: string;
}

export interface StorageKey {
  keyName: string;
  value: string;
  permissions: string;
  creationTime?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Azure's rule: letters and digits of any script (.NET Char.IsLetterOrDigit), '-', '_', '.', '(' and ')'.
const RESOURCE_GROUP = /^[-\p{L}\p{Nd}_.()]{1,90}$/u;
const ACCOUNT = /^[a-z0-9]{3,24}$/;

export function validateSubscriptionId(v: string): void {
  if (!GUID.test(v)) {
    throw invalidArgument('SubscriptionId', `-SubscriptionId '${v}' is not a subscription id. Give the GUID of the subscription, such as 00000000-0000-0000-0000-000000000000 (Get-AzSubscription or the portal shows it).`, 'InvalidSubscriptionId');
  }
}

export function validateResourceGroupName(v: string): void {
  if (!RESOURCE_GROUP.test(v) || v.endsWith('.')) {
    throw invalidArgument('ResourceGroupName', `-ResourceGroupName '${v}' is not a valid resource group name: use 1-90 letters or digits (of any script), '-', '_', '.', '(' or ')', not ending in '.'.`, 'InvalidResourceGroupName');
  }
}

export function validateStorageAccountName(v: string): void {
  if (!ACCOUNT.test(v)) {
    throw invalidArgument('StorageAccountName', `-StorageAccountName '${v}' is not a valid storage account name: use 3-24 lowercase letters and digits.`, 'InvalidStorageAccountName');
  }
}

export function armBase(armEndpoint: string | undefined): URL {
  const url = parseEndpoint(armEndpoint ?? ARM_DEFAULT_ENDPOINT, 'ArmEndpoint');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

export function accountPath(ref: AccountRef): string {
  return (
    `subscriptions/${encodeURIComponent(ref.subscriptionId)}/resourceGroups/${encodeURIComponent(ref.resourceGroupName)}` +
    `/providers/Microsoft.Storage/storageAccounts/${encodeURIComponent(ref.storageAccountName)}`
  );
}

export function buildListKeysRequest(armEndpoint: string | undefined, ref: AccountRef, token: string): HttpRequest {
  const url = new URL(`${accountPath(ref)}/listKeys`, armBase(armEndpoint));
  url.searchParams.set('api-version', STORAGE_API_VERSION);
  return { method: 'POST', url: url.href, headers: { Authorization: `Bearer ${token}`, 'Content-Length': '0' } };
}

export function buildGetAccountRequest(armEndpoint: string | undefined, ref: AccountRef, token: string): HttpRequest {
  const url = new URL(accountPath(ref), armBase(armEndpoint));
  url.searchParams.set('api-version', STORAGE_API_VERSION);
  return { method: 'GET', url: url.href, headers: { Authorization: `Bearer ${token}` } };
}

/** GET /subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts, or the nextLink of a previous page. */
export function buildListAccountsRequest(armEndpoint: string | undefined, subscriptionId: string, token: string, nextLink?: string): HttpRequest {
  let url: URL;
  if (nextLink) {
    url = new URL(nextLink);
    // A page link must stay on the ARM endpoint it came from.
    if (url.origin !== armBase(armEndpoint).origin) throw new MsiError('InvalidArmResponse', `Azure Resource Manager sent a nextLink to another host (${url.origin}).`, 'InvalidData');
  } else {
    url = new URL(`subscriptions/${encodeURIComponent(subscriptionId)}/providers/Microsoft.Storage/storageAccounts`, armBase(armEndpoint));
    url.searchParams.set('api-version', STORAGE_API_VERSION);
  }
  return { method: 'GET', url: url.href, headers: { Authorization: `Bearer ${token}` } };
}

export interface ServiceSasParameters {
  canonicalizedResource: string;
  signedResource: 'c' | 'b';
  signedPermission: string;
  signedExpiry: string;
  signedStart?: string;
  signedProtocol?: string;
  keyToSign?: string;
}

export interface AccountSasParameters {
  signedServices: string;
  signedResourceTypes: string;
  signedPermission: string;
  signedExpiry: string;
  signedStart?: string;
  signedProtocol?: string;
  keyToSign?: string;
}

export function buildListSasRequest(armEndpoint: string | undefined, ref: AccountRef, token: string, body: ServiceSasParameters | AccountSasParameters): HttpRequest {
  const action = 'canonicalizedResource' in body ? 'ListServiceSas' : 'ListAccountSas';
  const url = new URL(`${accountPath(ref)}/${action}`, armBase(armEndpoint));
  url.searchParams.set('api-version', STORAGE_API_VERSION);
  return { method: 'POST', url: url.href, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}

export function parseSasResponse(res: HttpResponse): string {
  const body = tryParseJson(res.body) as { serviceSasToken?: unknown; accountSasToken?: unknown } | undefined;
  const sas = body?.serviceSasToken ?? body?.accountSasToken;
  if (typeof sas !== 'string' || !sas) {
    throw invalidArmResponse(res, `HTTP ${res.status} without a SAS token`);
  }
  registerSecret(sas);
  return sas.replace(/^\?/, '');
}

export interface ArmStorageAccount {
  id: string;
  name: string;
  ref: AccountRef;
  blobEndpoint?: string;
  allowSharedKeyAccess: boolean;
}

const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.storage\/storageaccounts\/([^/]+)\/?$/i;

/** A full ARM id of a storage account: /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}. */
export function parseResourceId(id: string, parameter = 'ResourceId'): AccountRef {
  const m = RESOURCE_ID.exec(id.trim());
  if (!m) {
    throw invalidArgument(
      parameter,
      `-${parameter} '${id}' is not a storage account's resource id. Give /subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<name>.`,
      'InvalidResourceId',
    );
  }
  return { subscriptionId: decodeURIComponent(m[1]), resourceGroupName: decodeURIComponent(m[2]), storageAccountName: decodeURIComponent(m[3]) };
}

function toAccount(raw: Record<string, unknown>): ArmStorageAccount | undefined {
  const id = typeof raw.id === 'string' ? raw.id : undefined;
  if (!id) return undefined;
  const m = RESOURCE_ID.exec(id);
  if (!m) return undefined;
  const props = (raw.properties ?? {}) as { primaryEndpoints?: { blob?: unknown }; allowSharedKeyAccess?: unknown };
  return {
    id,
    name: typeof raw.name === 'string' ? raw.name : m[3],
    ref: { subscriptionId: m[1], resourceGroupName: m[2], storageAccountName: m[3] },
    blobEndpoint: typeof props.primaryEndpoints?.blob === 'string' ? props.primaryEndpoints.blob : undefined,
    // Absent or null means allowed.
    allowSharedKeyAccess: props.allowSharedKeyAccess !== false,
  };
}

/**
 * A 200 from "ARM" that is not the answer: when its body is not JSON at all (an HTML page), something else
 * answered, typically a proxy or a captive portal, and that is said, with where to look.
 */
function invalidArmResponse(res: HttpResponse, what: string): MsiError {
  const json = tryParseJson(res.body) !== undefined;
  const looksHtml = /^\s*</.test(res.body);
  const notArm = json
    ? ''
    : ` It sent ${looksHtml ? 'an HTML page' : 'a body that is not JSON'}: something other than Azure Resource Manager answered, often a proxy; check HTTPS_PROXY and NO_PROXY, and -ArmEndpoint.`;
  return new MsiError('InvalidArmResponse', `Azure Resource Manager answered ${what}.${notArm}`, 'InvalidData', { statusCode: res.status });
}

export function parseAccountResponse(res: HttpResponse): ArmStorageAccount {
  const account = toAccount((tryParseJson(res.body) ?? {}) as Record<string, unknown>);
  if (!account) throw invalidArmResponse(res, `HTTP ${res.status} without a storage account id`);
  return account;
}

export function parseListAccountsResponse(res: HttpResponse): { accounts: ArmStorageAccount[]; nextLink?: string } {
  const body = tryParseJson(res.body) as { value?: unknown; nextLink?: unknown } | undefined;
  if (!Array.isArray(body?.value)) throw invalidArmResponse(res, `HTTP ${res.status} without a value array`);
  const accounts = body.value.flatMap((v) => (v && typeof v === 'object' ? [toAccount(v as Record<string, unknown>)].filter((a): a is ArmStorageAccount => !!a) : []));
  return { accounts, nextLink: typeof body.nextLink === 'string' && body.nextLink ? body.nextLink : undefined };
}

export function parseListKeysResponse(res: HttpResponse): StorageKey[] {
  const body = tryParseJson(res.body) as { keys?: unknown } | undefined;
  const keys = body?.keys;
  if (!Array.isArray(keys)) {
    throw invalidArmResponse(res, `listKeys with HTTP ${res.status} but no keys array`);
  }
  return keys.flatMap((k: Record<string, unknown>) => {
    if (!k || typeof k.keyName !== 'string' || typeof k.value !== 'string') return [];
    registerSecret(k.value);
    const key: StorageKey = { keyName: k.keyName, value: k.value, permissions: typeof k.permissions === 'string' ? k.permissions.toUpperCase() : 'FULL' };
    if (typeof k.creationTime === 'string') key.creationTime = k.creationTime;
    return [key];
  });
}

export function armRetryPolicy(): RetryPolicy {
  return {
    name: 'Azure Resource Manager',
    baseDelayMs: 1000,
    maxDelayMs: 16_000,
    connectTimeoutMs: 10_000,
    tryTimeoutMs: 30_000,
    proxy: 'env',
    retryable(outcome: Outcome, attempt: number): boolean {
      if (attempt > 4) return false;
      if (outcome.error) return outcome.error.kind === 'reset' || outcome.error.kind === 'responseTimeout' || outcome.error.kind === 'connectTimeout';
      const s = outcome.response.status;
      return s === 408 || s === 429 || (s >= 500 && s <= 599 && s !== 501 && s !== 505);
    },
  };
}

interface ArmErrorBody {
  error?: { code?: string; message?: string };
}

/** What the caller knows about the token it sent: where it came from and its claims, for messages. */
export interface TokenOrigin {
  /** 'Token' when the user passed -Token; 'identity' when it came from the managed identity or the cache. */
  from: 'Token' | 'identity';
  /** The resource ARM tokens are asked for in the cloud being used (for messages). */
  armResource?: string;
  aud?: string;
  oid?: string;
  appid?: string;
}

/** The payload of a JWT, without checking anything (only to explain errors). */
export function tokenClaims(token: string): { aud?: string; oid?: string; appid?: string; exp?: number } {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: string; oid?: string; appid?: string };
  } catch {
    return {};
  }
}

/**
 * The built-in role that grants an action on a storage account, for the advice in a 403. The Key Operator
 * role holds only listKeys and regenerateKey; the SAS actions come with Storage Account Contributor; reading
 * the account (its endpoints, or the subscription-wide search) needs Reader.
 */
export function roleFor(action: string): string {
  const a = action.toLowerCase();
  if (a.endsWith('/listkeys/action')) return 'Storage Account Key Operator Service Role';
  if (a.endsWith('/storageaccounts/read')) return 'Reader';
  return 'Storage Account Contributor';
}

/** How the retries ended (sendWithRetries), for the message of a 429 or 5xx. */
export interface RetryEnd {
  attempts: number;
  timedOut: boolean;
  waitAskedMs?: number;
}

/** Maps an ARM error response to an MsiError that tells the admin what to do. */
export function armError(res: HttpResponse, ref: Partial<AccountRef>, action: string, origin?: TokenOrigin, retry?: RetryEnd): MsiError {
  const body = tryParseJson(res.body) as ArmErrorBody | undefined;
  const code = body?.error?.code;
  const message = body?.error?.message;
  const azure = { code, message };
  // The error's target: the account, else the deepest part of the path known ($Error[0].TargetObject).
  const target = ref.storageAccountName ?? ref.resourceGroupName ?? ref.subscriptionId;
  const opts = { statusCode: res.status, azure, ...(target ? { target } : {}) };
  const said = message ? ` Azure said: ${message}` : '';
  switch (code) {
    case 'SubscriptionNotFound':
      return new MsiError('SubscriptionNotFound', `The subscription '${ref.subscriptionId}' was not found, or this identity cannot see it. Check -SubscriptionId.${said}`, 'ObjectNotFound', {
        ...opts,
        parameter: 'SubscriptionId',
      });
    case 'ResourceGroupNotFound':
      return new MsiError(
        'ResourceGroupNotFound',
        `The resource group '${ref.resourceGroupName}' was not found in subscription '${ref.subscriptionId}'. Check -ResourceGroupName.${said}`,
        'ObjectNotFound',
        { ...opts, parameter: 'ResourceGroupName' },
      );
    case 'ResourceNotFound':
      return new MsiError(
        'StorageAccountNotFound',
        `The storage account '${ref.storageAccountName}' was not found in resource group '${ref.resourceGroupName}'. Check -StorageAccountName and -ResourceGroupName.${said}`,
        'ObjectNotFound',
        { ...opts, parameter: 'StorageAccountName' },
      );
    case 'AuthorizationFailed': {
      const oid = /object id '([^']+)'/.exec(message ?? '')?.[1] ?? origin?.oid ?? 'unknown';
      const scope = /over scope '([^']+)'/.exec(message ?? '')?.[1] ?? (ref.subscriptionId ? `/${accountPath(ref as AccountRef)}` : 'the storage account');
      const role = roleFor(action);
      const who = origin?.from === 'Token' ? 'The identity of the token passed to -Token' : 'The managed identity';
      return new MsiError(
        'AuthorizationFailed',
        `${who} (object id ${oid}) may not perform '${action}' on ${scope}. Grant it "${role}" (or any role with ${action}) at that scope: ` +
          `New-AzRoleAssignment -ObjectId ${oid} -RoleDefinitionName '${role}' -Scope '${scope}'. ` +
          'A new assignment can take several minutes to take effect, because Azure caches role assignments and tokens; get a new token with Get-MsiToken -Force after that.',
        'PermissionDenied',
        opts,
      );
    }
    case 'InvalidAuthenticationTokenAudience': {
      const aud = /wrong audience or resource '([^']+)'/.exec(message ?? '')?.[1] ?? origin?.aud ?? 'another resource';
      const wanted = origin?.armResource ?? 'https://management.azure.com/';
      const fix =
        origin?.from === 'Token'
          ? `Pass a token from Get-MsiToken -Resource ${wanted}, or leave -Token out and let the cmdlet get one.`
          : `Check -Environment (or the VM's azEnvironment) and -ArmEndpoint: they must name the same cloud.`;
      const which = origin?.from === 'Token' ? 'The token passed to -Token' : "The managed identity's token";
      return new MsiError(
        'InvalidTokenAudience',
        `${which} was issued for '${aud}', but Azure Resource Manager here wants tokens for ${wanted}. ${fix}`,
        'AuthenticationError',
        { ...opts, parameter: 'Token' },
      );
    }
    case 'InvalidAuthenticationTokenTenant': {
      // A managed identity gets tokens from its own tenant only: no new token helps, the subscription is elsewhere.
      const tenants = [...(message ?? '').matchAll(/https:\/\/[^'\s]+\/([0-9a-f-]{36})\/?'/gi)].map((m) => m[1]);
      const where = tenants.length >= 2 ? ` (the token's tenant is ${tenants[0]}; the subscription's is ${tenants[1]})` : '';
      const whose = origin?.from === 'Token' ? 'the token passed to -Token comes' : 'the managed identity comes';
      return new MsiError(
        'SubscriptionInAnotherTenant',
        `The subscription '${ref.subscriptionId ?? 'given'}' belongs to another Microsoft Entra tenant than the one ${whose} from${where}. ` +
          'A managed identity can get tokens only from its own tenant, so a new token does not help. Check -SubscriptionId (or the subscription in -ResourceId): use a subscription of the identity\'s tenant.',
        'AuthenticationError',
        { ...opts, parameter: 'SubscriptionId' },
      );
    }
    case 'ExpiredAuthenticationToken':
      return new MsiError('TokenExpired', `The token has expired.${said} Get a new one with Get-MsiToken.`, 'AuthenticationError', { ...opts, parameter: 'Token' });
    default:
      break;
  }
  const s = res.status;
  if (s === 401) {
    return new MsiError('ArmAuthenticationFailed', `Azure Resource Manager did not accept the token (HTTP 401).${said} Get a new token with Get-MsiToken and try again.`, 'AuthenticationError', {
      ...opts,
      parameter: 'Token',
    });
  }
  if (s === 403) return new MsiError('AuthorizationFailed', `Azure Resource Manager refused '${action}' (HTTP 403).${said}`, 'PermissionDenied', opts);
  if (s === 404) return new MsiError('ArmResourceNotFound', `Azure Resource Manager found nothing at this path (HTTP 404).${said} Check -ArmEndpoint and the names.`, 'ObjectNotFound', opts);
  if (s === 429 || s >= 500) {
    const what = s === 429 ? `is throttling requests (HTTP 429)` : `answered HTTP ${s}`;
    const how =
      retry?.waitAskedMs !== undefined
        ? ` and asked to wait ${Math.ceil(retry.waitAskedMs / 1000)} s, longer than -TimeoutSec allows${retry.attempts > 1 ? ` (after ${retry.attempts} tries)` : ''}`
        : retry && retry.attempts <= 1
          ? ''
          : retry?.timedOut
            ? ` until -TimeoutSec ran out (${retry.attempts} tries)`
            : ` on every try${retry ? ` (${retry.attempts})` : ''}`;
    return new MsiError('ArmUnavailable', `Azure Resource Manager ${what}${how}.${said} Try again later, or give more time with -TimeoutSec.`, 'ResourceUnavailable', opts);
  }
  return new MsiError('ArmRequestFailed', `Azure Resource Manager answered HTTP ${s} to '${action}'.${said}`, 'InvalidOperation', opts);
}

/** Sends an ARM request with ARM's retry rules; returns the 2xx response or throws the mapped error. */
export async function armSend(
  build: () => HttpRequest,
  ref: Partial<AccountRef>,
  action: string,
  deadline: Deadline,
  signal?: AbortSignal,
  origin?: TokenOrigin,
): Promise<HttpResponse> {
  const outcome = await sendWithRetries(build, armRetryPolicy(), deadline, signal);
  if (outcome.error) {
    const timeout = outcome.error.kind === 'responseTimeout' || outcome.error.kind === 'connectTimeout';
    throw new MsiError(
      timeout ? 'ArmTimeout' : 'ArmUnreachable',
      `Azure Resource Manager at ${outcome.error.url} could not be reached: ${outcome.error.message}. Check -ArmEndpoint, the network, and HTTPS_PROXY/NO_PROXY.`,
      timeout ? 'OperationTimeout' : 'ResourceUnavailable',
      { target: outcome.error.url },
    );
  }
  if (outcome.response.status < 200 || outcome.response.status > 299) throw armError(outcome.response, ref, action, origin, outcome);
  return outcome.response;
}
