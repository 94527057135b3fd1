// Starting the local stack from a script (demo, benchmark): spawn dist/stack.cjs, read its one JSON line.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { root } from './tools.ts';

export interface RunningStack {
  info: Record<string, any>;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function startStack(args: string[] = []): Promise<RunningStack> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'stack.cjs'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      resolve({
        info: JSON.parse(line) as Record<string, any>,
        child,
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
