// The loopback guard that keeps tests, the demo and the benchmark on this machine, checked without any I/O:
// if it broke, the end-to-end tests that rely on it would reach Azure.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serviceClient } from '../../src/blob/client.js';
import { assertEndpointAllowed } from '../../src/http.js';

let saved: string | undefined;
beforeEach(() => {
  saved = process.env.MSISTORAGE_LOOPBACK_ONLY;
  process.env.MSISTORAGE_LOOPBACK_ONLY = '1';
});
afterEach(() => {
  // (Assigning undefined would store the string 'undefined'.)
  if (saved === undefined) delete process.env.MSISTORAGE_LOOPBACK_ONLY;
  else process.env.MSISTORAGE_LOOPBACK_ONLY = saved;
});

describe('MSISTORAGE_LOOPBACK_ONLY', () => {
  it.each(['http://127.0.0.1:9/', 'http://127.12.0.1/', 'http://localhost:10000/acct/', 'http://[::1]:8080/'])('lets %s through', (url) => {
    expect(() => assertEndpointAllowed(new URL(url))).not.toThrow();
  });
  it.each([
    'http://169.254.169.254/metadata/identity/oauth2/token',
    'http://169.254.169.254/metadata/instance',
    'https://management.azure.com/',
    'https://acct.blob.core.windows.net/',
    'http://10.0.0.4/',
    'http://192.168.1.1/',
    'http://[fe80::1]/',
    'http://127.0.0.1.nip.io/',
    'http://0.0.0.0/',
  ])('refuses %s', (url) => {
    expect(() => assertEndpointAllowed(new URL(url), 'Endpoint')).toThrow(expect.objectContaining({ code: 'EndpointNotAllowed', parameter: 'Endpoint' }));
  });
  it('guards the blob endpoint of a storage context too, before any request', async () => {
    const ctx = { storageAccountName: 'acct', blobEndpoint: 'https://acct.blob.core.windows.net/', authType: 'SharedKey' as const, storageAccountKey: Buffer.alloc(64, 1).toString('base64') };
    await expect(serviceClient(ctx)).rejects.toMatchObject({ code: 'EndpointNotAllowed', parameter: 'BlobEndpoint' });
    await expect(serviceClient({ ...ctx, blobEndpoint: 'http://127.0.0.1:9/acct/' })).resolves.toBeDefined();
  });
  it('is off only when the variable is not 1', () => {
    process.env.MSISTORAGE_LOOPBACK_ONLY = '0';
    expect(() => assertEndpointAllowed(new URL('https://management.azure.com/'))).not.toThrow();
  });
});
