/**
 * Crash-safe file writing for checkpoints (Node only), kept free of tfjs so that it loads in
 * milliseconds: {@link saveBytes} and the helpers of `save`.
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { CheckpointError } from './errors.js';
import { parseHeader } from './header.js';

/** @internal */
export type NodeFs = typeof import('node:fs/promises');
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

/**
 * The name of the temporary file `save` writes next to `file`:
 * `.<name>.<host>.<pid>.<counter>.flaxen-tmp`. @internal
 */
export function tempNameParts(base: string, name: string): { host: string; pid: number } | undefined {
  const prefix = `.${base}.`;
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
  const temp = path.join(dir, `.${base}.${hostTag(os)}.${process.pid}.${++tempCounter}${TEMP_SUFFIX}`);
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

/**
 * @internal Reads a whole checkpoint file for `fnName` (`load`, `loadTensors`): the one place
 * where files are read, so every reader shares its checks. Failures are `FlaxenError`s
 * naming the file.
 */
export async function readWholeFile(file: string, fnName: string): Promise<Uint8Array> {
  checkFile(file, fnName);
  const { fs } = await node();
  try {
    return await fs.readFile(file);
  } catch (error) {
    throw fileError(error, 'read', file);
  }
}
