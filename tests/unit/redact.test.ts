import { describe, expect, it } from 'vitest';
import { redact, registerSecret } from '../../src/redact.js';
import { backoffMs } from '../../src/retry.js';
import { retryAfterMs } from '../../src/http.js';
import { imdsRetryPolicy } from '../../src/identity/token.js';

describe('redact', () => {
  it('removes JWTs, bearer values, SAS signatures and account keys', () => {
    const jwt = 'eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.c2lnbmF0dXJlc2lnbmF0dXJl';
    const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
    const text = `token ${jwt} header Bearer abcdefghijklmnopqrstuvwxyz sas ?sv=2020&sig=abc%2Bdef key ${key}`;
    const out = redact(text);
    expect(out).not.toContain(jwt);
    expect(out).not.toContain('abcdefghijklmnopqrstuvwxyz');
    expect(out).not.toContain('abc%2Bdef');
    expect(out).not.toContain(key);
  });

  it('leaves ordinary text, paths and ids alone', () => {
    const text = "The resource group 'rg-1' was not found in subscription '47000f32-1714-4b72-b022-aa1b21cfa03f' for /home/user/data/file.txt";
    expect(redact(text)).toBe(text);
  });

  it('removes any secret registered earlier, whatever its shape', () => {
    registerSecret('short-but-secret!');
    expect(redact('the value short-but-secret! leaked')).toBe('the value [redacted] leaked');
  });
});

describe('retry timing', () => {
  it('backs off exponentially with jitter, capped; IMDS never retries sooner than 1 s (its guidance)', () => {
    const p = imdsRetryPolicy();
    expect(backoffMs(p, 1, () => 0)).toBe(1000);
    expect(backoffMs(p, 1, () => 1)).toBe(2000);
    expect(backoffMs(p, 3, () => 1)).toBe(8000);
    expect(backoffMs(p, 10, () => 1)).toBe(10_000);
    expect(p.minDelayMs).toBe(1000);
  });
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs({ 'retry-after': '2' })).toBe(2000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4000)).toBe(6000);
    expect(retryAfterMs({})).toBeUndefined();
  });
});
