// HTTP for the identity endpoint and ARM, on undici (loaded only by the commands that send requests).
// Request builders elsewhere are pure: they return an HttpRequest, and only this file sends one.
import { connect as netConnect } from 'node:net';
import type { Dispatcher, buildConnector } from 'undici';
import { MsiError } from './errors.js';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface SendOptions {
  /** 'direct' for identity endpoints (never through a proxy); 'env' honours HTTP(S)_PROXY and NO_PROXY. */
  proxy: 'direct' | 'env';
  connectTimeoutMs: number;
  /** Time to wait for the response headers, and between body chunks. */
  responseTimeoutMs: number;
  signal?: AbortSignal;
}

/**
 * How a request failed without an HTTP response. 'refused', 'unreachable' and 'connectTimeout' mean nothing
 * answers at that address (off Azure, the identity endpoint's usual failures); the others mean something
 * answered and then misbehaved.
 */
export type NetworkErrorKind = 'refused' | 'unreachable' | 'connectTimeout' | 'responseTimeout' | 'reset' | 'dns' | 'tls' | 'other';

/** A request that got no HTTP response at all. */
export class NetworkError extends Error {
  constructor(
    readonly kind: NetworkErrorKind,
    readonly url: string,
    message: string,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

// Identity and ARM replies are small; a subscription's storage accounts in one page can run to megabytes.
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/**
 * MSISTORAGE_LOOPBACK_ONLY=1 makes every endpoint that is not on this machine an error, before anything is
 * sent. Tests, the demo and the benchmark run with it, so that a forgotten override can never send traffic
 * to 169.254.169.254 or to Azure.
 */
export function assertEndpointAllowed(url: URL, parameter?: string): void {
  if (process.env.MSISTORAGE_LOOPBACK_ONLY !== '1') return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return;
  throw new MsiError(
    'EndpointNotAllowed',
    `MSISTORAGE_LOOPBACK_ONLY is set, so only loopback endpoints may be contacted, and ${url.origin} is not one. ` +
      'Point the module at the local stack (AZURE_POD_IDENTITY_AUTHORITY_HOST, -Endpoint, -ArmEndpoint, -BlobEndpoint), or unset MSISTORAGE_LOOPBACK_ONLY.',
    'PermissionDenied',
    { parameter },
  );
}

/**
 * Connects plain-HTTP identity endpoints with a connect timeout that fires on time. undici times connects
 * with its coarse timers, which fire up to half a second late; off Azure, where nothing answers at
 * 169.254.169.254, the failure takes as long as the connect attempts, so they must last what they say.
 * (Every identity source is plain HTTP on a local or link-local address; an https -Endpoint keeps undici's.)
 */
function punctualHttpConnector(timeoutMs: number): buildConnector.connector {
  return ({ hostname, port }, callback) => {
    let settled = false;
    const socket = netConnect({ host: hostname, port: Number(port) || 80, noDelay: true });
    const settle = (...args: [null, typeof socket] | [Error, null]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      callback(...args);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      settle(Object.assign(new Error(`Connect Timeout Error (attempt timeout: ${timeoutMs}ms)`), { code: 'UND_ERR_CONNECT_TIMEOUT' }), null);
    }, timeoutMs);
    socket.once('connect', () => settle(null, socket));
    socket.once('error', (err) => settle(err, null));
  };
}

const dispatchers = new Map<string, Dispatcher>();
async function dispatcherFor(options: SendOptions, protocol: string): Promise<Dispatcher> {
  const punctual = options.proxy === 'direct' && protocol === 'http:';
  // Connect timeouts are rounded up to 100 ms for the cache key, so that a shrinking remainder of a budget
  // does not make a new Agent (and keep its sockets) for every try.
  const connectTimeoutMs = Math.ceil(options.connectTimeoutMs / 100) * 100;
  const key = `${options.proxy}:${punctual ? 'http' : 'any'}:${connectTimeoutMs}`;
  let d = dispatchers.get(key);
  if (!d) {
    // maxHeaderSize is Node's own default (16 KiB); giving it spares loading node:http (see build.ts).
    const maxHeaderSize = 16 * 1024;
    if (options.proxy === 'env') {
      const { default: EnvHttpProxyAgent } = await import('undici/lib/dispatcher/env-http-proxy-agent.js');
      d = new EnvHttpProxyAgent({ connect: { timeout: connectTimeoutMs }, maxHeaderSize });
    } else {
      const { default: Agent } = await import('undici/lib/dispatcher/agent.js');
      d = new Agent({ connect: punctual ? punctualHttpConnector(connectTimeoutMs) : { timeout: connectTimeoutMs }, maxHeaderSize });
    }
    dispatchers.set(key, d);
  }
  return d;
}

/** Maps an error from undici or the socket to a NetworkError; undefined for an abort (the caller's stop). */
export function classify(err: unknown, url: string): NetworkError | undefined {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  const msg = e?.message ?? String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new NetworkError('refused', url, 'the connection was refused');
    // No route to the address: off Azure, 169.254.169.254 often fails this way at once instead of hanging.
    // On Windows, libuv reports WSAEHOSTUNREACH and ERROR_HOST_UNREACHABLE as EHOSTUNREACH,
    // WSAENETUNREACH and ERROR_NETWORK_UNREACHABLE as ENETUNREACH, WSAEADDRNOTAVAIL as EADDRNOTAVAIL
    // (WSAEHOSTDOWN and WSAENETDOWN have no libuv code and arrive as UNKNOWN, which stays 'other').
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return new NetworkError('unreachable', url, `no network route leads to the address (${code})`);
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return new NetworkError('connectTimeout', url, 'the connection attempt timed out');
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new NetworkError('responseTimeout', url, 'the server accepted the connection but did not answer in time');
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new NetworkError('reset', url, 'the connection was reset');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new NetworkError('dns', url, 'the host name could not be resolved');
    case 'UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE':
      return new NetworkError('other', url, `the response was larger than ${MAX_RESPONSE_BYTES} bytes`);
    default:
      if (code && /^(ERR_TLS|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO)/.test(code)) return new NetworkError('tls', url, `TLS failed: ${msg}`);
      if (e?.name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED') return undefined;
      return new NetworkError('other', url, msg);
  }
}

export async function send(req: HttpRequest, options: SendOptions): Promise<HttpResponse> {
  const url = new URL(req.url);
  assertEndpointAllowed(url);
  const dispatcher = await dispatcherFor(options, url.protocol);
  const { default: request } = await import('undici/lib/api/api-request.js');
  try {
    const res = await request.call(dispatcher, {
      origin: url.origin,
      path: url.pathname + url.search,
      method: req.method,
      headers: req.headers,
      body: req.body,
      headersTimeout: options.responseTimeoutMs,
      bodyTimeout: options.responseTimeoutMs,
      signal: options.signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.body.destroy();
        throw Object.assign(new Error('response too large'), { code: 'UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE' });
      }
      chunks.push(chunk as Buffer);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    return { status: res.statusCode, headers, body: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    if (options.signal?.aborted) throw new MsiError('OperationStopped', 'The operation was stopped.', 'OperationStopped');
    const net = classify(err, url.origin);
    if (net) throw net;
    throw err;
  }
}

/** Parses a JSON body, or returns undefined (an HTML page from a captive proxy, an empty body...). */
export function tryParseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Retry-After in milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(headers: Record<string, string>, now = Date.now()): number | undefined {
  const ms = headers['retry-after-ms'] ?? headers['x-ms-retry-after-ms'];
  if (ms !== undefined && /^\d+$/.test(ms.trim())) return Number(ms.trim());
  const v = headers['retry-after'];
  if (v === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v.trim()) * 1000);
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
