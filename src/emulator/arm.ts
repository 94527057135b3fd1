// The emulated Azure Resource Manager: bearer-token checks as ARM makes them, and the Microsoft.Storage
// calls MsiStorage uses.
import { type Ctx, armError, send } from './http.js';
import type { Claims, TokenSigner } from './jwt.js';

export const ARM_AUDIENCES = ['https://management.core.windows.net/', 'https://management.core.windows.net', 'https://management.azure.com/', 'https://management.azure.com'];

export interface EmulatorAccount {
  name: string;
  /** key1 and key2, as the storage service (Azurite) knows them. */
  keys: [string, string];
  /** The account's blob endpoint, e.g. http://127.0.0.1:10000/<name>/ for Azurite. */
  blobEndpoint: string;
  /** Defaults to the emulator's resource group. */
  resourceGroupName?: string;
}

export interface ArmDeps {
  signer: TokenSigner;
  subscriptionId: string;
  resourceGroups: Set<string>;
  accounts: (EmulatorAccount & { resourceGroupName: string })[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACCOUNT_PATH = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.storage\/storageaccounts\/([^/]+)(?:\/([^/]+))?\/?$/i;

/** Checks the bearer token the way ARM does; returns the claims, or has already answered 401. */
export function armAuth(ctx: Ctx, signer: TokenSigner): Claims | undefined {
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
  if (!ARM_AUDIENCES.includes(String(claims.aud))) {
    armError(
      ctx.res,
      401,
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences ${ARM_AUDIENCES.map((a) => `'${a}'`).join(',')}.`,
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

export function arm(ctx: Ctx, deps: ArmDeps): void {
  const { req, res, url } = ctx;
  const path = decodeURIComponent(url.pathname);
  if (!url.searchParams.get('api-version')) {
    return armError(res, 400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  }
  if (!armAuth(ctx, deps.signer)) return;
  const m = ACCOUNT_PATH.exec(path);
  if (!m) return armError(res, 404, 'NotFound', `The emulator does not serve '${req.method} ${url.pathname}'.`);
  const [, sub, rg, name, action] = m;
  const account = findAccount(ctx, deps, sub, rg, name);
  if (!account) return;
  if (action?.toLowerCase() === 'listkeys' && req.method === 'POST') {
    const created = new Date(Date.now() - 86_400_000).toISOString();
    return send(res, 200, {
      keys: account.keys.map((value, i) => ({ creationTime: created, keyName: `key${i + 1}`, value, permissions: 'FULL' })),
    });
  }
  return armError(res, 405, 'HttpMethodNotAllowed', `The emulator does not serve '${req.method}' on '${action ?? 'the account'}'.`);
}
