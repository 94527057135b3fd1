import * as http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import * as assert from 'node:assert';
import { createRequire } from 'node:module';
import { HTTP2_CONSTANTS, LAZY_ASSERT } from '../../build.js';

describe('the lazy node:http2 patch of undici', () => {
  it('hands undici exactly the constants node:http2 defines', () => {
    for (const [name, value] of Object.entries(HTTP2_CONSTANTS)) expect((http2.constants as Record<string, unknown>)[name], name).toBe(value);
  });
});

describe("the lazy node:assert shim for undici", () => {
  const load = () => {
    const module = { exports: undefined as unknown as (value: unknown, message?: string) => void };
    new Function('module', 'require', LAZY_ASSERT)(module, createRequire(import.meta.url));
    return module.exports;
  };
  it('passes truthy values without loading anything', () => {
    expect(() => load()(1, 'never')).not.toThrow();
  });
  it("throws node's own AssertionError, with the message, on a falsy value", () => {
    expect(() => load()(0, 'the socket is gone')).toThrow(assert.AssertionError);
    expect(() => load()(undefined, 'the socket is gone')).toThrow('the socket is gone');
  });
});
