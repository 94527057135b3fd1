// Getting a token: pick the source, send with its retry policy inside one deadline, parse the reply.
import { MsiError } from '../errors.js';
import { type HttpResponse, NetworkError, tryParseJson } from '../http.js';
import { verbose } from '../log.js';
import type { IdentityJson, TokenResult } from '../protocol.js';
import { registerSecret } from '../redact.js';
import { Deadline, type Outcome, type RetryPolicy, sendWithRetries } from '../retry.js';
import { answerArcChallenge } from './arc.js';
import { type IdentitySelector, type IdentitySource, checkSelector, normalizeResource, selectSource } from './sources.js';

export const DEFAULT_TOKEN_TIMEOUT_SEC = 90;
const GONE_RETRY_WINDOW_MS = 70_000;
/** Retries of everything but 410, which has its own 70 s window and is counted apart. */
const MAX_RETRIES = 5;
/** One connect attempt: the Azure SDKs probe IMDS with a 1 s timeout too. */
const CONNECT_TIMEOUT_MS = 1000;
/** All connect attempts that time out, together: off Azure the call must fail fast (under 3 s with Node's start). */
const CONNECT_BUDGET_MS = 1600;
/** A second connect attempt shorter than this is not worth making. */
const MIN_CONNECT_RETRY_MS = 400;

const isConnectTimeout = (o: Outcome | undefined) => o?.error?.kind === 'connectTimeout';

/**
 * Microsoft's IMDS guidance: retry 404, 408, 410, 429, 5xx and timeouts with exponential back-off; 410 means
 * IMDS is being updated and is back within 70 s; never retry another 4xx. The 410 window is counted apart
 * from the five other retries, so that a 503 after a long 410 spell is still retried.
 *
 * Connecting is the exception, because off Azure nothing answers at 169.254.169.254 and the caller should
 * hear so at once. A refused or unreachable address is never retried. A connect timeout is retried once,
 * at once, within CONNECT_BUDGET_MS: a 1 s limit ends before the kernel resends a lost SYN (Linux resends
 * after 1 s, Windows after 3 s), so the second attempt is what rides out one lost packet on the way to IMDS,
 * and the off-Azure failure stays under 3 s. The response timeout is not shortened on the first try: when
 * something accepts the connection it is an identity endpoint (or a proxy, whose answer is explained), IMDS
 * can take seconds to fetch a first token from Entra ID, and a short first timeout would only ask twice.
 */
export function imdsRetryPolicy(): RetryPolicy {
  return {
    name: 'Identity endpoint',
    // IMDS: "safe to retry after waiting for at least 1 second"; equal jitter on a 2 s base gives 1-2 s, 2-4 s...
    baseDelayMs: 2000,
    minDelayMs: 1000,
    maxDelayMs: 10_000,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    tryTimeoutMs: 20_000,
    proxy: 'direct',
    retryable(outcome: Outcome, _attempt: number, elapsedMs: number, earlier: readonly Outcome[] = []): boolean {
      const otherRetries = earlier.filter((o) => o.response?.status !== 410 && !isConnectTimeout(o)).length;
      if (outcome.error) {
        const kind = outcome.error.kind;
        // The endpoint has answered before (a 410 spell while IMDS is updated): a lost or refused connection
        // now is a passing fault of a live endpoint, not a machine off Azure, and is retried like a reset.
        const answered = earlier.some((o) => o.response !== undefined);
        if (answered && (kind === 'connectTimeout' || kind === 'refused' || kind === 'reset' || kind === 'responseTimeout')) return otherRetries < MAX_RETRIES;
        if (kind === 'connectTimeout') return !earlier.some(isConnectTimeout) && elapsedMs + MIN_CONNECT_RETRY_MS <= CONNECT_BUDGET_MS;
        if (kind === 'reset' || kind === 'responseTimeout') return otherRetries < MAX_RETRIES;
        return false;
      }
      const s = outcome.response.status;
      if (s === 410) return elapsedMs < GONE_RETRY_WINDOW_MS;
      if (s === 404 || s === 408 || s === 429 || (s >= 500 && s <= 599)) return otherRetries < MAX_RETRIES;
      return false;
    },
    connectTimeoutFor(_attempt: number, elapsedMs: number, earlier: readonly Outcome[] = []): number {
      if (!isConnectTimeout(earlier.at(-1)) || earlier.some((o) => o.response !== undefined)) return CONNECT_TIMEOUT_MS;
      return Math.max(MIN_CONNECT_RETRY_MS, Math.min(CONNECT_TIMEOUT_MS, CONNECT_BUDGET_MS - elapsedMs));
    },
    // The connect timeout already waited: back-off would only spend the budget.
    retryDelayMs: (outcome: Outcome) => (isConnectTimeout(outcome) ? 0 : undefined),
  };
}

/** Retries of the local agents' endpoints (App Service, Azure Arc, Cloud Shell). */
const AGENT_MAX_RETRIES = 3;
const AGENT_RETRY_STATUSES = new Set([404, 408, 429, 500, 503, 504]);

/**
 * App Service, Azure Arc and Cloud Shell answer from a local agent, not IMDS: MSAL's default managed-identity
 * retry policy, three retries of 404, 408, 429, 500, 503 and 504 (and of a reset or a response timeout),
 * after Retry-After or 1 s. A 410 is not "IMDS is being updated" there, and 501 or 505 is final. A connect
 * timeout or a refused connection is not retried: the agent runs on this machine, or not at all.
 */
export function agentRetryPolicy(): RetryPolicy {
  return {
    name: 'Identity endpoint',
    baseDelayMs: 1000,
    minDelayMs: 1000,
    maxDelayMs: 1000,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    tryTimeoutMs: 20_000,
    proxy: 'direct',
    retryable(outcome: Outcome, _attempt: number, _elapsedMs: number, earlier: readonly Outcome[] = []): boolean {
      if (earlier.length >= AGENT_MAX_RETRIES) return false;
      if (outcome.error) return outcome.error.kind === 'reset' || outcome.error.kind === 'responseTimeout';
      return AGENT_RETRY_STATUSES.has(outcome.response.status);
    },
  };
}

/** The retry policy of a source: IMDS's own guidance for IMDS (and the legacy VM extension), else the agents'. */
export function retryPolicyFor(source: IdentitySource): RetryPolicy {
  return source.name === 'IMDS' || source.name === 'VMExtension' ? imdsRetryPolicy() : agentRetryPolicy();
}

const CHOOSE_SOURCE_HELP =
  'Managed identities answer only on Azure (a VM or scale set with an identity, App Service, Functions, Arc, Cloud Shell). ' +
  'To use another source, set AZURE_POD_IDENTITY_AUTHORITY_HOST (another IMDS host, such as the MsiStorage emulator), ' +
  'IDENTITY_ENDPOINT with IDENTITY_HEADER (App Service) or with IMDS_ENDPOINT (Azure Arc), or MSI_ENDPOINT (Cloud Shell); ' +
  'or name the endpoint with Get-MsiToken -Endpoint, and pass its token on with -Token.';

function unavailable(source: IdentitySource, err: NetworkError): MsiError {
  if (source.explicit) {
    return new MsiError(
      'ManagedIdentityUnavailable',
      `The identity endpoint given with -Endpoint, ${source.endpoint}, is not reachable from this machine: ${err.message}. Check the URL: on a VM it is http://169.254.169.254/metadata/identity/oauth2/token (IMDS), or http://localhost:50342/oauth2/token (the legacy VM extension); leave -Endpoint out to find the source from the environment.`,
      'ResourceUnavailable',
      { target: source.endpoint, parameter: 'Endpoint' },
    );
  }
  // Off Azure nothing answers; on an Azure VM a connect that times out can also be IMDS restarting.
  const onAzure = err.kind === 'connectTimeout' && source.name === 'IMDS' ? ' On an Azure VM, IMDS may be restarting: try again in a minute.' : '';
  return new MsiError(
    'ManagedIdentityUnavailable',
    `No managed-identity endpoint is reachable from this machine: ${err.message} at ${source.endpoint}.${onAzure} ${CHOOSE_SOURCE_HELP}`,
    'ResourceUnavailable',
    { target: source.endpoint },
  );
}

interface IdentityErrorBody {
  /** IMDS, Arc, Service Fabric: a string; Cloud Shell: {code, message}. */
  error?: string | { code?: string; message?: string };
  error_description?: string;
  /** App Service: {statusCode, message, correlationId}. */
  message?: string;
}

/** "Identity not found" is IMDS's and Arc's wording; App Service names the selectors instead. */
const IDENTITY_NOT_FOUND = /identity not found|no user assigned or delegated managed identity found/i;
/**
 * An unknown resource: IMDS's invalid_resource, Cloud Shell's AudienceNotSupported, or Entra ID's AADSTS500011
 * (resource principal not found) and AADSTS50001 (application not found) in the text. Only these: a bare
 * mention of "resource" is not enough (App Service's not-found text names ResourceId, for one).
 */
const UNKNOWN_RESOURCE = /\bAADSTS(?:500011|50001)\b/;

const SELECTORS = [
  ['clientId', 'ClientId', 'client id'],
  ['objectId', 'ObjectId', 'object id'],
  ['identityResourceId', 'IdentityResourceId', 'resource id'],
] as const;

/** The selector the user passed, with its parameter name and what it is, for messages. */
function chosenSelector(identity: IdentitySelector): { parameter: string; what: string; value: string } | undefined {
  for (const [key, parameter, what] of SELECTORS) {
    const value = identity[key];
    if (value) return { parameter, what, value };
  }
  return undefined;
}

/** Server text as a sentence of its own: the next sentence must not run on from it. */
function sentence(text: string): string {
  const t = text.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

export interface IdentityErrorContext {
  /** The user-assigned identity asked for, if any: a not-found error then names it and its parameter. */
  identity?: IdentitySelector;
  /** The parameter that sets the deadline, for "give it more time" advice. */
  timeoutParameter?: string;
  /** How many tries were made, and the Retry-After that did not fit in the deadline (sendWithRetries). */
  attempts?: number;
  waitAskedMs?: number;
}

/** Turns a non-2xx identity response into an MsiError that says what to do. */
export function identityError(source: IdentitySource, res: HttpResponse, resource: string, timedOut = false, context: IdentityErrorContext = {}): MsiError {
  const body = tryParseJson(res.body) as IdentityErrorBody | undefined;
  const code = typeof body?.error === 'string' ? body.error : body?.error?.code;
  const description = body?.error_description ?? (typeof body?.error === 'object' ? body.error.message : undefined) ?? body?.message;
  const azure = { code, message: description };
  const server = description ? ` The endpoint said: ${code ? `${code}: ` : ''}${sentence(description)}` : '';
  const s = res.status;
  const opts = { statusCode: s, azure, target: source.endpoint };
  if (s === 400 && IDENTITY_NOT_FOUND.test(description ?? '')) {
    const chosen = chosenSelector(context.identity ?? {});
    if (chosen) {
      return new MsiError(
        'IdentityNotFound',
        `No managed identity with ${chosen.what} ${chosen.value} is assigned to this resource.${server} Check -${chosen.parameter}: assign that user-assigned identity to this resource, or pass the ${chosen.what} of one that is assigned; leave -${chosen.parameter} out to use the system-assigned identity.`,
        'ObjectNotFound',
        { ...opts, parameter: chosen.parameter },
      );
    }
    return new MsiError(
      'IdentityNotFound',
      `The identity endpoint found no managed identity to use.${server} Enable a system-assigned identity on this resource, or assign a user-assigned identity and select it with -ClientId, -ObjectId or -IdentityResourceId.`,
      'ObjectNotFound',
      opts,
    );
  }
  if (s === 400 && /multiple user assigned identities/i.test(description ?? '')) {
    return new MsiError(
      'MultipleIdentities',
      `This resource has several user-assigned identities, so the endpoint cannot choose one.${server} Pass -ClientId, -ObjectId or -IdentityResourceId to say which.`,
      'InvalidArgument',
      opts,
    );
  }
  if (s === 400 && (code === 'bad_request_102' || /metadata header/i.test(description ?? ''))) {
    return new MsiError('MetadataHeaderRejected', `The identity endpoint rejected the request's Metadata header.${server} A proxy may be rewriting requests; identity endpoints must be reached directly.`, 'ProtocolError', opts);
  }
  if (s === 400 && (code === 'invalid_resource' || code === 'AudienceNotSupported' || UNKNOWN_RESOURCE.test(description ?? ''))) {
    return new MsiError('InvalidResource', `The identity endpoint does not know the resource '${resource}'.${server} Check -Resource (for Azure Resource Manager it is https://management.azure.com/).`, 'InvalidArgument', {
      ...opts,
      parameter: 'Resource',
    });
  }
  if (s === 401 || s === 403) {
    // An Azure Arc agent named with -Endpoint: its key-file challenge is answered only when Arc is found from
    // the environment (IDENTITY_ENDPOINT and IMDS_ENDPOINT, or the installed agent).
    const arc = source.explicit && s === 401 && /^\s*basic\s+realm=/i.test(res.headers['www-authenticate'] ?? '');
    const hint = arc
      ? ' This is an Azure Arc agent asking for its key file: leave -Endpoint out, so that Arc is found from IDENTITY_ENDPOINT and IMDS_ENDPOINT (set by the agent), or from the installed agent.'
      : '';
    return new MsiError('IdentityRequestUnauthorized', `The identity endpoint refused the request (HTTP ${s}).${server}${hint}`, 'AuthenticationError', arc ? { ...opts, parameter: 'Endpoint' } : opts);
  }
  if (s === 404 || s === 408 || s === 410 || s === 429 || s >= 500) {
    const timeout = `-${context.timeoutParameter ?? 'TimeoutSec'}`;
    const once = context.attempts !== undefined && context.attempts <= 1;
    const why =
      context.waitAskedMs !== undefined && (context.attempts ?? 1) <= 1
        ? ` and asked to wait ${Math.ceil(context.waitAskedMs / 1000)} s, longer than ${timeout} allows`
        : once
          ? ''
          : timedOut
            ? ' until the deadline passed'
            : ' after retries';
    return new MsiError(
      'IdentityEndpointUnavailable',
      `The identity endpoint ${(context.attempts ?? 2) <= 1 ? 'failed' : 'kept failing'} with HTTP ${s}${why}.${server} Try again later; a longer ${timeout} gives it more time.`,
      'ResourceUnavailable',
      opts,
    );
  }
  return new MsiError('TokenRequestFailed', `The identity endpoint answered HTTP ${s}.${server}`, 'InvalidOperation', opts);
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v);
  return undefined;
}

/** expires_on as epoch seconds (number or string) or a date string; else now + expires_in. */
export function parseExpiresOn(expiresOn: unknown, expiresIn: unknown, nowSec: number): number | undefined {
  const epoch = asNumber(expiresOn);
  if (epoch !== undefined) return Math.floor(epoch);
  if (typeof expiresOn === 'string' && expiresOn.trim()) {
    const ms = Date.parse(expiresOn);
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  }
  const inSec = asNumber(expiresIn);
  return inSec === undefined ? undefined : Math.floor(nowSec + inSec);
}

/** Parses a 200 token response into a TokenResult; anything that is not a usable token is an error. */
export function parseTokenResponse(source: IdentitySource, res: HttpResponse, resource: string, nowSec = Date.now() / 1000): TokenResult {
  const body = tryParseJson(res.body) as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    const looksHtml = /^\s*</.test(res.body);
    throw new MsiError(
      'InvalidTokenResponse',
      `The identity endpoint at ${source.endpoint} answered HTTP ${res.status} with ${looksHtml ? 'an HTML page' : 'a body that is not JSON'} instead of a token. ` +
        'Something other than the identity service answered, often a proxy; MsiStorage never sends identity requests through HTTP_PROXY, so check for a transparent proxy or a wrong -Endpoint.',
      'InvalidData',
      { statusCode: res.status, target: source.endpoint },
    );
  }
  const token = body.access_token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new MsiError('InvalidTokenResponse', `The identity endpoint at ${source.endpoint} answered HTTP ${res.status} without an access_token.`, 'InvalidData', {
      statusCode: res.status,
      target: source.endpoint,
    });
  }
  registerSecret(token);
  const expiresOn = parseExpiresOn(body.expires_on, body.expires_in, nowSec);
  if (expiresOn === undefined) {
    throw new MsiError('InvalidTokenResponse', `The identity endpoint at ${source.endpoint} gave a token without a usable expires_on or expires_in.`, 'InvalidData', {
      statusCode: res.status,
      target: source.endpoint,
    });
  }
  const result: TokenResult = {
    accessToken: token,
    expiresOn,
    resource: typeof body.resource === 'string' && body.resource ? body.resource : resource,
    tokenType: typeof body.token_type === 'string' && body.token_type ? body.token_type : 'Bearer',
    source: source.name,
    endpoint: source.endpoint,
  };
  if (typeof body.client_id === 'string' && body.client_id) result.clientId = body.client_id;
  return result;
}

/** A request that got no response: no endpoint here (refused, unreachable, no connect), or one that failed. */
export function networkFailure(source: IdentitySource, outcome: { error: NetworkError; timedOut: boolean }, timeoutParameter = 'TimeoutSec'): MsiError {
  const kind = outcome.error.kind;
  if (kind === 'refused' || kind === 'unreachable' || kind === 'connectTimeout' || kind === 'dns') return unavailable(source, outcome.error);
  return new MsiError(
    kind === 'responseTimeout' ? 'IdentityEndpointTimeout' : 'IdentityEndpointUnavailable',
    `The identity endpoint at ${source.endpoint} failed: ${outcome.error.message}${outcome.timedOut ? `, and -${timeoutParameter} ran out` : ''}. Try again; if it persists, check the endpoint.`,
    kind === 'responseTimeout' ? 'OperationTimeout' : 'ResourceUnavailable',
    { target: source.endpoint },
  );
}

/**
 * Gets a token from the managed identity. The whole call, retries included, ends by `deadline` when one is
 * given (a caller's session deadline, so that the token does not get a fresh 90 s of its own); otherwise by
 * a deadline of options.timeoutSec (default DEFAULT_TOKEN_TIMEOUT_SEC) from now.
 */
export async function getToken(options: IdentityJson, signal?: AbortSignal, deadline?: Deadline): Promise<TokenResult> {
  const resource = normalizeResource(options.resource);
  const identity: IdentitySelector = { clientId: options.clientId, objectId: options.objectId, identityResourceId: options.identityResourceId };
  checkSelector(identity);
  const source = selectSource(options.endpoint);
  const until = deadline ?? new Deadline(options.timeoutSec ?? DEFAULT_TOKEN_TIMEOUT_SEC);
  const chosen = chosenSelector(identity);
  const selector = chosen ? `${chosen.what} ${chosen.value}` : 'the system-assigned identity';
  verbose(`Identity source: ${source.name} at ${source.endpoint}; resource ${resource}; ${selector}.`);
  const request = source.build({ resource, identity });
  let outcome = await sendWithRetries(() => request, retryPolicyFor(source), until, signal);
  if (outcome.response?.status === 401 && source.name === 'AzureArc') {
    verbose('Azure Arc answered with its key-file challenge; reading the key and asking again.');
    const authorization = await answerArcChallenge(outcome.response);
    outcome = await sendWithRetries(() => ({ ...request, headers: { ...request.headers, Authorization: authorization } }), retryPolicyFor(source), until, signal);
  }
  if (outcome.error) throw networkFailure(source, outcome, until.parameter);
  const res = outcome.response;
  if (res.status < 200 || res.status > 299) {
    throw identityError(source, res, resource, outcome.timedOut, { identity, timeoutParameter: until.parameter, attempts: outcome.attempts, waitAskedMs: outcome.waitAskedMs });
  }
  const token = parseTokenResponse(source, res, resource);
  verbose(`Got a token (${token.tokenType}) for ${token.resource} from ${source.name}, valid until ${new Date(token.expiresOn * 1000).toISOString()}.`);
  return token;
}
