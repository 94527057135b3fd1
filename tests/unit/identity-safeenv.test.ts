// The environment test, demo and benchmark children get: no ambient proxy or identity settings survive.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { safeEnv } from '../../scripts/tools.ts';

const AMBIENT = {
  no_proxy: '*',
  NO_PROXY: '*',
  HTTP_PROXY: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  IDENTITY_ENDPOINT: 'http://127.0.0.1:9/msi/token',
  IDENTITY_SERVER_THUMBPRINT: 'AB12',
  MSI_SECRET: 's',
};
const saved = Object.fromEntries(Object.keys(AMBIENT).map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
});

describe('safeEnv', () => {
  it("drops lowercase no_proxy, which undici reads before NO_PROXY, and sets NO_PROXY to loopback", () => {
    Object.assign(process.env, AMBIENT);
    const env = safeEnv();
    expect(Object.keys(env).filter((k) => k === 'no_proxy')).toEqual([]);
    expect(env.NO_PROXY).toBe('127.0.0.1,localhost,::1');
    for (const k of ['HTTP_PROXY', 'https_proxy', 'IDENTITY_ENDPOINT', 'IDENTITY_SERVER_THUMBPRINT', 'MSI_SECRET']) expect(env[k]).toBeUndefined();
  });

  it('points the Arc agent detection at a file that does not exist', () => {
    const env = safeEnv();
    expect(env.MSISTORAGE_ARC_HIMDS_PATH).toBeTruthy();
    expect(existsSync(env.MSISTORAGE_ARC_HIMDS_PATH!)).toBe(false);
  });
});
