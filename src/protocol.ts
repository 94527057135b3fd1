// The wire protocol between the PowerShell bridge (ps-module/Private/Invoke-MsiNode.ps1) and the Node script.
//
//   stdin : one request, a JSON object on one line: { "v": PROTOCOL_VERSION, "command": "...", ...fields },
//           at most MAX_REQUEST_BYTES (a batch: MAX_BATCH_REQUEST_BYTES; the bridge sends <= 50,000 items).
//           Later lines may carry { "cancel": true }, which stops the command and removes its temporary files.
//   argv  : optionally `--prepare <command>`: the process was started ahead of its request (a pipeline's
//           first item) and loads what that command needs meanwhile. Never anything secret.
//   stdout: for batch commands (upload, download, list), one line per item as soon as it is done:
//           { "v", "item": <index>, "ok": true, "result" } or { "v", "item": <index>, "ok": false, "error" };
//           then exactly one reply, a JSON object on one line: { "v", "ok": true, "result" } or { "v", "ok": false, "error" }.
//   stderr: events, one JSON object per line: { "event": "verbose" | "warning" | "progress", ... }, and last
//           { "event": "end" }, written just before the reply: after it, stderr carries nothing the bridge needs.
//
// Every request field is declared below; unknown keys, wrong types and a different version are rejected.
// The PowerShell side checks the reply's version too (see $script:ProtocolVersion in the bridge).
import { MsiError, type ErrorJson } from './errors.js';

export const PROTOCOL_VERSION = 1;
/** Requests are small (names, paths, at most a key or token); anything bigger is a mistake or an attack. */
export const MAX_REQUEST_BYTES = 256 * 1024;
/**
 * Except a batch (a pipeline of files or blobs), whose items make it grow: the bridge sends at most
 * 50,000 items per request, which with paths of a few hundred characters stays well under this.
 */
export const MAX_BATCH_REQUEST_BYTES = 32 * 1024 * 1024;
export const BATCH_COMMANDS: ReadonlySet<string> = new Set(['upload', 'download', 'remove']);

// ---- a tiny declarative schema, with the TypeScript types inferred from it ----
type Spec =
  | { t: 'string'; optional?: boolean }
  | { t: 'number'; optional?: boolean }
  | { t: 'boolean'; optional?: boolean }
  | { t: 'enum'; values: readonly string[]; optional?: boolean }
  | { t: 'object'; fields: Fields; optional?: boolean }
  | { t: 'array'; items: Spec; optional?: boolean; max?: number }
  | { t: 'record'; optional?: boolean };
type Fields = Record<string, Spec>;

type Infer<S> = S extends { t: 'string' }
  ? string
  : S extends { t: 'number' }
    ? number
    : S extends { t: 'boolean' }
      ? boolean
      : S extends { t: 'enum'; values: readonly (infer V)[] }
        ? V
        : S extends { t: 'object'; fields: infer F }
          ? InferFields<F>
          : S extends { t: 'array'; items: infer I }
            ? Infer<I>[]
            : S extends { t: 'record' }
              ? Record<string, string>
              : never;
type InferFields<F> = { [K in keyof F as F[K] extends { optional: true } ? never : K]: Infer<F[K]> } & {
  [K in keyof F as F[K] extends { optional: true } ? K : never]?: Infer<F[K]>;
};

const str = { t: 'string' } as const;
const optStr = { t: 'string', optional: true } as const;
const optNum = { t: 'number', optional: true } as const;
const optBool = { t: 'boolean', optional: true } as const;
const optRecord = { t: 'record', optional: true } as const;
const obj = <F extends Fields>(fields: F) => ({ t: 'object', fields }) as const;
const arrayOf = <I extends Spec>(items: I) => ({ t: 'array', items, max: 100_000 }) as const;
const optObj = <F extends Fields>(fields: F) => ({ t: 'object', fields, optional: true }) as const;

/** How to get a managed-identity token: shared by every command that may need one. */
const identityFields = {
  endpoint: optStr,
  resource: optStr,
  timeoutSec: optNum,
  clientId: optStr,
  objectId: optStr,
  identityResourceId: optStr,
} as const;

/** A storage context, as New-MsiStorageContext made it. Its secret crosses only here, on stdin. */
const contextSpec = obj({
  storageAccountName: str,
  blobEndpoint: str,
  authType: { t: 'enum', values: ['SharedKey', 'SAS', 'OAuth'] },
  storageAccountKey: optStr,
  sasToken: optStr,
  bearerToken: optStr,
});

/** Which storage account, and how to reach ARM for it: shared by keys, context and sas. */
const accountFields = {
  storageAccountName: optStr,
  resourceGroupName: optStr,
  subscriptionId: optStr,
  resourceId: optStr,
  environment: { t: 'enum', values: ['AzureCloud', 'AzureChinaCloud', 'AzureUSGovernment'], optional: true },
  armEndpoint: optStr,
  token: optStr,
  tokenFromCache: optBool,
  identity: optObj(identityFields),
  timeoutSec: optNum,
} as const;
const keyName = { t: 'enum', values: ['key1', 'key2'], optional: true } as const;

/** How a transfer runs; every field has a default in src/blob/transfer.ts. */
const transferFields = {
  force: optBool,
  blockSize: optNum,
  concurrency: optNum,
  fileConcurrency: optNum,
  skipIntegrityCheck: optBool,
  progress: optBool,
  /** A part of a longer pipeline (sent in several requests): files before this part, and in the whole. */
  progressOffset: optNum,
  progressTotal: optNum,
} as const;

export const requestSpecs = {
  version: {},
  token: { ...identityFields },
  keys: { ...accountFields, keyName },
  context: { ...accountFields, keyName, storageAccountKey: optStr, sasToken: optStr, useManagedIdentity: optBool, storageToken: optStr, blobEndpoint: optStr },
  sas: {
    ...accountFields,
    keyName,
    container: optStr,
    blob: optStr,
    permission: optStr,
    expiry: str,
    start: optStr,
    protocol: { t: 'enum', values: ['HttpsOnly', 'HttpsOrHttp'], optional: true },
  },
  newContainer: { context: contextSpec, container: str },
  upload: {
    context: contextSpec,
    container: str,
    items: arrayOf(obj({ file: str, blob: optStr })),
    /** Blob names are the files' paths relative to this folder (else their file names). */
    sourceRoot: optStr,
    ...transferFields,
    contentType: optStr,
    metadata: optRecord,
    /** -Properties as the user wrote it: names are checked (case-insensitively) by the upload command. */
    properties: optRecord,
    tier: { t: 'enum', values: ['Hot', 'Cool', 'Cold', 'Archive'], optional: true },
  },
  download: {
    context: contextSpec,
    items: arrayOf(obj({ container: str, blob: str, destination: str })),
    ...transferFields,
  },
  /** blob: a name, or a PowerShell wildcard pattern (Get-AzStorageBlob -Blob); maxCount: the most blobs returned. */
  list: { context: contextSpec, container: str, prefix: optStr, blob: optStr, maxCount: optNum },
  /** name: a container's name, or a PowerShell wildcard pattern (Get-AzStorageContainer -Name). */
  containers: { context: contextSpec, prefix: optStr, name: optStr, maxCount: optNum },
  remove: { context: contextSpec, items: arrayOf(obj({ container: str, blob: str })), includeSnapshots: optBool },
} as const satisfies Record<string, Fields>;

export type Command = keyof typeof requestSpecs;
/** The envelope every request has: the protocol version, the command, and whether verbose events are wanted. */
export type RequestOf<C extends Command> = { v: number; command: C; verbose?: boolean } & InferFields<(typeof requestSpecs)[C]>;
export type AnyRequest = { [C in Command]: RequestOf<C> }[Command];
export type StorageContextJson = Infer<typeof contextSpec>;
export type IdentityJson = InferFields<typeof identityFields>;

// ---- replies ----
export interface TokenResult {
  accessToken: string;
  /** epoch seconds */
  expiresOn: number;
  resource: string;
  tokenType: string;
  source: string;
  endpoint: string;
  clientId?: string;
}

export interface LocationResult {
  subscriptionId: string;
  resourceGroupName: string;
  environment: string;
}

export interface KeysResult extends LocationResult {
  storageAccountName: string;
  keyName: string;
  value: string;
  permissions: string;
  creationTime?: string;
  /** The token Node fetched itself when the request carried none, so that PowerShell can cache it. */
  token?: TokenResult;
}

export interface ContextResult {
  storageAccountName: string;
  blobEndpoint: string;
  authType: 'SharedKey' | 'SAS' | 'OAuth';
  /** When Node fetched the key from ARM (no credential given). */
  storageAccountKey?: string;
  keyName?: string;
  /** The storage token of an OAuth context. */
  storageToken?: TokenResult;
  /** An ARM token Node fetched, for PowerShell's cache. */
  token?: TokenResult;
  location?: LocationResult;
}

export interface SasResult extends LocationResult {
  sasToken: string;
  kind: 'service' | 'account';
  storageAccountName: string;
  expiresOn: string;
  token?: TokenResult;
}

/** Every field is present (null when unknown), so that PowerShell reads them without probing. */
export interface BlobResult {
  name: string;
  container: string;
  blobType: string;
  length: number;
  contentType: string | null;
  lastModified: string | null;
  etag: string | null;
  contentMD5: string | null;
  destination: string | null;
}

/**
 * An ETag as HTTP headers carry it, in quotes ("0x8D..."): what Put Blob and Get Blob Properties answer, and
 * what an If-Match takes. List Blobs and List Containers give it bare; the same blob gets the same ETag from
 * every cmdlet.
 */
export function quotedEtag(etag: string | undefined | null): string | null {
  if (!etag) return null;
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

export function blobResult(fields: { name: string; container: string; length: number; blobType?: string; contentType?: string; lastModified?: Date; etag?: string; contentMD5?: string | Uint8Array; destination?: string }): BlobResult {
  const md5 = fields.contentMD5;
  return {
    name: fields.name,
    container: fields.container,
    blobType: fields.blobType ?? 'BlockBlob',
    length: fields.length,
    contentType: fields.contentType ?? null,
    lastModified: fields.lastModified ? fields.lastModified.toISOString() : null,
    etag: quotedEtag(fields.etag),
    contentMD5: md5 === undefined || md5.length === 0 ? null : typeof md5 === 'string' ? md5 : Buffer.from(md5).toString('base64'),
    destination: fields.destination ?? null,
  };
}

export interface BatchResult {
  done: number;
  failed: number;
  bytes: number;
}

export interface ContainerResult {
  name: string;
  lastModified?: string;
  etag?: string;
}

export type Reply<R = unknown> = { v: number; ok: true; result: R } | { v: number; ok: false; error: ErrorJson };

export function okReply<R>(result: R): Reply<R> {
  return { v: PROTOCOL_VERSION, ok: true, result };
}
export function errorReply(error: ErrorJson): Reply<never> {
  return { v: PROTOCOL_VERSION, ok: false, error };
}

// ---- validation ----
function protocolError(code: string, message: string): MsiError {
  return new MsiError(code, message, 'ProtocolError');
}

function describe(spec: Spec): string {
  if (spec.t === 'enum') return `one of ${spec.values.join(', ')}`;
  if (spec.t === 'record') return 'an object of strings';
  return spec.t === 'array' || spec.t === 'object' ? `an ${spec.t}` : `a ${spec.t}`;
}

function checkFields(value: Record<string, unknown>, fields: Fields, path: string): void {
  for (const key of Object.keys(value)) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) {
      throw protocolError('UnknownRequestKey', `The request has an unknown key '${path}${key}'. Allowed keys: ${Object.keys(fields).join(', ') || '(none)'}.`);
    }
  }
  for (const [key, spec] of Object.entries(fields)) {
    const v = value[key];
    if (v === undefined || v === null) {
      if (!spec.optional) throw protocolError('MissingRequestKey', `The request lacks the required key '${path}${key}'.`);
      delete value[key];
      continue;
    }
    const bad = () => protocolError('InvalidRequestValue', `The request key '${path}${key}' must be ${describe(spec)}.`);
    switch (spec.t) {
      case 'string':
        if (typeof v !== 'string') throw bad();
        break;
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v)) throw bad();
        break;
      case 'boolean':
        if (typeof v !== 'boolean') throw bad();
        break;
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) throw bad();
        break;
      case 'array':
        if (!Array.isArray(v)) throw bad();
        if (spec.max !== undefined && v.length > spec.max) throw protocolError('InvalidRequestValue', `The request key '${path}${key}' has more than ${spec.max} entries.`);
        v.forEach((item, i) => {
          const holder: Record<string, unknown> = { [`${key}[${i}]`]: item };
          checkFields(holder, { [`${key}[${i}]`]: spec.items }, path);
        });
        break;
      case 'record':
        if (typeof v !== 'object' || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== 'string')) throw bad();
        break;
      case 'object':
        if (typeof v !== 'object' || Array.isArray(v)) throw bad();
        checkFields(v as Record<string, unknown>, spec.fields, `${path}${key}.`);
        break;
    }
  }
}

export function tooLarge(limit: number): MsiError {
  return protocolError('RequestTooLarge', `The request is larger than the limit of ${limit} bytes. Send fewer items per call (split the pipeline), or shorter names.`);
}

/** Parses and validates one request line. Throws MsiError (category ProtocolError) on anything malformed. */
/**
 * Blob names as Azure Storage keeps them: the service reads '\\' in a blob's URL as '/', so 'logs\\app.log'
 * is stored as 'logs/app.log' (Azure's own SDKs sign SAS for the name that way). Made so here, in every name
 * and listing prefix of the request, so that outputs, SAS and listings all name the blob the service has.
 * Returns what was changed, for -Verbose.
 */
export function canonicalBlobNames(req: AnyRequest): string[] {
  const changed: string[] = [];
  const fix = (name: string) => {
    const fixed = name.replace(/\\/g, '/');
    if (fixed !== name) changed.push(`Blob name '${name}' is '${fixed}': Azure Storage reads '\\' in a blob name as '/'.`);
    return fixed;
  };
  const r = req as { command: string; blob?: string; prefix?: string; items?: { blob?: string }[] };
  if (typeof r.blob === 'string') r.blob = fix(r.blob);
  if (r.command === 'list' && typeof r.prefix === 'string') r.prefix = fix(r.prefix);
  for (const item of r.items ?? []) if (typeof item.blob === 'string') item.blob = fix(item.blob);
  return changed;
}

export function parseRequest(line: string): AnyRequest {
  const size = Buffer.byteLength(line, 'utf8');
  if (size > MAX_BATCH_REQUEST_BYTES) throw tooLarge(MAX_BATCH_REQUEST_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw protocolError('MalformedRequest', 'The request is not valid JSON. Send one JSON object on one line.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw protocolError('MalformedRequest', 'The request must be a JSON object.');
  }
  const req = parsed as Record<string, unknown>;
  if (req.v !== PROTOCOL_VERSION) {
    throw protocolError(
      'ProtocolVersionMismatch',
      `The request speaks protocol version ${JSON.stringify(req.v)}, but this script speaks version ${PROTOCOL_VERSION}. ` +
        'The PowerShell module and its Node script come from different builds: reinstall the module, or run "npm run build".',
    );
  }
  const command = req.command;
  if (typeof command !== 'string' || !Object.prototype.hasOwnProperty.call(requestSpecs, command)) {
    throw protocolError('UnknownCommand', `Unknown command ${JSON.stringify(command)}. Known commands: ${Object.keys(requestSpecs).join(', ')}.`);
  }
  if (size > MAX_REQUEST_BYTES && !BATCH_COMMANDS.has(command)) throw tooLarge(MAX_REQUEST_BYTES);
  const { v: _v, command: _c, verbose, ...rest } = req;
  if (verbose !== undefined && typeof verbose !== 'boolean') throw protocolError('InvalidRequestValue', "The request key 'verbose' must be a boolean.");
  checkFields(rest, requestSpecs[command as Command] as Fields, '');
  return { v: PROTOCOL_VERSION, command, ...(verbose === undefined ? {} : { verbose }), ...rest } as AnyRequest;
}
