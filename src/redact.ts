// Redaction of token-like and key-like values in any text that leaves the process (messages, logs).
// Server text is echoed in errors; a careless proxy or emulator could put a secret in it.

const PATTERNS: RegExp[] = [
  // JWTs (access tokens): three base64url parts, the first two starting with '{"' encoded.
  /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  // "Bearer <anything>" in echoed headers.
  /(Bearer\s+)[A-Za-z0-9\-._~+/]{16,}=*/gi,
  // SAS signatures.
  /([?&]sig=)[^&\s"']+/gi,
  // Storage account keys: 64 random bytes in base64 (88 chars ending in '=='), and other long base64 runs.
  // (80+ characters, so that ordinary paths and ids are left alone.)
  /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{80,}={0,2}/g,
  // access_token / refresh_token / key values in JSON or form text.
  /("?(?:access_token|refresh_token|accountKey|AccountKey|value|key)"?\s*[:=]\s*"?)[^"&,\s}]{12,}/g,
];

export function redact(text: string): string {
  let out = text;
  for (const p of PATTERNS) {
    out = out.replace(p, (match, prefix?: unknown) =>
      typeof prefix === 'string' && match.startsWith(prefix) ? `${prefix}[redacted]` : '[redacted]',
    );
  }
  for (const secret of knownSecrets) {
    if (secret.length >= 8) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/** Secrets this process has seen (request fields, tokens it fetched): never echoed, whatever their shape. */
const knownSecrets = new Set<string>();
export function registerSecret(value: string | undefined): void {
  if (value) knownSecrets.add(value);
}
