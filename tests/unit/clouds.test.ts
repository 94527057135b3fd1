import { describe, expect, it } from 'vitest';
import { armError, parseAccountResponse, parseListAccountsResponse, parseResourceId } from '../../src/arm/arm.js';
import { armAudiences, cloudByName, cloudFromAzEnvironment } from '../../src/arm/clouds.js';
import { parseInstanceMetadata } from '../../src/arm/metadata.js';
import { normalizeSas } from '../../src/blob/client.js';
import { MsiError } from '../../src/errors.js';
import { fixture } from '../helpers/stack.js';

describe('clouds', () => {
  it.each([
    ['AzurePublicCloud', 'AzureCloud'],
    ['AZUREPUBLICCLOUD', 'AzureCloud'],
    ['AzureUSGovernmentCloud', 'AzureUSGovernment'],
    ['azureusgovernment', 'AzureUSGovernment'],
    ['AzureChinaCloud', 'AzureChinaCloud'],
    ['AzureStackCloud', 'AzureCloud'],
    [undefined, 'AzureCloud'],
  ])('azEnvironment %s is %s', (v, name) => expect(cloudFromAzEnvironment(v).name).toBe(name));

  it('gives each cloud its ARM endpoint and storage suffix', () => {
    expect(cloudByName('azurechinacloud')).toMatchObject({ armEndpoint: 'https://management.chinacloudapi.cn/', storageSuffix: 'core.chinacloudapi.cn' });
    expect(cloudByName('AzureUSGovernment')).toMatchObject({ armEndpoint: 'https://management.usgovcloudapi.net/', storageSuffix: 'core.usgovcloudapi.net' });
    expect(() => cloudByName('AzureGermanCloud')).toThrow(/-Environment/);
  });

  it('knows the ARM audiences, with and without the slash', () => {
    expect(armAudiences(cloudByName('AzureCloud'))).toEqual(expect.arrayContaining(['https://management.azure.com/', 'https://management.core.windows.net']));
  });
});

describe('instance metadata', () => {
  it('reads compute from /metadata/instance and /metadata/instance/compute', () => {
    const compute = { subscriptionId: 's', resourceGroupName: 'rg', azEnvironment: 'AzurePublicCloud' };
    expect(parseInstanceMetadata({ status: 200, headers: {}, body: JSON.stringify({ compute }) })).toMatchObject(compute);
    expect(parseInstanceMetadata({ status: 200, headers: {}, body: JSON.stringify(compute) })).toMatchObject(compute);
  });
  it('says what to pass when metadata lacks them', () => {
    expect(() => parseInstanceMetadata({ status: 200, headers: {}, body: '{}' })).toThrow(/-SubscriptionId and -ResourceGroupName/);
  });
});

describe('ARM resources', () => {
  const id = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/Data-RG/providers/Microsoft.Storage/storageAccounts/acct';
  it('parses a resource id, case-insensitively', () => {
    expect(parseResourceId(id.replace('resourceGroups', 'resourcegroups'))).toEqual({ subscriptionId: '00000000-0000-0000-0000-000000000001', resourceGroupName: 'Data-RG', storageAccountName: 'acct' });
    expect(() => parseResourceId('/subscriptions/x/resourceGroups/y')).toThrow(MsiError);
  });
  it('reads primaryEndpoints.blob and treats a missing allowSharedKeyAccess as allowed', () => {
    const a = parseAccountResponse({ status: 200, headers: {}, body: JSON.stringify({ id, name: 'acct', properties: { primaryEndpoints: { blob: 'https://acct.blob.core.windows.net/' } } }) });
    expect(a.blobEndpoint).toBe('https://acct.blob.core.windows.net/');
    expect(a.allowSharedKeyAccess).toBe(true);
    expect(a.ref.resourceGroupName).toBe('Data-RG');
  });
  it('reads a page of the subscription list with its nextLink', () => {
    const page = parseListAccountsResponse({ status: 200, headers: {}, body: JSON.stringify({ value: [{ id, name: 'acct', properties: { allowSharedKeyAccess: false } }], nextLink: 'https://management.azure.com/next' }) });
    expect(page.accounts[0].allowSharedKeyAccess).toBe(false);
    expect(page.nextLink).toBe('https://management.azure.com/next');
  });
});

describe('ARM messages', () => {
  const wire = (name: string) => {
    const f = fixture<{ status: number; body: unknown }>(`wire/${name}.json`);
    return { status: f.status, headers: {}, body: JSON.stringify(f.body) };
  };
  it('403 names the role, the object id, the scope and the delay', () => {
    const e = armError(wire('arm-authorization-failed-403'), {}, 'Microsoft.Storage/storageAccounts/listKeys/action');
    expect(e.message).toContain('0f5c5d4e-1b2a-4c3d-8e9f-a0b1c2d3e4f5');
    expect(e.message).toContain("'/subscriptions/47000f32-1714-4b72-b022-aa1b21cfa03f/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct'");
    expect(e.message).toContain('Storage Account Key Operator Service Role');
    expect(e.message).toMatch(/minutes/);
  });
  it('401 audience says which token and for which resource', () => {
    const e = armError(wire('arm-wrong-audience-401'), {}, 'x', { from: 'Token' });
    expect(e.message).toMatch(/^The token passed to -Token was issued for 'https:\/\/storage\.azure\.com\/'/);
  });
});

describe('SAS tokens', () => {
  it('drops a leading ? and requires sv and sig', () => {
    expect(normalizeSas('?sv=2023-01-03&sr=c&sig=abc')).toBe('sv=2023-01-03&sr=c&sig=abc');
    expect(() => normalizeSas('sv=2023-01-03&sr=c')).toThrow(/-SasToken/);
    expect(() => normalizeSas('')).toThrow(/-SasToken/);
  });
});
