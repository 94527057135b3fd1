// The storage per-try limit (src/blob/client.ts tryTimeoutPolicy): while a body is being sent it is a limit on
// silence, not on the whole try, so that a slow but moving uplink never fails an upload; a connection that
// takes nothing, or a service that never answers, still ends the try. The "connection" here is a reader that
// takes the body's pieces at a set pace, as a socket drains.
import { RestError } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { tryTimeoutPolicy } from '../../src/blob/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A transport that reads the request body piece by piece, pausing `pauseMs` after each, then answers 201. */
function slowReader(pauseMs: number, stallAfterBytes = Infinity) {
  let received = 0;
  let pieces = 0;
  const next = async (request: unknown) => {
    const r = request as { body?: unknown; abortSignal?: AbortSignal };
    const body = typeof r.body === 'function' ? (r.body as () => NodeJS.ReadableStream)() : r.body;
    if (Buffer.isBuffer(body)) {
      received += body.length;
    } else {
      for await (const piece of body as AsyncIterable<Buffer>) {
        if (r.abortSignal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        received += piece.length;
        pieces++;
        while (received >= stallAfterBytes && !r.abortSignal?.aborted) await sleep(20);
        await sleep(pauseMs);
      }
    }
    if (r.abortSignal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    return { status: 201, headers: {} };
  };
  return { next, get received() { return received; }, get pieces() { return pieces; } };
}

describe('the storage per-try limit while a body is sent', () => {
  it('lets a 4 MiB body that takes 3x the limit through, as long as every piece moves within it', async () => {
    const policy = tryTimeoutPolicy(400, 4, RestError);
    const body = Buffer.alloc(4 * 1024 * 1024, 7);
    const reader = slowReader(80);
    const started = Date.now();
    const request = { method: 'PUT', url: 'http://127.0.0.1/acct/c/b?comp=block', body };
    await expect(policy.sendRequest(request, reader.next)).resolves.toMatchObject({ status: 201 });
    expect(Date.now() - started).toBeGreaterThan(1200);
    expect(reader.received).toBe(body.length);
    expect(reader.pieces).toBe(16);
    // The request object is the SDK's, retried as it is: it gets its body back.
    expect(request.body).toBe(body);
  });

  it('ends the try when the connection takes nothing for the whole limit, saying so', async () => {
    const policy = tryTimeoutPolicy(300, 4, RestError);
    const reader = slowReader(0, 1024 * 1024);
    const started = Date.now();
    const err = await policy.sendRequest({ method: 'PUT', url: 'http://127.0.0.1/acct/c/b', body: Buffer.alloc(4 * 1024 * 1024) }, reader.next).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestError);
    expect((err as RestError).code).toBe('ETIMEDOUT');
    expect((err as Error).message).toBe('The connection took no data for 300 ms.');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('lets the same request, tried again, be silent longer (a link slower than a piece per limit gets through later)', async () => {
    const policy = tryTimeoutPolicy(200, 4, RestError);
    const request = { method: 'PUT', url: 'http://127.0.0.1/acct/c/b', body: Buffer.alloc(1024 * 1024) };
    const first = await policy.sendRequest(request, slowReader(0, 512 * 1024).next).catch((e: unknown) => e);
    expect((first as Error).message).toBe('The connection took no data for 200 ms.');
    const second = await policy.sendRequest(request, slowReader(0, 512 * 1024).next).catch((e: unknown) => e);
    expect((second as Error).message).toBe('The connection took no data for 400 ms.');
  });

  it('still limits the wait for an answer once the body is sent, and a small body as a whole', async () => {
    const policy = tryTimeoutPolicy(300, 4, RestError);
    const never = async (request: unknown) => {
      const r = request as { abortSignal?: AbortSignal };
      await new Promise((_, reject) => r.abortSignal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
    };
    for (const body of [Buffer.alloc(10), undefined]) {
      const err = await policy.sendRequest({ method: 'PUT', url: 'http://127.0.0.1/acct/c/b', body }, never).catch((e: unknown) => e);
      expect((err as Error).message).toBe('The service did not answer within 300 ms.');
    }
  });

  it('gives the answer to a body sent in pieces the limit again per 8 MiB (what buffers hold drains at the link pace)', async () => {
    const policy = tryTimeoutPolicy(300, 4, RestError);
    const sentThenSilent = async (request: unknown) => {
      const r = request as { body: () => AsyncIterable<Buffer>; abortSignal?: AbortSignal };
      for await (const _piece of r.body()) {
        // taken as fast as they come
      }
      await new Promise((_, reject) => r.abortSignal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
    };
    const started = Date.now();
    const err = await policy.sendRequest({ method: 'PUT', url: 'http://127.0.0.1/acct/c/b', body: Buffer.alloc(4 * 1024 * 1024) }, sentThenSilent).catch((e: unknown) => e);
    expect((err as Error).message).toBe('The service did not answer within 450 ms.');
    expect(Date.now() - started).toBeGreaterThanOrEqual(440);
  });
});
