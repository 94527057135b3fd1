// Azure Arc's challenge: the agent answers the first token request with 401 and
// `WWW-Authenticate: Basic realm=<path of a key file>`. The file is read only if it lies in the agent's
// token folder, is named *.key, is a regular file and is at most 4096 bytes; then the request is resent with
// `Authorization: Basic <contents>`. Anything else is refused: a realm is a path chosen by whoever answered.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MsiError } from '../errors.js';
import type { HttpResponse } from '../http.js';
import { registerSecret } from '../redact.js';

export const ARC_MAX_KEY_BYTES = 4096;

type Env = Record<string, string | undefined>;

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
  let stat;
  try {
    stat = await fs.lstat(file);
  } catch {
    throw refuse('ArcKeyUnreadable', `the key file '${realm}' cannot be read. Run as an administrator or a member of the 'himds' group.`);
  }
  if (!stat.isFile()) throw refuse('ArcKeyPathInvalid', `'${realm}' is not a regular file.`);
  if (stat.size > ARC_MAX_KEY_BYTES) throw refuse('ArcKeyTooLarge', `the key file '${realm}' is ${stat.size} bytes; a key file is at most ${ARC_MAX_KEY_BYTES}.`);
  let key: string;
  try {
    key = await fs.readFile(file, 'utf8');
  } catch {
    throw refuse('ArcKeyUnreadable', `the key file '${realm}' cannot be read. Run as an administrator or a member of the 'himds' group.`);
  }
  registerSecret(key);
  return `Basic ${key}`;
}
