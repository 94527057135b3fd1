// Injected faults: each request to a target consumes the next fault queued for it (then for 'identity' or
// 'all'), and answers with it instead of the normal response. Queued through the control endpoint.
import { randomUUID } from 'node:crypto';
import type { Ctx } from './http.js';
import { send } from './http.js';

export type FaultTarget = 'imds' | 'appservice' | 'arc' | 'cloudshell' | 'metadata' | 'arm' | 'identity' | 'all';

export type Fault =
  /** Answer with this status (and body, headers; retryAfter in seconds becomes Retry-After). */
  | { status: number; body?: unknown; headers?: Record<string, string>; retryAfter?: number }
  /** Reset the connection without answering. */
  | { reset: true }
  /** Accept the request and never answer (or answer normally after ms). */
  | { hang: true; ms?: number }
  /** Answer 200 with an HTML page, as a captive proxy does. */
  | { html: true };

const IDENTITY_TARGETS: FaultTarget[] = ['imds', 'appservice', 'arc', 'cloudshell'];

export class FaultQueue {
  private readonly queues = new Map<FaultTarget, Fault[]>();

  add(target: FaultTarget, faults: Fault[]): void {
    this.queues.set(target, [...(this.queues.get(target) ?? []), ...faults]);
  }

  clear(): void {
    this.queues.clear();
  }

  pending(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([k, v]) => [k, v.length]));
  }

  private take(target: FaultTarget): Fault | undefined {
    const order: FaultTarget[] = [target, ...(IDENTITY_TARGETS.includes(target) ? (['identity'] as FaultTarget[]) : []), 'all'];
    for (const t of order) {
      const q = this.queues.get(t);
      if (q?.length) return q.shift();
    }
    return undefined;
  }

  /**
   * Applies the next fault for `target`, if any. Returns true when the request was answered (or dropped),
   * or a promise when it should be answered normally after a delay.
   */
  apply(target: FaultTarget, ctx: Ctx): boolean | Promise<void> {
    const fault = this.take(target);
    if (!fault) return false;
    if ('reset' in fault) {
      ctx.req.socket.resetAndDestroy();
      return true;
    }
    if ('hang' in fault) {
      if (fault.ms === undefined) return true;
      return new Promise((resolve) => setTimeout(resolve, fault.ms));
    }
    if ('html' in fault) {
      const page = '<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body>Please accept the terms of use.</body></html>';
      ctx.res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(page)) });
      ctx.res.end(page);
      return true;
    }
    const headers: Record<string, string> = { ...fault.headers };
    if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
    send(ctx.res, fault.status, fault.body ?? faultBody(target, fault.status), headers);
    return true;
  }
}

/** The default body of an injected status, in the format of the target that answers it. */
function faultBody(target: FaultTarget, status: number): unknown {
  if (target === 'arm') {
    const code = status === 429 ? 'TooManyRequests' : status >= 500 ? 'ServiceUnavailable' : 'InjectedFault';
    return { error: { code, message: `Injected fault: HTTP ${status}.` } };
  }
  const reasons: Record<number, string> = {
    404: 'IMDS endpoint is updating',
    410: 'IMDS is going through updates',
    429: 'IMDS Throttle limit reached',
    500: 'Failed to retrieve token from the Active directory.',
  };
  const reason = reasons[status] ?? `Injected fault: HTTP ${status}.`;
  if (target === 'appservice') return { statusCode: status, message: reason, correlationId: randomUUID() };
  if (target === 'cloudshell') return { error: { code: status >= 500 ? 'InternalServerError' : 'BadRequest', message: reason } };
  return { error: status >= 500 ? 'unknown' : 'invalid_request', error_description: reason };
}
