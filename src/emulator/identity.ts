// The emulated identity endpoints: IMDS, the legacy MSI VM extension, App Service, Azure Arc (with its
// key-file challenge) and Cloud Shell, with system- and user-assigned identities.
//
// Each source answers errors in its own body format, as MSAL's tests record them:
//   IMDS, the VM extension, Arc   {"error":"invalid_request","error_description":"Identity not found"}
//   App Service                   {"statusCode":400,"message":"No User Assigned or Delegated Managed Identity found…","correlationId":…}
//   Cloud Shell                   {"error":{"code":"AudienceNotSupported","message":"…"}}
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FaultTarget } from './faults.js';
import type * as http from 'node:http';
import { type Ctx, imdsError, send } from './http.js';
import type { Claims, TokenSigner } from './jwt.js';

export interface ManagedIdentity {
  clientId: string;
  objectId: string;
  resourceId: string;
}

export interface Selector {
  clientId?: string;
  objectId?: string;
  resourceId?: string;
}

export interface ArcOptions {
  /** Where the emulated agent writes its key files (the client must be told the same folder). */
  keyDir?: string;
  /** Misbehaviour switches, for testing the client's checks. */
  realm?: string;
  keyExtension?: string;
  keySize?: number;
}

export class IdentityState {
  system: ManagedIdentity | undefined;
  user: ManagedIdentity[] = [];
  /** The secret App Service puts in IDENTITY_HEADER. */
  readonly appServiceHeader = randomBytes(16).toString('hex');
  arc: ArcOptions = {};
  private arcKey: string | undefined;

  constructor(
    readonly subscriptionId: string,
    readonly resourceGroupName: string,
  ) {
    this.system = this.make('Microsoft.Compute/virtualMachines/msistorage-vm');
  }

  make(resourcePath: string): ManagedIdentity {
    return { clientId: randomUUID(), objectId: randomUUID(), resourceId: `/subscriptions/${this.subscriptionId}/resourceGroups/${this.resourceGroupName}/providers/${resourcePath}` };
  }

  /** Reconfigures the identities: whether a system-assigned one exists, and how many user-assigned. */
  configure(systemAssigned: boolean, userAssigned: number): void {
    this.system = systemAssigned ? (this.system ?? this.make('Microsoft.Compute/virtualMachines/msistorage-vm')) : undefined;
    while (this.user.length < userAssigned) this.user.push(this.make(`Microsoft.ManagedIdentity/userAssignedIdentities/msistorage-uai-${this.user.length + 1}`));
    this.user.length = userAssigned;
  }

  select(s: Selector): ManagedIdentity | 'notFound' | 'multiple' {
    const all = [...(this.system ? [this.system] : []), ...this.user];
    const eq = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();
    if (s.clientId || s.objectId || s.resourceId) {
      return all.find((i) => eq(s.clientId, i.clientId) || eq(s.objectId, i.objectId) || eq(s.resourceId, i.resourceId)) ?? 'notFound';
    }
    if (this.system) return this.system;
    if (this.user.length === 1) return this.user[0];
    return this.user.length === 0 ? 'notFound' : 'multiple';
  }

  /** Arc: writes a fresh key file and returns the realm (its path) to challenge with. */
  issueArcKey(): string {
    const dir = this.arc.keyDir;
    if (!dir) throw new Error('Azure Arc emulation needs a key folder: POST /__emulator/arc {"keyDir": "..."}');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${randomUUID()}${this.arc.keyExtension ?? '.key'}`);
    this.arcKey = this.arc.keySize ? randomBytes(Math.ceil(this.arc.keySize / 2)).toString('hex').slice(0, this.arc.keySize) : randomBytes(32).toString('hex');
    writeFileSync(file, this.arcKey, { mode: 0o600 });
    return this.arc.realm ?? file;
  }

  checkArcKey(value: string): boolean {
    return this.arcKey !== undefined && value === this.arcKey;
  }
}

export interface IdentityDeps {
  state: IdentityState;
  signer: TokenSigner;
  tenantId: string;
  lifetimeSec: () => number;
}

const RESOURCE = /^(?:[a-z][a-z0-9+.-]*:\/\/\S+|[0-9a-f-]{36})$/i;

function tokenFor(deps: IdentityDeps, identity: ManagedIdentity, resource: string) {
  const now = Math.floor(Date.now() / 1000);
  const lifetime = deps.lifetimeSec();
  const claims: Claims = {
    aud: resource,
    iss: `https://sts.windows.net/${deps.tenantId}/`,
    iat: now,
    nbf: now,
    exp: now + lifetime,
    aio: 'msistorage-emulator',
    appid: identity.clientId,
    appidacr: '2',
    idp: `https://sts.windows.net/${deps.tenantId}/`,
    idtyp: 'app',
    oid: identity.objectId,
    sub: identity.objectId,
    tid: deps.tenantId,
    uti: randomUUID(),
    ver: '1.0',
    xms_mirid: identity.resourceId,
  };
  return { token: deps.signer.sign(claims), now, lifetime };
}

/** App Service's error body: {"statusCode","message","correlationId"}. */
function appServiceError(res: http.ServerResponse, status: number, message: string): void {
  send(res, status, { statusCode: status, message, correlationId: randomUUID() });
}

/** Cloud Shell's error body: {"error":{"code","message"}}. */
function cloudShellError(res: http.ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

/** Answers with the identity error IMDS gives, or returns the identity. */
function resolveIdentity(ctx: Ctx, deps: IdentityDeps, selector: Selector): ManagedIdentity | undefined {
  const found = deps.state.select(selector);
  if (found === 'notFound') {
    imdsError(ctx.res, 400, 'invalid_request', 'Identity not found');
    return undefined;
  }
  if (found === 'multiple') {
    imdsError(ctx.res, 400, 'invalid_request', 'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request');
    return undefined;
  }
  return found;
}

/** The resource check, or the error for it: IMDS-style unless the source has its own (App Service, Cloud Shell). */
function checkResource(ctx: Ctx, deps: IdentityDeps, resource: string | null, format: 'imds' | 'appService' | 'cloudShell' = 'imds'): resource is string {
  const missing = "Required query variable 'resource' is missing";
  const unknown = `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${deps.tenantId}.`;
  if (!resource || !RESOURCE.test(resource)) {
    if (format === 'appService') appServiceError(ctx.res, 400, resource ? unknown : missing);
    else if (format === 'cloudShell') cloudShellError(ctx.res, 400, resource ? 'AudienceNotSupported' : 'BadRequest', resource ? `Audience ${resource} is not a supported MSI token audience.` : missing);
    else if (!resource) imdsError(ctx.res, 400, 'invalid_request', missing);
    else imdsError(ctx.res, 400, 'invalid_resource', `AADSTS50001: The application named ${resource} was not found in the tenant named ${deps.tenantId}.`);
    return false;
  }
  return true;
}

/** The IMDS-style success body (IMDS, the VM extension, Arc, Cloud Shell): every value a string. */
function imdsTokenBody(deps: IdentityDeps, identity: ManagedIdentity, resource: string) {
  const { token, now, lifetime } = tokenFor(deps, identity, resource);
  return {
    access_token: token,
    client_id: identity.clientId,
    expires_in: String(lifetime),
    expires_on: String(now + lifetime),
    ext_expires_in: String(lifetime),
    not_before: String(now),
    resource,
    token_type: 'Bearer',
  };
}

function imdsLike(ctx: Ctx, deps: IdentityDeps, opts: { apiVersion?: string; selectors: boolean }): void {
  const { req, res, url } = ctx;
  if (req.method !== 'GET') return imdsError(res, 405, 'invalid_request', 'Only GET requests are supported.');
  if (req.headers['x-forwarded-for']) return imdsError(res, 400, 'invalid_request', 'Requests with an X-Forwarded-For header are rejected.');
  if (req.headers.metadata !== 'true') return imdsError(res, 400, 'bad_request_102', 'Required metadata header not specified');
  if (opts.apiVersion && !url.searchParams.get('api-version')) return imdsError(res, 400, 'invalid_request', "Required query variable 'api-version' is missing");
  const resource = url.searchParams.get('resource');
  if (!checkResource(ctx, deps, resource)) return;
  const q = (k: string) => url.searchParams.get(k) ?? undefined;
  // VM IMDS takes the resource id as msi_res_id (its documented name) or mi_res_id (App Service's, which it
  // accepts too).
  const identity = resolveIdentity(ctx, deps, opts.selectors ? { clientId: q('client_id'), objectId: q('object_id'), resourceId: q('msi_res_id') ?? q('mi_res_id') } : {});
  if (identity) send(res, 200, imdsTokenBody(deps, identity, resource));
}

function appService(ctx: Ctx, deps: IdentityDeps): void {
  const { req, res, url } = ctx;
  if (req.headers['x-identity-header'] !== deps.state.appServiceHeader) {
    return appServiceError(res, 401, 'Unauthorized: the X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.');
  }
  if (url.searchParams.get('api-version') !== '2019-08-01') return appServiceError(res, 400, "The api-version must be '2019-08-01'.");
  const resource = url.searchParams.get('resource');
  if (!checkResource(ctx, deps, resource, 'appService')) return;
  const q = (k: string) => url.searchParams.get(k) ?? undefined;
  const selector: Selector = { clientId: q('client_id'), objectId: q('principal_id') ?? q('object_id'), resourceId: q('mi_res_id') };
  // App Service never picks a user-assigned identity by itself: without a selector it uses the system-assigned
  // one (its documented default), and when that is missing or the selector matches nothing it says so.
  const found = selector.clientId || selector.objectId || selector.resourceId ? deps.state.select(selector) : deps.state.system ?? 'notFound';
  if (found === 'notFound' || found === 'multiple') {
    return appServiceError(res, 400, 'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.');
  }
  const identity = found;
  const { token, now, lifetime } = tokenFor(deps, identity, resource);
  // App Service 2019-08-01: expires_on in epoch seconds, no expires_in, client_id.
  send(res, 200, { access_token: token, expires_on: String(now + lifetime), resource, token_type: 'Bearer', client_id: identity.clientId });
}

function arc(ctx: Ctx, deps: IdentityDeps): void {
  const { req, res, url } = ctx;
  // Microsoft's Arc samples send 'Metadata: True' (PowerShell) and 'Metadata:true' (bash), with api-version
  // 2020-06-01 and 2019-11-01.
  if (String(req.headers.metadata ?? '').toLowerCase() !== 'true') return imdsError(res, 400, 'bad_request_102', 'Required metadata header not specified');
  const arcVersion = url.searchParams.get('api-version');
  if (arcVersion !== '2019-11-01' && arcVersion !== '2020-06-01') return imdsError(res, 400, 'invalid_request', "The api-version must be '2019-11-01' or '2020-06-01'.");
  const auth = req.headers.authorization;
  if (!auth) {
    const realm = deps.state.issueArcKey();
    return send(res, 401, { error: 'unauthorized', error_description: 'Present the key file named in WWW-Authenticate.' }, { 'WWW-Authenticate': `Basic realm=${realm}` });
  }
  const m = /^Basic (.+)$/.exec(auth);
  if (!m || !deps.state.checkArcKey(m[1])) return imdsError(res, 401, 'unauthorized', 'The key does not match.');
  const resource = url.searchParams.get('resource');
  if (!checkResource(ctx, deps, resource)) return;
  if (!deps.state.system) return imdsError(res, 400, 'invalid_request', 'Identity not found');
  send(res, 200, imdsTokenBody(deps, deps.state.system, resource));
}

function cloudShell(ctx: Ctx, deps: IdentityDeps): void {
  const { req, res, body } = ctx;
  if (req.method !== 'POST') return cloudShellError(res, 405, 'MethodNotAllowed', 'Only POST requests are supported.');
  if (req.headers.metadata !== 'true') return cloudShellError(res, 400, 'BadRequest', 'Required metadata header not specified');
  const form = new URLSearchParams(body);
  const resource = form.get('resource');
  if (!checkResource(ctx, deps, resource, 'cloudShell')) return;
  if (!deps.state.system) return cloudShellError(res, 400, 'BadRequest', 'Identity not found');
  send(res, 200, imdsTokenBody(deps, deps.state.system, resource));
}

/** The identity routes: path (lower case) → fault target and handler. */
export function identityRoutes(deps: IdentityDeps): Record<string, { target: FaultTarget; handle: (ctx: Ctx) => void }> {
  return {
    '/metadata/identity/oauth2/token': { target: 'imds', handle: (ctx) => imdsLike(ctx, deps, { apiVersion: '2018-02-01', selectors: true }) },
    '/oauth2/token': { target: 'imds', handle: (ctx) => imdsLike(ctx, deps, { selectors: true }) },
    '/msi/token': { target: 'appservice', handle: (ctx) => appService(ctx, deps) },
    '/arc/metadata/identity/oauth2/token': { target: 'arc', handle: (ctx) => arc(ctx, deps) },
    '/cloudshell/oauth2/token': { target: 'cloudshell', handle: (ctx) => cloudShell(ctx, deps) },
  };
}
