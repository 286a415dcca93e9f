/**
 * Explicit random keys with JAX semantics. A key is an immutable 64-bit value; new keys are
 * derived from old ones by hashing, never by advancing hidden state, so the numbers a key
 * gives depend on the key alone.
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';

const KEY_BRAND: unique symbol = Symbol('flaxen.Key');

/**
 * An immutable random key: two 32-bit words. Make one with {@link key}, derive more with
 * {@link split} and {@link foldIn}.
 *
 * @example
 * ```ts
 * const k = fx.random.key(0);
 * console.log(String(k)); // Key(0x…, 0x…)
 * ```
 */
export class Key {
  /** @internal */
  readonly [KEY_BRAND] = true;
  /** The high 32 bits, as an unsigned integer. */
  readonly hi: number;
  /** The low 32 bits, as an unsigned integer. */
  readonly lo: number;
  /** @internal Use {@link key}, {@link split} or {@link foldIn}. */
  constructor(hi: number, lo: number) {
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    Object.freeze(this);
  }
  /** A readable form, e.g. `Key(0x1a2b3c4d, 0x00ff00ff)`. */
  toString(): string {
    const hex = (n: number) => '0x' + n.toString(16).padStart(8, '0');
    return `Key(${hex(this.hi)}, ${hex(this.lo)})`;
  }
}

/**
 * True when `value` is a {@link Key}.
 *
 * @example
 * ```ts
 * fx.random.isKey(fx.random.key(1)); // true
 * fx.random.isKey(1);                // false
 * ```
 */
export function isKey(value: unknown): value is Key {
  return value instanceof Key || (typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[KEY_BRAND] === true);
}

/** Throws a `FlaxenError` unless `value` is a key; `what` names the argument. */
export function assertKey(value: unknown, what: string, path = ''): asserts value is Key {
  if (!isKey(value)) throw new FlaxenError(path, `${what} must be a random key from fx.random.key(seed), found ${describeValue(value)}`);
}

// MurmurHash3's 32-bit mixing over a sequence of words, run with two seeds to get 64 bits.
function murmur(words: readonly number[], seed: number): number {
  let h = seed >>> 0;
  for (const word of words) {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function derive(words: readonly number[]): Key {
  return new Key(murmur(words, 0x9e3779b9), murmur(words, 0x7f4a7c15));
}

// Domain tags keep the three derivations apart: split(k)[0] never equals foldIn(k, 0).
const TAG_SEED = 1;
const TAG_SPLIT = 2;
const TAG_FOLD_NUMBER = 3;
const TAG_FOLD_STRING = 4;

/**
 * Makes a key from an integer seed. The same seed gives the same key in every process.
 *
 * @example
 * ```ts
 * const k = fx.random.key(42);
 * const w = fx.random.normal(k, [2, 2]);
 * ```
 */
export function key(seed: number): Key {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new FlaxenError('', `key(seed) needs a safe integer seed, found ${describeValue(seed)}`);
  }
  const lo = seed % 0x100000000;
  const hi = Math.floor(seed / 0x100000000);
  return derive([TAG_SEED, lo >>> 0, hi >>> 0]);
}

/**
 * The most keys one `split` returns: each is a JS object, so `split(key, 1e8)` would take
 * gigabytes (it aborted V8); `foldIn(key, i)` derives any number of streams one at a time.
 * @internal
 */
export const MAX_SPLIT = 1 << 20;

/**
 * Splits a key into `n` new keys (1 ≤ n ≤ 1,048,576), distinct from each other and from the
 * parent. For more streams, derive each key when it is needed with {@link foldIn}.
 *
 * @example
 * ```ts
 * const [paramsKey, dropoutKey] = fx.random.split(fx.random.key(0));
 * ```
 */

export function split(parent: Key, n = 2): Key[] {
  assertKey(parent, 'split(key, n): key');
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_SPLIT) {
    throw new FlaxenError('', `split(key, n) needs an integer n from 1 to ${MAX_SPLIT}, found ${describeValue(n)}; for more streams derive each key when it is needed with foldIn(key, i)`);
  }
  const out: Key[] = [];
  for (let i = 0; i < n; i++) out.push(derive([TAG_SPLIT, parent.hi, parent.lo, i]));
  return out;
}

/**
 * Derives a key from `parent` and a number or a string. Different data give different keys;
 * strings are hashed with their length, so folding `'ab'` then `'c'` differs from `'a'` then `'bc'`.
 *
 * @example
 * ```ts
 * const stepKey = fx.random.foldIn(fx.random.key(0), 17);
 * const layerKey = fx.random.foldIn(fx.random.key(0), 'layers_0');
 * ```
 */
export function foldIn(parent: Key, data: number | string): Key {
  assertKey(parent, 'foldIn(key, data): key');
  if (typeof data === 'number') {
    if (!Number.isSafeInteger(data)) throw new FlaxenError('', `foldIn(key, data) needs an integer or a string, found ${describeValue(data)}`);
    return derive([TAG_FOLD_NUMBER, parent.hi, parent.lo, data >>> 0, Math.floor(data / 0x100000000) >>> 0]);
  }
  if (typeof data !== 'string') throw new FlaxenError('', `foldIn(key, data) needs an integer or a string, found ${describeValue(data)}`);
  const words = [TAG_FOLD_STRING, parent.hi, parent.lo, data.length];
  for (let i = 0; i < data.length; i++) words.push(data.charCodeAt(i));
  return derive(words);
}
