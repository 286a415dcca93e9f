/**
 * The safetensors format in memory: {@link toBytes} and {@link fromBytes}, pure functions on
 * `Uint8Array`s that run in the browser as well as in Node (nothing here imports Node).
 *
 * A file is an 8-byte little-endian header length, a JSON header
 * `{ "<path>": { "dtype": "F32", "shape": [...], "data_offsets": [begin, end] }, "__metadata__": {...} }`
 * padded with spaces to a multiple of 8 bytes, then the raw little-endian data. Keys are the
 * `/`-joined tree paths, e.g. `params/layers_0/kernel`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { Either, left, right } from 'fp-ts/lib/Either.js';
import { FlaxenError, describeValue } from '../errors.js';
import type { Variables } from '../core/module.js';
import { DeepReadonly, MapLeaves, flatten, isNode, unflatten } from '../tree/index.js';
import { DTYPES, decodeArray, encodeArray, safeDtypeOf } from './dtypes.js';
import { CheckpointError, CheckpointMismatchError, CheckpointProblem, formatEntry } from './errors.js';
import { HeaderEntry, parseHeader, pathProblem } from './header.js';

/**
 * The user strings stored in a checkpoint's `__metadata__`.
 *
 * @example
 * ```ts
 * const metadata: fx.checkpoint.Metadata = { step: String(1000), model: 'mlp-784-256-10' };
 * ```
 */
export type Metadata = { readonly [key: string]: string };

/**
 * The tree a target-checked restore returns: the target's structure with tensor leaves.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(10);
 * const target = net.initShapes(fx.random.key(0), [1, 20]);
 * type R = fx.checkpoint.Restored<typeof target>;   // { params: { kernel: Tensor; bias: Tensor } }
 * ```
 */
export type Restored<T> = DeepReadonly<MapLeaves<T, tf.Tensor>>;

/**
 * Options of {@link fromBytes} and `load`.
 *
 * @example
 * ```ts
 * const opts: fx.checkpoint.ReadOptions = { prefix: 'params/layers_0' };
 * ```
 */
export interface ReadOptions {
  /**
   * Restore only the subtree under this `/`-joined path (partial restore). The result (and the
   * target, if given) is that subtree, with the prefix removed from every path: entries
   * outside it are neither checked nor allocated.
   */
  readonly prefix?: string;
  /** @internal How messages name the data (`checkpoint file '…'`). */
  readonly source?: string;
}

/**
 * One tensor of a checkpoint, as listed by {@link readInfo}.
 *
 * @example
 * ```ts
 * const t: fx.checkpoint.TensorInfo = { path: 'params/kernel', dtype: 'F32', loadedDtype: 'float32', shape: [20, 10], byteLength: 800 };
 * ```
 */
export interface TensorInfo {
  /** The `/`-joined path. */
  readonly path: string;
  /** The safetensors dtype in the file, e.g. `F32`, `BF16`. */
  readonly dtype: string;
  /** The tfjs dtype it is loaded as. */
  readonly loadedDtype: 'float32' | 'int32' | 'bool';
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** Bytes in the file. */
  readonly byteLength: number;
}

/**
 * What a checkpoint holds, without its data: see {@link readInfo}.
 *
 * @example
 * ```ts
 * const info: fx.checkpoint.CheckpointInfo = { metadata: { step: '10' }, tensors: [] };
 * ```
 */
export interface CheckpointInfo {
  /** The user strings of the header's `__metadata__` (empty if it has none). */
  readonly metadata: Metadata;
  /** The tensors in path order. */
  readonly tensors: readonly TensorInfo[];
}

const DEFAULT_SOURCE = 'checkpoint';

function asBytes(bytes: unknown, source: string): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new CheckpointError('', `${source}: expected the bytes of a safetensors file (a Uint8Array or ArrayBuffer), found ${describeValue(bytes)}`);
}

/** Checks a tree's keys and leaves for writing; returns its tensors by path. */
function tensorsToWrite(variables: unknown): Array<[string, tf.Tensor]> {
  if (!isNode(variables)) throw new CheckpointError('', `toBytes needs a tree of tensors such as the variables from init, found ${describeValue(variables)}`);
  const out: Array<[string, tf.Tensor]> = [];
  const walk = (node: unknown, path: string): void => {
    if (isNode(node)) {
      for (const key of Object.keys(node).sort()) {
        if (key === '' || key.includes('/')) throw new CheckpointError(path, `toBytes: the key ${JSON.stringify(key)} cannot be written: tree keys must be non-empty and contain no '/'`);
        walk(node[key], path === '' ? key : `${path}/${key}`);
      }
      return;
    }
    const problem = pathProblem(path);
    if (problem) throw new CheckpointError(path, `toBytes: ${problem}`);
    if (path === '__metadata__') throw new CheckpointError(path, 'toBytes: __metadata__ is reserved by the safetensors format');
    if (!(node instanceof tf.Tensor)) throw new CheckpointError(path, `toBytes: leaves must be tensors, found ${describeValue(node)}`);
    if (node.isDisposed) throw new CheckpointError(path, 'toBytes: this tensor was disposed');
    if (!safeDtypeOf(node.dtype)) throw new CheckpointError(path, `toBytes: a ${node.dtype} tensor cannot be stored; checkpoints hold float32, int32 and bool`);
    out.push([path, node]);
  };
  walk(variables, '');
  return out;
}

function checkMetadata(metadata: unknown): Metadata {
  if (metadata === undefined) return {};
  if (!isNode(metadata)) throw new CheckpointError('', `toBytes: metadata must be an object of strings such as { step: '100' }, found ${describeValue(metadata)}`);
  for (const key of Object.keys(metadata)) {
    const value = metadata[key];
    if (typeof value !== 'string') throw new CheckpointError('', `toBytes: metadata[${JSON.stringify(key)}] must be a string (safetensors metadata is text), found ${describeValue(value)}; convert it, e.g. String(step)`);
  }
  return metadata as Metadata;
}

/**
 * @internal A header record whose first entry is `__metadata__` holding a copy of `metadata`
 * (none when it is empty). Keys are defined, not assigned, so a name like `__proto__` stays data.
 */
export function headerWithMetadata(metadata: Metadata | undefined): Record<string, unknown> {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    const copy: Record<string, string> = {};
    for (const key of Object.keys(metadata)) Object.defineProperty(copy, key, { value: metadata[key], enumerable: true });
    header['__metadata__'] = copy;
  }
  return header;
}

/**
 * @internal The bytes of a safetensors file with `header` written and `dataBytes` of zeroed data
 * after it: the 8-byte little-endian header length, the JSON header padded with spaces to a
 * multiple of 8, then the data, which the caller fills from `dataStart`.
 */
export function layOutFile(header: Record<string, unknown>, dataBytes: number): { out: Uint8Array; dataStart: number } {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + dataBytes);
  new DataView(out.buffer).setUint32(0, padded, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  return { out, dataStart: 8 + padded };
}

/**
 * Encodes a tree of tensors (the variables from `init`, an optimizer state, …) as a safetensors
 * file. float32, int32 and bool tensors are stored as `F32`, `I32`, `BOOL`; keys are the
 * `/`-joined paths. `metadata` (strings only) goes to `__metadata__`. The tensors are only read.
 *
 * @param variables - a tree whose leaves are tensors.
 * @param metadata - optional user strings, e.g. `{ step: '1000', model: 'mlp-784-256-10' }`.
 * @returns the bytes of the file.
 * @example
 * ```ts
 * const vars = fx.nn.Dense(10).init(fx.random.key(0), [1, 20]);
 * const bytes = fx.checkpoint.toBytes(vars, { step: '0' });
 * const again = fx.checkpoint.fromBytes(bytes);   // { params: { bias, kernel } }
 * ```
 */
export function toBytes(variables: unknown, metadata?: Metadata): Uint8Array {
  const meta = checkMetadata(metadata);
  const tensors = tensorsToWrite(variables);
  // Larger elements first keeps every tensor aligned to its element size in the file.
  const ordered = tensors
    .map(([path, tensor]) => ({ path, tensor, dtype: safeDtypeOf(tensor.dtype)! }))
    .sort((a, b) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const header = headerWithMetadata(meta);
  let offset = 0;
  const placed = ordered.map((entry) => {
    const length = entry.tensor.size * DTYPES[entry.dtype].bytes;
    const begin = offset;
    offset += length;
    return { ...entry, begin };
  });
  for (const { path, tensor, dtype, begin } of [...placed].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    Object.defineProperty(header, path, {
      value: { dtype, shape: tensor.shape, data_offsets: [begin, begin + tensor.size * DTYPES[dtype].bytes] },
      enumerable: true,
    });
  }
  const { out, dataStart } = layOutFile(header, offset);
  for (const { tensor, begin } of placed) {
    encodeArray(tensor.dataSync() as Float32Array | Int32Array | Uint8Array, out, dataStart + begin);
  }
  return out;
}

/**
 * Lists what a checkpoint holds (metadata, paths, dtypes, shapes) after checking the whole
 * header, without creating a tensor.
 *
 * @example
 * ```ts
 * const bytes = fx.checkpoint.toBytes(fx.nn.Dense(10).init(fx.random.key(0), [1, 20]), { step: '7' });
 * const info = fx.checkpoint.readInfo(bytes);
 * info.metadata.step;                       // '7'
 * info.tensors.map((t) => t.path);          // ['params/bias', 'params/kernel']
 * ```
 */
export function readInfo(bytes: Uint8Array | ArrayBuffer): CheckpointInfo {
  const data = asBytes(bytes, DEFAULT_SOURCE);
  const header = parseHeader(data, DEFAULT_SOURCE);
  return infoOf(header.metadata, header.entries);
}

/** @internal */
export function infoOf(metadata: Metadata, entries: readonly HeaderEntry[]): CheckpointInfo {
  return Object.freeze({
    metadata,
    tensors: Object.freeze(
      entries.map((e) => Object.freeze({ path: e.path, dtype: e.dtype, loadedDtype: DTYPES[e.dtype].loaded, shape: e.shape, byteLength: e.end - e.begin })),
    ),
  });
}

function normalizePrefix(prefix: unknown, source: string): string | undefined {
  if (prefix === undefined || prefix === '') return undefined;
  if (typeof prefix !== 'string') throw new CheckpointError('', `${source}: the prefix must be a '/'-joined path such as 'params/layers_0', found ${describeValue(prefix)}`);
  const trimmed = prefix.replace(/\/+$/, '');
  const problem = pathProblem(trimmed);
  if (problem) throw new CheckpointError(trimmed, `${source}: bad prefix: ${problem}`);
  return trimmed;
}

/** Selects the entries under `prefix` and strips it; refuses a prefix that selects nothing. */
function selectEntries(entries: readonly HeaderEntry[], prefix: string | undefined, source: string): Array<[string, HeaderEntry]> {
  if (prefix === undefined) return entries.map((e) => [e.path, e]);
  const selected: Array<[string, HeaderEntry]> = [];
  for (const e of entries) {
    if (e.path === prefix) throw new CheckpointError(prefix, `${source}: the prefix names a single tensor (${formatEntry(e.dtype, e.shape)}); a prefix selects a subtree, e.g. '${prefix.split('/').slice(0, -1).join('/') || prefix}'`);
    if (e.path.startsWith(prefix + '/')) selected.push([e.path.slice(prefix.length + 1), e]);
  }
  if (selected.length === 0) {
    const tops = [...new Set(entries.map((e) => e.path.split('/').slice(0, 2).join('/')))].slice(0, 10);
    throw new CheckpointError(prefix, `${source}: no tensor under the prefix '${prefix}'; the checkpoint has ${tops.length ? tops.map((t) => `'${t}'`).join(', ') : 'no tensors'}${tops.length === 10 ? ', …' : ''}`);
  }
  return selected;
}

/** Reads the expected shape and dtype of every target leaf. */
function targetSpecs(target: unknown, source: string): Map<string, { shape: readonly number[]; dtype: string }> {
  if (!isNode(target)) throw new CheckpointError('', `${source}: the target must be a tree (the variables from init, or initShapes' output), found ${describeValue(target)}`);
  const specs = new Map<string, { shape: readonly number[]; dtype: string }>();
  for (const [path, leaf] of flatten<unknown>(target)) {
    const shape = (leaf as { shape?: unknown } | null)?.shape;
    const dtype = (leaf as { dtype?: unknown } | null)?.dtype;
    if (!Array.isArray(shape) || typeof dtype !== 'string') {
      throw new CheckpointError(path, `${source}: target leaves must be tensors or {shape, dtype} records, found ${describeValue(leaf)}`);
    }
    specs.set(path, { shape, dtype });
  }
  return specs;
}

function compareWithTarget(selected: ReadonlyArray<[string, HeaderEntry]>, target: unknown, source: string): void {
  const specs = targetSpecs(target, source);
  const problems: CheckpointProblem[] = [];
  const inFile = new Map(selected);
  for (const [path, spec] of specs) {
    const entry = inFile.get(path);
    if (!entry) {
      problems.push({ kind: 'missing', path, expected: formatEntry(spec.dtype, spec.shape) });
      continue;
    }
    const loaded = DTYPES[entry.dtype].loaded;
    const sameShape = entry.shape.length === spec.shape.length && entry.shape.every((d, i) => d === spec.shape[i]);
    if (!sameShape) problems.push({ kind: 'shape', path, expected: formatEntry(spec.dtype, spec.shape), found: formatEntry(loaded, entry.shape) });
    else if (loaded !== spec.dtype) problems.push({ kind: 'dtype', path, expected: spec.dtype, found: `${loaded} (${entry.dtype} in the file)` });
  }
  for (const [path, entry] of selected) {
    if (!specs.has(path)) problems.push({ kind: 'unexpected', path, found: formatEntry(DTYPES[entry.dtype].loaded, entry.shape) });
  }
  if (problems.length) {
    problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    throw new CheckpointMismatchError(problems, source);
  }
}

/** Creates the tensors of the selected entries; on any failure, disposes those already made. */
function materialize(bytes: Uint8Array, dataStart: number, selected: ReadonlyArray<[string, HeaderEntry]>, source: string): Array<[string, tf.Tensor]> {
  const made: Array<[string, tf.Tensor]> = [];
  try {
    for (const [path, entry] of selected) {
      // A private, aligned copy: the tensor never aliases the caller's bytes.
      const raw = new Uint8Array(entry.end - entry.begin);
      raw.set(bytes.subarray(dataStart + entry.begin, dataStart + entry.end));
      const values = decodeArray(entry.dtype, raw, entry.size);
      if ('outOfRange' in values) {
        throw new CheckpointError(entry.path, `${source}: element ${values.outOfRange} of this ${entry.dtype} tensor does not fit in int32 (tfjs has no 64-bit integers)`);
      }
      let tensor: tf.Tensor;
      try {
        tensor = tf.tensor(values, [...entry.shape], DTYPES[entry.dtype].loaded);
      } catch (error) {
        throw new CheckpointError(entry.path, `${source}: could not create the ${formatEntry(DTYPES[entry.dtype].loaded, entry.shape)} tensor (${(error as Error)?.message ?? String(error)})`, { cause: error });
      }
      made.push([path, tensor]);
    }
  } catch (error) {
    for (const [, t] of made) t.dispose();
    throw error;
  }
  return made;
}

/**
 * Decodes a safetensors file into a frozen tree of tensors (the inverse of {@link toBytes}).
 * F32/F16/BF16/F64 become float32 tensors, integer types int32, BOOL bool.
 *
 * With a `target` (the variables from `init`, or `initShapes`' output, cheaper), the structure is
 * checked before anything is allocated: every missing, unexpected, mis-shaped or mis-typed
 * entry is listed in one {@link CheckpointMismatchError}. With `{ prefix }`, only that subtree is
 * restored (and compared with the target). Damaged or hostile data is a {@link CheckpointError}
 * naming the problem. The caller owns the returned tensors; a failed call leaves none behind.
 *
 * @param bytes - the file's bytes.
 * @param target - optional tree giving the expected structure, shapes and dtypes.
 * @param opts - `{ prefix }` for a partial restore.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.relu, fx.nn.Dense(2)]);
 * const bytes = fx.checkpoint.toBytes(net.init(fx.random.key(0), [1, 3]));
 * const restored = fx.checkpoint.fromBytes(bytes, net.initShapes(fx.random.key(0), [1, 3]));
 * const first = fx.checkpoint.fromBytes(bytes, undefined, { prefix: 'params/layers_0' }); // { bias, kernel }
 * ```
 */
export function fromBytes(bytes: Uint8Array | ArrayBuffer, target?: undefined, opts?: ReadOptions): Variables;
export function fromBytes<T>(bytes: Uint8Array | ArrayBuffer, target: T, opts?: ReadOptions): Restored<T>;
export function fromBytes(bytes: Uint8Array | ArrayBuffer, target?: unknown, opts: ReadOptions = {}): unknown {
  if (!isNode(opts)) throw new CheckpointError('', `fromBytes: options must be an object such as { prefix: 'params' }, found ${describeValue(opts)}`);
  const source = typeof opts.source === 'string' ? opts.source : DEFAULT_SOURCE;
  const data = asBytes(bytes, source);
  const header = parseHeader(data, source);
  const selected = selectEntries(header.entries, normalizePrefix(opts.prefix, source), source);
  if (target !== undefined) compareWithTarget(selected, target, source);
  const made = materialize(data, header.dataStart, selected, source);
  return unflatten(made);
}

/**
 * {@link fromBytes} as an fp-ts `Either`: `right(tree)` or `left(FlaxenError)`, for code that
 * composes with `pipe`. Errors that are not flaxen's (bugs) are still thrown.
 *
 * @example
 * ```ts
 * // fp-ts in your own code: npm install fp-ts
 * import { pipe } from 'fp-ts/lib/function.js';
 * import * as E from 'fp-ts/lib/Either.js';
 * const result = pipe(fx.checkpoint.decode(new Uint8Array(4)), E.match((e) => e.message, () => 'ok'));
 * ```
 */
export function decode(bytes: Uint8Array | ArrayBuffer, target?: undefined, opts?: ReadOptions): Either<FlaxenError, Variables>;
export function decode<T>(bytes: Uint8Array | ArrayBuffer, target: T, opts?: ReadOptions): Either<FlaxenError, Restored<T>>;
export function decode(bytes: Uint8Array | ArrayBuffer, target?: unknown, opts?: ReadOptions): Either<FlaxenError, unknown> {
  try {
    return right(fromBytes(bytes, target, opts));
  } catch (error) {
    if (error instanceof FlaxenError) return left(error);
    throw error;
  }
}

/**
 * {@link toBytes} as an fp-ts `Either`.
 *
 * @example
 * ```ts
 * const e = fx.checkpoint.encode({ params: { w: tf.ones([2]) } }); // right(Uint8Array)
 * ```
 */
export function encode(variables: unknown, metadata?: Metadata): Either<FlaxenError, Uint8Array> {
  try {
    return right(toBytes(variables, metadata));
  } catch (error) {
    if (error instanceof FlaxenError) return left(error);
    throw error;
  }
}
