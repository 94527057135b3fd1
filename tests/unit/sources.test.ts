import { appendFileSync, mkdtempSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MsiError } from '../../src/errors.js';
import { answerArcChallenge, arcAgentPath, arcKeyFolder } from '../../src/identity/arc.js';
import { checkSelector, selectSource } from '../../src/identity/sources.js';

const spec = (identity = {}) => ({ resource: 'https://management.azure.com/', identity });
const q = (url: string) => new URL(url).searchParams;
/** No Arc agent on this machine, whatever is installed here: its executable is looked for where none is. */
const NO_AGENT = { MSISTORAGE_ARC_HIMDS_PATH: path.join(tmpdir(), 'msistorage-no-such-dir', 'himds') };

describe("source detection, in MSAL's order", () => {
  const appService = { IDENTITY_ENDPOINT: 'http://127.0.0.1:41741/msi/token', IDENTITY_HEADER: 'secret-header' };
  const arc = { IDENTITY_ENDPOINT: 'http://localhost:40342/metadata/identity/oauth2/token', IMDS_ENDPOINT: 'http://localhost:40342' };
  const cloudShell = { MSI_ENDPOINT: 'http://localhost:50342/oauth2/token' };
  it.each([
    [{}, 'IMDS'],
    [appService, 'AppService'],
    [{ ...appService, IMDS_ENDPOINT: 'http://x' }, 'AppService'],
    [arc, 'AzureArc'],
    [cloudShell, 'CloudShell'],
    // msal-node's selectManagedIdentitySource and MSAL.NET's GetManagedIdentitySourceNoImds both try
    // Cloud Shell before Azure Arc.
    [{ ...arc, ...cloudShell }, 'CloudShell'],
    [{ IDENTITY_ENDPOINT: 'http://x/' }, 'IMDS'],
  ])('%o -> %s', (env, name) => expect(selectSource(undefined, { ...NO_AGENT, ...env }).name).toBe(name));

  it('lets -Endpoint override the environment', () => {
    expect(selectSource('http://127.0.0.1:1/metadata/identity/oauth2/token', appService).name).toBe('IMDS');
  });

  it.each([
    ['Service Fabric', { ...appService, IDENTITY_SERVER_THUMBPRINT: 'AB12' }, /Service Fabric \(IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT are set\)/],
    ['Azure Machine Learning', { ...cloudShell, MSI_SECRET: 'ml-secret' }, /Azure Machine Learning, or an App Service or Functions plan .*\(MSI_ENDPOINT and MSI_SECRET are set\)/],
  ])('refuses %s instead of taking it for App Service or Cloud Shell', (_what, env, message) => {
    try {
      selectSource(undefined, { ...NO_AGENT, ...env });
      expect.unreachable();
    } catch (err) {
      expect((err as MsiError).code).toBe('ManagedIdentitySourceNotSupported');
      expect((err as MsiError).parameter).toBe('Endpoint');
      expect((err as MsiError).message).toMatch(message);
      expect((err as MsiError).message).toMatch(/-Endpoint/);
      expect((err as MsiError).message).not.toContain('ml-secret');
    }
  });

  it('-Endpoint still works where Service Fabric is detected', () => {
    expect(selectSource('http://127.0.0.1:1/metadata/identity/oauth2/token', { ...appService, IDENTITY_SERVER_THUMBPRINT: 'AB12' }).name).toBe('IMDS');
  });

  describe("Azure Arc by its agent's executable, without the variables", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'himds-'));
    const himds = path.join(dir, 'himds');
    writeFileSync(himds, '');

    it("uses MSAL's fixed endpoint http://127.0.0.1:40342/metadata/identity/oauth2/token", () => {
      const src = selectSource(undefined, { MSISTORAGE_ARC_HIMDS_PATH: himds });
      expect(src.name).toBe('AzureArc');
      expect(src.endpoint).toBe('http://127.0.0.1:40342/metadata/identity/oauth2/token');
      expect(q(src.build(spec()).url).get('api-version')).toBe('2019-11-01');
    });

    it('prefers the variables when both are set', () => {
      const src = selectSource(undefined, { MSISTORAGE_ARC_HIMDS_PATH: himds, IDENTITY_ENDPOINT: 'http://127.0.0.1:1234/arc/token', IMDS_ENDPOINT: 'http://127.0.0.1:1234' });
      expect(src.endpoint).toBe('http://127.0.0.1:1234/arc/token');
    });

    it('comes after Cloud Shell and before IMDS', () => {
      expect(selectSource(undefined, { MSISTORAGE_ARC_HIMDS_PATH: himds, ...cloudShell }).name).toBe('CloudShell');
      expect(selectSource(undefined, { MSISTORAGE_ARC_HIMDS_PATH: path.join(dir, 'missing') }).name).toBe('IMDS');
    });

    it("looks where MSAL looks", () => {
      expect(arcAgentPath({}, 'linux')).toBe('/opt/azcmagent/bin/himds');
      expect(arcAgentPath({ ProgramFiles: 'C:\\Program Files' }, 'win32')).toBe('C:\\Program Files\\AzureConnectedMachineAgent\\himds.exe');
      expect(arcAgentPath({}, 'darwin')).toBeUndefined();
    });
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

  it('refuses a FIFO without blocking on it', async (ctx) => {
    const fifo = path.join(folder, 'fifo.key');
    const { spawnSync } = await import('node:child_process');
    // Reported as skipped, not passed, where no FIFO can be made.
    if (spawnSync('mkfifo', [fifo]).status !== 0) return ctx.skip();
    expect(await refusal(challenge(fifo))).toBe('ArcKeyPathInvalid');
  });

  // The races: the file is checked, then changed before it is read. lstat is where the old code checked, so
  // the change is made right after lstat answers.
  describe('a key file changed between the check and the read', () => {
    afterEach(() => vi.restoreAllMocks());
    const afterLstat = (change: () => void) => {
      const lstat = fsp.lstat.bind(fsp);
      vi.spyOn(fsp, 'lstat').mockImplementation((async (...args: Parameters<typeof fsp.lstat>) => {
        const stats = await lstat(...args);
        change();
        return stats;
      }) as typeof fsp.lstat);
    };

    it('refuses a key file swapped for a link to a file outside the folder', async () => {
      const outside = path.join(mkdtempSync(path.join(tmpdir(), 'outside-')), 'secret.txt');
      writeFileSync(outside, 'not-the-agent-key');
      const key = file('swap.key', 'abc');
      afterLstat(() => {
        unlinkSync(key);
        symlinkSync(outside, key);
      });
      expect(await refusal(challenge(key))).toBe('ArcKeyPathInvalid');
    });

    it('refuses a key file replaced by another file', async () => {
      const key = file('replaced.key', 'abc');
      const other = file('other.tmp', 'def');
      afterLstat(() => renameSync(other, key));
      expect(await refusal(challenge(key))).toBe('ArcKeyPathInvalid');
    });

    it('refuses a key file that grows past 4096 bytes', async () => {
      const key = file('grows.key', 'abc');
      afterLstat(() => appendFileSync(key, 'k'.repeat(10_000)));
      expect(await refusal(challenge(key))).toBe('ArcKeyTooLarge');
    });

    it('reads at most 4097 bytes, even when the file grows after the open file was checked', async () => {
      const key = file('grows-late.key', 'abc');
      const probe = await fsp.open(key);
      const proto = Object.getPrototypeOf(probe) as { stat: (...a: unknown[]) => Promise<unknown> };
      await probe.close();
      const stat = proto.stat;
      vi.spyOn(proto, 'stat').mockImplementation(async function (this: unknown, ...args: unknown[]) {
        const stats = await stat.apply(this, args);
        appendFileSync(key, 'k'.repeat(1_000_000));
        return stats;
      });
      const read = vi.spyOn(proto as unknown as { read: (...a: unknown[]) => Promise<{ bytesRead: number }> }, 'read');
      expect(await refusal(challenge(key))).toBe('ArcKeyTooLarge');
      const total = (await Promise.all(read.mock.results.map((r) => r.value as Promise<{ bytesRead: number }>))).reduce((n, r) => n + r.bytesRead, 0);
      expect(total).toBeLessThanOrEqual(4097);
    });
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
