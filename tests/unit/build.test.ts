import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import * as assert from 'node:assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HTTP2_CONSTANTS, LAZY_ASSERT, stampManifest } from '../../build.js';

describe('the lazy node:http2 patch of undici', () => {
  it('hands undici exactly the constants node:http2 defines', () => {
    for (const [name, value] of Object.entries(HTTP2_CONSTANTS)) expect((http2.constants as Record<string, unknown>)[name], name).toBe(value);
  });
});

describe("the lazy node:assert shim for undici", () => {
  const load = () => {
    const module = { exports: undefined as unknown as (value: unknown, message?: string) => void };
    new Function('module', 'require', LAZY_ASSERT)(module, createRequire(import.meta.url));
    return module.exports;
  };
  it('passes truthy values without loading anything', () => {
    expect(() => load()(1, 'never')).not.toThrow();
  });
  it("throws node's own AssertionError, with the message, on a falsy value", () => {
    expect(() => load()(0, 'the socket is gone')).toThrow(assert.AssertionError);
    expect(() => load()(undefined, 'the socket is gone')).toThrow('the socket is gone');
  });
});

describe('stampManifest', () => {
  const manifest = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../MsiStorage.psd1');
  const folders: string[] = [];
  afterEach(() => {
    for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
  });
  const copy = () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'msistorage-stamp-'));
    folders.push(folder);
    const file = path.join(folder, 'MsiStorage.psd1');
    copyFileSync(manifest, file);
    return file;
  };
  const moduleVersion = (text: string) => /^\s*ModuleVersion\s*=\s*'([^']*)'/m.exec(text)?.[1];

  it("writes the version into the ModuleVersion line of the project's manifest, and changes no other byte", () => {
    const file = copy();
    const before = readFileSync(file, 'utf8');
    const current = moduleVersion(before);
    expect(current).toMatch(/^\d+\.\d+\.\d+/);
    const next = current === '9.8.7' ? '9.8.8' : '9.8.7';
    stampManifest(file, next);
    const after = readFileSync(file, 'utf8');
    expect(moduleVersion(after)).toBe(next);
    const [a, b] = [before.split('\n'), after.split('\n')];
    expect(b.length).toBe(a.length);
    const changed = a.flatMap((line, i) => (line === b[i] ? [] : [i]));
    expect(changed).toHaveLength(1);
    expect(a[changed[0]]).toMatch(/^\s*ModuleVersion\s*=/);
    expect(b[changed[0]]).toBe(a[changed[0]].replace(`'${current}'`, `'${next}'`));
    // And back: the same bytes as the manifest it was copied from.
    stampManifest(file, current!);
    expect(readFileSync(file)).toEqual(readFileSync(manifest));
  });

  it('leaves a manifest that already has the version untouched (not even rewritten)', () => {
    const file = copy();
    const current = moduleVersion(readFileSync(file, 'utf8'))!;
    const old = new Date('2020-01-01T00:00:00Z');
    utimesSync(file, old, old);
    stampManifest(file, current);
    expect(statSync(file).mtimeMs).toBe(old.getTime());
  });

  it("stamps the module's own ModuleVersion, not a required module's", () => {
    const file = copy();
    const text = "@{\n    RequiredModules = @(@{ ModuleName = 'Other'; ModuleVersion = '1.2.3' })\n    ModuleVersion = '0.1.0'\n}\n";
    writeFileSync(file, text);
    stampManifest(file, '2.0.0');
    expect(readFileSync(file, 'utf8')).toBe(text.replace("'0.1.0'", "'2.0.0'"));
  });

  it('refuses a version that would break the quoted string, and a manifest with no ModuleVersion line', () => {
    const file = copy();
    const before = readFileSync(file);
    expect(() => stampManifest(file, "1.0.0'; Remove-Item x; '")).toThrow(/not a version/);
    expect(() => stampManifest(file, '1.0.0-beta.1')).toThrow(/not a version/);
    expect(readFileSync(file)).toEqual(before);
    const other = path.join(path.dirname(file), 'none.psd1');
    writeFileSync(other, "@{ RootModule = 'x.psm1' }\n");
    expect(() => stampManifest(other, '1.0.0')).toThrow(/no ModuleVersion line/);
  });
});
