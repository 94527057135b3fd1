// Transport only: read one request line from stdin, validate it, run its command, write one reply line.
// Commands are imported lazily so that a token request never loads @azure/storage-blob.
import { MsiError, toMsiError } from './errors.js';
import { type AnyRequest, type Command, MAX_REQUEST_BYTES, PROTOCOL_VERSION, type Reply, errorReply, okReply, parseRequest } from './protocol.js';
import { redact, registerSecret } from './redact.js';

declare const MSISTORAGE_VERSION: string;

type Handler = (req: never, signal: AbortSignal) => Promise<unknown>;
const handlers: Record<Command, () => Promise<Handler>> = {
  version: async () => async () => ({ version: MSISTORAGE_VERSION, protocol: PROTOCOL_VERSION, node: process.version }),
  token: async () => (await import('./commands/token.js')).run,
  keys: async () => (await import('./commands/keys.js')).run,
  context: async () => (await import('./commands/context.js')).run,
  sas: async () => (await import('./commands/sas.js')).run,
  newContainer: async () => (await import('./commands/newContainer.js')).run,
  upload: async () => (await import('./commands/upload.js')).run,
  download: async () => (await import('./commands/download.js')).run,
  list: async () => (await import('./commands/list.js')).run,
};

/**
 * Reads stdin: resolves with the first line (the request). Later lines may carry {"cancel":true}; a cancel
 * line aborts `controller`. The byte limit is enforced while reading, before any parsing.
 */
function readRequest(controller: AbortController): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let size = 0;
    let request: string | undefined;
    const stdin = process.stdin;
    stdin.setEncoding('utf8');
    stdin.on('data', (chunk: string) => {
      if (request === undefined) {
        size += Buffer.byteLength(chunk, 'utf8');
        buffered += chunk;
        const nl = buffered.indexOf('\n');
        if (nl >= 0) {
          request = buffered.slice(0, nl).replace(/\r$/, '');
          buffered = buffered.slice(nl + 1);
          resolve(request);
        } else if (size > MAX_REQUEST_BYTES) {
          stdin.pause();
          reject(new MsiError('RequestTooLarge', `The request is larger than the limit of ${MAX_REQUEST_BYTES} bytes.`, 'ProtocolError'));
          return;
        }
      } else {
        buffered += chunk;
        if (buffered.length > 64 * 1024) buffered = buffered.slice(-1024);
      }
      if (request !== undefined && /"cancel"\s*:\s*true/.test(buffered)) controller.abort();
    });
    stdin.on('end', () => {
      if (request === undefined) {
        if (buffered.trim()) {
          request = buffered;
          resolve(request);
        } else reject(new MsiError('MalformedRequest', 'No request arrived on stdin. Send one JSON object on one line.', 'ProtocolError'));
      }
    });
    stdin.on('error', reject);
  });
}

function writeReply(reply: Reply): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(`${JSON.stringify(reply)}\n`, () => resolve());
  });
}

function registerRequestSecrets(req: AnyRequest): void {
  const r = req as Record<string, unknown> & { context?: Record<string, string | undefined> };
  for (const v of [r.token, r.storageAccountKey, r.sasToken, r.storageToken, r.context?.storageAccountKey, r.context?.sasToken, r.context?.bearerToken]) {
    registerSecret(typeof v === 'string' ? v : undefined);
  }
}

/** Last resort: whatever escapes still ends as one well-formed error reply, never a stack trace. */
function installCrashGuards(): void {
  let replied = false;
  const crash = (err: unknown) => {
    if (replied) return;
    replied = true;
    process.stdout.write(`${JSON.stringify(errorReply(toMsiError(err).toJson()))}\n`, () => process.exit(1));
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  // The reader went away (PowerShell stopped): nothing left to tell anyone.
  process.stdout.on('error', () => process.exit(1));
}

export async function main(): Promise<void> {
  installCrashGuards();
  const controller = new AbortController();
  let reply: Reply;
  try {
    const req = parseRequest(await readRequest(controller));
    registerRequestSecrets(req);
    const handler = (await handlers[req.command]()) as (r: AnyRequest, s: AbortSignal) => Promise<unknown>;
    reply = okReply(await handler(req, controller.signal));
  } catch (err) {
    const e = controller.signal.aborted ? new MsiError('OperationStopped', 'The operation was stopped.', 'OperationStopped') : toMsiError(err);
    if (e.code === 'InternalError' && process.env.MSISTORAGE_DEBUG === '1') process.stderr.write(`${redact(String((err as Error)?.stack ?? err))}\n`);
    reply = errorReply(e.toJson());
  }
  await writeReply(reply);
  process.exit(reply.ok ? 0 : 1);
}
