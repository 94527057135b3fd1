// Get-MsiBlob: the container's blobs (optionally under a prefix), one line per blob as the pages arrive.
import type { BlobItem, ContainerClient } from '@azure/storage-blob';
import { containerClient, serviceClient, storageError } from '../blob/client.js';
import { emitItem } from '../blob/transfer.js';
import { MsiError, invalidArgument } from '../errors.js';
import { verbose } from '../log.js';
import { type BatchResult, type RequestOf, blobResult, quotedEtag } from '../protocol.js';

/** Whether a name holds a PowerShell wildcard (*, ? or [) that no backtick escapes ('``' is a backtick). */
function hasWildcard(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '`') i++;
    else if (name[i] === '*' || name[i] === '?' || name[i] === '[') return true;
  }
  return false;
}

/**
 * A PowerShell wildcard pattern (WildcardPattern: '*', '?', '[a-z]' sets and ranges, '`' escaping) as a
 * regular expression, case-insensitive as Get-AzStorageBlob -Blob matches.
 */
export function wildcardRegExp(pattern: string, parameter = 'Blob'): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '`' && i + 1 < pattern.length) out += escapeRegExp(pattern[++i]);
    else if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalidArgument(parameter, `-${parameter} '${pattern}' has a '[' with no ']' after it. Close the set, or escape the '[' with a backtick.`, 'InvalidWildcardPattern');
      const set = pattern.slice(i + 1, end).replace(/[\\\]^]/g, '\\$&');
      out += `[${set}]`;
      i = end;
    } else out += escapeRegExp(c);
  }
  try {
    return new RegExp(`^${out}$`, 'i');
  } catch {
    // A set the RegExp refuses, such as a range written backwards ([z-a]).
    throw invalidArgument(parameter, `-${parameter} '${pattern}' is not a wildcard pattern PowerShell could match: check its [sets] (a range goes from low to high, as [a-z]).`, 'InvalidWildcardPattern');
  }
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export async function run(req: RequestOf<'list'>, signal: AbortSignal): Promise<BatchResult> {
  const container = await containerClient(req.context, req.container);
  const max = req.maxCount ?? Infinity;
  if (!(max >= 1 && Number.isInteger(max) || max === Infinity)) throw invalidArgument('MaxCount', `-MaxCount ${req.maxCount} is not a count. Give a whole number from 1.`, 'InvalidMaxCount');
  // -Blob: a name is one blob (listed under it as a prefix, matched exactly); a pattern is matched against
  // every blob (under -Prefix), ignoring case, as Get-AzStorageBlob does.
  const pattern = req.blob !== undefined && hasWildcard(req.blob) ? wildcardRegExp(req.blob) : undefined;
  const exact = req.blob !== undefined && !pattern ? req.blob.replace(/`(.)/g, '$1') : undefined;
  const prefix = exact !== undefined ? (req.prefix && !exact.startsWith(req.prefix) ? undefined : exact) : req.prefix;
  verbose(`Listing ${container.url}${prefix ? ` under '${prefix}'` : ''}${pattern ? `, names like '${req.blob}'` : ''}${max < Infinity ? `, at most ${max}` : ''}.`);
  let done = 0;
  let bytes = 0;
  // A name that is not there is an error, as Get-AzStorageBlob's (-ErrorAction SilentlyContinue: nothing).
  const notFound = () =>
    new MsiError('BlobNotFound', `The blob '${exact}' in container '${req.container}' does not exist${req.prefix && prefix === undefined ? ` under -Prefix '${req.prefix}'` : ''}. Check -Blob: names are case-sensitive; a pattern such as '*${exact}*' matches ignoring case.`, 'ObjectNotFound', {
      parameter: 'Blob',
      target: exact,
    });
  if (exact !== undefined && prefix === undefined) throw notFound();
  // Small pages when few blobs are wanted (-MaxCount): the answer comes sooner.
  const pageSize = max < 5000 && !pattern && exact === undefined ? max : undefined;
  try {
    for await (const b of listBlobs(container, prefix, pageSize, signal)) {
      if (exact !== undefined && b.name !== exact) continue;
      if (pattern && !pattern.test(b.name)) continue;
      const p = b.properties;
      const result = blobResult({
        name: b.name,
        container: req.container,
        blobType: p.blobType,
        length: p.contentLength ?? 0,
        contentType: p.contentType,
        lastModified: p.lastModified,
        etag: p.etag,
        contentMD5: p.contentMD5,
      });
      emitItem(done++, { result });
      bytes += result.length;
      // A name is one blob: found, the listing under it is over.
      if (done >= max || exact !== undefined) break;
    }
  } catch (err) {
    throw storageError(err, { container: req.container });
  }
  if (exact !== undefined && done === 0) throw notFound();
  return { done, failed: 0, bytes };
}

/** The blobs under a prefix, page by page (of at most `pageSize`, when given). */
async function* listBlobs(container: ContainerClient, prefix: string | undefined, pageSize: number | undefined, signal: AbortSignal): AsyncGenerator<BlobItem> {
  for await (const page of container.listBlobsFlat({ prefix, abortSignal: signal }).byPage({ maxPageSize: pageSize })) {
    yield* page.segment.blobItems;
  }
}

/** The account's containers (for tab completion and listing), one line each. */
export async function containers(req: RequestOf<'containers'>, signal: AbortSignal): Promise<BatchResult> {
  const service = await serviceClient(req.context);
  const max = req.maxCount ?? Infinity;
  const pattern = req.name !== undefined && hasWildcard(req.name) ? wildcardRegExp(req.name, 'Name') : undefined;
  // Container names are lower case by Azure's rules: a name in capitals means the same container.
  const exact = req.name !== undefined && !pattern ? req.name.replace(/`(.)/g, '$1').toLowerCase() : undefined;
  let done = 0;
  try {
    for await (const c of service.listContainers({ prefix: exact ?? req.prefix, abortSignal: signal })) {
      if ((exact !== undefined && c.name !== exact) || (pattern && !pattern.test(c.name))) continue;
      emitItem(done++, { result: { name: c.name, lastModified: c.properties.lastModified?.toISOString() ?? null, etag: quotedEtag(c.properties.etag) } });
      if (done >= max || exact !== undefined) break;
    }
  } catch (err) {
    const e = storageError(err, { account: req.context.storageAccountName });
    // A container's SAS (or a blob's) cannot list the account's containers: say so, not "it may have expired".
    if (req.context.authType === 'SAS' && (e.category === 'PermissionDenied' || e.category === 'AuthenticationError')) {
      throw new MsiError(e.code, `${e.message} Listing containers needs an account SAS, with the letter l: New-MsiStorageSas without -Container.`, e.category, { statusCode: e.statusCode, azure: e.azure, target: e.target });
    }
    throw e;
  }
  if (exact !== undefined && done === 0) {
    throw new MsiError('ContainerNotFound', `The container '${exact}' does not exist in account '${req.context.storageAccountName}'. Check -Name, or create it with New-MsiStorageContainer.`, 'ObjectNotFound', { parameter: 'Name', target: exact });
  }
  return { done, failed: 0, bytes: 0 };
}
