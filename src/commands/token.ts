import { getToken } from '../identity/token.js';
import type { RequestOf, TokenResult } from '../protocol.js';

export async function run(req: RequestOf<'token'>, signal: AbortSignal): Promise<TokenResult> {
  return getToken({ endpoint: req.endpoint, resource: req.resource, timeoutSec: req.timeoutSec }, signal);
}
