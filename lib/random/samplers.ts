/**
 * Samplers: numbers drawn in JavaScript from a key alone (seedrandom's Alea generator seeded
 * with the key's words), then handed to tfjs. The backend never draws, so wasm, cpu and the
 * browser give the same bits.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { FlaxenError, describeValue } from '../core/errors.js';
import { Key, assertKey } from './key.js';

/** A generator of uniform numbers in [0, 1) with 32 bits of randomness. */
export type UniformSource = () => number;

/**
 * The uniform generator of a key. Exposed for code that needs raw JS numbers (for example
 * data shuffling); each call restarts the same sequence.
 *
 * @example
 * ```ts
 * const next = fx.random.generator(fx.random.key(0));
 * next(); // a number in [0, 1), the same every run
 * ```
 */
export function generator(k: Key): UniformSource {
  assertKey(k, 'generator(key)');
  return seedrandom.alea(`flaxen:${k.hi}:${k.lo}`);
}

/** Checks a shape argument and returns its size. */
export function checkShape(shape: unknown, what: string): number {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FlaxenError('', `${what}: a shape must be an array of non-negative integers, found ${describeValue(shape)}`);
  }
  return (shape as number[]).reduce((a, b) => a * b, 1);
}

/**
 * Fills `out` with standard normal numbers (Marsaglia's polar method).
 * @internal
 */
export function fillNormal(next: UniformSource, out: Float32Array | Float64Array): void {
  const n = out.length;
  let i = 0;
  while (i < n) {
    let u: number, v: number, s: number;
    do {
      u = 2 * next() - 1;
      v = 2 * next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = u * m;
    if (i < n) out[i++] = v * m;
  }
}

/**
 * Standard normal samples as a JS array (no tensor): the building block of the initializers.
 * @internal
 */
export function normalArray(k: Key, size: number): Float32Array {
  const out = new Float32Array(size);
  fillNormal(generator(k), out);
  return out;
}

/**
 * Truncated standard normal samples in `[lower, upper]`, by rejection.
 * @internal
 */
export function truncatedNormalArray(k: Key, size: number, lower: number, upper: number): Float32Array {
  if (!(lower < upper)) throw new FlaxenError('', `truncatedNormal needs lower < upper, found ${lower} and ${upper}`);
  const next = generator(k);
  const out = new Float32Array(size);
  const pair = new Float64Array(2);
  let i = 0;
  let tries = 0;
  while (i < size) {
    fillNormal(next, pair);
    for (const z of pair) {
      if (z >= lower && z <= upper && i < size) out[i++] = z;
    }
    if (++tries > 1000 && i === 0) throw new FlaxenError('', `truncatedNormal: the interval [${lower}, ${upper}] is too far in the tails to sample by rejection`);
  }
  return out;
}

/**
 * Uniform samples in `[minval, maxval)` as a JS array.
 * @internal
 */
export function uniformArray(k: Key, size: number, minval: number, maxval: number): Float32Array {
  const next = generator(k);
  const out = new Float32Array(size);
  const width = maxval - minval;
  for (let i = 0; i < size; i++) out[i] = minval + width * next();
  return out;
}

/**
 * A tensor of standard normal samples.
 *
 * @example
 * ```ts
 * const x = fx.random.normal(fx.random.key(0), [3, 4]);
 * ```
 */
export function normal(k: Key, shape: number[], dtype: 'float32' = 'float32'): tf.Tensor {
  assertKey(k, 'normal(key, shape)');
  const size = checkShape(shape, 'normal(key, shape)');
  return tf.tensor(normalArray(k, size), shape, dtype);
}

/**
 * A tensor of uniform samples in `[minval, maxval)` (default `[0, 1)`).
 *
 * @example
 * ```ts
 * const u = fx.random.uniform(fx.random.key(0), [5], { minval: -1, maxval: 1 });
 * ```
 */
export function uniform(k: Key, shape: number[], opts: { minval?: number; maxval?: number } = {}): tf.Tensor {
  assertKey(k, 'uniform(key, shape)');
  const size = checkShape(shape, 'uniform(key, shape)');
  const { minval = 0, maxval = 1 } = opts;
  if (!(Number.isFinite(minval) && Number.isFinite(maxval) && minval < maxval)) {
    throw new FlaxenError('', `uniform needs finite minval < maxval, found ${minval} and ${maxval}`);
  }
  return tf.tensor(uniformArray(k, size, minval, maxval), shape, 'float32');
}

/**
 * A tensor of standard normal samples truncated to `[lower, upper]` (default `[-2, 2]`).
 *
 * @example
 * ```ts
 * const t = fx.random.truncatedNormal(fx.random.key(0), [100], -2, 2);
 * ```
 */
export function truncatedNormal(k: Key, shape: number[], lower = -2, upper = 2): tf.Tensor {
  assertKey(k, 'truncatedNormal(key, shape)');
  const size = checkShape(shape, 'truncatedNormal(key, shape)');
  return tf.tensor(truncatedNormalArray(k, size, lower, upper), shape, 'float32');
}

/**
 * A boolean tensor whose entries are `true` with probability `p`.
 *
 * @example
 * ```ts
 * const mask = fx.random.bernoulli(fx.random.key(0), 0.9, [4, 4]);
 * ```
 */
export function bernoulli(k: Key, p: number, shape: number[]): tf.Tensor {
  assertKey(k, 'bernoulli(key, p, shape)');
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new FlaxenError('', `bernoulli needs a probability p in [0, 1], found ${describeValue(p)}`);
  const size = checkShape(shape, 'bernoulli(key, p, shape)');
  const next = generator(k);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = next() < p ? 1 : 0;
  return tf.tensor(out, shape, 'bool');
}

/**
 * The numbers `0 … n-1` as a JS array in an order given by the key (Fisher–Yates).
 * @internal
 */
export function permutationArray(k: Key, n: number): Int32Array {
  const next = generator(k);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/**
 * A random permutation of `0 … n-1` as an int32 tensor.
 *
 * @example
 * ```ts
 * const order = fx.random.permutation(fx.random.key(0), 10);
 * ```
 */
export function permutation(k: Key, n: number): tf.Tensor1D {
  assertKey(k, 'permutation(key, n)');
  if (!Number.isSafeInteger(n) || n < 0) throw new FlaxenError('', `permutation(key, n) needs a non-negative integer n, found ${describeValue(n)}`);
  return tf.tensor1d(permutationArray(k, n), 'int32');
}

