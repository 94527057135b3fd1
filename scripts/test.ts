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

// Issue 6: `npm test` stays under 5 minutes on this (2-core) machine. A run over the budget fails; one within
// 20% of it says so, before the margin is gone. The budget is this machine's: a slower one (a shared CI
// runner) may set MSISTORAGE_TEST_BUDGET_SEC, and says so in its output.
const budgetOverride = Number(process.env.MSISTORAGE_TEST_BUDGET_SEC);
const budget = Number.isFinite(budgetOverride) && budgetOverride > 0 ? budgetOverride : 300;
const total = (Date.now() - started) / 1000;
console.log('\n[msistorage] summary');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.step.padEnd(10)} ${r.seconds.toFixed(1)} s`);
console.log(`  total      ${total.toFixed(1)} s (budget ${budget} s${budget !== 300 ? ', from MSISTORAGE_TEST_BUDGET_SEC' : ''})`);
const overBudget = only.length === 0 && total > budget;
if (overBudget) {
  console.error(`\n[msistorage] !!! OVER BUDGET: npm test took ${total.toFixed(1)} s, more than its ${budget} s (issue 6: under 5 minutes). Find the slow step above.`);
} else if (only.length === 0 && total > budget * 0.8) {
  console.warn(`\n[msistorage] !!! NEAR THE BUDGET: npm test took ${total.toFixed(1)} s of its ${budget} s; little margin is left.`);
}
process.exit(results.every((r) => r.ok) && !overBudget ? 0 : 1);
