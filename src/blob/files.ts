// Local file checks and the temp-file-then-commit dance that keeps destinations whole.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, promises as fs, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import { MsiError, invalidArgument } from '../errors.js';
import { windowsFileNameProblem } from './client.js';
import { verbose, warning } from '../log.js';

/**
 * A path that did not come out as a full file-system path. The module makes every path full against the
 * current location, so this happens when that location is not a folder (the Env:, HKLM: or Cert: drive).
 */
function notFileSystemPath(parameter: string, value: string): MsiError {
  return invalidArgument(
    parameter,
    `-${parameter} '${value}' is not a file-system path. A relative path is taken from the current location, which must then be a folder, not a drive such as Env: or HKLM:. Give a full path, or Set-Location to a folder first.`,
    'InvalidPath',
  );
}

/**
 * Opens the source file for reading, or says exactly why it cannot be used. Synchronous on purpose: for
 * thousands of small files, four thread-pool round trips per file cost more than the calls themselves.
 * O_NONBLOCK keeps a FIFO among the files from blocking the open; it is refused just below.
 */
export function openSourceSync(file: string, parameter = 'File'): { fd: number; size: number; mtimeMs: number } {
  if (!path.isAbsolute(file)) throw notFileSystemPath(parameter, file);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw fileError(err, file, parameter);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) {
      throw invalidArgument(parameter, `-${parameter} '${file}' is a directory. Give a file, or pipe the folder's files: Get-ChildItem -File -Recurse '${file}' | Send-MsiBlob ...`, 'FileIsDirectory');
    }
    if (!stat.isFile()) throw invalidArgument(parameter, `-${parameter} '${file}' is not a regular file.`, 'NotAFile');
    return { fd, size: stat.size, mtimeMs: stat.mtimeMs };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads exactly buffer.length bytes at position, or fails if the file became shorter. */
export function readFullySync(fd: number, buffer: Buffer, position: number): void {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) throw new MsiError('FileChanged', 'The file became shorter while it was being uploaded. Nothing was committed; try again when it is no longer being written.', 'InvalidData');
    done += n;
  }
}

export function fileError(err: unknown, file: string, parameter: string): MsiError {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new MsiError('FileNotFound', `-${parameter} '${file}' does not exist. Check the path.`, 'ObjectNotFound', { parameter, target: file });
  if (code === 'EACCES' || code === 'EPERM') return new MsiError('FileNotReadable', `-${parameter} '${file}' cannot be read: permission denied. Check the file's permissions.`, 'PermissionDenied', { parameter, target: file });
  if (code === 'EISDIR') return invalidArgument(parameter, `-${parameter} '${file}' is a directory. Give a file, or pipe the folder's files: Get-ChildItem -File -Recurse '${file}' | Send-MsiBlob ...`, 'FileIsDirectory');
  return new MsiError('FileReadFailed', `-${parameter} '${file}' could not be read: ${(err as Error).message}`, 'ReadError', { parameter, target: file });
}

export interface Destination {
  /** The final path. */
  file: string;
  /** The temporary file next to it, renamed into place only when complete and verified. */
  temp: string;
  /** The permission bits of the file that force replaces (POSIX): the new one keeps them. */
  mode?: number;
}

/**
 * Resolves where a blob goes. An existing folder receives the file under the blob's name (subfolders for
 * '/' in the name are created inside it, and the name may not climb out of it). A file path must have an
 * existing parent folder. An existing file is refused unless force is set.
 */
export async function resolveDestination(destination: string, blobName: string, force: boolean, platform: NodeJS.Platform = process.platform): Promise<Destination> {
  if (!path.isAbsolute(destination)) throw notFileSystemPath('Destination', destination);
  let file = destination;
  const stat = await fs.stat(destination).catch(() => undefined);
  // 'folder/' names a folder: one that does not exist is not a file name to create.
  if (!stat && /[\\/]$/.test(destination) && path.dirname(destination) !== destination) {
    const blocking = await fileInTheWay(path.parse(destination).root, destination);
    if (blocking) throw notAFolder(blocking, blobName);
    throw new MsiError(
      'DestinationFolderNotFound',
      `The folder -Destination '${destination}' does not exist. Create it first (New-Item -ItemType Directory '${destination}'), or give a file path.`,
      'ObjectNotFound',
      { parameter: 'Destination', target: destination },
    );
  }
  if (stat?.isDirectory()) {
    if (blobName.endsWith('/')) {
      throw invalidArgument(
        'Destination',
        `The blob '${blobName}' ends with '/' (a folder marker, as some tools make them): it has no file name to save under in a folder. Give -Destination as a file path to save it, or leave such blobs out (Get-MsiBlob ... | Where-Object Name -notlike '*/').`,
        'InvalidFileName',
      );
    }
    const parts = blobName.split('/').filter((p) => p.length > 0);
    if (platform === 'win32') {
      for (const part of parts) {
        const problem = windowsFileNameProblem(part);
        if (problem) {
          throw invalidArgument(
            'Destination',
            `The blob '${blobName}' cannot be saved under its own name in a folder here: ${problem}. Give -Destination as a file path (Receive-MsiBlob -Blob '${blobName}' -Destination <file>).`,
            'InvalidFileName',
          );
        }
      }
    }
    file = path.resolve(destination, ...parts);
    const rel = path.relative(destination, file);
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel) || parts.some((p) => p === '..' || p === '.')) {
      throw invalidArgument('Blob', `The blob name '${blobName}' would leave the destination folder; give -Destination as a file path instead.`, 'UnsafeBlobPath');
    }
    await fs.mkdir(path.dirname(file), { recursive: true }).catch(async (err: { code?: string }) => {
      // A file where the blob's name needs a folder ('x' on disk, blob 'x/y').
      if (err.code !== 'EEXIST' && err.code !== 'ENOTDIR') throw err;
      throw notAFolder(await fileInTheWay(destination, path.dirname(file)), blobName);
    });
  } else {
    const parent = path.dirname(destination);
    const parentStat = await fs.stat(parent).catch(() => undefined);
    if (!parentStat?.isDirectory()) {
      const blocking = await fileInTheWay(path.parse(parent).root, parent);
      if (blocking) throw notAFolder(blocking, blobName);
      throw new MsiError(
        'DestinationFolderNotFound',
        `The folder of -Destination '${destination}' does not exist. Create it first (New-Item -ItemType Directory '${parent}'), or give an existing folder as -Destination.`,
        'ObjectNotFound',
        { parameter: 'Destination', target: parent },
      );
    }
  }
  const existing = await fs.lstat(file).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw invalidArgument('Destination', `-Destination '${file}' is a directory that the blob cannot replace. Give another file path.`, 'DestinationIsDirectory');
  }
  if (existing && !force) {
    throw new MsiError('DestinationExists', `The file '${file}' already exists and was left untouched. Pass -Force to overwrite it.`, 'ResourceExists', { parameter: 'Force', target: file });
  }
  const temp = path.join(path.dirname(file), partialName(path.basename(file)));
  // Set-uid, set-gid and sticky bits are not carried over to downloaded content.
  const mode = existing?.isFile() && process.platform !== 'win32' ? existing.mode & 0o777 : undefined;
  return { file, temp, mode };
}

/** What a temporary download file's name ends with (the tests, and anyone cleaning up, look for it). */
export const PARTIAL_SUFFIX = '.msistorage-partial';
/** The longest file name most file systems take: 255 bytes (ext4, XFS, ZFS, APFS), or 255 UTF-16 units (NTFS). */
const MAX_NAME_BYTES = 255;

/**
 * The temporary name next to a destination: '.<name>.<12 hex>.msistorage-partial', within 255 bytes. A name
 * that is itself valid but long (up to 255 bytes) would be too long with the 33 bytes added: its beginning is
 * kept, cut by UTF-8 length at a character's end (never inside one; UTF-8 never counts fewer bytes than
 * UTF-16 counts units, so this fits NTFS too). The name only has to be unique, and recognisable.
 */
export function partialName(base: string, unique: string = randomBytes(6).toString('hex')): string {
  const room = MAX_NAME_BYTES - Buffer.byteLength(`..${unique}${PARTIAL_SUFFIX}`);
  let kept = base;
  if (Buffer.byteLength(base) > room) {
    kept = '';
    let bytes = 0;
    // By code point: a character outside the BMP (two UTF-16 units, four bytes) is kept whole or not at all.
    for (const ch of base) {
      const n = Buffer.byteLength(ch);
      if (bytes + n > room) break;
      kept += ch;
      bytes += n;
    }
  }
  return `.${kept}.${unique}${PARTIAL_SUFFIX}`;
}

/** The first file (not a folder) on the way from `from` down to `folder`, if one is in the way. */
async function fileInTheWay(from: string, folder: string): Promise<string | undefined> {
  const steps = path.relative(from, folder).split(path.sep).filter((s) => s.length > 0);
  let at = from;
  for (const step of steps) {
    at = path.join(at, step);
    const stat = await fs.stat(at).catch(() => undefined);
    if (!stat) return undefined;
    if (!stat.isDirectory()) return at;
  }
  return undefined;
}

function notAFolder(file: string | undefined, blobName: string): MsiError {
  return new MsiError(
    'DestinationNotFolder',
    `${file ? `'${file}' is a file` : 'A file is in the way'}, where the blob '${blobName}' needs a folder: the blob cannot be written under it. Move that file, or give another -Destination.`,
    'InvalidArgument',
    { parameter: 'Destination', target: file },
  );
}

/**
 * Makes a folder's entries durable (a rename or link into it), as far as the platform allows: Windows
 * cannot open a folder (EISDIR, EPERM), some file systems refuse to sync one (EINVAL, EBADF), and a drop
 * folder may not be readable (EACCES). Best effort, never an error: by now the file is in place, and a
 * failure here must not report a download that succeeded as failed.
 */
export async function syncFolder(folder: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(folder, 'r');
    await h.sync();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') verbose(`The folder '${folder}' could not be synced (${code ?? String(err)}); the file is in place.`);
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/**
 * Renames over an existing file. On Linux and macOS that always works; on Windows (MoveFileEx) it fails while
 * another program holds the file open without share-delete (an editor, a log tailer, an indexer, antivirus)
 * or while the file is read-only. As Copy-Item -Force does, -Force clears the read-only attribute; a brief
 * lock is waited out; a lasting one is reported as what it is, not as a disk problem.
 */
export async function replaceFile(
  from: string,
  to: string,
  ops: {
    rename: (a: string, b: string) => Promise<void>;
    chmod: (p: string, m: number) => Promise<void>;
    stat: (p: string) => Promise<{ mode: number }>;
  } = fs,
  platform: NodeJS.Platform = process.platform,
  delays: readonly number[] = [50, 100, 200, 400, 800],
): Promise<void> {
  // On Windows a read-only file has no write bits in its mode.
  let readOnlyMode: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await ops.rename(from, to);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (platform !== 'win32' || (code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY')) throw err;
      if (attempt === 0) {
        const mode = (await ops.stat(to).catch(() => undefined))?.mode;
        if (mode !== undefined && (mode & 0o222) === 0) {
          readOnlyMode = mode;
          await ops.chmod(to, mode | 0o222).catch(() => undefined);
        }
      }
      if (attempt >= delays.length) {
        // As it was: read-only again.
        if (readOnlyMode !== undefined) await ops.chmod(to, readOnlyMode).catch(() => undefined);
        throw new MsiError(
          'DestinationInUse',
          `The file '${to}' could not be replaced (${code}): another program has it open. Close it and try again; the download was not kept, and the file is as it was.`,
          'WriteError',
          { parameter: 'Destination', target: to },
        );
      }
      await new Promise((r) => setTimeout(r, delays[attempt]));
    }
  }
}

/** Moves the finished temp file into place: atomically replacing (force) or never replacing (no force). */
export async function commitDestination(dest: Destination, force: boolean): Promise<void> {
  const h = await fs.open(dest.temp, 'r+');
  try {
    // The temporary file was private (0600) while it filled; now the mode of the file it replaces, or that
    // of any new file (0666 less the umask).
    if (process.platform !== 'win32') await h.chmod(dest.mode ?? 0o666 & ~process.umask());
    await h.sync();
  } finally {
    await h.close();
  }
  if (force) {
    await replaceFile(dest.temp, dest.file);
    await syncFolder(path.dirname(dest.file));
    return;
  }
  try {
    // link() fails if the destination appeared meanwhile: no check-then-write race.
    await fs.link(dest.temp, dest.file);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EEXIST' && (await fs.lstat(dest.file).catch(() => undefined))?.isDirectory()) {
      throw new MsiError('DestinationIsDirectory', `'${dest.file}' became a folder during the download: the blob, a file, cannot be written there. Give another file path.`, 'InvalidArgument', {
        parameter: 'Destination',
        target: dest.file,
      });
    }
    if (code === 'EEXIST') {
      throw new MsiError('DestinationExists', `The file '${dest.file}' appeared during the download and was left untouched. Pass -Force to overwrite it.`, 'ResourceExists', {
        parameter: 'Force',
        target: dest.file,
      });
    }
    // File systems without hard links: an exclusive copy is still never an overwrite.
    await fs.copyFile(dest.temp, dest.file, constants.COPYFILE_EXCL);
  }
  // The file is in place: the download is done, whatever happens to the temporary name now. (On Windows a
  // name cannot be removed while something holds the file open without share-delete: an indexer, antivirus.)
  await fs.unlink(dest.temp).catch((err: { code?: string }) => warning(`The temporary file '${dest.temp}' could not be removed (${err.code ?? String(err)}); '${dest.file}' is in place and whole. Delete the temporary file later.`));
  await syncFolder(path.dirname(dest.file));
}

export async function removeQuietly(file: string): Promise<void> {
  await fs.unlink(file).catch(() => undefined);
}
