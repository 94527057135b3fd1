// Minimal JWTs for the emulator: v1-style Entra ID claims, signed HS256 with a per-process secret so that
// the emulated ARM can tell its own tokens from forgeries. (Azurite checks claims, not signatures.)
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type Claims = Record<string, string | number | string[]>;

const b64url = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

export class TokenSigner {
  private readonly secret = randomBytes(32);

  sign(claims: Claims): string {
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256', kid: 'msistorage-emulator' }));
    const payload = b64url(JSON.stringify(claims));
    const sig = createHmac('sha256', this.secret).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }

  /** Returns the claims when the signature is ours, else undefined. */
  verify(token: string): Claims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const expected = createHmac('sha256', this.secret).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2], 'base64url');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return undefined;
    try {
      return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Claims;
    } catch {
      return undefined;
    }
  }
}
