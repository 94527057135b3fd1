// Property-based tests: random input never crashes the request validator or the reply parsers; it always
// ends in a result or a well-formed MsiError (a code, a category, a message).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { armError, parseAccountResponse, parseListAccountsResponse, parseListKeysResponse, parseResourceId, parseSasResponse } from '../../src/arm/arm.js';
import { parseInstanceMetadata } from '../../src/arm/metadata.js';
import { MsiError } from '../../src/errors.js';
import { selectSource } from '../../src/identity/sources.js';
import { identityError, parseExpiresOn, parseTokenResponse } from '../../src/identity/token.js';
import { PROTOCOL_VERSION, parseRequest, requestSpecs } from '../../src/protocol.js';

const RUNS = 1500;
let tried = 0;
afterAll(() => {
  console.log(`fuzz: ${tried} random inputs tried, every one answered with a result or a well-formed error`);
});

function wellFormed(fn: () => unknown): void {
  tried++;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MsiError)) throw new Error(`not an MsiError: ${String(err)}`);
    const json = err.toJson();
    expect(typeof json.code).toBe('string');
    expect(json.code.length).toBeGreaterThan(0);
    expect(typeof json.category).toBe('string');
    expect(typeof json.message).toBe('string');
    expect(json.message.length).toBeGreaterThan(0);
    expect(() => JSON.stringify(json)).not.toThrow();
  }
}

const commands = Object.keys(requestSpecs);
const fieldNames = [...new Set(Object.values(requestSpecs).flatMap((f) => Object.keys(f)))];

describe('the request validator', () => {
  it('answers any JSON text with a request or a protocol error', () => {
    fc.assert(fc.property(fc.json(), (text) => wellFormed(() => parseRequest(text))), { numRuns: RUNS });
  });

  it('answers any string with a request or a protocol error', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => wellFormed(() => parseRequest(text))), { numRuns: RUNS });
  });

  it('answers request-shaped objects with plausible and implausible fields', () => {
    const request = fc.record(
      {
        v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer(), fc.string()),
        command: fc.oneof(fc.constantFrom(...commands), fc.string()),
        fields: fc.dictionary(fc.oneof(fc.constantFrom(...fieldNames), fc.string()), fc.jsonValue(), { maxKeys: 6 }),
      },
      { requiredKeys: ['v', 'command'] },
    );
    fc.assert(
      fc.property(request, (r) => wellFormed(() => parseRequest(JSON.stringify({ v: r.v, command: r.command, ...(r.fields ?? {}) })))),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('the identity reply parsers', () => {
  const source = selectSource(undefined, {});
  const reply = fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    body: fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ access_token: v, expires_on: v, expires_in: v, token_type: v, resource: v }))),
  });
  it('parse any token reply into a token or an error', () => {
    fc.assert(fc.property(reply, (r) => wellFormed(() => parseTokenResponse(source, { status: r.status, headers: {}, body: r.body }, 'https://management.azure.com/'))), { numRuns: RUNS });
  });
  it('explain any failed reply', () => {
    fc.assert(
      fc.property(reply, (r) => {
        tried++;
        const e = identityError(source, { status: r.status, headers: {}, body: r.body }, 'https://management.azure.com/');
        expect(e).toBeInstanceOf(MsiError);
        expect(e.message.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });
  it('never misread an expiry', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (on, inn) => {
        tried++;
        const v = parseExpiresOn(on, inn, 1_700_000_000);
        expect(v === undefined || Number.isFinite(v)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the ARM and IMDS metadata reply parsers', () => {
  const reply = fc.record({ status: fc.integer({ min: 100, max: 599 }), body: fc.oneof(fc.string(), fc.json()) }).map((r) => ({ ...r, headers: {} }));
  const ref = { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroupName: 'rg', storageAccountName: 'acct' };
  it.each([
    ['listKeys', parseListKeysResponse],
    ['account', parseAccountResponse],
    ['list', parseListAccountsResponse],
    ['SAS', parseSasResponse],
    ['instance metadata', parseInstanceMetadata],
  ])('%s: any reply is parsed or refused cleanly', (_name, parse) => {
    fc.assert(fc.property(reply, (r) => wellFormed(() => (parse as (x: typeof r) => unknown)(r))), { numRuns: RUNS });
  });
  it('ARM errors: any reply is explained', () => {
    fc.assert(
      fc.property(reply, (r) => {
        tried++;
        expect(armError(r, ref, 'Microsoft.Storage/storageAccounts/listKeys/action')).toBeInstanceOf(MsiError);
      }),
      { numRuns: RUNS },
    );
  });
  it('resource ids: any text is parsed or refused cleanly', () => {
    fc.assert(fc.property(fc.string(), (s) => wellFormed(() => parseResourceId(s))), { numRuns: RUNS });
  });
});
