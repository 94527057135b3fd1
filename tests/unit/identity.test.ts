import { describe, expect, it } from 'vitest';
import { MsiError } from '../../src/errors.js';
import { imdsHost, normalizeResource, selectSource } from '../../src/identity/sources.js';
import { agentRetryPolicy, identityError, imdsRetryPolicy, parseExpiresOn, parseTokenResponse, retryPolicyFor } from '../../src/identity/token.js';
import { fixture } from '../helpers/stack.js';

const wire = (name: string) => {
  const f = fixture<{ status: number; body: unknown; headers?: Record<string, string> }>(`wire/${name}.json`);
  return { status: f.status, headers: f.headers ?? {}, body: JSON.stringify(f.body) };
};

describe('identity request builders', () => {
  it('builds the documented IMDS request', () => {
    const src = selectSource(undefined, {});
    const req = src.build({ resource: 'https://management.azure.com/', identity: {} });
    expect(src.name).toBe('IMDS');
    expect(req.method).toBe('GET');
    expect(req.headers).toEqual({ Metadata: 'true' });
    const url = new URL(req.url);
    expect(url.origin + url.pathname).toBe('http://169.254.169.254/metadata/identity/oauth2/token');
    expect(url.searchParams.get('api-version')).toBe('2018-02-01');
    expect(url.searchParams.get('resource')).toBe('https://management.azure.com/');
  });

  it('replaces the IMDS host with AZURE_POD_IDENTITY_AUTHORITY_HOST', () => {
    expect(imdsHost({ AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:8080/' })).toBe('http://127.0.0.1:8080');
    expect(imdsHost({ AZURE_POD_IDENTITY_AUTHORITY_HOST: '127.0.0.1:8080' })).toBe('http://127.0.0.1:8080');
    const req = selectSource(undefined, { AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:8080' }).build({ resource: 'r', identity: {} });
    expect(req.url.startsWith('http://127.0.0.1:8080/metadata/identity/oauth2/token?')).toBe(true);
  });

  it('sends the tutorial legacy endpoint the resource but no api-version', () => {
    const src = selectSource('http://localhost:50342/oauth2/token', {});
    expect(src.name).toBe('VMExtension');
    const url = new URL(src.build({ resource: 'https://management.azure.com/', identity: {} }).url);
    expect(url.searchParams.get('resource')).toBe('https://management.azure.com/');
    expect(url.searchParams.has('api-version')).toBe(false);
  });

  it('treats an -Endpoint with the IMDS path as IMDS and keeps its query', () => {
    const src = selectSource('http://127.0.0.1:1/metadata/identity/oauth2/token?api-version=2019-08-01', {});
    expect(src.name).toBe('IMDS');
    expect(new URL(src.build({ resource: 'r', identity: {} }).url).searchParams.get('api-version')).toBe('2019-08-01');
  });

  it.each(['not a url', 'ftp://x/y', 'file:///etc/passwd', 'http://user:pw@127.0.0.1/'])('rejects the endpoint %s naming -Endpoint', (e) => {
    try {
      selectSource(e, {});
      expect.unreachable();
    } catch (err) {
      expect((err as MsiError).code).toBe('InvalidEndpoint');
      expect((err as MsiError).parameter).toBe('Endpoint');
    }
  });

  it('turns a /.default scope into its resource', () => {
    expect(normalizeResource('https://storage.azure.com/.default')).toBe('https://storage.azure.com/');
    // As MSAL maps a scope to a resource: '/.default' goes, whole, from an app id or an api:// URI.
    expect(normalizeResource('2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default')).toBe('2ff814a6-3304-4ab8-85cb-cd0e6f879c1d');
    expect(normalizeResource('api://2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default')).toBe('api://2ff814a6-3304-4ab8-85cb-cd0e6f879c1d');
    expect(normalizeResource('https://contoso.com/myapi/.default')).toBe('https://contoso.com/myapi');
    expect(normalizeResource('https://vault.azure.net/.DEFAULT')).toBe('https://vault.azure.net/');
    expect(() => normalizeResource(' /.default ')).toThrow(/-Resource '\/\.default' names no resource/);
    expect(() => normalizeResource('  ')).toThrow(/-Resource is empty/);
    expect(normalizeResource(undefined)).toBe('https://management.azure.com/');
  });
});

describe('token response parsing', () => {
  const src = selectSource(undefined, {});

  it('parses the documented IMDS response with string-typed numbers', () => {
    const t = parseTokenResponse(src, wire('imds-token-200'), 'https://management.azure.com/');
    expect(t.expiresOn).toBe(1506484173);
    expect(t.tokenType).toBe('Bearer');
    expect(t.resource).toBe('https://management.azure.com/');
    expect(t.source).toBe('IMDS');
  });

  it('parses the App Service response (no expires_in) and keeps client_id', () => {
    const t = parseTokenResponse(src, wire('appservice-token-200'), 'https://vault.azure.net');
    expect(t.expiresOn).toBe(1586984735);
    expect(t.clientId).toBe('5E29463D-71DA-4FE0-8E69-999B57DB23B0');
  });

  it('reads expires_on as a number, a numeric string or a date, else expires_in', () => {
    expect(parseExpiresOn(1700000000, undefined, 0)).toBe(1700000000);
    expect(parseExpiresOn('1700000000', undefined, 0)).toBe(1700000000);
    expect(parseExpiresOn('11/15/2017 12:00:00 AM +00:00', undefined, 0)).toBe(Date.UTC(2017, 10, 15) / 1000);
    expect(parseExpiresOn(undefined, '3599', 1000)).toBe(4599);
    expect(parseExpiresOn('garbage', 'garbage', 0)).toBeUndefined();
  });

  it('refuses an HTML page from a captive proxy', () => {
    try {
      parseTokenResponse(src, { status: 200, headers: {}, body: '<html><body>Please log in</body></html>' }, 'r');
      expect.unreachable();
    } catch (err) {
      expect((err as MsiError).code).toBe('InvalidTokenResponse');
      expect((err as MsiError).message).toMatch(/HTML page/);
    }
  });

  it('refuses a 200 without access_token', () => {
    expect(() => parseTokenResponse(src, { status: 200, headers: {}, body: '{"expires_in":"10"}' }, 'r')).toThrow(/without an access_token/);
  });

  it.each([
    ['imds-identity-not-found-400', 'IdentityNotFound', 'ObjectNotFound', /-ClientId, -ObjectId or -IdentityResourceId/],
    ['imds-multiple-identities-400', 'MultipleIdentities', 'InvalidArgument', /Pass -ClientId, -ObjectId or -IdentityResourceId/],
    ['imds-missing-metadata-400', 'MetadataHeaderRejected', 'ProtocolError', /proxy/],
  ])('maps %s to %s', (name, expectedCode, category, message) => {
    const e = identityError(src, wire(name), 'https://management.azure.com/');
    expect(e.code).toBe(expectedCode);
    expect(e.category).toBe(category);
    expect(e.message).toMatch(message);
    expect(e.statusCode).toBe(400);
  });

  // App Service's own body, as Azure.Identity and MSAL's end-to-end tests record it: its text names
  // "ResourceId", which once passed for an unknown -Resource.
  const appServiceNotFound = {
    status: 400,
    headers: {},
    body: '{"statusCode":400,"message":"No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."}',
  };
  const appService = selectSource(undefined, { IDENTITY_ENDPOINT: 'http://127.0.0.1:41741/msi/token', IDENTITY_HEADER: 'h' });

  it("maps App Service's not-found body to IdentityNotFound, not InvalidResource", () => {
    const e = identityError(appService, appServiceNotFound, 'https://management.azure.com/');
    expect(e.code).toBe('IdentityNotFound');
    expect(e.category).toBe('ObjectNotFound');
    expect(e.message).not.toMatch(/-Resource\b/);
  });

  it.each([
    ['clientId', '5e29463d-71da-4fe0-8e69-999b57db23b0', 'ClientId', 'client id'],
    ['objectId', '9fc6a41b-e161-43ba-90ba-12f172141c23', 'ObjectId', 'object id'],
    ['identityResourceId', '/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u', 'IdentityResourceId', 'resource id'],
  ])('a not-found answer to -%s names that identity and parameter', (key, value, parameter, what) => {
    for (const [source, res] of [
      [src, wire('imds-identity-not-found-400')],
      [appService, appServiceNotFound],
    ] as const) {
      const e = identityError(source, res, 'https://management.azure.com/', false, { identity: { [key]: value } });
      expect(e.code).toBe('IdentityNotFound');
      expect(e.parameter).toBe(parameter);
      expect(e.message).toContain(`No managed identity with ${what} ${value} is assigned to this resource.`);
      expect(e.message).toContain(`Check -${parameter}`);
    }
  });

  it("ends the endpoint's text with a period before the advice", () => {
    const e = identityError(src, wire('imds-identity-not-found-400'), 'https://management.azure.com/');
    expect(e.message).toContain('The endpoint said: invalid_request: Identity not found. Enable a system-assigned identity');
  });

  it.each([
    ['IMDS invalid_resource', '{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named x was not found in the tenant named t."}'],
    ['AADSTS500011 in App Service text', '{"statusCode":400,"message":"AADSTS500011: The resource principal named x was not found in the tenant."}'],
    ['AADSTS50001 in any text', '{"error":"invalid_request","error_description":"AADSTS50001: The application named x was not found in the tenant."}'],
    ["Cloud Shell's AudienceNotSupported", '{"error":{"code":"AudienceNotSupported","message":"Audience x is not a supported MSI token audience."}}'],
  ])('maps %s to InvalidResource naming -Resource', (_what, body) => {
    const e = identityError(src, { status: 400, headers: {}, body }, 'x');
    expect(e.code).toBe('InvalidResource');
    expect(e.parameter).toBe('Resource');
  });

  it("takes only IMDS's bad_request_102 (or its header text) for a rejected Metadata header, not any text that says metadata", () => {
    const other = identityError(src, { status: 400, headers: {}, body: '{"error":"invalid_request","error_description":"The metadata of the request is not valid."}' }, 'x');
    expect(other.code).toBe('TokenRequestFailed');
    const header = identityError(src, { status: 400, headers: {}, body: '{"error":"invalid_request","error_description":"Required metadata header not specified"}' }, 'x');
    expect(header.code).toBe('MetadataHeaderRejected');
  });

  it('says a status failed once, not "after retries", when no retry was made', () => {
    const e = identityError(src, { status: 501, headers: {}, body: '' }, 'x', false, { attempts: 1 });
    expect(e.message).toContain('The identity endpoint failed with HTTP 501. Try again later');
    expect(identityError(src, { status: 503, headers: {}, body: '' }, 'x', false, { attempts: 6 }).message).toContain('kept failing with HTTP 503 after retries');
  });

  it('explains an Azure Arc key-file challenge from an endpoint named with -Endpoint', () => {
    const explicit = selectSource('http://127.0.0.1:40342/metadata/identity/oauth2/token', {});
    const challenge = { status: 401, headers: { 'www-authenticate': 'Basic realm=/var/opt/azcmagent/tokens/x.key' }, body: '' };
    const e = identityError(explicit, challenge, 'x');
    expect(e.code).toBe('IdentityRequestUnauthorized');
    expect(e.parameter).toBe('Endpoint');
    expect(e.message).toContain('Azure Arc agent asking for its key file: leave -Endpoint out');
    expect(identityError(explicit, { ...challenge, headers: {} }, 'x').message).not.toContain('Azure Arc');
  });

  it('does not call any 400 that mentions a resource an unknown resource', () => {
    const e = identityError(src, { status: 400, headers: {}, body: '{"statusCode":400,"message":"The request for resource id /x could not be served."}' }, 'x');
    expect(e.code).toBe('TokenRequestFailed');
  });
});

describe('IMDS retry policy', () => {
  const p = imdsRetryPolicy();
  const res = (status: number) => ({ response: { status, headers: {}, body: '' } });
  const neterr = (kind: string) => ({ error: Object.assign(new Error(kind), { kind, url: 'x', name: 'NetworkError' }) }) as never;
  it.each([404, 408, 410, 429, 500, 503, 599])('retries HTTP %i', (s) => expect(p.retryable(res(s), 1, 0, [])).toBe(true));
  it.each([400, 401, 403, 405, 409, 422])('never retries HTTP %i', (s) => expect(p.retryable(res(s), 1, 0, [])).toBe(false));
  it('keeps retrying 410 for 70 seconds, then stops', () => {
    expect(p.retryable(res(410), 30, 69_000, [])).toBe(true);
    expect(p.retryable(res(410), 31, 70_001, [])).toBe(false);
  });
  it('stops other retries after five', () => {
    expect(p.retryable(res(500), 5, 1000, [res(500), res(429), res(503), res(404)])).toBe(true);
    expect(p.retryable(res(500), 6, 1000, [res(500), res(429), res(503), res(404), res(500)])).toBe(false);
    expect(p.retryable(neterr('reset'), 6, 1000, [res(500), res(429), res(503), res(404), res(500)])).toBe(false);
  });
  it('counts the 410 retries apart from the others', () => {
    const gone = Array.from({ length: 6 }, () => res(410));
    expect(p.retryable(res(503), 7, 20_000, gone)).toBe(true);
    expect(p.retryable(neterr('reset'), 7, 20_000, gone)).toBe(true);
    expect(p.retryable(res(503), 12, 30_000, [...gone, res(500), res(500), res(500), res(500), res(500)])).toBe(false);
  });
  it('never retries a refused connection, an unreachable address or an unknown host (no endpoint here)', () => {
    for (const kind of ['refused', 'unreachable', 'dns']) expect(p.retryable(neterr(kind), 1, 0, [])).toBe(false);
  });
  it('retries a connect timeout once, at once, while the fast-fail budget allows', () => {
    expect(p.retryable(neterr('connectTimeout'), 1, 1000, [])).toBe(true);
    expect(p.retryDelayMs?.(neterr('connectTimeout'))).toBe(0);
    expect(p.connectTimeoutFor?.(1, 0, [])).toBe(1000);
    expect(p.connectTimeoutFor?.(2, 1000, [neterr('connectTimeout')])).toBe(600);
    // A second timeout, or one that comes too late for a useful second try, ends the call.
    expect(p.retryable(neterr('connectTimeout'), 2, 1600, [neterr('connectTimeout')])).toBe(false);
    expect(p.retryable(neterr('connectTimeout'), 2, 5000, [neterr('dns')])).toBe(false);
  });
  it('after the endpoint has answered, retries a lost or refused connection like a reset (a live IMDS being updated)', () => {
    const updating = Array.from({ length: 8 }, () => res(410));
    for (const kind of ['connectTimeout', 'refused']) {
      expect(p.retryable(neterr(kind), 9, 30_000, updating)).toBe(true);
      expect(p.retryable(neterr(kind), 3, 5000, [res(503), res(503)])).toBe(true);
      expect(p.retryable(neterr(kind), 7, 9000, [res(500), res(500), res(500), res(500), res(500)])).toBe(false);
    }
    // Never for an address that does not exist.
    expect(p.retryable(neterr('dns'), 9, 30_000, updating)).toBe(false);
  });
  it('keeps the usual connect timeout after an answer', () => expect(p.connectTimeoutFor?.(2, 1200, [res(503)])).toBe(1000));
});

describe("the local agents' retry policy (App Service, Arc, Cloud Shell: MSAL's default)", () => {
  const p = agentRetryPolicy();
  const res = (status: number) => ({ response: { status, headers: {}, body: '' } });
  const neterr = (kind: string) => ({ error: Object.assign(new Error(kind), { kind, url: 'x', name: 'NetworkError' }) }) as never;
  it.each([404, 408, 429, 500, 503, 504])('retries HTTP %i three times', (s) => {
    expect(p.retryable(res(s), 1, 0, [])).toBe(true);
    expect(p.retryable(res(s), 3, 0, [res(s), res(s)])).toBe(true);
    expect(p.retryable(res(s), 4, 0, [res(s), res(s), res(s)])).toBe(false);
  });
  it.each([400, 401, 410, 501, 502, 505])('never retries HTTP %i', (s) => expect(p.retryable(res(s), 1, 0, [])).toBe(false));
  it('retries a reset, never a refused connection or a connect timeout (the agent is on this machine or nowhere)', () => {
    expect(p.retryable(neterr('reset'), 1, 0, [])).toBe(true);
    for (const kind of ['refused', 'connectTimeout', 'dns']) expect(p.retryable(neterr(kind), 1, 0, [])).toBe(false);
  });
  it('waits 1 s between tries', () => {
    expect(p.minDelayMs).toBe(1000);
    expect(p.maxDelayMs).toBe(1000);
  });
  it('is the policy of every source but IMDS and the legacy extension', () => {
    expect(retryPolicyFor(selectSource(undefined, { IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi/token', IDENTITY_HEADER: 'h' })).maxDelayMs).toBe(1000);
    expect(retryPolicyFor(selectSource(undefined, { MSI_ENDPOINT: 'http://127.0.0.1:1/token' })).maxDelayMs).toBe(1000);
    expect(retryPolicyFor(selectSource(undefined, {})).maxDelayMs).toBe(10_000);
    expect(retryPolicyFor(selectSource('http://localhost:50342/oauth2/token', {})).maxDelayMs).toBe(10_000);
  });
});
