import { describe, expect, it } from 'vitest';
import { MsiError } from '../../src/errors.js';
import { MAX_REQUEST_BYTES, PROTOCOL_VERSION, canonicalBlobNames, parseRequest } from '../../src/protocol.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MsiError);
    return (err as MsiError).code;
  }
  return undefined;
}

describe('parseRequest', () => {
  it('accepts a well-formed request and keeps its fields', () => {
    const req = parseRequest(JSON.stringify({ v: PROTOCOL_VERSION, command: 'token', resource: 'https://storage.azure.com/', timeoutSec: 5 }));
    expect(req).toEqual({ v: PROTOCOL_VERSION, command: 'token', resource: 'https://storage.azure.com/', timeoutSec: 5 });
  });

  it('drops null optional fields', () => {
    const req = parseRequest(JSON.stringify({ v: 1, command: 'token', endpoint: null }));
    expect(req).not.toHaveProperty('endpoint');
  });

  it.each([
    ['not json', 'MalformedRequest'],
    ['[1,2]', 'MalformedRequest'],
    ['"x"', 'MalformedRequest'],
    [JSON.stringify({ command: 'token' }), 'ProtocolVersionMismatch'],
    [JSON.stringify({ v: 2, command: 'token' }), 'ProtocolVersionMismatch'],
    [JSON.stringify({ v: 1, command: 'format-disk' }), 'UnknownCommand'],
    [JSON.stringify({ v: 1, command: 'token', resorce: 'x' }), 'UnknownRequestKey'],
    [JSON.stringify({ v: 1, command: 'token', timeoutSec: '5' }), 'InvalidRequestValue'],
    [JSON.stringify({ v: 1, command: 'sas', storageAccountName: 'a', permission: 'r' }), 'MissingRequestKey'],
    [JSON.stringify({ v: 1, command: 'keys', environment: 'AzureGermanCloud' }), 'InvalidRequestValue'],
    [JSON.stringify({ v: 1, command: 'keys', subscriptionId: 's', resourceGroupName: 'r', storageAccountName: 'a', keyName: 'key3' }), 'InvalidRequestValue'],
    [JSON.stringify({ v: 1, command: 'upload', context: { storageAccountName: 'a', blobEndpoint: 'b', authType: 'SharedKey', storageAccountKey: 'k', extra: 1 }, items: [{ file: '/f' }], container: 'c' }), 'UnknownRequestKey'],
    [JSON.stringify({ v: 1, command: 'upload', context: { storageAccountName: 'a', blobEndpoint: 'b', authType: 'SharedKey', storageAccountKey: 'k' }, items: [{ file: '/f' }], container: 'c', metadata: { a: 1 } }), 'InvalidRequestValue'],
    [JSON.stringify({ v: 1, command: 'constructor' }), 'UnknownCommand'],
    ['{"v":1,"command":"token","__proto__":{"resource":"x"}}', 'UnknownRequestKey'],
    [JSON.stringify({ v: 1, command: 'download', context: { storageAccountName: 'a', blobEndpoint: 'b', authType: 'SharedKey' }, items: [{ container: 'c', blob: 'b' }] }), 'MissingRequestKey'],
    [JSON.stringify({ v: 1, command: 'download', context: { storageAccountName: 'a', blobEndpoint: 'b', authType: 'SharedKey' }, items: 'x' }), 'InvalidRequestValue'],
  ])('rejects %s with %s', (line, expected) => {
    expect(code(() => parseRequest(line))).toBe(expected);
  });

  it('rejects a request over the size limit before parsing it', () => {
    const big = JSON.stringify({ v: 1, command: 'token', resource: 'x'.repeat(MAX_REQUEST_BYTES) });
    expect(code(() => parseRequest(big))).toBe('RequestTooLarge');
  });

  it('names the offending key path in nested objects', () => {
    try {
      parseRequest(JSON.stringify({ v: 1, command: 'keys', subscriptionId: 's', resourceGroupName: 'r', storageAccountName: 'a', identity: { endpiont: 'x' } }));
      expect.unreachable();
    } catch (err) {
      expect((err as MsiError).message).toContain("'identity.endpiont'");
    }
  });
});

describe('blob names as Azure Storage keeps them', () => {
  it("turns '\\' into '/' in every blob name and a listing prefix, and says what it changed", () => {
    const req = parseRequest(
      JSON.stringify({ v: PROTOCOL_VERSION, command: 'remove', context: { storageAccountName: 'acct', authType: 'SharedKey', storageAccountKey: 'a2V5', blobEndpoint: 'http://127.0.0.1:1/acct/' }, items: [{ container: 'c', blob: 'a\\b\\c.txt' }, { container: 'c', blob: 'plain.txt' }] }),
    );
    expect(canonicalBlobNames(req)).toEqual(["Blob name 'a\\b\\c.txt' is 'a/b/c.txt': Azure Storage reads '\\' in a blob name as '/'."]);
    expect((req as { items: { blob: string }[] }).items.map((i) => i.blob)).toEqual(['a/b/c.txt', 'plain.txt']);
    const list = parseRequest(JSON.stringify({ v: PROTOCOL_VERSION, command: 'list', context: { storageAccountName: 'acct', authType: 'SharedKey', storageAccountKey: 'a2V5', blobEndpoint: 'http://127.0.0.1:1/acct/' }, container: 'c', prefix: 'logs\\' }));
    canonicalBlobNames(list);
    expect((list as { prefix: string }).prefix).toBe('logs/');
  });
});
