import { mkdtempSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MsiError } from '../../src/errors.js';
import { answerArcChallenge, arcKeyFolder } from '../../src/identity/arc.js';
import { checkSelector, selectSource } from '../../src/identity/sources.js';

const spec = (identity = {}) => ({ resource: 'https://management.azure.com/', identity });
const q = (url: string) => new URL(url).searchParams;

describe('source detection, in MSAL order', () => {
  const appService = { IDENTITY_ENDPOINT: 'http://127.0.0.1:41741/msi/token', IDENTITY_HEADER: 'secret-header' };
  const arc = { IDENTITY_ENDPOINT: 'http://localhost:40342/metadata/identity/oauth2/token', IMDS_ENDPOINT: 'http://localhost:40342' };
  it.each([
    [{}, 'IMDS'],
    [appService, 'AppService'],
    [{ ...appService, IMDS_ENDPOINT: 'http://x' }, 'AppService'],
    [arc, 'AzureArc'],
    [{ MSI_ENDPOINT: 'http://localhost:50342/oauth2/token' }, 'CloudShell'],
    [{ ...arc, MSI_ENDPOINT: 'http://localhost:50342/oauth2/token' }, 'AzureArc'],
    [{ IDENTITY_ENDPOINT: 'http://x/' }, 'IMDS'],
  ])('%o -> %s', (env, name) => expect(selectSource(undefined, env).name).toBe(name));

  it('lets -Endpoint override the environment', () => {
    expect(selectSource('http://127.0.0.1:1/metadata/identity/oauth2/token', appService).name).toBe('IMDS');
  });
});

describe('request builders per source', () => {
  it('IMDS sends client_id, object_id and msi_res_id', () => {
    const src = selectSource(undefined, {});
    expect(q(src.build(spec({ clientId: 'c' })).url).get('client_id')).toBe('c');
    expect(q(src.build(spec({ objectId: 'o' })).url).get('object_id')).toBe('o');
    expect(q(src.build(spec({ identityResourceId: '/r' })).url).get('msi_res_id')).toBe('/r');
    expect([...q(src.build(spec()).url).keys()].sort()).toEqual(['api-version', 'resource']);
  });

  it('App Service sends api-version 2019-08-01, X-IDENTITY-HEADER and mi_res_id', () => {
    const src = selectSource(undefined, { IDENTITY_ENDPOINT: 'http://127.0.0.1:41741/msi/token', IDENTITY_HEADER: 'h' });
    const req = src.build(spec({ identityResourceId: '/r' }));
    expect(req.method).toBe('GET');
    expect(req.headers).toEqual({ 'X-IDENTITY-HEADER': 'h' });
    expect(q(req.url).get('api-version')).toBe('2019-08-01');
    expect(q(req.url).get('mi_res_id')).toBe('/r');
    expect(q(src.build(spec({ objectId: 'o' })).url).get('principal_id')).toBe('o');
    expect(q(src.build(spec({ clientId: 'c' })).url).get('client_id')).toBe('c');
  });

  it('Azure Arc sends api-version 2019-11-01 and Metadata, on 127.0.0.1', () => {
    const src = selectSource(undefined, { IDENTITY_ENDPOINT: 'http://localhost:40342/metadata/identity/oauth2/token', IMDS_ENDPOINT: 'http://localhost:40342' });
    const req = src.build(spec());
    expect(new URL(req.url).host).toBe('127.0.0.1:40342');
    expect(q(req.url).get('api-version')).toBe('2019-11-01');
    expect(req.headers.Metadata).toBe('true');
  });

  it('Cloud Shell POSTs a form body', () => {
    const src = selectSource(undefined, { MSI_ENDPOINT: 'http://localhost:50342/oauth2/token' });
    const req = src.build(spec());
    expect(req.method).toBe('POST');
    expect(req.headers['Content-Type']).toBe('application/x-www-form-urlencoded');
    expect(req.body).toBe('resource=https%3A%2F%2Fmanagement.azure.com%2F');
  });

  it.each([
    [{ MSI_ENDPOINT: 'http://localhost:50342/oauth2/token' }],
    [{ IDENTITY_ENDPOINT: 'http://localhost:40342/metadata/identity/oauth2/token', IMDS_ENDPOINT: 'http://localhost:40342' }],
  ])('refuses user-assigned selectors where the source has none (%o)', (env) => {
    try {
      selectSource(undefined, env).build(spec({ clientId: 'c' }));
      expect.unreachable();
    } catch (err) {
      expect((err as MsiError).code).toBe('UserAssignedNotSupported');
      expect((err as MsiError).parameter).toBe('ClientId');
    }
  });

  it('refuses two selectors at once', () => {
    expect(() => checkSelector({ clientId: 'a', objectId: 'b' })).toThrow(/only one of/);
  });
});

describe('the Azure Arc challenge', () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'arc-'));
  const env = { MSISTORAGE_ARC_KEY_DIR: folder };
  const challenge = (realm: string) => ({ status: 401, headers: { 'www-authenticate': `Basic realm=${realm}` }, body: '' });
  const file = (name: string, content: string) => {
    const f = path.join(folder, name);
    writeFileSync(f, content);
    return f;
  };
  const refusal = async (res: { status: number; headers: Record<string, string>; body: string }) => {
    try {
      await answerArcChallenge(res, env, 'linux');
    } catch (err) {
      return (err as MsiError).code;
    }
    return 'accepted';
  };

  it('uses the documented folders', () => {
    expect(arcKeyFolder({}, 'linux')).toBe('/var/opt/azcmagent/tokens');
    expect(arcKeyFolder({ ProgramData: 'C:\\ProgramData' }, 'win32')).toBe('C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens');
    expect(arcKeyFolder({}, 'darwin')).toBeUndefined();
  });

  it('answers with the key file contents', async () => {
    expect(await answerArcChallenge(challenge(file('good.key', 'abc123')), env, 'linux')).toBe('Basic abc123');
  });

  it('accepts a key of exactly 4096 bytes', async () => {
    expect(await refusal(challenge(file('max.key', 'k'.repeat(4096))))).toBe('accepted');
  });

  it.each([
    ['no header', { status: 401, headers: {}, body: '' }, 'ArcChallengeMissing'],
    ['another scheme', { status: 401, headers: { 'www-authenticate': 'Bearer realm=x' }, body: '' }, 'ArcChallengeUnsupported'],
    ['a relative path', challenge('good.key'), 'ArcKeyPathInvalid'],
    ['a file outside the folder', challenge('/etc/passwd'), 'ArcKeyPathInvalid'],
    ['a climb out of the folder', challenge(`${folder}/../outside.key`), 'ArcKeyPathInvalid'],
    ['a name not ending in .key', challenge(file('token.txt', 'x')), 'ArcKeyPathInvalid'],
    ['a file over 4096 bytes', challenge(file('big.key', 'k'.repeat(4097))), 'ArcKeyTooLarge'],
    ['a missing file', challenge(path.join(folder, 'missing.key')), 'ArcKeyUnreadable'],
  ])('refuses %s', async (_what, res, code) => {
    expect(await refusal(res)).toBe(code);
  });

  it('refuses a symbolic link, even to a file in the folder', async () => {
    const link = path.join(folder, 'link.key');
    symlinkSync(file('target.key', 'x'), link);
    expect(await refusal(challenge(link))).toBe('ArcKeyPathInvalid');
  });

  it('refuses on platforms Arc does not support', async () => {
    await expect(answerArcChallenge(challenge(file('p.key', 'x')), {}, 'darwin')).rejects.toThrow(/Linux and Windows/);
  });
});

describe('selector validation', () => {
  it.each([
    [{ clientId: 'nope' }, 'ClientId'],
    [{ objectId: '1234' }, 'ObjectId'],
    [{ identityResourceId: '/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/vm' }, 'IdentityResourceId'],
  ])('%o names -%s', (identity, parameter) => {
    try {
      checkSelector(identity);
      expect.unreachable();
    } catch (err) {
      expect((err as MsiError).parameter).toBe(parameter);
    }
  });
  it('accepts well-formed selectors', () => {
    checkSelector({ clientId: '5e29463d-71da-4fe0-8e69-999b57db23b0' });
    checkSelector({ identityResourceId: '/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u' });
  });
});
