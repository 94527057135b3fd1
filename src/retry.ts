// Retries inside one overall deadline. A policy decides what is retryable; this loop owns the timing.
import { MsiError } from './errors.js';
import { type HttpRequest, type HttpResponse, NetworkError, type SendOptions, retryAfterMs, send } from './http.js';
import { verbose } from './log.js';

export class Deadline {
  readonly at: number;
  constructor(
    readonly seconds: number,
    readonly parameter = 'TimeoutSec',
  ) {
    this.at = Date.now() + seconds * 1000;
  }
  remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }
  expired(): boolean {
    return this.remainingMs() <= 0;
  }
}

export type Outcome = { response: HttpResponse; error?: undefined } | { response?: undefined; error: NetworkError };

export interface RetryPolicy {
  name: string;
  /**
   * Returns true when this outcome may be retried. attempt counts from 1; elapsedMs is the time since the first
   * try began; earlier holds the outcomes of the previous tries, oldest first (statuses and errors, no bodies;
   * sendWithRetries always passes it, and a policy called without it treats this as the first try),
   * so that a policy can count one kind of failure apart from another.
   */
  retryable(outcome: Outcome, attempt: number, elapsedMs: number, earlier?: readonly Outcome[]): boolean;
  /** Exponential base delay of the first retry; doubled each time, with full jitter, capped by maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  connectTimeoutMs: number;
  /** Per-try response timeout (also bounded by the deadline). */
  tryTimeoutMs: number;
  proxy: SendOptions['proxy'];
  /** The connect timeout of one try, when it is not always connectTimeoutMs (attempt from 1; as for retryable). */
  connectTimeoutFor?(attempt: number, elapsedMs: number, earlier?: readonly Outcome[]): number;
  /** The pause before retrying this outcome, when the exponential back-off does not suit it (Retry-After still wins). */
  retryDelayMs?(outcome: Outcome): number | undefined;
  /** The shortest pause between tries (back-off and Retry-After alike; not retryDelayMs), as backoffScale scales it. */
  minDelayMs?: number;
}

/** Test knob: scales every computed back-off delay (not Retry-After), so suites can run the retry table fast. */
export function backoffScale(): number {
  // Unset or empty (a shell's way of clearing it) means no scaling: Number('') would be 0.
  const raw = process.env.MSISTORAGE_RETRY_DELAY_SCALE?.trim();
  const v = Number(raw);
  return raw && Number.isFinite(v) && v >= 0 ? v : 1;
}

export function backoffMs(policy: RetryPolicy, retry: number, random = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  // "equal jitter": at least half the exponential step, so back-off always grows.
  return Math.round((cap / 2 + (random() * cap) / 2) * backoffScale());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new MsiError('OperationStopped', 'The operation was stopped.', 'OperationStopped'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new MsiError('OperationStopped', 'The operation was stopped.', 'OperationStopped'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function describe(outcome: Outcome): string {
  return outcome.response ? `HTTP ${outcome.response.status}` : outcome.error.message;
}

/**
 * Sends `build()` until the policy says stop, the outcome is final, or the deadline would pass.
 * Returns the last outcome (a response, or a network error) for the caller to interpret.
 */
export async function sendWithRetries(
  build: () => HttpRequest,
  policy: RetryPolicy,
  deadline: Deadline,
  signal?: AbortSignal,
): Promise<Outcome & { attempts: number; timedOut: boolean; waitAskedMs?: number }> {
  const started = Date.now();
  const earlier: Outcome[] = [];
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline.remainingMs();
    const connectTimeoutMs = policy.connectTimeoutFor?.(attempt, Date.now() - started, earlier) ?? policy.connectTimeoutMs;
    let outcome: Outcome;
    try {
      const response = await send(build(), {
        proxy: policy.proxy,
        connectTimeoutMs: Math.max(1, Math.min(connectTimeoutMs, remaining)),
        responseTimeoutMs: Math.max(1, Math.min(policy.tryTimeoutMs, remaining)),
        signal,
      });
      outcome = { response };
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      outcome = { error: err };
    }
    const elapsed = Date.now() - started;
    if (!policy.retryable(outcome, attempt, elapsed, earlier)) return { ...outcome, attempts: attempt, timedOut: false };
    // Bodies are not kept: a 410 storm can last 70 s, and policies look at statuses and error kinds only.
    earlier.push(outcome.response ? { response: { status: outcome.response.status, headers: outcome.response.headers, body: '' } } : outcome);
    const hinted = outcome.response ? retryAfterMs(outcome.response.headers) : undefined;
    const special = hinted === undefined ? policy.retryDelayMs?.(outcome) : undefined;
    const delay = special ?? Math.max(hinted ?? backoffMs(policy, attempt), Math.round((policy.minDelayMs ?? 0) * backoffScale()));
    if (delay >= deadline.remainingMs()) {
      verbose(`${policy.name}: ${describe(outcome)}; no time left for another try within -${deadline.parameter} ${deadline.seconds}.`);
      // The server's own Retry-After, when that is what did not fit: the message then says how long it asked for.
      return { ...outcome, attempts: attempt, timedOut: true, ...(hinted !== undefined ? { waitAskedMs: hinted } : {}) };
    }
    verbose(`${policy.name}: ${describe(outcome)} on try ${attempt}; retrying in ${delay} ms${hinted !== undefined ? ' (Retry-After)' : ''}.`);
    await sleep(delay, signal);
  }
}
