// `npm run package`: the installable module in dist/MsiStorage/ (manifest, psm1 and ps1 files, formats,
// about help, the bundled script with its loader, code cache and the emulator), and a versioned .nupkg in
// dist/ that Install-PSResource installs from a local file repository. Needs only Node.js 20+ once installed.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { ensurePwsh, root, runBuild } from './tools.ts';

const dist = path.join(root, 'dist');
const out = path.join(dist, 'MsiStorage');
const version = (JSON.parse((await import('node:fs')).readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

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
const name = `msistorage-package-${process.pid}`;
const script = [
  "$ErrorActionPreference = 'Stop'",
  `Register-PSResourceRepository -Name '${name}' -Uri '${repo}' -Trusted`,
  `try { Publish-PSResource -Path '${out}' -Repository '${name}' -SkipDependenciesCheck } finally { Unregister-PSResourceRepository -Name '${name}' }`,
].join('\n');
// The repository is registered in a home of its own, never in the user's PSResourceGet settings. Its XDG
// folders must exist: .NET gives an empty LocalApplicationData for a missing one, and PSResourceGet would then
// write its repository list into the current folder.
const home = path.join(dist, 'package-home');
const xdg = { XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config'), XDG_CACHE_HOME: path.join(home, 'cache') };
for (const folder of Object.values(xdg)) mkdirSync(folder, { recursive: true });
const r = spawnSync(ensurePwsh(), ['-NoProfile', '-NonInteractive', '-Command', script], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, ...xdg, POWERSHELL_TELEMETRY_OPTOUT: '1', POWERSHELL_UPDATECHECK: 'Off' },
});
rmSync(home, { recursive: true, force: true });
if (r.status !== 0) process.exit(r.status ?? 1);
const nupkg = readdirSync(repo).find((f) => f.toLowerCase().endsWith('.nupkg'));
if (!nupkg || !existsSync(path.join(repo, nupkg))) throw new Error('Publish-PSResource made no .nupkg');
cpSync(path.join(repo, nupkg), path.join(dist, nupkg));
rmSync(repo, { recursive: true, force: true });
console.log(`packaged MsiStorage ${version}: dist/MsiStorage/ and dist/${nupkg} (${(statSync(path.join(dist, nupkg)).size / 1024).toFixed(0)} KiB)`);
