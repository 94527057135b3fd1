// Random bytes on the script's stdin: always one well-formed JSON error reply and exit code 1, never a
// stack trace.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runBundle } from '../helpers/stack.js';

describe('the Node boundary under random input', () => {
  it('answers garbage with a JSON error and a non-zero exit', async () => {
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.json(), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1'))), async (input) => {
        tried++;
        const run = await runBundle(`${input.replace(/\n/g, ' ')}\n`);
        expect(run.code).toBe(1);
        expect(run.reply.ok).toBe(false);
        expect(typeof run.reply.error.code).toBe('string');
        expect(run.reply.error.category).toBe('ProtocolError');
        expect(run.stderr).not.toMatch(/\n\s+at /);
      }),
      { numRuns: 40 },
    );
    console.log(`fuzz-cli: ${tried} random stdin inputs, each answered with a JSON error`);
  });
});
