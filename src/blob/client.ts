// The data plane: @azure/storage-blob clients built from a storage context, name rules, error mapping.
// @azure/storage-blob is loaded only here, and only by the commands that move data.
import { Readable, finished } from 'node:stream';
import type { BlobServiceClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { MsiError, invalidArgument } from '../errors.js';
import { assertEndpointAllowed } from '../http.js';
import { parseEndpoint } from '../identity/sources.js';
import type { StorageContextJson } from '../protocol.js';
import { registerSecret } from '../redact.js';
import { verbose } from '../log.js';
import { backoffScale } from '../retry.js';

export function blobEndpointFor(account: string, blobEndpoint?: string): string {
  const url = parseEndpoint(blobEndpoint ?? `https://${account}.blob.core.windows.net/`, 'BlobEndpoint');
  if (url.search || url.hash) throw invalidArgument('BlobEndpoint', `-BlobEndpoint must not carry a query or fragment; give only the service URL, such as https://${account}.blob.core.windows.net/.`, 'InvalidEndpoint');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

/**
 * The account an endpoint names, where its shape says: the first label of an Azure blob host
 * ('<account>.blob.core.windows.net' and the like), or the first path segment of an IP or localhost
 * endpoint (the emulator's path style). Any other host (a custom domain) names none.
 */
export function endpointAccount(endpoint: string): string | undefined {
  return endpointShape(endpoint).account;
}

/**
 * The account an endpoint names (endpointAccount), and what its path holds beyond the service URL: a
 * container, say ('https://acct.blob.core.windows.net/logs/'), which every blob's URL would then carry.
 */
export function endpointShape(endpoint: string): { account?: string; extraPath?: string; serviceUrl?: string } {
  const url = new URL(endpoint);
  const host = url.hostname.toLowerCase();
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  // Azure's own blob hosts, in every cloud, private link and DNS-zone ones too; an account's read-access
  // secondary ('<account>-secondary') is that account's.
  const azure = /^([a-z0-9]{3,24})(?:-secondary)?\.(?:privatelink\.|z\d+\.)?blob\.(?:core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net|storage\.azure\.net)$/.exec(host);
  if (azure) return { account: azure[1], extraPath: segments.length ? segments.join('/') : undefined, serviceUrl: `${url.origin}/` };
  if (host === 'localhost' || /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[')) {
    if (segments.length === 0) return {};
    try {
      return { account: decodeURIComponent(segments[0]).toLowerCase(), extraPath: segments.length > 1 ? segments.slice(1).join('/') : undefined, serviceUrl: `${url.origin}/${segments[0]}/` };
    } catch {
      return {};
    }
  }
  return {};
}

export function validateAccountKey(key: string): void {
  const trimmed = key.trim();
  if (!trimmed) throw invalidArgument('StorageAccountKey', '-StorageAccountKey is empty. Pass the key object from Get-MsiStorageKey, or the key as a SecureString.', 'InvalidStorageAccountKey');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) {
    throw invalidArgument('StorageAccountKey', '-StorageAccountKey is not a base64 storage account key. Pass the key object from Get-MsiStorageKey.', 'InvalidStorageAccountKey');
  }
}

const CONTAINER = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
export function validateContainerName(name: string, parameter = 'Container'): void {
  if (name === '$root' || name === '$web' || name === '$logs') return;
  if (!CONTAINER.test(name)) {
    throw invalidArgument(
      parameter,
      `-${parameter} '${name}' breaks Azure's container naming rules: use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.`,
      'InvalidContainerName',
    );
  }
}

/**
 * A blob name the module can address. `creating`: also Azure's advice for new names (no trailing '.' or
 * '/', which some URL handling drops, System.Uri on .NET Framework among them). A blob that already has
 * such a name (a folder marker 'logs/' made by another tool) can still be read, deleted and signed for.
 */
export function validateBlobName(name: string, parameter = 'Blob', creating = false): void {
  if (name.length === 0) throw invalidArgument(parameter, `-${parameter} is empty. Give the blob's name.`, 'InvalidBlobName');
  if (name.length > 1024) throw invalidArgument(parameter, `-${parameter} is ${name.length} characters long; blob names may have at most 1024. Use a shorter name.`, 'InvalidBlobName');
  if (/[\u0000-\u001f\u007f]/.test(name)) throw invalidArgument(parameter, `-${parameter} contains control characters, which blob names may not. Remove them.`, 'InvalidBlobName');
  if (creating && (name.endsWith('.') || name.endsWith('/'))) {
    throw invalidArgument(parameter, `-${parameter} '${name}' ends with '${name.slice(-1)}', which Azure's naming rules advise against for a new blob: a URL can lose it and name another blob. Remove it.`, 'InvalidBlobName');
  }
  // A URL resolves '.' and '..' segments away (even percent-encoded), so 'a/../b' would be blob 'b', and
  // '../other/b' a blob in another container. Azure's naming rules rule out path segments ending with a dot.
  const dots = name.split('/').find((segment) => segment === '.' || segment === '..');
  if (dots !== undefined) {
    throw invalidArgument(
      parameter,
      `-${parameter} '${name}' has a '${dots}' path segment, which a URL resolves away: the request would go to another blob, or another container. Remove the '${dots}' segments.`,
      'InvalidBlobName',
    );
  }
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?$/i;

/**
 * Why a blob name's path segment cannot be a file or folder name on Windows, or undefined when it can. Node
 * opens paths with the \\?\ prefix, so Windows does not normalise them: a ':' would make an NTFS alternate
 * data stream, a trailing dot or space or a device name (CON, NUL...) would make a file most tools cannot
 * open or delete, and <>"|?* are refused by the file system.
 */
export function windowsFileNameProblem(segment: string): string | undefined {
  const bad = /[<>:"|?*\\\u0000-\u001f]/.exec(segment);
  if (bad) return `'${bad[0] === '\\' ? '\\' : bad[0] < ' ' ? 'a control character' : bad[0]}' cannot be in a Windows file name`;
  if (/[. ]$/.test(segment)) return 'a Windows file name cannot end with a dot or a space';
  if (WINDOWS_RESERVED.test(segment)) return `'${segment.split('.')[0]}' is a device name on Windows`;
  return undefined;
}

/** A SAS as ARM or the portal gives it, with or without '?'; it must at least carry a signature. */
export function normalizeSas(sas: string): string {
  const trimmed = sas.trim().replace(/^\?/, '');
  const params = new URLSearchParams(trimmed);
  if (!trimmed || !params.get('sig') || !params.get('sv')) {
    throw invalidArgument('SasToken', '-SasToken is not a shared access signature (it needs at least sv= and sig=). Pass the SecureString from New-MsiStorageSas.', 'InvalidSasToken');
  }
  registerSecret(trimmed);
  registerSecret(params.get('sig') ?? undefined);
  return trimmed;
}

/**
 * A client-side limit on each try. The SDK's tryTimeoutInMs only asks the service to give up (a timeout=
 * query parameter); a connection that never answers would hang forever. This policy aborts the try and
 * reports it as ETIMEDOUT, which the storage retry policy retries.
 *
 * The limit is on the answer (the headers); a streamed body (a download) is watched by its reader, which has
 * its own stall timer (download.ts). So each try gets its own signal, linked to the caller's: the HTTP client
 * keeps listening on it until a streamed body ends, and the link must last as long, or an abort by the
 * caller (a stalled range, a cancelled batch) would never reach the socket and the body would hang.
 *
 * While a request body is being sent (a block, a small file), the limit is on silence, not on the whole try:
 * the body goes out in 256 KiB pieces, each piece taken when the connection wants more, and each one restarts
 * the timer (a limit that grows with each try: the second try of a block may be silent twice as long). Eight blocks of 8 MiB in flight on a 4 Mbit/s uplink take minutes, and keep moving; only a
 * connection that takes nothing for the whole limit fails the try. Once the body is all handed over, the
 * answer gets the limit again for every 8 MiB of it (what the connection's buffers still hold drains at the
 * link's pace), times the try's number: the second try of a block waits twice as long as the first.
 */
/** The network errors @azure/storage-common's retry policy retries (StorageRetryPolicyV2's list). */
const RETRIED_ERRORS = ['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ENOTFOUND', 'TIMEOUT', 'EPIPE', 'REQUEST_SEND_ERROR'];

const SEND_PIECE = 256 * 1024;
const SENT_PER_LIMIT = 8 * 1024 * 1024;

/** A buffer as a stream of pieces; `taken` is called as each piece is asked for, `done` once all have been. */
function* piecesOf(whole: Buffer, taken: () => void, done: () => void): Generator<Buffer> {
  for (let offset = 0; offset < whole.length; offset += SEND_PIECE) {
    taken();
    yield whole.subarray(offset, Math.min(whole.length, offset + SEND_PIECE));
  }
  taken();
  done();
}

/**
 * The tries so far of the requests made with a signal, for a caller that must know whether its request was
 * sent more than once: a conditional commit (If-None-Match: *) refused on a retry may have been refused
 * because its own first try did succeed, its answer lost (upload.ts). The caller gives that request a signal
 * of its own.
 */
const triesBySignal = new WeakMap<AbortSignal, number>();
export function triesWith(signal: AbortSignal): number {
  return triesBySignal.get(signal) ?? 0;
}

export function tryTimeoutPolicy(ms: number, maxTries: number, RestError: typeof import('@azure/storage-blob').RestError) {
  // The tries of each request so far: the retry policy sends the same request object again.
  const tries = new WeakMap<object, number>();
  return {
    name: 'msistorageTryTimeout',
    async sendRequest(request: { abortSignal?: AbortSignal; url?: string; method?: string; body?: unknown }, next: (r: unknown) => Promise<unknown>) {
      const attempt = (tries.get(request) ?? 0) + 1;
      tries.set(request, attempt);
      // -Verbose tells the retries (the path only: a SAS would be in the query).
      const narrate = (what: string, retried: boolean) => {
        const where = request.url ? new URL(request.url).pathname : '';
        verbose(`Storage: ${what} on try ${attempt} of ${maxTries} (${request.method ?? ''} ${decodeURIComponentSafe(where)})${retried && attempt < maxTries ? '; retrying' : ''}.`);
      };
      const parent = request.abortSignal;
      if (parent) triesBySignal.set(parent, (triesBySignal.get(parent) ?? 0) + 1);
      const controller = new AbortController();
      const onAbort = () => controller.abort(parent?.reason);
      parent?.addEventListener('abort', onAbort, { once: true });
      const unlink = () => parent?.removeEventListener('abort', onAbort);
      let timedOut = false;
      // A body larger than a piece goes out piece by piece, each one restarting the timer (see above). Its
      // Content-Length is already set by the SDK (Put Blob, Put Block), so the request is not chunked.
      const whole = request.body;
      const pieced = Buffer.isBuffer(whole) && whole.length > SEND_PIECE;
      // The silence a body may meet grows with each try, as its answer's does: a link slower than a piece
      // per limit still gets through on a later try.
      let limit = pieced ? ms * attempt : ms;
      const expire = () => {
        timedOut = true;
        controller.abort();
      };
      let timer = setTimeout(expire, limit);
      request.abortSignal = controller.signal;
      let sending = false;
      if (pieced) {
        sending = true;
        request.body = () =>
          Readable.from(
            piecesOf(
              whole,
              () => timer.refresh(),
              () => {
                // All handed over; what the connection's buffers still hold goes at the link's pace (on a
                // slow link, megabytes): the answer may take the limit again for every SENT_PER_LIMIT sent,
                // and each retry of it waits longer (a link slower than the first guess still gets through).
                sending = false;
                clearTimeout(timer);
                limit = Math.round(ms * attempt * (1 + whole.length / SENT_PER_LIMIT));
                timer = setTimeout(expire, limit);
              },
            ),
            // One piece at a time, each whole: a piece is asked for only once the one before has gone.
            { objectMode: true, highWaterMark: 1 },
          );
      }
      let body: NodeJS.ReadableStream | undefined;
      try {
        const response = await next(request);
        body = (response as { readableStreamBody?: NodeJS.ReadableStream } | undefined)?.readableStreamBody;
        const status = (response as { status?: number } | undefined)?.status ?? 0;
        // What the storage retry policy retries: 500 and 503, and the network errors below.
        if (status === 500 || status === 503) narrate(`HTTP ${status}`, true);
        return response;
      } catch (err) {
        if (timedOut && !parent?.aborted) {
          narrate(sending ? `nothing could be sent for ${limit} ms` : `no answer within ${limit} ms`, true);
          throw new RestError(sending ? `The connection took no data for ${limit} ms.` : `The service did not answer within ${limit} ms.`, { code: 'ETIMEDOUT' });
        }
        if (!parent?.aborted) {
          const code = String((err as { code?: string }).code ?? (err as Error).name ?? 'error');
          narrate(code, RETRIED_ERRORS.some((e) => code.toUpperCase().includes(e) || String((err as Error).message).toUpperCase().includes(e)));
        }
        throw err;
      } finally {
        clearTimeout(timer);
        // Until the body has ended, errored or been destroyed, an abort of the caller's signal destroys it.
        if (body && parent && !parent.aborted) finished(body, unlink);
        else unlink();
        request.abortSignal = parent;
        request.body = whole;
      }
    },
  };
}

export async function pipelineOptions(): Promise<StoragePipelineOptions> {
  // The same test knob as the identity and ARM back-off: it scales the delays, not the number of tries.
  const scale = backoffScale();
  const s = (ms: number) => Math.max(1, Math.round(ms * scale));
  // Per try, for an answer, or while a body is sent, between two pieces of it (see tryTimeoutPolicy).
  // MSISTORAGE_TRY_TIMEOUT_MS shortens it (a test knob).
  const tryTimeout = Number(process.env.MSISTORAGE_TRY_TIMEOUT_MS) || 2 * 60_000;
  const { RestError } = await import('@azure/storage-blob');
  const maxTries = 4;
  const options = {
    // No tryTimeoutInMs: it is only the service's own limit (a timeout= query parameter), and a value would
    // replace the service's allowance for writes (10 minutes per MiB) that a slow uplink needs. The client's
    // limit is tryTimeoutPolicy's.
    retryOptions: { maxTries, retryDelayInMs: s(500), maxRetryDelayInMs: s(10_000) },
    userAgentOptions: { userAgentPrefix: 'MsiStorage' },
  };
  // core-client's additionalPolicies: every client made from this pipeline (service, container, blob)
  // adds them to the one pipeline they share, so they are handed out once.
  let handedOut = false;
  Object.defineProperty(options, 'additionalPolicies', {
    enumerable: true,
    get: () => (handedOut ? [] : ((handedOut = true), [{ policy: tryTimeoutPolicy(tryTimeout, maxTries, RestError), position: 'perRetry' }])),
  });
  return options as StoragePipelineOptions;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Loads @azure/storage-blob ahead of need (a prepared process, see cli.ts). */
export async function loadStorageSdk(): Promise<void> {
  await import('@azure/storage-blob');
}

export async function serviceClient(ctx: StorageContextJson): Promise<BlobServiceClient> {
  const endpoint = blobEndpointFor(ctx.storageAccountName, ctx.blobEndpoint);
  assertEndpointAllowed(new URL(endpoint), 'BlobEndpoint');
  contextAuth = ctx.authType;
  const blob = await import('@azure/storage-blob');
  const missing = (what: string) => new MsiError('InvalidContext', `The context says ${ctx.authType} but carries no ${what}. Make it again with New-MsiStorageContext.`, 'InvalidArgument', { parameter: 'Context' });
  switch (ctx.authType) {
    case 'SharedKey': {
      if (!ctx.storageAccountKey) throw missing('key');
      validateAccountKey(ctx.storageAccountKey);
      registerSecret(ctx.storageAccountKey);
      return new blob.BlobServiceClient(endpoint, new blob.StorageSharedKeyCredential(ctx.storageAccountName, ctx.storageAccountKey), await pipelineOptions());
    }
    case 'SAS': {
      if (!ctx.sasToken) throw missing('SAS');
      return new blob.BlobServiceClient(`${endpoint}?${normalizeSas(ctx.sasToken)}`, new blob.AnonymousCredential(), await pipelineOptions());
    }
    case 'OAuth': {
      const token = ctx.bearerToken;
      if (!token) throw missing('token');
      registerSecret(token);
      if (new URL(endpoint).protocol !== 'https:') {
        throw invalidArgument('Context', `Azure Storage accepts bearer tokens only over HTTPS, and ${endpoint} is HTTP. Use the account's https:// blob endpoint.`, 'OAuthNeedsHttps');
      }
      const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
      return new blob.BlobServiceClient(endpoint, credential, await pipelineOptions());
    }
    default:
      throw missing('known authentication type');
  }
}

export async function containerClient(ctx: StorageContextJson, container: string): Promise<ContainerClient> {
  validateContainerName(container);
  return (await serviceClient(ctx)).getContainerClient(container);
}

interface RestErrorLike {
  name?: string;
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { errorCode?: string; message?: string };
}

/** Maps an @azure/storage-blob failure to an MsiError with a fix. */
/**
 * How the context of this process authorizes (one request, one context): set when its client is made, so
 * that an authorization error gives the advice that fits a key, a SAS or the managed identity.
 */
let contextAuth: StorageContextJson['authType'] | undefined;

const AUTH_ADVICE: Record<StorageContextJson['authType'], string> = {
  SharedKey: 'The key may have been rotated: get a fresh one with Get-MsiStorageKey and make a new context.',
  SAS: 'The SAS may have expired, be for another container or blob than this one, or the key that signed it was rotated: make a new one with New-MsiStorageSas (-Container, -Blob) and a new context.',
  OAuth: "The identity's storage token was refused: make a new context with New-MsiStorageContext -UseManagedIdentity.",
};
const PERMISSION_ADVICE: Record<StorageContextJson['authType'], string> = {
  SharedKey: '',
  SAS: ' The SAS does not carry the permission this needs: make one with the letters it needs (New-MsiStorageSas -Permission, e.g. rwl).',
  OAuth:
    ' Grant the managed identity "Storage Blob Data Contributor" (to write or delete) or "Storage Blob Data Reader" (to read) on the account or the container; a new assignment can take several minutes to apply.',
};

export function storageError(err: unknown, where: { container: string; blob?: string } | { account: string }): MsiError {
  if (err instanceof MsiError) return err;
  const e = err as RestErrorLike;
  if (e?.name === 'AbortError') return new MsiError('OperationStopped', 'The transfer was stopped.', 'OperationStopped');
  const code = e?.details?.errorCode ?? e?.code;
  const serverMessage = (e?.details?.message ?? e?.message ?? '').split('\n')[0];
  const status = e?.statusCode;
  // The error's target ($Error[0].TargetObject): the blob, else the container (or the account, for a
  // listing of its containers).
  const account = 'account' in where ? where.account : undefined;
  const place = 'account' in where ? { container: '', blob: undefined } : where;
  const opts = { statusCode: status, azure: code || serverMessage ? { code, message: serverMessage } : undefined, target: account ?? place.blob ?? place.container };
  const said = serverMessage ? ` The service said: ${serverMessage}` : '';
  const blob = account !== undefined ? `the containers of account '${account}'` : place.blob ? `'${place.blob}' in container '${place.container}'` : `container '${place.container}'`;
  switch (code) {
    case 'ContainerNotFound':
      return new MsiError('ContainerNotFound', `The container '${place.container}' does not exist. Create it with New-MsiStorageContainer, or check -Container.`, 'ObjectNotFound', {
        ...opts,
        parameter: 'Container',
      });
    case 'BlobNotFound':
      return new MsiError(
        'BlobNotFound',
        `The blob ${blob} does not exist. Check -Blob (names are case-sensitive).${place.blob && /[*?[]/.test(place.blob) ? ` -Blob takes a name here, not a pattern: for the blobs a pattern matches, pipe them, as in Get-MsiBlob -Container ${place.container} -Blob '${place.blob}' | ...` : ''}`,
        'ObjectNotFound',
        { ...opts, parameter: 'Blob' },
      );
    case 'BlobAlreadyExists':
      return new MsiError('BlobAlreadyExists', `The blob ${blob} already exists. Pass -Force to overwrite it.`, 'ResourceExists', { ...opts, parameter: 'Force' });
    case 'ContainerAlreadyExists':
      return new MsiError('ContainerAlreadyExists', `The container '${place.container}' already exists.`, 'ResourceExists', { ...opts, parameter: 'Container' });
    case 'AuthorizationProtocolMismatch':
      return new MsiError('SasProtocolMismatch', `The SAS allows HTTPS only, and this endpoint is HTTP.${said} Make the SAS with New-MsiStorageSas -Protocol HttpsOrHttp, or use the https:// endpoint.`, 'PermissionDenied', opts);
    case 'AuthenticationFailed':
    case 'AuthorizationFailure':
      return new MsiError('StorageAuthenticationFailed', `Azure Storage did not accept the credentials of this context.${said} ${AUTH_ADVICE[contextAuth ?? 'SharedKey']}`, 'AuthenticationError', opts);
    case 'KeyBasedAuthenticationNotPermitted':
      return new MsiError(
        'KeyBasedAuthenticationNotPermitted',
        'This storage account does not permit shared-key authorization (keys and key-signed SAS). Use New-MsiStorageContext -UseManagedIdentity, and grant the identity Storage Blob Data Contributor.',
        'PermissionDenied',
        opts,
      );
    case 'AuthorizationPermissionMismatch':
    case 'AuthorizationResourceTypeMismatch':
    case 'AuthorizationServiceMismatch':
      return new MsiError('StoragePermissionDenied', `Azure Storage refused the operation on ${blob}.${said}${PERMISSION_ADVICE[contextAuth ?? 'SharedKey']}`, 'PermissionDenied', opts);
    case 'SnapshotsPresent':
      return new MsiError('BlobHasSnapshots', `The blob ${blob} has snapshots, so it cannot be deleted alone. Pass -IncludeSnapshots to delete it with its snapshots.`, 'InvalidOperation', {
        ...opts,
        parameter: 'IncludeSnapshots',
      });
    case 'ConditionNotMet':
      return new MsiError('BlobChanged', `The blob ${blob} changed during the operation.${said} Try again.`, 'InvalidOperation', opts);
    default:
      break;
  }
  const network = ['REQUEST_SEND_ERROR', 'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_SOCKET'];
  if (status === undefined && code && /^E[A-Z]+$/.test(code) && !network.includes(code)) {
    // A local file-system failure (ENOSPC, EACCES, EIO...), not the network.
    return new MsiError('LocalFileError', `A local file operation failed for ${blob}: ${serverMessage.replace(/\.$/, '')}. Check free space and permissions of the destination folder.`, 'WriteError', opts);
  }
  if (code === 'ETIMEDOUT' && /^The (service did not answer|connection took no data)/.test(serverMessage)) {
    // Our own per-try limit (tryTimeoutPolicy): the service was reached, but too slowly, on every try.
    return new MsiError(
      'StorageTimeout',
      `Azure Storage was too slow for ${blob} on every try: ${serverMessage.replace(/\.$/, '')}. On a slow link, send less at once (-Concurrency, -ConcurrentTaskCount, or a smaller -BlockSize); else check the network.`,
      'OperationTimeout',
      opts,
    );
  }
  if (status === undefined || network.includes(code ?? '')) {
    return new MsiError('StorageUnreachable', `Azure Storage could not be reached for ${blob}: ${serverMessage.replace(/\.$/, '') || 'no response'}. Check -BlobEndpoint of the context, the network, and HTTPS_PROXY/HTTP_PROXY and NO_PROXY (storage calls go through a proxy they name).`, 'ResourceUnavailable', opts);
  }
  if (status === 403) return new MsiError('StoragePermissionDenied', `Azure Storage refused the operation on ${blob} (HTTP 403).${said}${PERMISSION_ADVICE[contextAuth ?? 'SharedKey']}`, 'PermissionDenied', opts);
  if (status === 404) return new MsiError('StorageNotFound', `Azure Storage found nothing for ${blob} (HTTP 404).${said}`, 'ObjectNotFound', opts);
  if (status >= 500) return new MsiError('StorageUnavailable', `Azure Storage kept failing with HTTP ${status} for ${blob}.${said} Try again later.`, 'ResourceUnavailable', opts);
  return new MsiError('StorageRequestFailed', `Azure Storage answered HTTP ${status} for ${blob}.${said}`, 'InvalidOperation', opts);
}
