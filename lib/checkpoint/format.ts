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
import { TypedLeaf, defineEntry, freeze, isNode } from '../tree/index.js';
import { Key, isKey } from '../random/key.js';
import { DTYPES, SafeDtype, decodeArray, encodeArray, safeDtypeOf } from './dtypes.js';
import { CheckpointError, CheckpointMismatchError, CheckpointProblem, formatEntry } from './errors.js';
import { HeaderEntry, parseHeader, pathProblem } from './header.js';
import { Layout, RESERVED_PREFIX, configText, layoutMetadata, readLayout } from './layout.js';
import { Checkpointable, isCheckpointable } from './state-dict.js';

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
 * What a target-checked restore returns: the target's structure, with tensors where the target
 * has tensors or `{shape, dtype}` records, numbers where it has numbers, keys where it has keys,
 * and the live object where it has a {@link Checkpointable} (a `TrainState`).
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(10);
 * const target = net.initShapes(fx.random.key(0), [1, 20]);
 * type R = fx.checkpoint.Restored<typeof target>;   // { params: { kernel: Tensor; bias: Tensor } }
 * type S = fx.checkpoint.Restored<{ count: number }>; // { count: number }
 * ```
 */
export type Restored<T> = T extends Checkpointable<infer R>
  ? R
  : T extends number
    ? number
    : T extends Key
      ? Key
      : T extends TypedLeaf
        ? tf.Tensor
        : { readonly [K in keyof T]: Restored<T[K]> };

/**
 * Options of {@link toBytes} and `save`, after the metadata.
 *
 * @example
 * ```ts
 * const opts: fx.checkpoint.WriteOptions = { config: { model: 'mlp', lr: 1e-3, layers: [512, 512] } };
 * ```
 */
export interface WriteOptions {
  /**
   * The run's configuration, any JSON data (objects, arrays, strings, finite numbers, booleans,
   * null), stored as JSON text in the metadata and returned by `readInfo`/`loadInfo` as `config`.
   */
  readonly config?: unknown;
}

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
  /** The user strings of the header's `__metadata__` (empty if it has none; flaxen's own `flaxen.*` keys are left out). */
  readonly metadata: Metadata;
  /** The tensors in path order (the entries holding numbers and keys are not listed here). */
  readonly tensors: readonly TensorInfo[];
  /** The paths of the JS numbers the checkpoint holds (an optimizer's `count`, a state's `step`). */
  readonly numbers?: readonly string[];
  /** The paths of the random keys the checkpoint holds. */
  readonly randomKeys?: readonly string[];
  /** The `config` given to `toBytes`/`save` (frozen JSON data), if any. */
  readonly config?: unknown;
  /** The tree's root `step` number (a `TrainState`'s step), if it has one. */
  readonly step?: number;
}

const DEFAULT_SOURCE = 'checkpoint';

function asBytes(bytes: unknown, source: string): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new CheckpointError('', `${source}: expected the bytes of a safetensors file (a Uint8Array or ArrayBuffer), found ${describeValue(bytes)}`);
}

/** One leaf to write, with the safetensors dtype it is stored as. */
type WriteLeaf =
  | { readonly path: string; readonly kind: 'tensor'; readonly tensor: tf.Tensor; readonly dtype: SafeDtype; readonly shape: readonly number[]; readonly size: number }
  | { readonly path: string; readonly kind: 'number'; readonly value: number; readonly dtype: 'F64'; readonly shape: readonly number[]; readonly size: 1 }
  | { readonly path: string; readonly kind: 'key'; readonly key: Key; readonly dtype: 'U32'; readonly shape: readonly number[]; readonly size: 2 };

/** The deepest nesting written; deeper is an error rather than a stack overflow. */
const MAX_DEPTH = 1000;

/** The state dict of a Checkpointable at `path`, with errors of its own wrapped to name the path. */
function stateDictOf(node: Checkpointable, path: string, what: string): unknown {
  try {
    return node.toStateDict();
  } catch (error) {
    if (error instanceof FlaxenError) throw error;
    throw new CheckpointError(path, `${what}: toStateDict() of ${describeValue(node)} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/**
 * Checks a tree's keys and leaves for writing: tensors, finite numbers and random keys, with
 * Checkpointable objects replaced by their state dicts. Returns the leaves and the paths of
 * the empty subtrees, in path order.
 */
function leavesToWrite(tree: unknown): { leaves: WriteLeaf[]; empty: string[] } {
  const root = isCheckpointable(tree) ? stateDictOf(tree, '', 'toBytes') : tree;
  if (!isNode(root)) throw new CheckpointError('', `toBytes needs a tree of tensors and numbers such as the variables from init, an optimizer state or a TrainState, found ${describeValue(tree)}`);
  const leaves: WriteLeaf[] = [];
  const empty: string[] = [];
  const ancestors = new Map<object, string>();
  const walk = (given: unknown, path: string): void => {
    if (given !== null && typeof given === 'object' && ancestors.has(given)) {
      throw new CheckpointError(path, `toBytes: a tree must not contain itself, but this subtree is the same object as the one at '${ancestors.get(given) || '(the root)'}' (a cycle)`);
    }
    const node = path !== '' && isCheckpointable(given) ? stateDictOf(given, path, 'toBytes') : given;
    if (isNode(node)) {
      if (ancestors.size >= MAX_DEPTH) throw new CheckpointError(path, `toBytes: trees nest at most ${MAX_DEPTH} levels`);
      const keys = Object.keys(node).sort();
      if (keys.length === 0 && path !== '') empty.push(path);
      ancestors.set(given as object, path);
      if (node !== given) ancestors.set(node, path);
      for (const key of keys) {
        if (key === '' || key.includes('/')) throw new CheckpointError(path, `toBytes: the key ${JSON.stringify(key)} cannot be written: tree keys must be non-empty and contain no '/'`);
        walk(node[key], path === '' ? key : `${path}/${key}`);
      }
      ancestors.delete(given as object);
      ancestors.delete(node);
      return;
    }
    const problem = pathProblem(path);
    if (problem) throw new CheckpointError(path, `toBytes: ${problem}`);
    if (path === '__metadata__') throw new CheckpointError(path, 'toBytes: __metadata__ is reserved by the safetensors format');
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) throw new CheckpointError(path, `toBytes: the number ${node} cannot be stored; numbers in a checkpoint must be finite (a NaN step count or learning rate means training already diverged)`);
      leaves.push({ path, kind: 'number', value: node, dtype: 'F64', shape: [], size: 1 });
      return;
    }
    if (isKey(node)) {
      leaves.push({ path, kind: 'key', key: node, dtype: 'U32', shape: [2], size: 2 });
      return;
    }
    if (!(node instanceof tf.Tensor)) throw new CheckpointError(path, `toBytes: leaves must be tensors, finite numbers or random keys, found ${describeValue(node)}`);
    if (node.isDisposed) throw new CheckpointError(path, 'toBytes: this tensor was disposed');
    const dtype = safeDtypeOf(node.dtype);
    if (!dtype) throw new CheckpointError(path, `toBytes: a ${node.dtype} tensor cannot be stored; checkpoints hold float32, int32 and bool`);
    leaves.push({ path, kind: 'tensor', tensor: node, dtype, shape: node.shape, size: node.size });
  };
  walk(root, '');
  return { leaves, empty };
}

function checkMetadata(metadata: unknown): Metadata {
  if (metadata === undefined) return {};
  if (!isNode(metadata)) throw new CheckpointError('', `toBytes: metadata must be an object of strings such as { step: '100' }, found ${describeValue(metadata)}`);
  for (const key of Object.keys(metadata)) {
    if (key.startsWith(RESERVED_PREFIX)) throw new CheckpointError('', `toBytes: metadata keys starting with '${RESERVED_PREFIX}' are reserved for flaxen's own entries, found ${JSON.stringify(key)}`);
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
 * Encodes a tree as a safetensors file. The tree is the variables from `init`, an optimizer
 * state, a `fx.train.TrainState`, or any record of these: its leaves are tensors (float32,
 * int32 and bool, stored as `F32`, `I32`, `BOOL`), finite JS numbers (stored as `F64` scalars,
 * so every bit comes back) and random keys (`U32[2]`). Keys are the `/`-joined paths; which
 * entries are numbers or keys, and which subtrees are empty, is noted in `__metadata__` under
 * `flaxen.*` keys, so Python's `safetensors` reads the file as plain tensors. `metadata`
 * (strings only) goes to `__metadata__`; `{ config }` stores any JSON data, returned by
 * {@link readInfo}. The tensors are only read.
 *
 * Refused with a `CheckpointError` naming the path: a non-finite number, a disposed tensor, any
 * other leaf, a tree that contains itself.
 *
 * @param tree - tensors, numbers and keys in plain objects, or a `Checkpointable` (`TrainState`).
 * @param metadata - optional user strings, e.g. `{ step: '1000', model: 'mlp-784-256-10' }`.
 * @param options - `{ config }`: the run's configuration (JSON data).
 * @returns the bytes of the file.
 * @example
 * ```ts
 * const params = fx.nn.Dense(10).init(fx.random.key(0), [1, 20]).params;
 * const tx = fx.optim.adam(1e-3);
 * const opt = tx.init(params);                    // holds tensors and the number `count`
 * const bytes = fx.checkpoint.toBytes({ params, opt, step: 0 }, { run: 'a' }, { config: { lr: 1e-3 } });
 * const back = fx.checkpoint.fromBytes(bytes, { params, opt, step: 0 });
 * typeof back.step;                               // 'number'
 * fx.checkpoint.readInfo(bytes).config;           // { lr: 0.001 }
 * ```
 */
export function toBytes(tree: unknown, metadata?: Metadata, options?: WriteOptions): Uint8Array {
  const meta = checkMetadata(metadata);
  if (options !== undefined && !isNode(options)) throw new CheckpointError('', `toBytes: options must be an object such as { config: {...} }, found ${describeValue(options)}`);
  const unknownOption = Object.keys(options ?? {}).find((k) => k !== 'config');
  if (unknownOption !== undefined) throw new CheckpointError('', `toBytes: unknown option '${unknownOption}'; the options are config`);
  const { leaves, empty } = leavesToWrite(tree);
  const rootStep = leaves.find((l) => l.path === 'step' && l.kind === 'number');
  const header = headerWithMetadata({
    ...meta,
    ...layoutMetadata({
      numbers: leaves.filter((l) => l.kind === 'number').map((l) => l.path),
      keys: leaves.filter((l) => l.kind === 'key').map((l) => l.path),
      empty,
      configText: configText(options?.config),
      step: rootStep?.kind === 'number' ? rootStep.value : undefined,
    }),
  });
  // Larger elements first keeps every tensor aligned to its element size in the file.
  const ordered = [...leaves].sort((a, b) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  let offset = 0;
  const placed = ordered.map((leaf) => {
    const begin = offset;
    offset += leaf.size * DTYPES[leaf.dtype].bytes;
    return { leaf, begin };
  });
  for (const { leaf, begin } of [...placed].sort((a, b) => (a.leaf.path < b.leaf.path ? -1 : 1))) {
    defineEntry(header, leaf.path, { dtype: leaf.dtype, shape: leaf.shape, data_offsets: [begin, begin + leaf.size * DTYPES[leaf.dtype].bytes] });
  }
  const { out, dataStart } = layOutFile(header, offset);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (const { leaf, begin } of placed) {
    if (leaf.kind === 'number') view.setFloat64(dataStart + begin, leaf.value, true);
    else if (leaf.kind === 'key') {
      view.setUint32(dataStart + begin, leaf.key.hi, true);
      view.setUint32(dataStart + begin + 4, leaf.key.lo, true);
    } else encodeArray(leaf.tensor.dataSync() as Float32Array | Int32Array | Uint8Array, out, dataStart + begin);
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
  return infoOf(header.metadata, header.entries, DEFAULT_SOURCE);
}

/** @internal */
export function infoOf(metadata: Metadata, entries: readonly HeaderEntry[], source: string): CheckpointInfo {
  const layout = readLayout(metadata, entries, source);
  const info: Record<string, unknown> = {
    metadata: layout.metadata,
    tensors: Object.freeze(
      entries
        .filter((e) => !layout.numbers.has(e.path) && !layout.keys.has(e.path))
        .map((e) => Object.freeze({ path: e.path, dtype: e.dtype, loadedDtype: DTYPES[e.dtype].loaded, shape: e.shape, byteLength: e.end - e.begin })),
    ),
    numbers: Object.freeze([...layout.numbers].sort()),
    randomKeys: Object.freeze([...layout.keys].sort()),
  };
  if (layout.config !== undefined) info['config'] = layout.config;
  if (layout.step !== undefined) info['step'] = layout.step;
  return Object.freeze(info) as unknown as CheckpointInfo;
}

function normalizePrefix(prefix: unknown, source: string): string | undefined {
  if (prefix === undefined || prefix === '') return undefined;
  if (typeof prefix !== 'string') throw new CheckpointError('', `${source}: the prefix must be a '/'-joined path such as 'params/layers_0', found ${describeValue(prefix)}`);
  const trimmed = prefix.replace(/\/+$/, '');
  const problem = pathProblem(trimmed);
  if (problem) throw new CheckpointError(trimmed, `${source}: bad prefix: ${problem}`);
  return trimmed;
}

/** What an entry holds: a tensor, a JS number or a random key. */
type EntryKind = 'tensor' | 'number' | 'key';
const kindOf = (layout: Layout, path: string): EntryKind => (layout.numbers.has(path) ? 'number' : layout.keys.has(path) ? 'key' : 'tensor');

/** The entries and empty subtrees under `prefix`, with the prefix stripped; refuses a prefix that selects nothing. */
function selectEntries(entries: readonly HeaderEntry[], layout: Layout, prefix: string | undefined, source: string): { selected: Array<[string, HeaderEntry]>; empty: string[] } {
  if (prefix === undefined) return { selected: entries.map((e) => [e.path, e]), empty: [...layout.empty] };
  const selected: Array<[string, HeaderEntry]> = [];
  for (const e of entries) {
    if (e.path === prefix) throw new CheckpointError(prefix, `${source}: the prefix names a single ${kindOf(layout, e.path) === 'tensor' ? `tensor (${formatEntry(e.dtype, e.shape)})` : kindOf(layout, e.path) === 'number' ? 'number' : 'random key'}; a prefix selects a subtree, e.g. '${prefix.split('/').slice(0, -1).join('/') || prefix}'`);
    if (e.path.startsWith(prefix + '/')) selected.push([e.path.slice(prefix.length + 1), e]);
  }
  const empty = layout.empty.filter((p) => p.startsWith(prefix + '/')).map((p) => p.slice(prefix.length + 1));
  if (selected.length === 0 && empty.length === 0 && !layout.empty.includes(prefix)) {
    const tops = [...new Set(entries.map((e) => e.path.split('/').slice(0, 2).join('/')))].slice(0, 10);
    throw new CheckpointError(prefix, `${source}: no tensor under the prefix '${prefix}'; the checkpoint has ${tops.length ? tops.map((t) => `'${t}'`).join(', ') : 'no tensors'}${tops.length === 10 ? ', …' : ''}`);
  }
  return { selected, empty };
}

/** What the target expects at one leaf. */
type TargetSpec = { kind: 'tensor'; shape: readonly number[]; dtype: string } | { kind: 'number' } | { kind: 'key' };

/**
 * The target with every Checkpointable replaced by its state dict (`tree`), where those were
 * (`objects`, by path), and the expected kind, shape and dtype of every leaf (`specs`).
 */
function expandTarget(target: unknown, source: string): { tree: unknown; objects: Map<string, Checkpointable>; specs: Map<string, TargetSpec> } {
  const objects = new Map<string, Checkpointable>();
  const specs = new Map<string, TargetSpec>();
  const ancestors = new Set<object>();
  const walk = (given: unknown, path: string): unknown => {
    let node = given;
    if (isCheckpointable(given)) {
      objects.set(path, given);
      node = stateDictOf(given, path, source);
    }
    if (isNode(node)) {
      if (ancestors.has(node) || ancestors.size >= MAX_DEPTH) throw new CheckpointError(path, `${source}: the target ${ancestors.has(node) ? 'contains itself (a cycle)' : `nests deeper than ${MAX_DEPTH} levels`}`);
      ancestors.add(node);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(node).sort()) {
        if (key === '' || key.includes('/')) throw new CheckpointError(path, `${source}: the target has the key ${JSON.stringify(key)}; tree keys must be non-empty and contain no '/'`);
        defineEntry(out, key, walk(node[key], path === '' ? key : `${path}/${key}`));
      }
      ancestors.delete(node);
      return out;
    }
    if (path === '') throw new CheckpointError('', `${source}: the target must be a tree (the variables from init, initShapes' output, an optimizer state, a TrainState), found ${describeValue(given)}`);
    if (typeof node === 'number') specs.set(path, { kind: 'number' });
    else if (isKey(node)) specs.set(path, { kind: 'key' });
    else {
      const shape = (node as { shape?: unknown } | null)?.shape;
      const dtype = (node as { dtype?: unknown } | null)?.dtype;
      if (!Array.isArray(shape) || typeof dtype !== 'string') {
        throw new CheckpointError(path, `${source}: target leaves must be tensors, {shape, dtype} records, numbers or random keys, found ${describeValue(node)}`);
      }
      specs.set(path, { kind: 'tensor', shape, dtype });
    }
    return node;
  };
  const tree = walk(target, '');
  return { tree, objects, specs };
}

const describeKind = (kind: 'number' | 'key'): string => (kind === 'number' ? 'a JS number' : 'a random key');

function compareWithTarget(selected: ReadonlyArray<[string, HeaderEntry]>, layout: Layout, specs: Map<string, TargetSpec>, source: string): void {
  const problems: CheckpointProblem[] = [];
  const inFile = new Map(selected);
  const fileKind = (entry: HeaderEntry): EntryKind => kindOf(layout, entry.path);
  const describeEntry = (entry: HeaderEntry): string => {
    const kind = fileKind(entry);
    return kind === 'tensor' ? formatEntry(DTYPES[entry.dtype].loaded, entry.shape) : describeKind(kind);
  };
  for (const [path, spec] of specs) {
    const expected = spec.kind === 'tensor' ? formatEntry(spec.dtype, spec.shape) : describeKind(spec.kind);
    const entry = inFile.get(path);
    if (!entry) {
      problems.push({ kind: 'missing', path, expected });
      continue;
    }
    const kind = fileKind(entry);
    if (kind !== spec.kind) {
      problems.push({ kind: 'type', path, expected, found: kind === 'tensor' ? `a ${describeEntry(entry)} tensor` : describeEntry(entry) });
      continue;
    }
    if (spec.kind !== 'tensor') continue;
    const loaded = DTYPES[entry.dtype].loaded;
    const sameShape = entry.shape.length === spec.shape.length && entry.shape.every((d, i) => d === spec.shape[i]);
    if (!sameShape) problems.push({ kind: 'shape', path, expected, found: formatEntry(loaded, entry.shape) });
    else if (loaded !== spec.dtype) problems.push({ kind: 'dtype', path, expected: spec.dtype, found: `${loaded} (${entry.dtype} in the file)` });
  }
  for (const [path, entry] of selected) {
    if (!specs.has(path)) problems.push({ kind: 'unexpected', path, found: describeEntry(entry) });
  }
  if (problems.length) {
    problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    throw new CheckpointMismatchError(problems, source);
  }
}

/** Reads the numbers and keys of the selected entries (nothing is allocated; hostile values are refused). */
function readScalars(bytes: Uint8Array, dataStart: number, selected: ReadonlyArray<[string, HeaderEntry]>, layout: Layout, source: string): Map<string, number | Key> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, number | Key>();
  for (const [path, entry] of selected) {
    if (layout.numbers.has(entry.path)) {
      const value = view.getFloat64(dataStart + entry.begin, true);
      if (!Number.isFinite(value)) throw new CheckpointError(entry.path, `${source}: this number is ${value}; numbers in a checkpoint are finite`);
      out.set(path, value);
    } else if (layout.keys.has(entry.path)) {
      out.set(path, new Key(view.getUint32(dataStart + entry.begin, true), view.getUint32(dataStart + entry.begin + 4, true)));
    }
  }
  return out;
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

/** Builds a frozen tree from leaves by path and empty subtrees (paths already checked). */
function buildTree(values: ReadonlyMap<string, unknown>, empty: readonly string[]): unknown {
  const root: Record<string, unknown> = {};
  const nodeAt = (parts: readonly string[]): Record<string, unknown> => {
    let node = root;
    for (const part of parts) {
      if (!Object.prototype.hasOwnProperty.call(node, part)) defineEntry(node, part, {});
      node = node[part] as Record<string, unknown>;
    }
    return node;
  };
  for (const path of [...values.keys()].sort()) {
    const parts = path.split('/');
    defineEntry(nodeAt(parts.slice(0, -1)), parts[parts.length - 1]!, values.get(path));
  }
  for (const path of empty) nodeAt(path.split('/'));
  return freeze(root);
}

/** Rebuilds the target's structure with the restored leaves; Checkpointables get their state dicts back. */
function rebuild(expanded: unknown, objects: ReadonlyMap<string, Checkpointable>, values: ReadonlyMap<string, unknown>, source: string): unknown {
  const walk = (node: unknown, path: string): unknown => {
    let out: unknown;
    if (isNode(node)) {
      const record: Record<string, unknown> = {};
      for (const key of Object.keys(node)) defineEntry(record, key, walk(node[key], path === '' ? key : `${path}/${key}`));
      out = Object.freeze(record);
    } else out = values.get(path);
    const object = objects.get(path);
    if (!object) return out;
    try {
      return object.fromStateDict(out);
    } catch (error) {
      if (error instanceof FlaxenError) throw error;
      throw new CheckpointError(path, `${source}: fromStateDict() of ${describeValue(object)} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
  };
  return walk(expanded, '');
}

/**
 * Decodes a safetensors file (the inverse of {@link toBytes}). Without a target the result is a
 * frozen tree: tensors (F32/F16/BF16/F64 become float32, integer types int32, BOOL bool), and
 * the numbers, random keys and empty subtrees that `toBytes` noted as such.
 *
 * With a `target`, the result has the target's kind and structure: pass the variables from
 * `init` (or `initShapes`' output, cheaper), an optimizer state, a record of these, or a
 * `fx.train.TrainState` (a freshly created one for the same model and optimizer), which gives
 * back a live `TrainState` holding the saved step, parameters, optimizer state, collections
 * and key. The target is only read (dispose it yourself if you no longer need it). Everything
 * is checked before anything is allocated: every missing, unexpected, mis-shaped or mis-typed
 * entry, and every number where the target has a tensor or the other way round, is listed in
 * one {@link CheckpointMismatchError}, so an Adam state never loads into an SGD target, not
 * even in part. With `{ prefix }`, only that subtree is restored (and compared with the target).
 *
 * Damaged or hostile data is a {@link CheckpointError} naming the problem. The caller owns the
 * returned tensors; a failed call leaves none behind.
 *
 * @param bytes - the file's bytes.
 * @param target - optional: the tree (or `TrainState`) giving the expected structure, shapes and dtypes.
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
  const layout = readLayout(header.metadata, header.entries, source);
  const prefix = normalizePrefix(opts.prefix, source);
  const { selected, empty } = selectEntries(header.entries, layout, prefix, source);
  const expanded = target === undefined ? undefined : expandTarget(target, source);
  if (expanded) compareWithTarget(selected, layout, expanded.specs, source);
  const values = new Map<string, unknown>(readScalars(data, header.dataStart, selected, layout, source));
  const made = materialize(data, header.dataStart, selected.filter(([path]) => !values.has(path)), source);
  for (const [path, tensor] of made) values.set(path, tensor);
  try {
    return expanded ? rebuild(expanded.tree, expanded.objects, values, source) : buildTree(values, empty);
  } catch (error) {
    for (const [, t] of made) t.dispose();
    throw error;
  }
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
export function encode(tree: unknown, metadata?: Metadata, options?: WriteOptions): Either<FlaxenError, Uint8Array> {
  try {
    return right(toBytes(tree, metadata, options));
  } catch (error) {
    if (error instanceof FlaxenError) return left(error);
    throw error;
  }
}
