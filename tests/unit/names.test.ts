// Blob names that a URL or a Windows folder would change, and destinations that name a missing folder.
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateBlobName, validateContainerName, windowsFileNameProblem } from '../../src/blob/client.js';
import { partialName, replaceFile, resolveDestination } from '../../src/blob/files.js';
import { destinationClashes, folderClashes } from '../../src/commands/download.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return { code: (err as { code: string }).code, parameter: (err as { parameter?: string }).parameter, message: (err as Error).message };
  }
  return undefined;
};

describe('blob names with dot segments', () => {
  it.each(['../other/b', 'a/../b', './a', 'a/./b', '../../b'])("refuses '%s': a URL would resolve it to another blob or container", (name) => {
    const e = code(() => validateBlobName(name));
    expect(e?.code).toBe('InvalidBlobName');
    expect(e?.parameter).toBe('Blob');
    expect(e?.message).toMatch(/path segment, which a URL resolves away/);
  });
  it.each(['..', 'a/..'])("refuses '%s' (it ends with a dot)", (name) => {
    expect(code(() => validateBlobName(name))?.code).toBe('InvalidBlobName');
  });
  it.each(['logs/', 'v1.', 'a/b.'])("refuses '%s' for a new blob (Azure's advice), but addresses an existing one by it", (name) => {
    expect(code(() => validateBlobName(name, 'Blob', true))?.message).toMatch(/advise against for a new blob/);
    expect(code(() => validateBlobName(name))).toBeUndefined();
  });
  it.each(['..a', 'a..b/c', '.hidden', 'a/.b/c', 'v1.0/x'])("accepts '%s'", (name) => {
    expect(code(() => validateBlobName(name))).toBeUndefined();
  });
});

describe('container names', () => {
  it('names the parameter the cmdlet has (-Name for New-MsiStorageContainer)', () => {
    expect(code(() => validateContainerName('UPPER', 'Name'))).toMatchObject({ parameter: 'Name', message: expect.stringMatching(/^-Name 'UPPER' breaks/) });
    expect(code(() => validateContainerName('UPPER'))).toMatchObject({ parameter: 'Container' });
  });
});

describe('Windows file names', () => {
  it.each([
    ['report 12:30.txt', /':' cannot be in a Windows file name/],
    ['2026-01-15T10:00:00Z.json', /':'/],
    ['a?b', /'\?'/],
    ['a*b', /'\*'/],
    ['a"b', /'"'/],
    ['a|b', /'\|'/],
    ['a<b>', /'<'/],
    ['a\\b', /'\\'/],
    ['dir.', /end with a dot or a space/],
    ['dir ', /end with a dot or a space/],
    ['CON', /'CON' is a device name/],
    ['nul.txt', /'nul' is a device name/],
    ['com1', /device name/],
    ['LPT9.log', /device name/],
  ])("'%s' cannot be a file or folder name", (segment, reason) => {
    expect(windowsFileNameProblem(segment)).toMatch(reason);
  });
  it.each(['report.txt', 'a b', 'console.log', 'com10', 'nul1', '.hidden', 'ünïcödé'])("'%s' can", (segment) => {
    expect(windowsFileNameProblem(segment)).toBeUndefined();
  });
});

describe('destinations', () => {
  const dir = () => mkdtempSync(path.join(tmpdir(), 'dest-'));
  it('a folder on Windows refuses a blob whose name it cannot hold, and creates nothing', async () => {
    const d = dir();
    await expect(resolveDestination(d, 'logs/2026-01-15T10:00:00Z.json', false, 'win32')).rejects.toMatchObject({ code: 'InvalidFileName', parameter: 'Destination' });
    expect(readdirSync(d)).toEqual([]);
    // The same name is a valid file name here.
    await expect(resolveDestination(d, 'logs/2026-01-15T10:00:00Z.json', false, 'linux')).resolves.toMatchObject({ file: path.join(d, 'logs', '2026-01-15T10:00:00Z.json') });
  });
  it("'folder/' that does not exist is a missing folder, not a file to create", async () => {
    const d = dir();
    const missing = path.join(d, 'newdir') + path.sep;
    await expect(resolveDestination(missing, 'a.txt', false)).rejects.toMatchObject({ code: 'DestinationFolderNotFound', parameter: 'Destination' });
    mkdirSync(missing);
    await expect(resolveDestination(missing, 'a.txt', false)).resolves.toMatchObject({ file: path.join(d, 'newdir', 'a.txt') });
  });
});

describe('the temporary name of a download', () => {
  it('stays within 255 UTF-8 bytes for a long valid name, cut at a character, keeping its suffix', () => {
    // 248 bytes of 'ü' (2 bytes), '€' (3) and '😀' (4, two UTF-16 units) after an ASCII start: a valid file name.
    const name = `a${'ü€😀'.repeat(27)}.bin`;
    expect(Buffer.byteLength(name)).toBe(248);
    for (let extra = 0; extra < 8; extra++) {
      const long = 'x'.repeat(extra) + name;
      const temp = partialName(long, '0123456789ab');
      expect(Buffer.byteLength(temp)).toBeLessThanOrEqual(255);
      expect(temp.endsWith('.0123456789ab.msistorage-partial')).toBe(true);
      const kept = temp.slice(1, -'.0123456789ab.msistorage-partial'.length);
      // Its beginning, whole characters only: no replacement character, no lone surrogate.
      expect(long.startsWith(kept)).toBe(true);
      expect(Buffer.from(kept, 'utf8').toString('utf8')).toBe(kept);
      expect(/[\uD800-\uDBFF]$/.test(kept)).toBe(false);
      // As much as fits: the next character would not.
      const next = [...long.slice(kept.length)][0];
      expect(Buffer.byteLength(temp) + Buffer.byteLength(next)).toBeGreaterThan(255);
    }
  });
  it('keeps a name that fits as it is', () => {
    expect(partialName('report.csv', '0123456789ab')).toBe('.report.csv.0123456789ab.msistorage-partial');
    expect(partialName('x'.repeat(222), '0123456789ab')).toBe(`.${'x'.repeat(222)}.0123456789ab.msistorage-partial`);
    expect(Buffer.byteLength(partialName('x'.repeat(222)))).toBe(255);
  });
});

describe('replacing a file with -Force on Windows', () => {
  const eperm = () => Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
  it('clears the read-only attribute, waits out a brief lock, and replaces the file', async () => {
    const calls: string[] = [];
    let fails = 2;
    const ops = {
      rename: async () => {
        calls.push('rename');
        if (fails-- > 0) throw eperm();
      },
      chmod: async (_p: string, m: number) => void calls.push(`chmod ${m.toString(8)}`),
      stat: async () => ({ mode: 0o100444 }),
    };
    await replaceFile('/t/.a.partial', '/t/a', ops, 'win32', [1, 1, 1]);
    expect(calls).toEqual(['rename', 'chmod 100666', 'rename', 'rename']);
  });
  it('leaves a writable file as it is, and says the file is in use when the lock lasts', async () => {
    const calls: string[] = [];
    const ops = { rename: async () => Promise.reject(eperm()), chmod: async (_p: string, m: number) => void calls.push(`chmod ${m.toString(8)}`), stat: async () => ({ mode: 0o100644 }) };
    await expect(replaceFile('/t/.a.partial', '/t/a', ops, 'win32', [1, 1])).rejects.toMatchObject({ code: 'DestinationInUse', parameter: 'Destination' });
    expect(calls).toEqual([]);
  });
  it('makes a read-only file read-only again when it could not be replaced', async () => {
    const calls: string[] = [];
    const ops = { rename: async () => Promise.reject(eperm()), chmod: async (_p: string, m: number) => void calls.push(`chmod ${m.toString(8)}`), stat: async () => ({ mode: 0o100444 }) };
    await expect(replaceFile('/t/.a.partial', '/t/a', ops, 'win32', [1])).rejects.toMatchObject({ code: 'DestinationInUse' });
    expect(calls).toEqual(['chmod 100666', 'chmod 100444']);
  });
  it('elsewhere, a failure is what it is, at once', async () => {
    let renames = 0;
    const ops = { rename: async () => ((renames++, Promise.reject(eperm()))), chmod: async () => undefined, stat: async () => ({ mode: 0o100444 }) };
    await expect(replaceFile('/t/.a.partial', '/t/a', ops, 'linux', [1, 1])).rejects.toMatchObject({ code: 'EPERM' });
    expect(renames).toBe(1);
  });
});

describe('a blob name that would leave the destination folder', () => {
  it('is refused by the destination check itself (a second line behind the name rules)', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'dest-'));
    await expect(resolveDestination(d, '../escape.txt', false, 'linux')).rejects.toMatchObject({ code: 'UnsafeBlobPath' });
    await expect(resolveDestination(d, 'a/../../escape.txt', false, 'linux')).rejects.toMatchObject({ code: 'UnsafeBlobPath' });
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('blobs of one batch that would land on the same file', () => {
  it("'a//b' and 'a/b' in one folder: the second is refused, the first goes on", () => {
    const items = [
      { blob: 'a/b', destination: '/out' },
      { blob: 'c', destination: '/out' },
      { blob: 'a//b', destination: '/out' },
      { blob: 'a/b', destination: '/elsewhere' },
    ];
    expect([...destinationClashes(items, 'linux')]).toEqual([[2, 0]]);
  });
  it('names that differ only in case clash on Windows and macOS, not on Linux', () => {
    const items = [
      { blob: 'Report.txt', destination: 'C:\\out' },
      { blob: 'report.TXT', destination: 'C:\\OUT' },
    ];
    expect([...destinationClashes(items, 'win32')]).toEqual([[1, 0]]);
    expect([...destinationClashes(items, 'linux')]).toEqual([]);
  });
});

describe('blobs of one batch where one needs as a folder what another would write as a file', () => {
  it("'logs' and 'logs/app.log' in one folder: 'logs' is refused, whichever comes first", () => {
    const items = [
      { blob: 'logs', destination: '/out' },
      { blob: 'logs/app.log', destination: '/out' },
      { blob: 'logs/deep/x', destination: '/out' },
      { blob: 'logs/deep', destination: '/out' },
      { blob: 'logs', destination: '/elsewhere' },
      { blob: 'logsx', destination: '/out' },
    ];
    expect([...folderClashes(items, 'linux')].sort()).toEqual([
      [0, 1],
      [3, 2],
    ]);
  });
  it('on Windows, whatever the case', () => {
    const items = [
      { blob: 'Logs/a.txt', destination: 'C:\\out' },
      { blob: 'LOGS', destination: 'c:\\OUT' },
    ];
    expect([...folderClashes(items, 'win32')]).toEqual([[1, 0]]);
    expect([...folderClashes(items, 'linux')]).toEqual([]);
  });
  it('a blob alone, or blobs beside each other, clash with nothing', () => {
    expect([...folderClashes([{ blob: 'a/b', destination: '/out' }], 'linux')]).toEqual([]);
    expect([...folderClashes([{ blob: 'a/b', destination: '/out' }, { blob: 'a/c', destination: '/out' }], 'linux')]).toEqual([]);
  });
});

describe('Get-MsiBlob -Blob wildcard patterns, as PowerShell reads them', () => {
  it('matches *, ? and sets, ignoring case, and takes a backtick as an escape', async () => {
    const { wildcardRegExp } = await import('../../src/commands/list.js');
    const m = (p: string, name: string) => wildcardRegExp(p).test(name);
    expect(m('*.log', 'a/b/app.LOG')).toBe(true);
    expect(m('*.log', 'app.log.1')).toBe(false);
    expect(m('app?.txt', 'app1.txt')).toBe(true);
    expect(m('app?.txt', 'app.txt')).toBe(false);
    expect(m('report[0-9].csv', 'report7.csv')).toBe(true);
    expect(m('report[0-9].csv', 'reportx.csv')).toBe(false);
    expect(m('a`*b', 'a*b')).toBe(true);
    expect(m('a`*b', 'axxb')).toBe(false);
    expect(m('(x)+.txt', '(x)+.txt')).toBe(true);
    expect(() => wildcardRegExp('bad[')).toThrow(/-Blob 'bad\[' has a '\[' with no '\]'/);
    expect(() => wildcardRegExp('[z-a]')).toThrow(/a range goes from low to high/);
    expect(m('a``*', 'a`xyz')).toBe(true);
  });
});

describe('the account a blob endpoint names', () => {
  it('is the first label of a blob host, or the first path segment of an IP or localhost endpoint; a custom domain names none', async () => {
    const { endpointAccount } = await import('../../src/blob/client.js');
    expect(endpointAccount('https://myacct.blob.core.windows.net/')).toBe('myacct');
    expect(endpointAccount('https://myacct.privatelink.blob.core.windows.net/')).toBe('myacct');
    expect(endpointAccount('https://myacct.z01.blob.storage.azure.net/')).toBe('myacct');
    expect(endpointAccount('https://myacct.blob.core.chinacloudapi.cn/')).toBe('myacct');
    expect(endpointAccount('http://127.0.0.1:10000/devstoreaccount1/')).toBe('devstoreaccount1');
    expect(endpointAccount('http://localhost:10000/DevStoreAccount1')).toBe('devstoreaccount1');
    expect(endpointAccount('http://[::1]:10000/acct/')).toBe('acct');
    expect(endpointAccount('http://127.0.0.1:10000/')).toBeUndefined();
    expect(endpointAccount('https://files.contoso.com/')).toBeUndefined();
    expect(endpointAccount('https://blob.contoso.com/')).toBeUndefined();
    expect(endpointAccount('https://files.blob.contoso.com/')).toBeUndefined();
    // The read-access secondary is the account's own.
    expect(endpointAccount('https://myacct-secondary.blob.core.windows.net/')).toBe('myacct');
    expect(endpointAccount('http://127.0.0.1:10000/%E0%A4%A/')).toBeUndefined();
  });
  it('says what an endpoint holds past the account: a container, which belongs in -Container', async () => {
    const { endpointShape } = await import('../../src/blob/client.js');
    expect(endpointShape('https://myacct.blob.core.windows.net/logs/')).toEqual({ account: 'myacct', extraPath: 'logs', serviceUrl: 'https://myacct.blob.core.windows.net/' });
    expect(endpointShape('http://127.0.0.1:10000/acct/blobs/')).toEqual({ account: 'acct', extraPath: 'blobs', serviceUrl: 'http://127.0.0.1:10000/acct/' });
    expect(endpointShape('http://127.0.0.1:10000/acct/').extraPath).toBeUndefined();
    expect(endpointShape('https://files.contoso.com/storage/')).toEqual({});
  });
});

describe('a file where the blob needs a folder', () => {
  it('is DestinationNotFolder naming the file, under a destination folder, in a file path, or in a folder path', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'dest-'));
    writeFileSync(path.join(d, 'x'), 'a file');
    const x = path.join(d, 'x');
    await expect(resolveDestination(d, 'x/y', false, 'linux')).rejects.toMatchObject({ code: 'DestinationNotFolder', target: x, message: expect.stringContaining(`'${x}' is a file, where the blob 'x/y' needs a folder`) });
    await expect(resolveDestination(d, 'x/deeper/y', false, 'linux')).rejects.toMatchObject({ code: 'DestinationNotFolder', target: x });
    await expect(resolveDestination(path.join(d, 'x', 'y'), 'y', false, 'linux')).rejects.toMatchObject({ code: 'DestinationNotFolder', target: x });
    await expect(resolveDestination(`${path.join(d, 'x')}/`, 'y', false, 'linux')).rejects.toMatchObject({ code: 'DestinationNotFolder', target: x });
    // Still a missing folder where nothing is in the way.
    await expect(resolveDestination(path.join(d, 'none', 'y'), 'y', false, 'linux')).rejects.toMatchObject({ code: 'DestinationFolderNotFound' });
  });
});

describe('-Metadata values', () => {
  it('name the character an HTTP header cannot carry, by code point too', async () => {
    const { validateMetadata } = await import('../../src/commands/upload.js');
    expect(() => validateMetadata({ owner: 'Zoë' })).toThrow(/'ë' \(U\+00EB\).*printable ASCII/);
    // A control character is not shown (it cannot be seen), only named.
    expect(() => validateMetadata({ note: 'a\tb' })).toThrow(/has U\+0009, which/);
    expect(() => validateMetadata({ owner: 'Zoe', n: '' })).not.toThrow();
  });
});
