import * as http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { HTTP2_CONSTANTS } from '../../build.js';

describe('the lazy node:http2 patch of undici', () => {
  it('hands undici exactly the constants node:http2 defines', () => {
    for (const [name, value] of Object.entries(HTTP2_CONSTANTS)) expect((http2.constants as Record<string, unknown>)[name], name).toBe(value);
  });
});
