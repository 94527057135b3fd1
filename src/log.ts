// Events on stderr, one JSON object per line. stdout carries the protocol reply only.
// The PowerShell bridge turns 'verbose' into Write-Verbose, 'warning' into Write-Warning and 'progress' into
// Write-Progress. Every message is redacted before it leaves the process.
import { writeStderr } from './io.js';
import { redact } from './redact.js';

let verboseWanted = true;
/** The request says whether anyone will show verbose messages; if not, they are not even formatted. */
export function setVerbose(wanted: boolean): void {
  verboseWanted = wanted;
}

export type ProgressEvent = {
  event: 'progress';
  /** Stable id of the activity, so that PowerShell can keep one progress bar per transfer. */
  id: number;
  parentId?: number;
  activity: string;
  status?: string;
  percent?: number;
  secondsRemaining?: number;
  bytesDone?: number;
  bytesTotal?: number;
  filesDone?: number;
  filesTotal?: number;
  completed?: boolean;
};

function emit(event: object): void {
  writeStderr(JSON.stringify(event));
}

export function verbose(message: string): void {
  if (verboseWanted) emit({ event: 'verbose', message: redact(message) });
}

export function warning(message: string): void {
  emit({ event: 'warning', message: redact(message) });
}

/**
 * The last event, written just before the reply: nothing more comes on stderr. With the reply in hand, the
 * bridge can return at once instead of waiting for the process to wind down (a few milliseconds per call).
 */
export function endEvents(): void {
  emit({ event: 'end' });
}

export function progress(event: Omit<ProgressEvent, 'event'>): void {
  emit({ event: 'progress', ...event, activity: redact(event.activity), status: event.status && redact(event.status) });
}
