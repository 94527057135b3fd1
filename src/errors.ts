// Typed errors. Every failure that crosses the boundary is an MsiError: a stable `code` (the Reason part
// of the PowerShell ErrorId), a PowerShell ErrorCategory name, the HTTP status and the parsed Azure error
// body when there was one, and the parameter the user should look at.
import { redact } from './redact.js';

export type Category =
  | 'InvalidArgument'
  | 'InvalidData'
  | 'InvalidOperation'
  | 'ObjectNotFound'
  | 'PermissionDenied'
  | 'AuthenticationError'
  | 'ResourceUnavailable'
  | 'ResourceExists'
  | 'ConnectionError'
  | 'OperationTimeout'
  | 'OperationStopped'
  | 'ProtocolError'
  | 'NotInstalled'
  | 'LimitsExceeded'
  | 'ReadError'
  | 'WriteError'
  | 'SecurityError'
  | 'NotSpecified';

/** The error body Azure services send: ARM `{"error":{"code","message"}}`, IMDS `{"error","error_description"}`. */
export interface AzureErrorBody {
  code?: string;
  message?: string;
}

export interface ErrorJson {
  code: string;
  message: string;
  category: Category;
  statusCode?: number;
  azure?: AzureErrorBody;
  parameter?: string;
  target?: string;
}

export interface MsiErrorOptions {
  statusCode?: number;
  azure?: AzureErrorBody;
  parameter?: string;
  target?: string;
  cause?: unknown;
}

export class MsiError extends Error {
  readonly code: string;
  readonly category: Category;
  readonly statusCode?: number;
  readonly azure?: AzureErrorBody;
  readonly parameter?: string;
  readonly target?: string;

  constructor(code: string, message: string, category: Category, options: MsiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MsiError';
    this.code = code;
    this.category = category;
    this.statusCode = options.statusCode;
    this.azure = options.azure;
    this.parameter = options.parameter;
    this.target = options.target;
  }

  toJson(): ErrorJson {
    const out: ErrorJson = { code: this.code, message: redact(this.message), category: this.category };
    if (this.statusCode !== undefined) out.statusCode = this.statusCode;
    if (this.azure) {
      out.azure = {};
      if (this.azure.code !== undefined) out.azure.code = redact(String(this.azure.code));
      if (this.azure.message !== undefined) out.azure.message = redact(String(this.azure.message));
    }
    if (this.parameter) out.parameter = this.parameter;
    if (this.target) out.target = redact(this.target);
    return out;
  }
}

/** A bad value in a request field: names the PowerShell parameter and says what would be valid. */
/** A message's first sentence: up to a '.', '!' or '?' that ends the text or comes before a space (so not the dot of 'Microsoft.Storage'). */
export function firstSentence(text: string): string {
  return /^[\s\S]*?[.!?](?=\s|$)/.exec(text)?.[0].replace(/[.!?]$/, '') ?? text;
}

export function invalidArgument(parameter: string, message: string, code = 'InvalidArgument'): MsiError {
  return new MsiError(code, message, 'InvalidArgument', { parameter });
}

/** Anything thrown that is not an MsiError becomes one, without a stack trace and with secrets redacted. */
export function toMsiError(err: unknown): MsiError {
  if (err instanceof MsiError) return err;
  const e = err as { name?: string; message?: string; code?: string } | undefined;
  if (e?.name === 'AbortError') return new MsiError('OperationStopped', 'The operation was stopped.', 'OperationStopped');
  const message = e?.message ? String(e.message) : String(err);
  return new MsiError('InternalError', `MsiStorage failed unexpectedly: ${message}`, 'NotSpecified', { cause: err });
}
