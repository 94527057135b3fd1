// A terminal's Ctrl+C is sent to the whole foreground process group: Node gets SIGINT itself, as well as
// PowerShell (which then sends {"cancel":true}). Node must treat the signal as a cancel, not die on it: a
// download killed outright would leave its temporary file in the destination's folder. The bundle, run as
// PowerShell runs it, against Azurite behind the stack's front, whose stall-front holds the download open.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, type StorageContext, bundle, keyContextWithContainer, runBundle, startStack } from '../helpers/stack.js';

const SIZE = 4 * 1024 * 1024;
let stack: Stack;
let context: (blobEndpoint: string) => StorageContext;
let work: string;
const env = () => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost });
const partials = (dir: string) => readdirSync(dir).filter((f) => f.includes('msistorage-partial'));

beforeAll(async () => {
  stack = await startStack();
  work = mkdtempSync(path.join(tmpdir(), 'msistorage-signals-'));
  context = await keyContextWithContainer(stack, 'cont');
  const source = path.join(work, 'source.bin');
  writeFileSync(source, randomBytes(SIZE));
  const up = await runBundle({ command: 'upload', context: context(stack.blobEndpoint), container: 'cont', items: [{ file: source, blob: 'held.bin' }] }, env());
  expect(up.items[0].ok).toBe(true);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Starts a download whose body stalls at the front, and waits for its temporary file. */
async function heldDownload(): Promise<{ child: ChildProcessWithoutNullStreams; dir: string; dest: string; reply: () => Record<string, any>; exited: Promise<number | null> }> {
  expect((await stack.command('stall-front 1')).ok).toBe(true);
  const dir = mkdtempSync(path.join(work, 'dl-'));
  const dest = path.join(dir, 'out.bin');
  // The stall timer is far away: only the signal can end this download in time.
  const child = spawn(process.execPath, [bundle], { env: { ...process.env, ...env(), MSISTORAGE_STALL_TIMEOUT_MS: '60000' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stdin.write(`${JSON.stringify({ v: 1, command: 'download', context: context(stack.frontBlobEndpoint), items: [{ container: 'cont', blob: 'held.bin', destination: dest }] })}\n`);
  const deadline = Date.now() + 15_000;
  while (partials(dir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(partials(dir)).toHaveLength(1);
  return { child, dir, dest, exited, reply: () => JSON.parse(stdout.trim().split('\n').at(-1)!) };
}

describe('a signal to Node mid-download', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} stops it as a cancel: the reply says OperationStopped and the temporary file is gone`, async () => {
      const { child, dir, dest, exited, reply } = await heldDownload();
      const sent = Date.now();
      child.kill(signal);
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
      if (code === 'hung') child.kill('SIGKILL');
      expect(code).toBe(1);
      expect(Date.now() - sent).toBeLessThan(5_000);
      expect(reply()).toMatchObject({ ok: false, error: { code: 'OperationStopped' } });
      expect(partials(dir)).toEqual([]);
      expect(existsSync(dest)).toBe(false);
    }, 30_000);
  }
});
