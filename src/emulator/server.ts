// A faithful local emulator of the Azure VM identity endpoint (IMDS and the legacy MSI VM extension) and of
// the Azure Resource Manager storage calls MsiStorage makes. It follows Microsoft's documented wire formats:
// string-typed expires_in/expires_on, 400 without `Metadata: true`, ARM error bodies {"error":{"code","message"}},
// 401 without a valid ARM token, 404 SubscriptionNotFound/ResourceGroupNotFound/ResourceNotFound.
//
// It is a product feature: point your own scripts at it (AZURE_POD_IDENTITY_AUTHORITY_HOST, -ArmEndpoint)
// to test them offline. It serves plain HTTP on loopback only.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Claims, TokenSigner, peekClaims } from './jwt.js';

export interface EmulatorAccount {
  name: string;
  /** key1 and key2, as the storage service (Azurite) knows them. */
  keys: [string, string];
  /** The account's blob endpoint, e.g. http://127.0.0.1:10000/<name>/ for Azurite. */
  blobEndpoint: string;
  /** Defaults to the emulator's resource group. */
  resourceGroupName?: string;
}

export interface EmulatorOptions {
  host?: string;
  port?: number;
  tenantId?: string;
  subscriptionId?: string;
  resourceGroupName?: string;
  accounts: EmulatorAccount[];
  /** Token lifetime in seconds (IMDS tokens usually live about a day). */
  tokenLifetimeSec?: number;
}

export interface Emulator {
  url: string;
  port: number;
  subscriptionId: string;
  resourceGroupName: string;
  tenantId: string;
  identity: { clientId: string; objectId: string; resourceId: string };
  close(): Promise<void>;
}

export const ARM_AUDIENCES = ['https://management.core.windows.net/', 'https://management.core.windows.net', 'https://management.azure.com/', 'https://management.azure.com'];

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  body: string;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** IMDS-style error: {"error","error_description"}. */
function imdsError(res: http.ServerResponse, status: number, error: string, description: string): void {
  send(res, status, { error, error_description: description }, { Server: 'IMDS/150.870.65.1544' });
}

/** ARM-style error: {"error":{"code","message"}}. */
function armError(res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { error: { code, message } }, { 'x-ms-request-id': randomUUID(), 'x-ms-correlation-request-id': randomUUID(), ...headers });
}

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const tenantId = options.tenantId ?? randomUUID();
  const subscriptionId = (options.subscriptionId ?? randomUUID()).toLowerCase();
  const resourceGroupName = options.resourceGroupName ?? 'msistorage-rg';
  const lifetime = options.tokenLifetimeSec ?? 86_399;
  const vmName = 'msistorage-vm';
  const identity = {
    clientId: randomUUID(),
    objectId: randomUUID(),
    resourceId: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${vmName}`,
  };
  const signer = new TokenSigner();
  const accounts = options.accounts.map((a) => ({ ...a, name: a.name.toLowerCase(), resourceGroupName: a.resourceGroupName ?? resourceGroupName }));
  const resourceGroups = new Set([resourceGroupName.toLowerCase(), ...accounts.map((a) => a.resourceGroupName.toLowerCase())]);

  // ---- identity: IMDS and the legacy VM extension ----
  function issueToken(ctx: Ctx, resource: string): void {
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = {
      aud: resource,
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: now,
      nbf: now,
      exp: now + lifetime,
      aio: 'msistorage-emulator',
      appid: identity.clientId,
      appidacr: '2',
      idp: `https://sts.windows.net/${tenantId}/`,
      idtyp: 'app',
      oid: identity.objectId,
      sub: identity.objectId,
      tid: tenantId,
      uti: randomUUID(),
      ver: '1.0',
      xms_mirid: identity.resourceId,
    };
    send(ctx.res, 200, {
      access_token: signer.sign(claims),
      client_id: identity.clientId,
      expires_in: String(lifetime),
      expires_on: String(now + lifetime),
      ext_expires_in: String(lifetime),
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    });
  }

  function tokenEndpoint(ctx: Ctx, legacy: boolean): void {
    const { req, res, url } = ctx;
    if (req.method !== 'GET') return imdsError(res, 405, 'invalid_request', 'Only GET requests are supported.');
    if (req.headers['x-forwarded-for']) return imdsError(res, 400, 'invalid_request', 'Requests with an X-Forwarded-For header are rejected.');
    if (req.headers.metadata !== 'true') return imdsError(res, 400, 'bad_request_102', 'Required metadata header not specified');
    if (!legacy && !url.searchParams.get('api-version')) return imdsError(res, 400, 'invalid_request', "Required query variable 'api-version' is missing");
    const resource = url.searchParams.get('resource');
    if (!resource) return imdsError(res, 400, 'invalid_request', "Required query variable 'resource' is missing");
    if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(resource) && !/^[0-9a-f-]{36}$/i.test(resource)) {
      return imdsError(res, 400, 'invalid_resource', `AADSTS50001: The application named ${resource} was not found in the tenant named ${tenantId}.`);
    }
    return issueToken(ctx, resource);
  }

  // ---- ARM ----
  /** Checks the bearer token the way ARM does; returns the claims, or has already answered 401. */
  function armAuth(ctx: Ctx): Claims | undefined {
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

  function findAccount(ctx: Ctx, sub: string, rg: string, name: string) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
      armError(ctx.res, 400, 'InvalidSubscriptionId', `The provided subscription identifier '${sub}' is malformed or invalid.`);
      return undefined;
    }
    if (sub.toLowerCase() !== subscriptionId) {
      armError(ctx.res, 404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
      return undefined;
    }
    if (!resourceGroups.has(rg.toLowerCase())) {
      armError(ctx.res, 404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
      return undefined;
    }
    const account = accounts.find((a) => a.name === name.toLowerCase() && a.resourceGroupName.toLowerCase() === rg.toLowerCase());
    if (!account) {
      armError(ctx.res, 404, 'ResourceNotFound', `The Resource 'Microsoft.Storage/storageAccounts/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
      return undefined;
    }
    return account;
  }

  const ACCOUNT_ACTION = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.storage\/storageaccounts\/([^/]+)(?:\/([^/]+))?\/?$/i;

  function arm(ctx: Ctx): void {
    const { req, res, url } = ctx;
    const path = decodeURIComponent(url.pathname);
    if (!url.searchParams.get('api-version')) {
      return armError(res, 400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
    }
    if (!armAuth(ctx)) return;
    const m = ACCOUNT_ACTION.exec(path);
    if (!m) return armError(res, 404, 'NotFound', `The emulator does not serve '${req.method} ${url.pathname}'.`);
    const [, sub, rg, name, action] = m;
    const account = findAccount(ctx, sub, rg, name);
    if (!account) return;
    if (action?.toLowerCase() === 'listkeys' && req.method === 'POST') {
      const created = new Date(Date.now() - 86_400_000).toISOString();
      return send(res, 200, {
        keys: account.keys.map((value, i) => ({ creationTime: created, keyName: `key${i + 1}`, value, permissions: 'FULL' })),
      });
    }
    return armError(res, 405, 'HttpMethodNotAllowed', `The emulator does not serve '${req.method}' on '${action ?? 'the account'}'.`);
  }

  function route(ctx: Ctx): void {
    const p = ctx.url.pathname.toLowerCase();
    if (p === '/metadata/identity/oauth2/token') return tokenEndpoint(ctx, false);
    if (p === '/oauth2/token') return tokenEndpoint(ctx, true);
    if (p.startsWith('/subscriptions/')) return arm(ctx);
    if (p === '/__emulator/health') return send(ctx.res, 200, { ok: true });
    return send(ctx.res, 404, { error: { code: 'NotFound', message: `No route for ${ctx.url.pathname}` } });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        route({ req, res, url: new URL(req.url ?? '/', 'http://emulator'), body: Buffer.concat(chunks).toString('utf8') });
      } catch (err) {
        send(res, 500, { error: { code: 'InternalServerError', message: String((err as Error).message) } });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    subscriptionId,
    resourceGroupName,
    tenantId,
    identity,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export { peekClaims };
