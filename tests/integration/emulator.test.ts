// The emulator against Microsoft's documented wire formats (the same fixtures the parsers are tested on).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, fixture, startStack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const tokenUrl = (resource = 'https://management.azure.com/') =>
  `${stack.imdsHost}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`;

function keysOf(o: object): string[] {
  return Object.keys(o).filter((k) => !k.startsWith('_')).sort();
}

describe('emulated IMDS', () => {
  it('answers with every documented field, all strings', async () => {
    const res = await fetch(tokenUrl(), { headers: { Metadata: 'true' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    for (const k of keysOf(fixture('wire/imds-token-200.json').body).filter((k) => k !== 'refresh_token')) {
      expect(typeof body[k], k).toBe('string');
    }
    expect(Number(body.expires_on) - Number(body.not_before)).toBe(Number(body.expires_in));
  });

  it('refuses a request without Metadata: true with 400 bad_request_102', async () => {
    const res = await fetch(tokenUrl());
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(fixture('wire/imds-missing-metadata-400.json').body);
  });

  it('serves instance metadata by path, a leaf as text, and /metadata/versions, with its own plain errors', async () => {
    const leaf = await fetch(`${stack.imdsHost}/metadata/instance/compute/subscriptionId?api-version=2021-02-01&format=text`, { headers: { Metadata: 'true' } });
    expect(leaf.status).toBe(200);
    expect(await leaf.text()).toBe(stack.subscriptionId);
    const compute = (await (await fetch(`${stack.imdsHost}/metadata/instance/compute?api-version=2021-02-01`, { headers: { Metadata: 'true' } })).json()) as Record<string, string>;
    expect(compute.resourceGroupName).toBe(stack.resourceGroupName);
    expect(compute.vmId).not.toBe(stack.tenantId);
    const versions = (await (await fetch(`${stack.imdsHost}/metadata/versions`, { headers: { Metadata: 'true' } })).json()) as { apiVersions: string[] };
    expect(versions.apiVersions).toContain('2021-02-01');
    const noVersion = await fetch(`${stack.imdsHost}/metadata/instance`, { headers: { Metadata: 'true' } });
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as { error: string }).error).toMatch(/^Bad request\. api-version was not specified/);
    const missing = await fetch(`${stack.imdsHost}/metadata/instance/compute/nope?api-version=2021-02-01`, { headers: { Metadata: 'true' } });
    expect(missing.status).toBe(404);
  });

  it("keeps IMDS's query rules: format=text for a leaf (json refused), text lists a node's children, known api-versions, no parameter twice", async () => {
    const get = (query: string, p = '/metadata/instance/compute/subscriptionId') => fetch(`${stack.imdsHost}${p}?${query}`, { headers: { Metadata: 'true' } });
    const leafJson = await get('api-version=2021-02-01');
    expect(leafJson.status).toBe(400);
    expect(((await leafJson.json()) as { error: string }).error).toMatch(/^Bad request\. A leaf node must be queried with format=text/);
    const listing = await get('api-version=2017-08-01&format=text', '/metadata/instance');
    expect(listing.status).toBe(200);
    expect((await listing.text()).split('\n')).toEqual(['compute/', 'network/']);
    const bogus = await get('api-version=bogus&format=text');
    expect(bogus.status).toBe(400);
    expect(((await bogus.json()) as { 'newest-versions': string[] })['newest-versions']).toContain('2021-12-13');
    const twice = await get('api-version=2021-02-01&format=text&format=text');
    expect(twice.status).toBe(400);
    const versions = (await (await get('', '/metadata/versions')).json()) as { apiVersions: string[] };
    expect(versions.apiVersions).toEqual(expect.arrayContaining(['2017-03-01', '2017-10-01', '2021-08-01']));
  });

  it("takes Microsoft's Arc PowerShell sample as it is: api-version 2020-06-01, 'Metadata: True' (the key-file challenge comes)", async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'arc-'));
    await fetch(`${stack.imdsHost}/__emulator/arc`, { method: 'POST', body: JSON.stringify({ keyDir }) });
    const res = await fetch(`${stack.imdsHost}/arc/metadata/identity/oauth2/token?api-version=2020-06-01&resource=${encodeURIComponent('https://management.azure.com/')}`, { headers: { Metadata: 'True' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=.+\.key$/);
    const old = await fetch(`${stack.imdsHost}/arc/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x`, { headers: { Metadata: 'true' } });
    expect(old.status).toBe(400);
  });

  it('serves the legacy VM extension path', async () => {
    const res = await fetch(`${stack.imdsHost}/oauth2/token?resource=https://management.azure.com/`, { headers: { Metadata: 'true' } });
    expect(res.status).toBe(200);
  });
});

describe('emulated ARM', () => {
  const listKeys = (sub = stack.subscriptionId, rg = stack.resourceGroupName, acct = stack.storageAccountName) =>
    `${stack.armEndpoint}subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${acct}/listKeys?api-version=2023-05-01`;
  const token = async (resource?: string) => ((await (await fetch(tokenUrl(resource), { headers: { Metadata: 'true' } })).json()) as { access_token: string }).access_token;

  it('answers 401 AuthenticationFailed with a Bearer challenge without a token', async () => {
    const res = await fetch(listKeys(), { method: 'POST' });
    expect(res.status).toBe(401);
    const f = fixture('wire/arm-authentication-failed-401.json');
    expect(await res.json()).toEqual(f.body);
    expect(res.headers.get('www-authenticate')).toBe(f.headers['www-authenticate']);
  });

  it('answers 401 InvalidAuthenticationTokenAudience for a storage token', async () => {
    const res = await fetch(listKeys(), { method: 'POST', headers: { Authorization: `Bearer ${await token('https://storage.azure.com/')}` } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('InvalidAuthenticationTokenAudience');
    expect(body.error.message).toContain("'https://storage.azure.com/'");
  });

  it('lists keys in the documented shape', async () => {
    const res = await fetch(listKeys(), { method: 'POST', headers: { Authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { keys: Record<string, string>[] };
    const expected = fixture('wire/arm-listkeys-200.json').body.keys[0];
    expect(body.keys.map((k) => k.keyName)).toEqual(['key1', 'key2']);
    expect(keysOf(body.keys[0])).toEqual(keysOf(expected));
    expect(Buffer.from(body.keys[0].value, 'base64')).toHaveLength(64);
  });

  it.each([
    ['subscription', () => listKeys('00000000-0000-0000-0000-000000000000'), 'arm-subscription-not-found-404'],
    ['resource group', () => listKeys(undefined, 'nope'), 'arm-resource-group-not-found-404'],
    ['account', () => listKeys(undefined, undefined, 'nosuchacct'), 'arm-resource-not-found-404'],
  ])('answers 404 for an unknown %s like ARM does', async (_what, url, name) => {
    const res = await fetch(url(), { method: 'POST', headers: { Authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    const f = fixture(`wire/${name}.json`).body.error;
    expect(body.error.code).toBe(f.code);
    // Same sentence, different names.
    const pattern = f.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'[^']*'/g, "'[^']*'");
    expect(body.error.message).toMatch(new RegExp(`^${pattern}$`));
  });

  const accountPath = (action: string, apiVersion = '2023-05-01') =>
    `${stack.armEndpoint}subscriptions/${stack.subscriptionId}/resourceGroups/${stack.resourceGroupName}/providers/Microsoft.Storage/storageAccounts/${stack.storageAccountName}/${action}?api-version=${apiVersion}`;
  const post = async (url: string, body?: unknown) => {
    const res = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${await token()}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; serviceSasToken?: string; accountSasToken?: string } };
  };
  const expiry = () => new Date(Date.now() + 3_600_000).toISOString();

  it.each([
    ['a permission letter outside ARM\'s enum', { signedPermission: 'rx', signedResource: 'c' }, 'signedPermission'],
    ['list on a blob', { signedPermission: 'rl', signedResource: 'b' }, 'signedPermission'],
    ['an unknown signedResource', { signedPermission: 'r', signedResource: 'z' }, 'signedResource'],
    ['an unknown signedProtocol', { signedPermission: 'r', signedResource: 'c', signedProtocol: 'http' }, 'signedProtocol'],
  ])('answers listServiceSas with %s by 400 InvalidValuesForRequestParameters, never a 500', async (_what, fields, param) => {
    const { status, body } = await post(accountPath('listServiceSas'), {
      canonicalizedResource: `/blob/${stack.storageAccountName}/c/b`,
      signedExpiry: expiry(),
      ...fields,
    });
    expect(status).toBe(400);
    expect(body.error?.code).toBe('InvalidValuesForRequestParameters');
    expect(body.error?.message).toContain(param);
  });

  it('signs a blob SAS for read and an account SAS with u and p', async () => {
    const blob = await post(accountPath('listServiceSas'), { canonicalizedResource: `/blob/${stack.storageAccountName}/c/b`, signedResource: 'b', signedPermission: 'r', signedExpiry: expiry() });
    expect(blob.status).toBe(200);
    expect(new URLSearchParams(blob.body.serviceSasToken).get('sp')).toBe('r');
    const account = await post(accountPath('listAccountSas'), { signedServices: 'b', signedResourceTypes: 'sco', signedPermission: 'rwdlacup', signedExpiry: expiry() });
    expect(account.status).toBe(200);
    expect(new URLSearchParams(account.body.accountSasToken).get('srt')).toBe('sco');
    // As Azure: spr only when signedProtocol was asked for.
    expect(new URLSearchParams(blob.body.serviceSasToken).has('spr')).toBe(false);
    const https = await post(accountPath('listServiceSas'), { canonicalizedResource: `/blob/${stack.storageAccountName}/c`, signedResource: 'c', signedPermission: 'r', signedExpiry: expiry(), signedProtocol: 'https' });
    expect(new URLSearchParams(https.body.serviceSasToken).get('spr')).toBe('https');
  });

  it('says a file-service SAS is not emulated (Azure signs it), rather than calling the request invalid', async () => {
    const { status, body } = await post(accountPath('listServiceSas'), { canonicalizedResource: `/file/${stack.storageAccountName}/share`, signedResource: 's', signedPermission: 'r', signedExpiry: expiry() });
    expect(status).toBe(501);
    expect(body.error?.code).toBe('NotImplemented');
    expect(body.error?.message).toMatch(/not emulated/);
  });

  it('answers an api-version Microsoft.Storage does not have with 400 NoRegisteredProviderFound', async () => {
    const { status, body } = await post(accountPath('listKeys', '2099-01-01'));
    expect(status).toBe(400);
    expect(body.error?.code).toBe('NoRegisteredProviderFound');
    expect(body.error?.message).toMatch(/API version '2099-01-01' for type 'storageAccounts'\. The supported api-versions are '.*2023-05-01/);
  });

  it('takes the api-versions the tutorials use (listKeys 2016-12-01, listServiceSas 2017-06-01), and a malformed one is InvalidApiVersionParameter', async () => {
    const keys = await post(accountPath('listKeys', '2016-12-01'));
    expect(keys.status).toBe(200);
    const sas = await post(accountPath('listServiceSas', '2017-06-01'), { canonicalizedResource: `/blob/${stack.storageAccountName}/c`, signedResource: 'c', signedPermission: 'rl', signedExpiry: expiry() });
    expect(sas.status).toBe(200);
    const malformed = await post(accountPath('listKeys', 'latest'));
    expect(malformed.status).toBe(400);
    expect(malformed.body.error?.code).toBe('InvalidApiVersionParameter');
  });

  it('carries signedIp, a stored access policy and response headers into the service SAS', async () => {
    const { status, body } = await post(accountPath('listServiceSas'), {
      canonicalizedResource: `/blob/${stack.storageAccountName}/c/b`,
      signedResource: 'b',
      signedIdentifier: 'readers',
      signedIp: '127.0.0.1',
      rscd: 'attachment',
    });
    expect(status).toBe(200);
    const q = new URLSearchParams(body.serviceSasToken);
    expect(q.get('sip')).toBe('127.0.0.1');
    expect(q.get('si')).toBe('readers');
    expect(q.get('rscd')).toBe('attachment');
    // Without a policy, the expiry and the permissions are required.
    expect((await post(accountPath('listServiceSas'), { canonicalizedResource: `/blob/${stack.storageAccountName}/c/b`, signedResource: 'b' })).status).toBe(400);
    expect((await post(accountPath('listServiceSas'), { canonicalizedResource: `/blob/${stack.storageAccountName}/c/b`, signedResource: 'b', signedPermission: 'r', signedExpiry: expiry(), signedIp: 'x' })).body.error?.message).toContain('signedIp');
  });

  it('the stack does not repeat a line it takes for no command: it may hold a key pasted there', async () => {
    const reply = await stack.command('{"accounts":[{"name":"x","keys":["c2VjcmV0LWtleS1ub3QtZWNob2Vk"]}]}');
    expect(reply.ok).toBe(false);
    expect(JSON.stringify(reply)).not.toContain('c2VjcmV0');
    expect(reply.error).toContain('stop-azurite');
  });

  it('lists the accounts of a resource group, and names a resource group it does not have', async () => {
    const get = async (rg: string) => {
      const r = await fetch(`${stack.armEndpoint}subscriptions/${stack.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts?api-version=2023-05-01`, { headers: { Authorization: `Bearer ${await token()}` } });
      return { status: r.status, body: (await r.json()) as { value?: { name: string; id: string }[]; error?: { code: string; message: string } } };
    };
    const data = await get(stack.dataResourceGroupName.toUpperCase());
    expect(data.status).toBe(200);
    expect(data.body.value?.map((a) => a.name)).toEqual([stack.dataStorageAccountName]);
    expect(data.body.value?.[0].id).toContain(`/resourceGroups/${stack.dataResourceGroupName}/`);
    const main = await get(stack.resourceGroupName);
    expect(main.body.value?.map((a) => a.name)).toContain(stack.storageAccountName);
    expect(main.body.value?.map((a) => a.name)).not.toContain(stack.dataStorageAccountName);
    const missing = await get('no-such-rg');
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe('ResourceGroupNotFound');
    expect(missing.body.error?.message).toContain("'no-such-rg'");
  });

  it('lists the subscription, as the Invoke-RestMethod example in the help does', async () => {
    const get = async (path: string, apiVersion = '2022-12-01', auth = true) => {
      const r = await fetch(`${stack.armEndpoint}${path}?api-version=${apiVersion}`, { headers: auth ? { Authorization: `Bearer ${await token()}` } : {} });
      return { status: r.status, body: (await r.json()) as { value?: { subscriptionId: string; tenantId: string; state: string }[]; subscriptionId?: string; error?: { code: string } } };
    };
    const list = await get('subscriptions');
    expect(list.status).toBe(200);
    expect(list.body.value).toEqual([expect.objectContaining({ subscriptionId: stack.subscriptionId, tenantId: stack.tenantId, state: 'Enabled' })]);
    expect((await get(`subscriptions/${stack.subscriptionId}`)).body.subscriptionId).toBe(stack.subscriptionId);
    expect((await get('subscriptions/00000000-0000-0000-0000-000000000000')).body.error?.code).toBe('SubscriptionNotFound');
    expect((await get('subscriptions', '2023-05-01')).body.error?.code).toBe('InvalidApiVersionParameter');
    expect((await get('subscriptions', '2022-12-01', false)).status).toBe(401);
  });

  it('answers a malformed percent-escape in the path with 400, not 500', async () => {
    const url = `${stack.armEndpoint}subscriptions/${stack.subscriptionId}/resourceGroups/%E0%A4%A/providers/Microsoft.Storage/storageAccounts/x/listKeys?api-version=2023-05-01`;
    const { status, body } = await post(url);
    expect(status).toBe(400);
    expect(body.error?.code).toBe('InvalidRequestUri');
  });

  it('takes the tokens of the emulated VM\'s cloud only', async () => {
    const usgov = 'https://management.usgovcloudapi.net/';
    const govToken = await token(usgov);
    const call = async (t: string) => (await fetch(listKeys(), { method: 'POST', headers: { Authorization: `Bearer ${t}` } })).status;
    expect(await call(govToken)).toBe(401);
    await fetch(`${stack.imdsHost}/__emulator/metadata`, { method: 'POST', body: JSON.stringify({ azEnvironment: 'AzureUSGovernmentCloud' }) });
    try {
      expect(await call(govToken)).toBe(200);
      expect(await call(await token())).toBe(401);
    } finally {
      await fetch(`${stack.imdsHost}/__emulator/metadata`, { method: 'POST', body: JSON.stringify({ azEnvironment: 'AzurePublicCloud' }) });
    }
  });

  it('with roles on the accounts alone, authorizes before it looks: 403 where a 404 would be', async () => {
    await fetch(`${stack.imdsHost}/__emulator/role-scope`, { method: 'POST', body: JSON.stringify({ scope: 'accounts' }) });
    try {
      const missing = await post(listKeys(undefined, 'nope'));
      expect(missing.status).toBe(403);
      expect(missing.body.error?.code).toBe('AuthorizationFailed');
      expect(missing.body.error?.message).toContain('or the scope is invalid');
      expect((await post(listKeys())).status).toBe(200);
      const list = await fetch(`${stack.armEndpoint}subscriptions/${stack.subscriptionId}/providers/Microsoft.Storage/storageAccounts?api-version=2023-05-01`, { headers: { Authorization: `Bearer ${await token()}` } });
      expect(list.status).toBe(403);
    } finally {
      await fetch(`${stack.imdsHost}/__emulator/role-scope`, { method: 'POST', body: JSON.stringify({ scope: 'subscription' }) });
    }
  });
});
