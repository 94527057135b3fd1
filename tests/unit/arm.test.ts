import { describe, expect, it } from 'vitest';
import { armError, armRetryPolicy, roleFor, buildListKeysRequest, parseListKeysResponse, validateResourceGroupName, validateStorageAccountName, validateSubscriptionId } from '../../src/arm/arm.js';
import { MsiError } from '../../src/errors.js';
import { fixture } from '../helpers/stack.js';

const wire = (name: string) => {
  const f = fixture<{ status: number; body: unknown; headers?: Record<string, string> }>(`wire/${name}.json`);
  return { status: f.status, headers: f.headers ?? {}, body: JSON.stringify(f.body) };
};
const ref = { subscriptionId: '47000f32-1714-4b72-b022-aa1b21cfa03f', resourceGroupName: 'rg', storageAccountName: 'acct' };

describe('listKeys request', () => {
  it('is the documented POST with a bearer token and a stable api-version', () => {
    const req = buildListKeysRequest(undefined, ref, 'TOKEN');
    expect(req.method).toBe('POST');
    expect(req.url).toBe(
      'https://management.azure.com/subscriptions/47000f32-1714-4b72-b022-aa1b21cfa03f/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/listKeys?api-version=2023-05-01',
    );
    expect(req.headers.Authorization).toBe('Bearer TOKEN');
  });

  it('honours -ArmEndpoint with or without a trailing slash, and a path prefix', () => {
    expect(buildListKeysRequest('http://127.0.0.1:5000', ref, 't').url.startsWith('http://127.0.0.1:5000/subscriptions/')).toBe(true);
    expect(buildListKeysRequest('http://127.0.0.1:5000/arm/', ref, 't').url.startsWith('http://127.0.0.1:5000/arm/subscriptions/')).toBe(true);
  });

  it('encodes resource group names with special characters', () => {
    // Parentheses and dots stay as they are; a Unicode letter (allowed in resource group names) is encoded.
    expect(buildListKeysRequest(undefined, { ...ref, resourceGroupName: 'my(rg).1' }, 't').url).toContain('/resourceGroups/my(rg).1/');
    expect(buildListKeysRequest(undefined, { ...ref, resourceGroupName: 'rg-\u00fc' }, 't').url).toContain('/resourceGroups/rg-%C3%BC/');
  });
});

describe('listKeys response', () => {
  it('parses both keys from the documented body', () => {
    const keys = parseListKeysResponse(wire('arm-listkeys-200'));
    expect(keys.map((k) => k.keyName)).toEqual(['key1', 'key2']);
    expect(keys[0].permissions).toBe('FULL');
    expect(keys[0].creationTime).toBe('2021-03-18T04:42:22.4322836Z');
  });
  it('refuses a body without keys', () => {
    expect(() => parseListKeysResponse({ status: 200, headers: {}, body: '{}' })).toThrow(MsiError);
    expect(() => parseListKeysResponse({ status: 200, headers: {}, body: '{}' })).not.toThrow(/proxy/);
  });
  it('says that an HTML page came from something else, often a proxy', () => {
    const page = { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>Sign in to the network</body></html>' };
    expect(() => parseListKeysResponse(page)).toThrow(/no keys array\. It sent an HTML page: something other than Azure Resource Manager answered, often a proxy; check HTTPS_PROXY and NO_PROXY/);
  });
});

describe('ARM error mapping', () => {
  it.each([
    ['arm-resource-group-not-found-404', 'ResourceGroupNotFound', 'ObjectNotFound', 'ResourceGroupName'],
    ['arm-subscription-not-found-404', 'SubscriptionNotFound', 'ObjectNotFound', 'SubscriptionId'],
    ['arm-resource-not-found-404', 'StorageAccountNotFound', 'ObjectNotFound', 'StorageAccountName'],
    ['arm-authentication-failed-401', 'ArmAuthenticationFailed', 'AuthenticationError', 'Token'],
    ['arm-wrong-audience-401', 'InvalidTokenAudience', 'AuthenticationError', 'Token'],
    ['arm-authorization-failed-403', 'AuthorizationFailed', 'PermissionDenied', undefined],
    ['arm-wrong-tenant-401', 'SubscriptionInAnotherTenant', 'AuthenticationError', 'SubscriptionId'],
  ])('%s becomes %s', (name, code, category, parameter) => {
    const e = armError(wire(name), ref, 'Microsoft.Storage/storageAccounts/listKeys/action');
    expect(e.code).toBe(code);
    expect(e.category).toBe(category);
    expect(e.parameter).toBe(parameter);
    expect(e.azure?.code).toBe(fixture<{ body: { error: { code: string } } }>(`wire/${name}.json`).body.error.code);
  });

  it('names the resource group that was not found', () => {
    expect(armError(wire('arm-resource-group-not-found-404'), ref, 'x').message).toContain("'rg'");
  });

  it.each([
    ['Microsoft.Storage/storageAccounts/listKeys/action', 'Storage Account Key Operator Service Role'],
    ['Microsoft.Storage/storageAccounts/read', 'Reader'],
    ['Microsoft.Storage/storageAccounts/listServiceSas/action', 'Storage Account Contributor'],
    ['Microsoft.Storage/storageAccounts/listAccountSas/action', 'Storage Account Contributor'],
  ])('on 403 for %s, names the role %s and builds the assignment from it', (action, role) => {
    expect(roleFor(action)).toBe(role);
    const message = armError(wire('arm-authorization-failed-403'), ref, action).message;
    expect(message).toContain(`-RoleDefinitionName '${role}'`);
    expect(message).toContain(`"${role}" (or any role with ${action})`);
  });

  it('on a wrong audience, says which resource this ARM wants, and mentions -Token only for a -Token', () => {
    const gov = 'https://management.usgovcloudapi.net/';
    const own = armError(wire('arm-wrong-audience-401'), ref, 'x', { from: 'identity', armResource: gov }).message;
    expect(own).toContain(`wants tokens for ${gov}`);
    expect(own).not.toContain('-Token');
    expect(own).toContain('-Environment');
    const given = armError(wire('arm-wrong-audience-401'), ref, 'x', { from: 'Token', armResource: gov }).message;
    expect(given).toContain(`Get-MsiToken -Resource ${gov}`);
  });

  it("a token from another tenant: names both tenants, and does not advise a new token (a managed identity has one tenant)", () => {
    const e = armError(wire('arm-wrong-tenant-401'), ref, 'x');
    expect(e.message).toContain("the token's tenant is 72f988bf-86f1-41af-91ab-2d7cd011db47; the subscription's is 2f4a9838-26b7-47ee-be60-ccc1fdec5953");
    expect(e.message).toContain('a new token does not help');
    expect(e.message).toContain(ref.subscriptionId);
  });

  it('says how retries of a 429 or 5xx ended: a Retry-After beyond the deadline, the deadline, or every try', () => {
    const throttled = { status: 429, headers: {}, body: '{"error":{"code":"TooManyRequests","message":"slow down"}}' };
    expect(armError(throttled, ref, 'x', undefined, { attempts: 1, timedOut: true, waitAskedMs: 300_000 }).message).toContain(
      'is throttling requests (HTTP 429) and asked to wait 300 s, longer than -TimeoutSec allows.',
    );
    expect(armError({ ...throttled, status: 503 }, ref, 'x', undefined, { attempts: 4, timedOut: true }).message).toContain('answered HTTP 503 until -TimeoutSec ran out (4 tries).');
    expect(armError({ ...throttled, status: 503 }, ref, 'x', undefined, { attempts: 5, timedOut: false }).message).toContain('answered HTTP 503 on every try (5).');
  });

  it('retries 429 and 5xx but not 4xx', () => {
    const p = armRetryPolicy();
    const r = (status: number) => ({ response: { status, headers: {}, body: '' } });
    expect(p.retryable(r(429), 1, 0)).toBe(true);
    expect(p.retryable(r(503), 1, 0)).toBe(true);
    expect(p.retryable(r(404), 1, 0)).toBe(false);
    expect(p.retryable(r(409), 1, 0)).toBe(false);
  });
});

describe('identifier validation', () => {
  it.each(['not-a-guid', '47000f32-1714-4b72-b022-aa1b21cfa03', ''])('rejects subscription id %j', (s) => {
    expect(() => validateSubscriptionId(s)).toThrow(/-SubscriptionId/);
  });
  it.each(['rg-café', 'ÄÖÜ', '日本語', 'rg_(1).x', 'a'.repeat(90)])('takes resource group %j (letters and digits of any script, as Azure)', (s) => {
    expect(() => validateResourceGroupName(s)).not.toThrow();
  });
  it.each(['rg with spaces', 'ends.', 'a'.repeat(91), 'semi;colon', 'slash/'])('rejects resource group %j naming -ResourceGroupName', (s) => {
    expect(() => validateResourceGroupName(s)).toThrow(/-ResourceGroupName/);
  });
  it.each(['ab', 'a'.repeat(25), 'UpperCase', 'with-dash', 'spa ce'])('rejects account name %j', (s) => {
    expect(() => validateStorageAccountName(s)).toThrow(/-StorageAccountName/);
  });
});

describe('first sentences of messages, for -Verbose', () => {
  it("cuts at a sentence's end, not at the dot of Microsoft.Storage", async () => {
    const { firstSentence } = await import('../../src/errors.js');
    expect(firstSentence("The managed identity (object id x) may not perform 'Microsoft.Storage/storageAccounts/read' on /subscriptions/s. Grant it Reader.")).toBe(
      "The managed identity (object id x) may not perform 'Microsoft.Storage/storageAccounts/read' on /subscriptions/s",
    );
    expect(firstSentence('connect ETIMEDOUT 127.0.0.1:9')).toBe('connect ETIMEDOUT 127.0.0.1:9');
    expect(firstSentence('Done!')).toBe('Done');
  });
});
