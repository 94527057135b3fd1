// Starting the local stack from a script (demo, benchmark): spawn dist/stack.cjs, read its one JSON line.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { root } from './tools.ts';

export interface RunningStack {
  info: Record<string, any>;
  child: ChildProcess;
  /** Sends one control command (see src/stack/main.ts: stop-azurite, start-azurite, ...) and waits for its reply. */
  command(cmd: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export function startStack(args: string[] = []): Promise<RunningStack> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'stack.cjs'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const waiting: ((line: string) => void)[] = [];
    lines.once('line', (line) => {
      lines.on('line', (reply) => waiting.shift()?.(reply));
      resolve({
        info: JSON.parse(line) as Record<string, any>,
        child,
        command: (cmd: string) =>
          new Promise((done, fail) => {
            waiting.push((reply) => {
              const parsed = JSON.parse(reply) as Record<string, unknown>;
              if (parsed.ok) done(parsed);
              else fail(new Error(`stack command '${cmd}' failed: ${String(parsed.error)}`));
            });
            child.stdin!.write(`${cmd}\n`);
          }),
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.stdin!.end();
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`the stack exited with code ${code}`)));
  });
}
