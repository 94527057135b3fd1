// Network failures: how an error from undici or the socket is classified, and what the identity code makes of it.
import { describe, expect, it } from 'vitest';
import { classify } from '../../src/http.js';
import { selectSource } from '../../src/identity/sources.js';
import { networkFailure } from '../../src/identity/token.js';

const URL_ = 'http://169.254.169.254';
/** An error as Node's socket gives it (code on the error), or as undici wraps it (code on the cause). */
const sysErr = (code: string) => Object.assign(new Error(`connect ${code} 169.254.169.254:80`), { code });
const wrapped = (code: string) => Object.assign(new Error('fetch failed'), { cause: { code } });

describe('classify', () => {
  // Node reports these on Linux and macOS, and on Windows for WSAEHOSTUNREACH/ERROR_HOST_UNREACHABLE,
  // WSAENETUNREACH/ERROR_NETWORK_UNREACHABLE and WSAEADDRNOTAVAIL (libuv's uv_translate_sys_error).
  it.each(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ENETDOWN'])('%s is unreachable', (code) => {
    for (const err of [sysErr(code), wrapped(code)]) {
      const net = classify(err, URL_);
      expect(net?.kind).toBe('unreachable');
      expect(net?.message).toContain(code);
    }
  });

  it.each([
    ['ECONNREFUSED', 'refused'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connectTimeout'],
    ['ETIMEDOUT', 'connectTimeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'responseTimeout'],
    ['ECONNRESET', 'reset'],
    ['ENOTFOUND', 'dns'],
    ['UNKNOWN', 'other'],
  ])('%s is %s', (code, kind) => expect(classify(sysErr(code), URL_)?.kind).toBe(kind));

  it('leaves an abort to the caller', () => expect(classify(Object.assign(new Error('aborted'), { name: 'AbortError' }), URL_)).toBeUndefined());
});

describe('an identity endpoint that cannot be reached', () => {
  const imds = selectSource(undefined, { MSISTORAGE_ARC_HIMDS_PATH: '/nonexistent/himds' });

  it.each(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN'])('%s says no endpoint is reachable here, and how to choose another source', (code) => {
    const e = networkFailure(imds, { error: classify(sysErr(code), URL_)!, timedOut: false });
    expect(e.code).toBe('ManagedIdentityUnavailable');
    expect(e.category).toBe('ResourceUnavailable');
    expect(e.message).toMatch(/No managed-identity endpoint is reachable from this machine/);
    for (const name of ['AZURE_POD_IDENTITY_AUTHORITY_HOST', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', '-Endpoint']) expect(e.message).toContain(name);
    expect(e.message).not.toMatch(/try again/i);
  });

  it('an endpoint the caller named with -Endpoint is checked, not replaced by the list of sources', () => {
    const named = selectSource('http://127.0.0.1:9/oauth2/token');
    const e = networkFailure(named, { error: classify(sysErr('ECONNREFUSED'), URL_)!, timedOut: false });
    expect(e.code).toBe('ManagedIdentityUnavailable');
    expect(e.parameter).toBe('Endpoint');
    expect(e.message).toMatch(/^The identity endpoint given with -Endpoint, http:\/\/127\.0\.0\.1:9\/oauth2\/token, is not reachable/);
    expect(e.message).toContain('leave -Endpoint out');
    expect(e.message).not.toContain('AZURE_POD_IDENTITY_AUTHORITY_HOST');
  });

  it('a reset is still a failure of an endpoint that exists', () => {
    const e = networkFailure(imds, { error: classify(sysErr('ECONNRESET'), URL_)!, timedOut: true }, 'TimeoutSec');
    expect(e.code).toBe('IdentityEndpointUnavailable');
    expect(e.message).toContain('-TimeoutSec ran out');
  });
});
