import { describe, expect, it } from 'vitest';
import { LineReader } from '../../src/io.js';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const REQUEST = '{"v":1,"command":"version"}';

/** Feeds the chunks one by one, then end of input; returns the first outcome. */
function read(chunks: Buffer[], limit = 1024): ReturnType<LineReader['add']> {
  const reader = new LineReader(limit);
  for (const chunk of chunks) {
    const outcome = reader.add(chunk, chunk.length);
    if (outcome) return outcome;
  }
  return reader.add(Buffer.alloc(0), 0);
}

describe('LineReader', () => {
  it('reads the first line and keeps what follows it', () => {
    expect(read([Buffer.from(`${REQUEST}\r\n{"cancel":true}\n`)])).toEqual({ line: REQUEST, rest: '{"cancel":true}\n', tooLarge: false });
  });

  it("drops the UTF-8 byte order mark that Windows PowerShell 5.1's stdin writer puts first", () => {
    const outcome = read([Buffer.concat([BOM, Buffer.from(`${REQUEST}\n`)])]);
    expect(outcome?.line).toBe(REQUEST);
    expect(() => JSON.parse(outcome?.line ?? '')).not.toThrow();
  });

  it('drops it when it arrives alone, or split across reads', () => {
    expect(read([BOM, Buffer.from(`${REQUEST}\n`)])?.line).toBe(REQUEST);
    expect(read([BOM.subarray(0, 1), BOM.subarray(1), Buffer.from(`${REQUEST}\n`)])?.line).toBe(REQUEST);
    expect(read([Buffer.concat([BOM.subarray(0, 2)]), Buffer.concat([BOM.subarray(2), Buffer.from(REQUEST.slice(0, 5))]), Buffer.from(`${REQUEST.slice(5)}\n`)])?.line).toBe(REQUEST);
  });

  it('drops it from a request that ends at end of input, without a newline', () => {
    expect(read([BOM, Buffer.from(REQUEST)])).toEqual({ line: REQUEST, rest: '', tooLarge: false });
  });

  it('treats a lone byte order mark as no request', () => {
    expect(read([BOM])).toEqual({ line: undefined, rest: '', tooLarge: false });
  });

  it('drops one mark only, and only at the start of the request', () => {
    expect(read([Buffer.concat([BOM, BOM, Buffer.from(`${REQUEST}\n`)])])?.line).toBe(`\ufeff${REQUEST}`);
    const inside = '{"v":1,"command":"token","resource":"\ufeffx"}';
    expect(read([Buffer.from(`${inside}\n`)])?.line).toBe(inside);
    expect(read([Buffer.concat([Buffer.from(`${REQUEST}\n`), BOM, Buffer.from('{"cancel":true}\n')])])?.rest).toBe('\ufeff{"cancel":true}\n');
  });

  it('still reports a request over the limit', () => {
    expect(read([BOM, Buffer.from('x'.repeat(2000))], 1024)).toEqual({ line: undefined, rest: '', tooLarge: true });
  });
});
