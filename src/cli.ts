// Transport only: read one request line from stdin, validate it, run its command, write one reply line.
// Commands are imported lazily so that a token request never loads @azure/storage-blob.
import { setMaxListeners } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { MsiError, toMsiError } from './errors.js';
import { readLineAsync, readLineSync, writeStderr, writeStdout } from './io.js';
import { endEvents, setVerbose, verbose } from './log.js';
import { type AnyRequest, type Command, MAX_BATCH_REQUEST_BYTES, PROTOCOL_VERSION, type Reply, canonicalBlobNames, errorReply, okReply, parseRequest, tooLarge as requestTooLarge } from './protocol.js';
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
  containers: async () => (await import('./commands/list.js')).containers,
  remove: async () => (await import('./commands/remove.js')).run,
};

/**
 * A pipeline cmdlet starts its Node process early, with `--prepare <command>` (a hint, never a secret), so
 * that starting Node and loading the storage SDK overlap with PowerShell binding the pipeline's items. The
 * request comes later, when the pipeline ends. A prepared process that gets no request exits quietly: at
 * end of input (the pipeline had nothing to send), or after a while (the pipeline was stopped).
 */
const PREPARE: Partial<Record<Command, () => Promise<unknown>>> = {
  upload: async () => Promise.all([(await import('./blob/client.js')).loadStorageSdk(), import('./blob/upload.js').then((m) => m.guessContentType('a.txt'))]),
  download: async () => (await import('./blob/client.js')).loadStorageSdk(),
  remove: async () => (await import('./blob/client.js')).loadStorageSdk(),
};
const PREPARED_WAIT_MS = Number(process.env.MSISTORAGE_PREPARE_TIMEOUT_MS) || 30_000;

function preparedCommand(): Command | undefined {
  const i = process.argv.indexOf('--prepare');
  const command = i >= 0 ? process.argv[i + 1] : undefined;
  return command && Object.prototype.hasOwnProperty.call(handlers, command) ? (command as Command) : undefined;
}

async function readPreparedRequest(command: Command): Promise<ReturnType<typeof readLineSync>> {
  const idle = setTimeout(() => process.exit(0), PREPARED_WAIT_MS);
  await handlers[command]();
  await PREPARE[command]?.();
  const read = await readLineAsync(MAX_BATCH_REQUEST_BYTES);
  clearTimeout(idle);
  if (read.line === undefined && !read.tooLarge) process.exit(0);
  return read;
}

/** Batch commands watch stdin for {"cancel":true} while they run (PowerShell sends it on Ctrl+C). */
const CANCELLABLE = new Set<Command>(['upload', 'download', 'list', 'containers', 'remove']);

function watchForCancel(controller: AbortController, rest: string): void {
  let buffered = rest;
  const check = () => {
    if (/"cancel"\s*:\s*true/.test(buffered)) controller.abort();
    if (buffered.length > 64 * 1024) buffered = buffered.slice(-1024);
  };
  check();
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk;
    check();
  });
  // A prepared process has read its request through this stream and paused it: flowing again.
  process.stdin.resume();
  process.stdin.on('error', () => undefined);
}

/**
 * A terminal's Ctrl+C reaches Node as well as PowerShell (one process group), and a closing terminal or a
 * service stop sends SIGHUP or SIGTERM: for a command that writes files or blobs, a signal is a cancel, so
 * that its temporary files go and its reply says OperationStopped. A second signal ends the process at once.
 */
function stopOnSignals(controller: AbortController): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(130);
      controller.abort();
    });
  }
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
    try {
      writeStdout(JSON.stringify(errorReply(toMsiError(err).toJson())));
    } finally {
      process.exit(1);
    }
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

export async function main(): Promise<void> {
  installCrashGuards();
  const controller = new AbortController();
  // Every transfer in a batch listens to it; that is not a leak.
  setMaxListeners(0, controller.signal);
  let reply: Reply;
  try {
    const prepared = preparedCommand();
    const { line, rest, tooLarge } = prepared ? await readPreparedRequest(prepared) : readLineSync(MAX_BATCH_REQUEST_BYTES);
    if (tooLarge) throw requestTooLarge(MAX_BATCH_REQUEST_BYTES);
    if (line === undefined) throw new MsiError('MalformedRequest', 'No request arrived on stdin. Send one JSON object on one line.', 'ProtocolError');
    const req = parseRequest(line);
    setVerbose(req.verbose !== false);
    registerRequestSecrets(req);
    for (const note of canonicalBlobNames(req)) verbose(note);
    if (CANCELLABLE.has(req.command)) {
      watchForCancel(controller, rest);
      stopOnSignals(controller);
    }
    const handler = (await handlers[req.command]()) as (r: AnyRequest, s: AbortSignal) => Promise<unknown>;
    reply = okReply(await handler(req, controller.signal));
  } catch (err) {
    const e = controller.signal.aborted ? new MsiError('OperationStopped', 'The operation was stopped.', 'OperationStopped') : toMsiError(err);
    if (e.code === 'InternalError' && process.env.MSISTORAGE_DEBUG === '1') writeStderr(redact(String((err as Error)?.stack ?? err)));
    reply = errorReply(e.toJson());
  }
  // Benchmark hook: the peak resident set of this process, in KiB (a number, never anything else). Written
  // before the reply, because the caller may go on as soon as the reply is in.
  if (process.env.MSISTORAGE_RSS_FILE) writeFileSync(process.env.MSISTORAGE_RSS_FILE, String(peakRssKiB()));
  endEvents();
  writeStdout(JSON.stringify(reply));
  process.exit(reply.ok ? 0 : 1);
}

/**
 * This process's own peak resident set in KiB. On Linux, getrusage's maxrss survives execve, so a Node
 * started by a large parent (a pwsh of 300 MB) would report the parent's size; /proc/self/status's VmHWM
 * is this process's own high-water mark.
 */
function peakRssKiB(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // Not Linux: fall through.
  }
  return process.resourceUsage().maxRSS;
}
