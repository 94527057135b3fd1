// Small HTTP helpers shared by the emulator's routes.
import { randomUUID } from 'node:crypto';
import type * as http from 'node:http';

export interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  body: string;
}

export function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** IMDS-style error: {"error","error_description"}. */
export function imdsError(res: http.ServerResponse, status: number, error: string, description: string): void {
  send(res, status, { error, error_description: description }, { Server: 'IMDS/150.870.65.1544' });
}

/** ARM-style error: {"error":{"code","message"}}. */
export function armError(res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { error: { code, message } }, { 'x-ms-request-id': randomUUID(), 'x-ms-correlation-request-id': randomUUID(), ...headers });
}
