// `npm run package`: the installable module in dist/MsiStorage/ (manifest, psm1 and ps1 files, formats,
// about help, the bundled script with its loader, code cache and the emulator), and a versioned .nupkg in
// dist/ that Install-PSResource installs from a local file repository. Needs only Node.js 20+ once installed.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { ensurePwsh, root, runBuild } from './tools.ts';

const dist = path.join(root, 'dist');
const out = path.join(dist, 'MsiStorage');
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

if (!process.argv.includes('--no-build')) {
  if (!runBuild()) process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, 'bin'), { recursive: true });
cpSync(path.join(root, 'MsiStorage.psd1'), path.join(out, 'MsiStorage.psd1'));
cpSync(path.join(root, 'README.md'), path.join(out, 'README.md'));
cpSync(path.join(root, 'ps-module'), path.join(out, 'ps-module'), { recursive: true });
// Get-Help finds about topics in the culture folder next to the manifest: en-US/ in the clone and in the package.
cpSync(path.join(root, 'en-US'), path.join(out, 'en-US'), { recursive: true });
for (const f of ['msistorage.cjs', 'msistorage.js', 'msistorage.jscache', 'emulator.cjs']) cpSync(path.join(dist, 'bin', f), path.join(out, 'bin', f));

// The .nupkg: PSResourceGet's own Publish-PSResource into a throw-away local repository.
// Only this version's package is ever in dist/: one left from before a version bump would be found (and
// installed) in its place. Removed first, so that a packaging that fails leaves none.
for (const old of readdirSync(dist)) {
  if (/^msistorage\..+\.nupkg$/i.test(old)) rmSync(path.join(dist, old), { force: true });
}
const repo = path.join(dist, 'repo');
rmSync(repo, { recursive: true, force: true });
mkdirSync(repo, { recursive: true });
// The paths reach the script as environment variables, never inside its text: a clone in a folder whose name
// holds a quote would otherwise end the string early (or run what follows it).
const script = [
  "$ErrorActionPreference = 'Stop'",
  'Register-PSResourceRepository -Name $env:MSISTORAGE_PACKAGE_REPO_NAME -Uri $env:MSISTORAGE_PACKAGE_REPO -Trusted',
  'try { Publish-PSResource -Path $env:MSISTORAGE_PACKAGE_MODULE -Repository $env:MSISTORAGE_PACKAGE_REPO_NAME -SkipDependenciesCheck }',
  'finally { Unregister-PSResourceRepository -Name $env:MSISTORAGE_PACKAGE_REPO_NAME }',
].join('\n');
const paths = { MSISTORAGE_PACKAGE_REPO_NAME: `msistorage-package-${process.pid}`, MSISTORAGE_PACKAGE_REPO: repo, MSISTORAGE_PACKAGE_MODULE: out };
// The repository is registered in a home of its own, never in the user's PSResourceGet settings. Its XDG
// folders must exist: .NET gives an empty LocalApplicationData for a missing one, and PSResourceGet would then
// write its repository list into the current folder.
const home = path.join(dist, 'package-home');
const xdg = { XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config'), XDG_CACHE_HOME: path.join(home, 'cache') };
for (const folder of Object.values(xdg)) mkdirSync(folder, { recursive: true });
const r = spawnSync(ensurePwsh(), ['-NoProfile', '-NonInteractive', '-Command', script], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, ...xdg, ...paths, POWERSHELL_TELEMETRY_OPTOUT: '1', POWERSHELL_UPDATECHECK: 'Off' },
});
rmSync(home, { recursive: true, force: true });
if (r.status !== 0) process.exit(r.status ?? 1);
const nupkg = readdirSync(repo).find((f) => f.toLowerCase().endsWith('.nupkg'));
if (!nupkg || !existsSync(path.join(repo, nupkg))) throw new Error('Publish-PSResource made no .nupkg');
cpSync(path.join(repo, nupkg), path.join(dist, nupkg));
rmSync(repo, { recursive: true, force: true });
console.log(`packaged MsiStorage ${version}: dist/MsiStorage/ and dist/${nupkg} (${(statSync(path.join(dist, nupkg)).size / 1024).toFixed(0)} KiB)`);
