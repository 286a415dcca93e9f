/**
 * Checkpoint files (Node only): {@link save}, {@link load}, {@link loadInfo}, and their fp-ts
 * `TaskEither` forms {@link saveTask} and {@link loadTask}.
 *
 * The Promise functions are the primary API: they resolve, or reject with a `FlaxenError`
 * (a {@link CheckpointError} wrapping the file system's error, with `cause` set). The `…Task`
 * functions are the same operations as fp-ts `TaskEither<FlaxenError, A>` values that never
 * reject, for code that composes with `pipe`.
 *
 * Node's modules are imported on first use, never at load time, so bundling `flaxen` for a
 * browser does not pull in `node:fs`; in a browser these functions reject with a
 * `CheckpointError` (use `toBytes` / `fromBytes` there).
 *
 * @module
 */
import { Either, left, right } from 'fp-ts/lib/Either.js';
import type { TaskEither } from 'fp-ts/lib/TaskEither.js';
import { FlaxenError } from '../errors.js';
import type { Variables } from '../core/module.js';
import { CheckpointError } from './errors.js';
import { CheckpointInfo, Metadata, ReadOptions, Restored, WriteOptions, fromBytes, infoOf, toBytes } from './format.js';
import { parseHeader, readHeaderLength } from './header.js';
import { NodeFs, checkFile, fileError, node, readWholeFile, writeAtomically } from './atomic.js';

/**
 * Saves a tree to `file` in the safetensors format, crash-safely: the bytes go to a
 * temporary file in the same directory, which is flushed to disk (fsync) and then renamed over
 * `file`, and the directory is flushed. A process killed at any moment leaves either the
 * previous checkpoint or the new one, never a mix, and never no file.
 *
 * The tensors are read before the promise is returned, so they may be disposed right away.
 * Temporary files of killed processes (`.<name>.<host>.<pid>.<n>.flaxen-tmp`) are removed by
 * the next `save` of the same file on the same host.
 *
 * The tree is anything `toBytes` takes: variables, an optimizer state, a `TrainState`, or a
 * record of these, with tensors, finite numbers and random keys as leaves.
 *
 * @param file - the path, e.g. `checkpoints/mlp.safetensors`.
 * @param tree - what to store (see `toBytes`).
 * @param metadata - optional strings stored in `__metadata__`.
 * @param options - `{ config }`: the run's configuration (JSON data), returned by `loadInfo`.
 * @returns a promise that resolves when the file is durable, or rejects with a `FlaxenError`.
 * @example
 * ```ts
 * const vars = fx.nn.Dense(10).init(fx.random.key(0), [1, 20]);
 * await fx.checkpoint.save('/tmp/dense.safetensors', vars, { step: '0' });
 * const tx = fx.optim.adam(1e-3);
 * await fx.checkpoint.save('/tmp/run.safetensors', { params: vars.params, opt: tx.init(vars.params), step: 0 }, {}, { config: { lr: 1e-3 } });
 * ```
 */
export async function save(file: string, tree: unknown, metadata?: Metadata, options?: WriteOptions): Promise<void> {
  checkFile(file, 'save');
  const bytes = toBytes(tree, metadata, options);
  await writeAtomically(file, bytes);
}

/**
 * Loads a safetensors file; see `fromBytes` for the result (a frozen tree, or the target's
 * kind: numbers as numbers, a live `TrainState` from a `TrainState` target), the `target`
 * check (every missing, unexpected, mis-shaped or mis-typed entry reported at once) and
 * `{ prefix }` (partial restore).
 *
 * @param file - the path.
 * @param target - optional expected structure: variables, `initShapes` output, an optimizer state, a `TrainState`.
 * @param opts - `{ prefix }` to restore one subtree.
 * @returns a promise of the tree (the caller owns its tensors); rejects with a `FlaxenError`.
 * @example
 * ```ts
 * const net = fx.nn.Dense(10);
 * await fx.checkpoint.save('/tmp/dense.safetensors', net.init(fx.random.key(0), [1, 20]));
 * const vars = await fx.checkpoint.load('/tmp/dense.safetensors', net.initShapes(fx.random.key(0), [1, 20]));
 * ```
 */
export async function load(file: string, target?: undefined, opts?: ReadOptions): Promise<Variables>;
export async function load<T>(file: string, target: T, opts?: ReadOptions): Promise<Restored<T>>;
export async function load(file: string, target?: unknown, opts: ReadOptions = {}): Promise<unknown> {
  const bytes = await readWholeFile(file, 'load');
  return fromBytes(bytes, target, { ...opts, source: `checkpoint file '${file}'` });
}

/**
 * Reads only the header of a checkpoint file (metadata, paths, dtypes, shapes), checked as
 * thoroughly as by `load`, without reading the tensor data.
 *
 * @example
 * ```ts
 * await fx.checkpoint.save('/tmp/dense.safetensors', fx.nn.Dense(10).init(fx.random.key(0), [1, 20]), { step: '0' });
 * const info = await fx.checkpoint.loadInfo('/tmp/dense.safetensors');
 * console.log(info.metadata.step, info.tensors.length);
 * ```
 */
export async function loadInfo(file: string): Promise<CheckpointInfo> {
  checkFile(file, 'loadInfo');
  const { fs } = await node();
  const source = `checkpoint file '${file}'`;
  let handle: Awaited<ReturnType<NodeFs['open']>> | undefined;
  try {
    handle = await fs.open(file, 'r');
    const { size } = await handle.stat();
    const first = new Uint8Array(Math.min(size, 8));
    await handle.read(first, 0, first.length, 0);
    // The length is checked against the real file size before the header is read.
    const headerLength = readHeaderLength(first, source, size);
    const head = new Uint8Array(8 + headerLength);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead !== head.length) throw new CheckpointError('', `${source}: the file shrank while its header was read`);
    const header = parseHeader(head, source, size);
    return infoOf(header.metadata, header.entries, source);
  } catch (error) {
    throw fileError(error, 'read', file);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function toTask<A>(run: () => Promise<A>): TaskEither<FlaxenError, A> {
  return () =>
    run().then(
      (value): Either<FlaxenError, A> => right(value),
      (error): Either<FlaxenError, A> =>
        left(error instanceof FlaxenError ? error : new CheckpointError('', `unexpected error: ${(error as Error)?.message ?? String(error)}`, { cause: error })),
    );
}

/**
 * {@link save} as an fp-ts `TaskEither`: running it never rejects; it gives `right(undefined)`
 * or `left(FlaxenError)`. Nothing happens until the task is run.
 *
 * @example
 * ```ts
 * const vars = fx.nn.Dense(10).init(fx.random.key(0), [1, 20]);
 * const task = fx.checkpoint.saveTask('/tmp/dense.safetensors', vars);
 * const result = await task();   // { _tag: 'Right', right: undefined }
 * ```
 */
export function saveTask(file: string, tree: unknown, metadata?: Metadata, options?: WriteOptions): TaskEither<FlaxenError, void> {
  return toTask(() => save(file, tree, metadata, options));
}

/**
 * {@link load} as an fp-ts `TaskEither<FlaxenError, tree>`.
 *
 * @example
 * ```ts
 * // fp-ts in your own code: npm install fp-ts
 * import { pipe } from 'fp-ts/lib/function.js';
 * import * as TE from 'fp-ts/lib/TaskEither.js';
 * await fx.checkpoint.save('dense.safetensors', fx.nn.Dense(10).init(fx.random.key(0), [1, 20]));
 * const task = pipe(fx.checkpoint.loadTask('dense.safetensors'), TE.map((vars) => fx.tree.count(vars)));
 * const count = await task();    // { _tag: 'Right', right: 210 }
 * ```
 */
export function loadTask(file: string, target?: undefined, opts?: ReadOptions): TaskEither<FlaxenError, Variables>;
export function loadTask<T>(file: string, target: T, opts?: ReadOptions): TaskEither<FlaxenError, Restored<T>>;
export function loadTask(file: string, target?: unknown, opts?: ReadOptions): TaskEither<FlaxenError, unknown> {
  return toTask(() => load(file, target, opts));
}
