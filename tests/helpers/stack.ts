// Starts the local stack (Azurite in memory + the IMDS/ARM emulator) as a child process, for vitest.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

export const root = path.resolve(__dirname, '..', '..');
export const bundle = path.join(root, 'dist', 'bin', 'msistorage.cjs');

export interface StackInfo {
  imdsHost: string;
  legacyTokenEndpoint: string;
  armEndpoint: string;
  blobEndpoint: string;
  /** The same account through the stack's front (a proxy that injects faults: fail-, hang-, stall-front). */
  frontBlobEndpoint: string;
  azuriteUrl: string;
  storageAccountName: string;
  subscriptionId: string;
  resourceGroupName: string;
  /** A second account, in another resource group of the subscription. */
  dataStorageAccountName: string;
  dataResourceGroupName: string;
  tenantId: string;
  identity: { clientId: string; objectId: string; resourceId: string };
}

export interface Stack extends StackInfo {
  process: ChildProcessWithoutNullStreams;
  command(cmd: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startStack(args: string[] = []): Promise<Stack> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'stack.cjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`stack exited (${code}): ${stderr}`));
      child.once('exit', onExit);
      waiting.push((line) => {
        child.off('exit', onExit);
        resolve(line);
      });
    });
  const info = JSON.parse(await next()) as StackInfo;
  return {
    ...info,
    process: child,
    command: async (cmd: string) => {
      const reply = next();
      child.stdin.write(`${cmd}\n`);
      return JSON.parse(await reply) as Record<string, unknown>;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

export interface BundleRun {
  code: number | null;
  reply: { v: number; ok: boolean; result?: any; error?: any };
  /** Per-item lines of batch commands, in the order they arrived. */
  items: { v: number; item: number; ok: boolean; result?: any; error?: any }[];
  stdout: string;
  stderr: string;
  events: Record<string, any>[];
}

/** Runs the bundle as PowerShell does: one request line on stdin, one reply line on stdout. */
export function runBundle(
  request: object | string,
  env: Record<string, string | undefined> = {},
  node = process.execPath,
  opts: { args?: string[]; delayMs?: number } = {},
): Promise<BundleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [bundle, ...(opts.args ?? [])], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    // A child that refuses a huge request stops reading: the rest of the write fails, which is expected.
    child.stdin.on('error', () => undefined);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    // 'close', not 'exit': the streams' last data may arrive after the process has exited.
    child.on('close', (code) => {
      const events = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, any>);
      let lines: any[];
      try {
        lines = stdout
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l));
      } catch {
        return reject(new Error(`no JSON reply (exit ${code}): stdout=${stdout} stderr=${stderr}`));
      }
      const reply = lines.at(-1);
      if (!reply || 'item' in reply) return reject(new Error(`no final reply (exit ${code}): stdout=${stdout} stderr=${stderr}`));
      resolve({ code, reply, items: lines.filter((l) => 'item' in l), stdout, stderr, events });
    });
    const send = () => child.stdin.end(typeof request === 'string' ? request : `${JSON.stringify({ v: 1, ...request })}\n`);
    if (opts.delayMs) setTimeout(send, opts.delayMs);
    else send();
  });
}

export function fixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(path.join(root, 'tests', 'fixtures', name), 'utf8')) as T;
}

/**
 * A storage context for the stack's account (its key fetched as any client would: an IMDS token, then
 * listKeys), with a container made through it. For the blob endpoint given (direct, or the stack's front).
 */
export async function keyContextWithContainer(stack: Stack, container: string): Promise<(blobEndpoint: string) => StorageContext> {
  const env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: stack.imdsHost };
  const keys = await runBundle({ command: 'keys', subscriptionId: stack.subscriptionId, resourceGroupName: stack.resourceGroupName, storageAccountName: stack.storageAccountName, armEndpoint: stack.armEndpoint }, env);
  if (!keys.reply.ok) throw new Error(`listKeys failed: ${JSON.stringify(keys.reply.error)}`);
  const context = (blobEndpoint: string): StorageContext => ({ storageAccountName: stack.storageAccountName, blobEndpoint, authType: 'SharedKey', storageAccountKey: keys.reply.result.value as string });
  const made = await runBundle({ command: 'newContainer', context: context(stack.blobEndpoint), container }, env);
  if (!made.reply.ok) throw new Error(`creating container ${container} failed: ${JSON.stringify(made.reply.error)}`);
  return context;
}

export interface StorageContext {
  storageAccountName: string;
  blobEndpoint: string;
  authType: 'SharedKey';
  storageAccountKey: string;
}
