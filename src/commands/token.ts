import { getToken } from '../identity/token.js';
import type { RequestOf, TokenResult } from '../protocol.js';

export async function run(req: RequestOf<'token'>, signal: AbortSignal): Promise<TokenResult> {
  const { v: _v, command: _c, verbose: _verbose, ...identity } = req;
  return getToken(identity, signal);
}
