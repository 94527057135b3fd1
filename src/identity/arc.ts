// Azure Arc's challenge: the agent answers the first token request with 401 and
// `WWW-Authenticate: Basic realm=<path of a key file>`. The file is read only if it lies in the agent's
// token folder, is named *.key, is a regular file and is at most 4096 bytes; then the request is resent with
// `Authorization: Basic <contents>`. Anything else is refused: a realm is a path chosen by whoever answered.
// The checks and the read are made on one open file, not on the path twice: between a check of the path and
// a read of it, the file could be swapped for a link to another file, or grow.
//
// Also here: whether the Arc agent is installed (its himds executable exists), which is how MSAL detects
// Arc when IDENTITY_ENDPOINT and IMDS_ENDPOINT are not set (services started before the agent set them).
import { constants, existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MsiError } from '../errors.js';
import type { HttpResponse } from '../http.js';
import { registerSecret } from '../redact.js';

export const ARC_MAX_KEY_BYTES = 4096;
/** Where MSAL sends Arc requests when the agent was found by its executable rather than by the environment. */
export const ARC_DEFAULT_ENDPOINT = 'http://127.0.0.1:40342/metadata/identity/oauth2/token';

type Env = Record<string, string | undefined>;

/** The agent's himds executable (MSAL's file detection); MSISTORAGE_ARC_HIMDS_PATH replaces it (for tests). */
export function arcAgentPath(env: Env = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (env.MSISTORAGE_ARC_HIMDS_PATH) return path.resolve(env.MSISTORAGE_ARC_HIMDS_PATH);
  if (platform === 'linux') return '/opt/azcmagent/bin/himds';
  if (platform === 'win32') return path.win32.join(env.ProgramFiles ?? 'C:\\Program Files', 'AzureConnectedMachineAgent', 'himds.exe');
  return undefined;
}

/** True when the Azure Arc agent is installed on this machine. */
export function arcAgentInstalled(env: Env = process.env, platform: NodeJS.Platform = process.platform): boolean {
  const file = arcAgentPath(env, platform);
  return file !== undefined && existsSync(file);
}

/** The agent's token folder; MSISTORAGE_ARC_KEY_DIR replaces it (for tests and non-standard installs). */
export function arcKeyFolder(env: Env = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (env.MSISTORAGE_ARC_KEY_DIR) return path.resolve(env.MSISTORAGE_ARC_KEY_DIR);
  if (platform === 'linux') return '/var/opt/azcmagent/tokens';
  if (platform === 'win32') return path.win32.join(env.ProgramData ?? 'C:\\ProgramData', 'AzureConnectedMachineAgent', 'Tokens');
  return undefined;
}

function refuse(code: string, message: string): MsiError {
  return new MsiError(code, `Azure Arc challenge refused: ${message}`, 'SecurityError');
}

/** Validates the challenge and returns the value of the Authorization header to resend with. */
export async function answerArcChallenge(res: HttpResponse, env: Env = process.env, platform: NodeJS.Platform = process.platform): Promise<string> {
  const header = res.headers['www-authenticate'];
  if (!header) throw refuse('ArcChallengeMissing', 'the agent answered 401 without a WWW-Authenticate header.');
  const m = /^Basic realm=(.+)$/i.exec(header.trim());
  if (!m) throw refuse('ArcChallengeUnsupported', `the WWW-Authenticate header is not "Basic realm=<path>".`);
  const folder = arcKeyFolder(env, platform);
  if (!folder) throw refuse('ArcPlatformUnsupported', `Azure Arc managed identity is supported on Linux and Windows, not ${platform}.`);
  const realm = m[1].trim();
  const p = platform === 'win32' ? path.win32 : path.posix;
  if (!p.isAbsolute(realm)) throw refuse('ArcKeyPathInvalid', `the key file '${realm}' is not an absolute path.`);
  const file = p.resolve(realm);
  const same = (a: string, b: string) => (platform === 'win32' ? a.toLowerCase() === b.toLowerCase() : a === b);
  if (!same(p.dirname(file), p.resolve(folder))) {
    throw refuse('ArcKeyPathInvalid', `the key file '${realm}' is not in the agent's token folder '${folder}'.`);
  }
  if (!file.toLowerCase().endsWith('.key')) throw refuse('ArcKeyPathInvalid', `the key file '${realm}' is not named *.key.`);
  const key = await readKeyFile(file, realm);
  registerSecret(key);
  return `Basic ${key}`;
}

/**
 * Reads the key file, refusing a link, anything but a regular file, and more than ARC_MAX_KEY_BYTES.
 * lstat names the common refusals clearly; then the file is opened without following a final link
 * (O_NOFOLLOW, where the platform has it) and without blocking on a FIFO (O_NONBLOCK), and the open file
 * itself is checked: it must be the file lstat saw (same device and inode: on Windows, which has no
 * O_NOFOLLOW, this is what catches a swap), regular, and small; and at most one byte more than the limit is
 * ever read, so a file that grows after the check is refused too.
 */
async function readKeyFile(file: string, realm: string): Promise<string> {
  // Who may read the agent's keys: the himds group on Linux; on Windows, Administrators and the
  // 'Hybrid agent extension applications' group.
  const who = process.platform === 'win32' ? "an administrator or a member of the 'Hybrid agent extension applications' group" : "an administrator or a member of the 'himds' group";
  const unreadable = () => refuse('ArcKeyUnreadable', `the key file '${realm}' cannot be read. Run as ${who}.`);
  const tooLarge = (size: number | string) => refuse('ArcKeyTooLarge', `the key file '${realm}' is ${size} bytes; a key file is at most ${ARC_MAX_KEY_BYTES}.`);
  let seen;
  try {
    seen = await fs.lstat(file);
  } catch {
    throw unreadable();
  }
  if (seen.isSymbolicLink()) throw refuse('ArcKeyPathInvalid', `'${realm}' is a symbolic link; the key file must be a regular file.`);
  if (!seen.isFile()) throw refuse('ArcKeyPathInvalid', `'${realm}' is not a regular file.`);
  if (seen.size > ARC_MAX_KEY_BYTES) throw tooLarge(seen.size);
  let handle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    // ELOOP: the path became a symbolic link after lstat looked at it.
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw refuse('ArcKeyPathInvalid', `'${realm}' is a symbolic link; the key file must be a regular file.`);
    throw unreadable();
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.dev !== seen.dev || opened.ino !== seen.ino) {
      throw refuse('ArcKeyPathInvalid', `'${realm}' changed while it was being opened; the key file must be a regular file that stays in place.`);
    }
    if (opened.size > ARC_MAX_KEY_BYTES) throw tooLarge(opened.size);
    const buf = Buffer.alloc(ARC_MAX_KEY_BYTES + 1);
    let length = 0;
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buf, length, buf.length - length, null));
      } catch {
        throw unreadable();
      }
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > ARC_MAX_KEY_BYTES) throw tooLarge(`more than ${ARC_MAX_KEY_BYTES}`);
    }
    return buf.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}
