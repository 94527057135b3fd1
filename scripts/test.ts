// `npm test`: brings pwsh and Pester when missing, builds, type-checks, then runs vitest and Pester.
// Every child runs with the safe environment (loopback only). Exits non-zero if anything failed.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ensurePester, ensurePwsh, root, safeEnv } from './tools.ts';

// The tools' own JavaScript entry points, run by this Node: no node_modules/.bin shims, which Windows would
// start only through a shell (that splits a path with a space).
const tool = (entry: string) => path.join(root, 'node_modules', ...entry.split('/'));
const results: { step: string; ok: boolean; seconds: number }[] = [];

function step(name: string, cmd: string, args: string[]): boolean {
  console.log(`\n[msistorage] ── ${name} ──`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: safeEnv() });
  if (r.error) console.error(`[msistorage] ${name} could not start: ${r.error.message}`);
  const ok = r.status === 0;
  results.push({ step: name, ok, seconds: (Date.now() - started) / 1000 });
  return ok;
}

const started = Date.now();
const pwsh = ensurePwsh();
const pester = ensurePester();
const only = process.argv.slice(2);
const want = (s: string) => only.length === 0 || only.includes(s);

const tsx = (script: string, ...args: string[]): [string, string[]] => [process.execPath, ['--import', 'tsx', path.join(root, script), ...args]];
if (!step('build', ...tsx('build.ts'))) process.exit(1);
if (want('typecheck')) step('typecheck', process.execPath, [tool('typescript/bin/tsc'), '--noEmit', '-p', '.']);
if (want('vitest')) step('vitest', process.execPath, [tool('vitest/vitest.mjs'), 'run']);
if (want('pester')) step('package', ...tsx('scripts/package.ts', '--no-build'));
if (want('bench')) step('bench-smoke', ...tsx('scripts/bench.ts', '--smoke', '--no-build'));
if (want('pester')) {
  step('pester', pwsh, ['-NoProfile', '-NonInteractive', '-File', path.join(root, 'tests', 'pester', 'Invoke-Tests.ps1'), '-PesterPath', pester, '-ResultPath', path.join(root, 'tests', '.out', 'pester.xml')]);
}

console.log('\n[msistorage] summary');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.step.padEnd(10)} ${r.seconds.toFixed(1)} s`);
console.log(`  total      ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
