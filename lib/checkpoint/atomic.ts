/**
 * Crash-safe file writing for checkpoints (Node only), kept free of tfjs so that it loads in
 * milliseconds: {@link saveBytes} and the helpers of `save`.
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { CheckpointError } from './errors.js';
import { Header, parseHeader, readHeaderLength } from './header.js';

/** @internal */
export type NodeFs = typeof import('node:fs/promises');
type FileHandle = Awaited<ReturnType<NodeFs['open']>>;
type Stats = Awaited<ReturnType<NodeFs['stat']>>;
type NodePath = typeof import('node:path');
type NodeOs = typeof import('node:os');

export interface NodeModules {
  readonly fs: NodeFs;
  readonly path: NodePath;
  readonly os: NodeOs;
}

/** @internal */
let nodeModules: Promise<NodeModules> | undefined;

/** @internal Node's fs, path and os, imported on first use (a non-literal specifier keeps bundlers away). */
export function node(): Promise<NodeModules> {
  if (!nodeModules) {
    const load = (name: string): Promise<any> => import(/* webpackIgnore: true */ /* @vite-ignore */ name);
    nodeModules = Promise.all([load('node:fs/promises'), load('node:path'), load('node:os')]).then(
      ([fs, path, os]) => ({ fs, path, os }),
      (error) => {
        nodeModules = undefined;
        throw new CheckpointError('', `checkpoint files need Node's file system, which is not available here; in a browser use fx.checkpoint.toBytes / fromBytes`, { cause: error });
      },
    );
  }
  return nodeModules;
}

/** @internal */
export function checkFile(file: unknown, what: string): string {
  if (typeof file !== 'string' || file === '') throw new CheckpointError('', `${what}: the file must be a non-empty path string, found ${describeValue(file)}`);
  return file;
}

/** @internal Wraps a file-system error in a CheckpointError naming the operation, the file and the code. */
export function fileError(error: unknown, action: string, file: string): FlaxenError {
  if (error instanceof FlaxenError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : code === 'ENOSPC' ? 'no space left on the device' : (error as Error)?.message ?? String(error);
  return new CheckpointError('', `could not ${action} checkpoint file '${file}': ${reason}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: error });
}

const TEMP_SUFFIX = '.flaxen-tmp';
let tempCounter = 0;

/** @internal The host name as it appears in temporary file names. */
export function hostTag(os: NodeOs): string {
  return os.hostname().replace(/[^A-Za-z0-9_-]/g, '_') || 'host';
}

/** @internal Whether a process of this host runs (EPERM: it runs as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** File names longer than this (in UTF-8 bytes) are shortened in temporary names. */
const LONG_NAME_BYTES = 100;
const KEPT_NAME_BYTES = 80;

/**
 * The part of a temporary file's name that stands for the target's name `base`: `base` itself,
 * or, for a long name, its first 80 bytes and a hash of the whole name, so that the temporary
 * name stays within the file system's limit of 255 bytes (a 232-character target name would
 * otherwise overflow it). @internal
 */
export function tempStem(base: string): string {
  const bytes = new TextEncoder().encode(base);
  if (bytes.length <= LONG_NAME_BYTES) return base;
  // FNV-1a over the UTF-8 bytes: distinct long names that share their first bytes get distinct stems.
  let hash = 0x811c9dc5;
  for (const b of bytes) hash = Math.imul(hash ^ b, 0x01000193) >>> 0;
  let kept = '';
  for (const char of base) {
    if (new TextEncoder().encode(kept + char).length > KEPT_NAME_BYTES) break;
    kept += char;
  }
  return `${kept}~${hash.toString(16).padStart(8, '0')}`;
}

/**
 * The name of the temporary file `save` writes next to `file`:
 * `.<name>.<host>.<pid>.<counter>.flaxen-tmp`, `<name>` shortened by {@link tempStem}. @internal
 */
export function tempNameParts(base: string, name: string): { host: string; pid: number } | undefined {
  const prefix = `.${tempStem(base)}.`;
  if (!name.startsWith(prefix) || !name.endsWith(TEMP_SUFFIX)) return undefined;
  const match = /^([A-Za-z0-9_-]+)\.(\d+)\.(\d+)$/.exec(name.slice(prefix.length, -TEMP_SUFFIX.length));
  return match ? { host: match[1]!, pid: Number(match[2]) } : undefined;
}

/** Removes temporary files of `base` left by saving processes of this host that no longer run. */
async function removeStaleTemps({ fs, path, os }: NodeModules, dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const host = hostTag(os);
  for (const name of names) {
    const parts = tempNameParts(base, name);
    if (!parts || parts.host !== host || parts.pid === process.pid || isAlive(parts.pid)) continue;
    await fs.rm(path.join(dir, name), { force: true }).catch(() => undefined);
  }
}

/** Makes a rename durable: fsync the directory (not possible on every platform; then skipped). */
async function syncDirectory(fs: NodeFs, dir: string): Promise<void> {
  let handle: Awaited<ReturnType<NodeFs['open']>> | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open or fsync a directory; the rename is still atomic there.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Writes `bytes` to `file` so that a crash at any moment leaves the old file or the new one:
 * temporary file in the same directory, fsync, rename over `file`, fsync the directory.
 * @internal
 */
export async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const modules = await node();
  const { fs, path, os } = modules;
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const base = path.basename(target);
  await removeStaleTemps(modules, dir, base);
  const temp = path.join(dir, `.${tempStem(base)}.${hostTag(os).slice(0, 64)}.${process.pid}.${++tempCounter}${TEMP_SUFFIX}`);
  let handle: Awaited<ReturnType<NodeFs['open']>> | undefined;
  try {
    handle = await fs.open(temp, 'wx');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw fileError(error, 'write', file);
  }
  await syncDirectory(fs, dir);
}

/**
 * Writes the bytes of a safetensors file (e.g. from `toBytes`) to `file` crash-safely, as
 * `save` does. The bytes are checked first (the whole header, as `fromBytes` checks it), so a
 * broken checkpoint is never written.
 *
 * @example
 * ```ts
 * const bytes = fx.checkpoint.toBytes(fx.nn.Dense(2).init(fx.random.key(0), [1, 3]));
 * await fx.checkpoint.saveBytes('/tmp/dense.safetensors', bytes);
 * ```
 */
export async function saveBytes(file: string, bytes: Uint8Array): Promise<void> {
  checkFile(file, 'saveBytes');
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError('', `saveBytes: expected the bytes of a safetensors file (a Uint8Array), found ${describeValue(bytes)}`);
  parseHeader(bytes, 'saveBytes');
  await writeAtomically(file, bytes);
}

const KIND_NAMES: ReadonlyArray<[keyof Stats, string]> = [
  ['isDirectory', 'a directory'],
  ['isCharacterDevice', 'a character device'],
  ['isBlockDevice', 'a block device'],
  ['isFIFO', 'a FIFO (named pipe)'],
  ['isSocket', 'a socket'],
];

function refuseIrregular(stats: Stats, file: string, fnName: string): void {
  if (stats.isFile()) return;
  const kind = KIND_NAMES.find(([test]) => (stats[test] as () => boolean).call(stats))?.[1] ?? 'not a regular file';
  throw new CheckpointError('', `${fnName}: could not read checkpoint file '${file}': it is ${kind}, not a regular file; checkpoints are read from regular files only (a device or a pipe could be read without end)`);
}

/**
 * @internal Opens a checkpoint file for reading after checking that it is a regular file: a
 * device (`/dev/zero`), a FIFO, a socket or a directory, or a symbolic link to one, is refused
 * before anything is read, and a FIFO cannot block the opening (it is opened non-blocking).
 * Returns the handle (the caller closes it) and the file's size.
 */
async function openRegularFile(file: string, fnName: string): Promise<{ handle: FileHandle; size: number }> {
  const { fs } = await node();
  refuseIrregular(await fs.stat(file), file, fnName);
  const flags = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);
  const handle = await fs.open(file, flags);
  try {
    const stats = await handle.stat();
    refuseIrregular(stats, file, fnName); // the path may have been replaced since the first look
    return { handle, size: stats.size };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** Reads exactly `into.length` bytes at `position`; a file that shrank meanwhile is an error. */
async function readExactly(handle: FileHandle, into: Uint8Array, position: number, source: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new CheckpointError('', `${source}: the file shrank while it was read`);
    done += bytesRead;
  }
}

/**
 * @internal Reads a checkpoint file for `fnName` (`load`, `loadInfo`, `loadTensors`): the one
 * place where checkpoint files are read, so every reader shares its checks. Only a regular
 * file is read; its header is read and checked first (its length against the file's size,
 * then every entry), and the data only after that, up to the size the file had when it was
 * opened, never more. With `headerOnly`, the data is not read. Failures are `FlaxenError`s
 * naming the file.
 */
export async function readCheckpointFile(file: string, fnName: string, opts: { readonly headerOnly?: boolean } = {}): Promise<{ bytes: Uint8Array; header: Header }> {
  checkFile(file, fnName);
  const source = `checkpoint file '${file}'`;
  let handle: FileHandle | undefined;
  try {
    const opened = await openRegularFile(file, fnName);
    handle = opened.handle;
    const { size } = opened;
    const first = new Uint8Array(Math.min(size, 8));
    await readExactly(handle, first, 0, source);
    // The header length is checked against the size before anything proportional to it is made.
    const headerLength = readHeaderLength(first, source, size);
    const bytes = new Uint8Array(opts.headerOnly ? 8 + headerLength : size);
    bytes.set(first);
    await readExactly(handle, bytes.subarray(8, 8 + headerLength), 8, source);
    const header = parseHeader(bytes.subarray(0, 8 + headerLength), source, size);
    if (!opts.headerOnly) await readExactly(handle, bytes.subarray(8 + headerLength), 8 + headerLength, source);
    return { bytes, header };
  } catch (error) {
    throw fileError(error, 'read', file);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * @internal The bytes of a whole checkpoint file, read as {@link readCheckpointFile} reads them
 * (regular files only, header checked before the data is read, never more than the file's size).
 */
export async function readWholeFile(file: string, fnName: string): Promise<Uint8Array> {
  return (await readCheckpointFile(file, fnName)).bytes;
}
