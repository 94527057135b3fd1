// Build: esbuild bundles src/ into ONE Node script (dist/bin/msistorage.js) and writes:
//   dist/bin/msistorage.cjs     the loader PowerShell starts: checks the Node version, then compiles the
//                               bundle through vm.Script with a V8 code cache (start-up is paid per cmdlet call)
//   dist/bin/msistorage.jscache the V8 code cache, warmed on the token path at build time
//   dist/bin/emulator.cjs       the IMDS + ARM emulator, standalone (a product feature)
//   dist/stack.cjs, dist/azurite-host.cjs   the local stack for tests, demo and benchmark (needs node_modules)
// and stamps package.json's version into MsiStorage.psd1.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Plugin, build } from 'esbuild';
import { startEmulator } from './src/emulator/server.js';
import { PROTOCOL_VERSION } from './src/protocol.js';

// fileURLToPath, not URL.pathname: a path with a space (%20) or a Windows drive (/C:/...) must come out as a path.
const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist');
const bin = path.join(dist, 'bin');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

export const MIN_NODE_MAJOR = 20;

const common = {
  bundle: true,
  platform: 'node' as const,
  target: 'node20',
  format: 'cjs' as const,
  legalComments: 'none' as const,
  logLevel: 'warning' as const,
  // Some ESM dependencies (@azure/storage-common) read import.meta.url; in a CommonJS bundle it is the bundle's URL.
  define: { 'import.meta.url': '__msiImportMetaUrl' },
  banner: { js: "var __msiImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

/**
 * Start-up counts: every cmdlet call starts Node. undici loads node:http2 (and with it node:tls) and node:http
 * when its files are first required, for things MsiStorage never uses on its paths: ten HTTP/2 constants
 * (allowH2 is off), http.maxHeaderSize as a default (MsiStorage passes maxHeaderSize itself), and
 * http.IncomingMessage for an identity check on streams it never creates. About 10 ms per call. These patches
 * make those loads lazy; each fails the build if undici's text changes. tests/unit/build.test.ts checks the
 * constants against node:http2.
 */
export const HTTP2_CONSTANTS = {
  HTTP2_HEADER_AUTHORITY: ':authority',
  HTTP2_HEADER_METHOD: ':method',
  HTTP2_HEADER_PATH: ':path',
  HTTP2_HEADER_SCHEME: ':scheme',
  HTTP2_HEADER_CONTENT_LENGTH: 'content-length',
  HTTP2_HEADER_EXPECT: 'expect',
  HTTP2_HEADER_STATUS: ':status',
  HTTP2_HEADER_PROTOCOL: ':protocol',
  NGHTTP2_REFUSED_STREAM: 7,
  NGHTTP2_CANCEL: 8,
};
const UNDICI_PATCHES: { file: RegExp; from: string; to: string }[] = [
  {
    file: /undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/,
    from: "  http2 = require('node:http2')",
    to: `  http2 = { constants: ${JSON.stringify(HTTP2_CONSTANTS)}, connect: (...a) => require('node:http2').connect(...a) }`,
  },
  {
    file: /undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/,
    from: `const getDefaultNodeMaxHeaderSize = http &&
  http.maxHeaderSize &&
  Number.isInteger(http.maxHeaderSize) &&
  http.maxHeaderSize > 0
  ? () => http.maxHeaderSize
  : () => { throw new InvalidArgumentError('http module not available or http.maxHeaderSize invalid') }`,
    to: `const getDefaultNodeMaxHeaderSize = () => {
  const size = require('node:http').maxHeaderSize
  if (Number.isInteger(size) && size > 0) return size
  throw new InvalidArgumentError('http module not available or http.maxHeaderSize invalid')
}`,
  },
  { file: /undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/, from: "const http = require('node:http')\n", to: '' },
  { file: /undici[\\/]lib[\\/]core[\\/]util\.js$/, from: "const { IncomingMessage } = require('node:http')\n", to: '' },
  {
    file: /undici[\\/]lib[\\/]core[\\/]util\.js$/,
    from: 'if (Object.getPrototypeOf(stream).constructor === IncomingMessage) {',
    // An IncomingMessage exists only if node:http was loaded by whoever made it.
    to: "if (Object.getPrototypeOf(stream).constructor?.name === 'IncomingMessage' && Object.getPrototypeOf(stream).constructor === require('node:http').IncomingMessage) {",
  },
];
/**
 * undici calls only the plain assert(value) of node:assert, but loading node:assert costs ~3 ms: it builds
 * its error colours, which opens process.stderr as a stream. In undici the real module loads on the first
 * failed assertion only, so a failure still throws node's own AssertionError.
 */
export const LAZY_ASSERT = "module.exports = function assert(value, message) { if (!value) require('node:assert')(value, message) }";
const lazyUndici: Plugin = {
  name: 'undici-lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?assert$/ }, (args) =>
      /undici[\\/]lib[\\/]/.test(args.importer) ? { path: 'lazy-assert', namespace: 'msistorage-lazy' } : undefined,
    );
    b.onLoad({ filter: /^lazy-assert$/, namespace: 'msistorage-lazy' }, () => ({ contents: LAZY_ASSERT, loader: 'js' }));
    b.onLoad({ filter: /undici[\\/]lib[\\/](dispatcher[\\/]client(-h2)?|core[\\/]util)\.js$/ }, async (args) => {
      let source = await readFile(args.path, 'utf8');
      for (const p of UNDICI_PATCHES.filter((x) => x.file.test(args.path))) {
        if (!source.includes(p.from)) throw new Error(`${args.path} changed: update the patch in build.ts (${p.from.split('\n')[0]})`);
        source = source.replace(p.from, p.to);
      }
      return { contents: source, loader: 'js' };
    });
  },
};

function loaderSource(): string {
  // Plain ES5 on purpose: it must run (and answer with a JSON error) even on a Node too old for the bundle.
  return `'use strict';
var major = Number(process.versions.node.split('.')[0]);
if (!(major >= ${MIN_NODE_MAJOR})) {
  process.stdout.write(JSON.stringify({ v: ${PROTOCOL_VERSION}, ok: false, error: { code: 'NodeTooOld', category: 'NotInstalled',
    message: 'MsiStorage needs Node.js ${MIN_NODE_MAJOR} or later, but ' + process.execPath + ' is ' + process.version +
      '. Install Node.js ${MIN_NODE_MAJOR}+ and put it on PATH, or set MSISTORAGE_NODE to its path.' } }) + '\\n');
  process.exit(1);
}
var fs = require('fs'), path = require('path'), vm = require('vm');
// undici parses HTTP with llhttp compiled to WebAssembly. V8's optimizing tier-up of that module runs on
// background threads that process exit waits for: ~60 ms per call. Baseline (Liftoff) code is plenty here.
// Set here, not on Node's command line: a Node too old for the bundle would refuse an option it does not
// know ("bad option", exit 9) before the version check above could say so. Loading node:v8 costs nothing
// measurable; a caller that passes the option itself spares it.
if (process.execArgv.indexOf('--liftoff-only') < 0) require('v8').setFlagsFromString('--liftoff-only');
var file = path.join(__dirname, 'msistorage.js');
var cacheFile = path.join(__dirname, 'msistorage.jscache');
var cached;
try { cached = fs.readFileSync(cacheFile); } catch (e) { cached = undefined; }
// The bundle is ASCII (esbuild escapes the rest): latin1 spares decoding UTF-8.
var script = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file, cachedData: cached });
if (!cached || script.cachedDataRejected || process.env.MSISTORAGE_WRITE_CODE_CACHE === '1') {
  // Refresh the cache when this Node cannot use it; best effort (the folder may be read-only).
  process.on('exit', function () {
    try {
      var tmp = cacheFile + '.' + process.pid + '.tmp';
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch (e) { /* read-only install: run without a cache */ }
  });
}
script.runInThisContext()(exports, require, module, file, __dirname);
`;
}

async function bundleCli(): Promise<void> {
  const out = await build({
    ...common,
    entryPoints: [path.join(root, 'src/main.ts')],
    write: false,
    minify: true,
    plugins: [lazyUndici],
    define: { ...common.define, MSISTORAGE_VERSION: JSON.stringify(pkg.version) },
  });
  const code = out.outputFiles[0].text;
  if (/[^\w$.]import\(/.test(code)) throw new Error('the bundle still contains a dynamic import(); vm.Script cannot run it');
  if (/[^\x00-\x7f]/.test(code)) throw new Error('the bundle is not ASCII; the loader reads it as latin1');
  writeFileSync(path.join(bin, 'msistorage.js'), `(function (exports, require, module, __filename, __dirname) {${code}\n})`);
  writeFileSync(path.join(bin, 'msistorage.cjs'), loaderSource());
}

/** Runs the loader once on the token path against an in-process emulator, so the code cache holds it. */
async function warmCodeCache(): Promise<void> {
  rmSync(path.join(bin, 'msistorage.jscache'), { force: true });
  const emu = await startEmulator({ accounts: [] });
  try {
    const request = JSON.stringify({ v: PROTOCOL_VERSION, command: 'token', endpoint: `${emu.url}/metadata/identity/oauth2/token` });
    // The emulator runs on this event loop, so the child must be asynchronous.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(bin, 'msistorage.cjs')], {
        env: { ...process.env, MSISTORAGE_WRITE_CODE_CACHE: '1', MSISTORAGE_LOOPBACK_ONLY: '1' },
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`code-cache warm-up failed (${code}): ${out}`))));
      child.stdin.end(`${request}\n`);
    });
  } finally {
    await emu.close();
  }
}

/**
 * Writes `version` into the ModuleVersion line of the manifest at `manifest`, and changes nothing else (the
 * file is written only when the version differs). The build stamps package.json's version into
 * MsiStorage.psd1; tests/unit/build.test.ts stamps a copy.
 */
export function stampManifest(manifest: string, version: string): void {
  // A ModuleVersion is a System.Version: two to four numbers (a prerelease label belongs in PSData.Prerelease).
  if (!/^\d+(\.\d+){1,3}$/.test(version)) throw new Error(`'${version}' is not a version to write into a manifest's ModuleVersion (two to four numbers)`);
  const text = readFileSync(manifest, 'utf8');
  // The first key at the start of its line: a ModuleVersion inside a one-line RequiredModules entry
  // (@{ ModuleName = ...; ModuleVersion = ... }) is another module's and is left alone. (This manifest
  // keeps its own ModuleVersion first; a multi-line RequiredModules entry above it would be matched.)
  const line = /^(\s*ModuleVersion\s*=\s*)'[^']*'/m;
  if (!line.test(text)) throw new Error(`${manifest} has no ModuleVersion line`);
  const stamped = text.replace(line, `$1'${version}'`);
  if (stamped !== text) writeFileSync(manifest, stamped);
}

async function main(): Promise<void> {
  mkdirSync(bin, { recursive: true });
  // Imported by tests for its constants: build only when run as a script.
  await Promise.all([
    bundleCli(),
    build({ ...common, entryPoints: [path.join(root, 'src/emulator/main.ts')], outfile: path.join(bin, 'emulator.cjs'), minify: true }),
    build({ ...common, entryPoints: [path.join(root, 'src/stack/main.ts')], outfile: path.join(dist, 'stack.cjs') }),
    build({ ...common, entryPoints: [path.join(root, 'src/stack/azurite-host.ts')], outfile: path.join(dist, 'azurite-host.cjs'), external: ['azurite'] }),
  ]);
  await warmCodeCache();
  stampManifest(path.join(root, 'MsiStorage.psd1'), pkg.version);
  console.log(`built MsiStorage ${pkg.version} into ${path.relative(root, dist)}/`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(fileURLToPath(import.meta.url))) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
