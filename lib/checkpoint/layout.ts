/**
 * What a safetensors file cannot say by itself, kept in `__metadata__` under keys that start
 * with `flaxen.` (so Python readers still see a valid file of tensors):
 *
 * - `flaxen.numbers`: the paths of the JS numbers (an optimizer's `count`, a state's `step`),
 *   each stored as an `F64` scalar, so the exact bits come back;
 * - `flaxen.keys`: the paths of random keys, each stored as `U32[2]` (`[hi, lo]`);
 * - `flaxen.empty`: the paths of empty subtrees (a stateless optimizer stage's `{}`);
 * - `flaxen.config`: the user's configuration, as JSON text;
 * - `flaxen.step`: the root `step` number, readable without the data.
 *
 * Each list is a JSON array of paths. Reading checks every claim against the header.
 *
 * @module
 * @internal
 */
import { describeValue } from '../errors.js';
import { CheckpointError } from './errors.js';
import { HeaderEntry, pathProblem } from './header.js';

/** Keys of `__metadata__` starting with this are flaxen's; users may not write them. */
export const RESERVED_PREFIX = 'flaxen.';
const NUMBERS = 'flaxen.numbers';
const KEYS = 'flaxen.keys';
const EMPTY = 'flaxen.empty';
const CONFIG = 'flaxen.config';
const STEP = 'flaxen.step';

/** What a file's `flaxen.*` metadata says, checked against its entries. */
export interface Layout {
  /** The user's metadata (without the `flaxen.*` keys). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly numbers: ReadonlySet<string>;
  readonly keys: ReadonlySet<string>;
  readonly empty: readonly string[];
  /** `undefined` when the file has none. */
  readonly config: unknown;
  readonly step: number | undefined;
}

/** The `flaxen.*` entries to write, next to the user's metadata. */
export function layoutMetadata(parts: { numbers: readonly string[]; keys: readonly string[]; empty: readonly string[]; configText?: string; step?: number }): Record<string, string> {
  const out: Record<string, string> = {};
  if (parts.numbers.length) out[NUMBERS] = JSON.stringify(parts.numbers);
  if (parts.keys.length) out[KEYS] = JSON.stringify(parts.keys);
  if (parts.empty.length) out[EMPTY] = JSON.stringify(parts.empty);
  if (parts.configText !== undefined) out[CONFIG] = parts.configText;
  if (parts.step !== undefined) out[STEP] = String(parts.step);
  return out;
}

function pathList(metadata: Readonly<Record<string, string>>, key: string, source: string): string[] {
  if (!Object.prototype.hasOwnProperty.call(metadata, key)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata[key]!);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.some((p) => typeof p !== 'string')) {
    throw new CheckpointError('', `${source}: __metadata__["${key}"] must be a JSON array of paths, found ${describeValue(metadata[key])}`);
  }
  const seen = new Set<string>();
  for (const path of parsed as string[]) {
    const problem = pathProblem(path);
    if (problem) throw new CheckpointError(path, `${source}: __metadata__["${key}"]: ${problem}`);
    if (seen.has(path)) throw new CheckpointError(path, `${source}: __metadata__["${key}"] lists this path twice`);
    seen.add(path);
  }
  return parsed as string[];
}

/** Reads and checks the `flaxen.*` metadata of a parsed header against its entries. */
export function readLayout(metadata: Readonly<Record<string, string>>, entries: readonly HeaderEntry[], source: string): Layout {
  const user: Record<string, string> = {};
  for (const key of Object.keys(metadata)) {
    if (!key.startsWith(RESERVED_PREFIX)) Object.defineProperty(user, key, { value: metadata[key], enumerable: true });
  }
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const numbers = pathList(metadata, NUMBERS, source);
  for (const path of numbers) {
    const entry = byPath.get(path);
    if (!entry || entry.dtype !== 'F64' || entry.shape.length !== 0) {
      throw new CheckpointError(path, `${source}: __metadata__["${NUMBERS}"] lists this path as a number, which is stored as an F64 scalar, but the file has ${entry ? `${entry.dtype}[${entry.shape.join(', ')}]` : 'no such entry'}`);
    }
  }
  const keys = pathList(metadata, KEYS, source);
  for (const path of keys) {
    const entry = byPath.get(path);
    if (!entry || entry.dtype !== 'U32' || entry.shape.length !== 1 || entry.shape[0] !== 2) {
      throw new CheckpointError(path, `${source}: __metadata__["${KEYS}"] lists this path as a random key, which is stored as U32[2], but the file has ${entry ? `${entry.dtype}[${entry.shape.join(', ')}]` : 'no such entry'}`);
    }
  }
  const numberSet = new Set(numbers);
  const both = keys.find((k) => numberSet.has(k));
  if (both !== undefined) throw new CheckpointError(both, `${source}: this path is listed both as a number and as a random key`);
  const empty = pathList(metadata, EMPTY, source);
  if (empty.length) {
    // An empty subtree is no entry, holds none, lies under none, and holds no other empty subtree.
    const taken = new Set<string>();
    for (const path of [...byPath.keys(), ...empty]) {
      for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) taken.add(path.slice(0, i));
    }
    for (const path of empty) {
      const parents = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
      if (taken.has(path) || parents.some((p) => byPath.has(p))) {
        throw new CheckpointError(path, `${source}: __metadata__["${EMPTY}"] lists this path as an empty subtree, but the file has entries at or under it`);
      }
    }
  }
  let config: unknown;
  if (Object.prototype.hasOwnProperty.call(metadata, CONFIG)) {
    try {
      config = deepFreeze(JSON.parse(metadata[CONFIG]!));
    } catch {
      throw new CheckpointError('', `${source}: __metadata__["${CONFIG}"] must be JSON text, found ${describeValue(metadata[CONFIG])}`);
    }
  }
  let step: number | undefined;
  if (Object.prototype.hasOwnProperty.call(metadata, STEP)) {
    step = Number(metadata[STEP]);
    if (metadata[STEP] === '' || !Number.isFinite(step)) throw new CheckpointError('', `${source}: __metadata__["${STEP}"] must be a number, found ${describeValue(metadata[STEP])}`);
  }
  return { metadata: Object.freeze(user), numbers: numberSet, keys: new Set(keys), empty: Object.freeze(empty), config, step };
}

/** Freezes parsed JSON iteratively (deep JSON must not overflow the stack). */
function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const child of Object.values(v)) stack.push(child);
    }
  }
  return value;
}

const MAX_CONFIG_DEPTH = 100;

/**
 * The JSON text of a user's config, or a CheckpointError saying why it cannot be stored
 * (a function, a cycle, a bigint, a non-finite number, which JSON would turn into null).
 */
export function configText(config: unknown): string | undefined {
  if (config === undefined) return undefined;
  const fail = (path: string, detail: string): never => {
    throw new CheckpointError('', `toBytes: the config must be JSON data (objects, arrays, strings, finite numbers, booleans, null)${path ? `; at config/${path}` : ''} ${detail}`);
  };
  // Iterative check, so neither a cycle nor deep nesting overflows the stack.
  const onPath = new Set<object>();
  const stack: Array<{ value: unknown; path: string; depth: number; leave?: object }> = [{ value: config, path: '', depth: 0 }];
  while (stack.length) {
    const { value, path, depth, leave } = stack.pop()!;
    if (leave) {
      onPath.delete(leave);
      continue;
    }
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) fail(path, `found ${value}`);
      continue;
    }
    if (typeof value !== 'object') fail(path, `found ${describeValue(value)}`);
    const object = value as object;
    if (!Array.isArray(object)) {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) fail(path, `found ${describeValue(value)}`);
    }
    if (onPath.has(object)) fail(path, 'found a cycle (an object that contains itself)');
    if (depth >= MAX_CONFIG_DEPTH) fail(path, `nests deeper than ${MAX_CONFIG_DEPTH} levels`);
    onPath.add(object);
    stack.push({ value: undefined, path, depth, leave: object });
    for (const key of Object.keys(object)) stack.push({ value: (object as Record<string, unknown>)[key], path: path ? `${path}/${key}` : key, depth: depth + 1 });
  }
  return JSON.stringify(config);
}
