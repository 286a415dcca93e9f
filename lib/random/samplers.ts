/**
 * Samplers: numbers drawn in JavaScript from a key alone, then handed to tfjs. Uniforms come
 * from seedrandom's Alea generator seeded with the key's words; normals from a ziggurat on a
 * xorshift128 stream seeded by Alea (about 10× faster than `tf.randomNormal`). The backend never
 * draws, so wasm, cpu and the browser give the same bits.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { Key, assertKey } from './key.js';
import { wasmHeap } from '../ops/wasm-heap.js';
import { checkFits } from '../backend-state.js';

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

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
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  // Before any JS array is made: drawing billions of numbers would run for minutes.
  checkFits(size * 4, `${what}: a tensor of shape ${formatShape(shape as number[])}`);
  return size;
}

// ---------------------------------------------------------------------------------------------
// Normal numbers: a ziggurat (Marsaglia & Tsang 2000, 128 layers) on an inlined xorshift128
// (Marsaglia 2003; the same recurrence as seedrandom's `xor128`) whose state is seeded from the
// key's Alea generator. Only 32-bit integer arithmetic, products of doubles and Math.exp/log (tail
// and wedge cases, ~1.2% of draws), so the bits depend on the key alone: the backend never draws.
// Each sample takes one 32-bit word in the common case: its low 7 bits pick the layer, the high
// 25 bits (signed) give the abscissa, so index and value never share bits.

const ZIG_R = 3.442619855899; // where the tail starts
const ZIG_V = 9.91256303526217e-3; // the area of each layer
const ZIG_SCALE = 16777216; // 2^24: the signed 25-bit abscissa spans [-2^24, 2^24)
/** Accept thresholds on |abscissa| per layer (in units of 2^-24 of the layer's width). */
const ZIG_K = new Float64Array(128);
/** Layer widths divided by 2^24. */
const ZIG_W = new Float64Array(128);
/** The density exp(-x²/2) at each layer's edge. */
const ZIG_F = new Float64Array(128);
{
  let dn = ZIG_R;
  let tn = dn;
  const q = ZIG_V / Math.exp(-0.5 * dn * dn);
  ZIG_K[0] = (dn / q) * ZIG_SCALE;
  ZIG_K[1] = 0;
  ZIG_W[0] = q / ZIG_SCALE;
  ZIG_W[127] = dn / ZIG_SCALE;
  ZIG_F[0] = 1;
  ZIG_F[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(ZIG_V / dn + Math.exp(-0.5 * dn * dn)));
    ZIG_K[i + 1] = (dn / tn) * ZIG_SCALE;
    tn = dn;
    ZIG_F[i] = Math.exp(-0.5 * dn * dn);
    ZIG_W[i] = dn / ZIG_SCALE;
  }
}

/**
 * A stream of standard normal numbers for one key: successive `fill` calls continue the same
 * sequence, so the numbers do not depend on how a caller cuts its requests into chunks.
 * @internal
 */
export class NormalStream {
  // xorshift128 state x, y, z, w. An Int32Array rather than four fields: V8 keeps fields that
  // leave the 31-bit small-integer range as boxed doubles and deoptimizes the loop on them.
  private readonly s = new Int32Array(4);

  constructor(k: Key) {
    // Seed the state from the key's Alea stream (a good hash of the key), domain-separated from
    // `generator(key)` so the normals are not the uniforms of the same key transformed.
    const seed = seedrandom.alea(`flaxen:normal:${k.hi}:${k.lo}`);
    for (let i = 0; i < 4; i++) this.s[i] = seed.int32();
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[3] = 1; // the one state xorshift cannot leave
  }

  /** Fills `out[from..to)` with the next standard normal numbers of the stream. */
  fill(out: Float32Array | Float64Array, from = 0, to = out.length): void {
    const s = this.s;
    let x = s[0]!, y = s[1]!, z = s[2]!, w = s[3]!;
    const K = ZIG_K, W = ZIG_W;
    for (let i = from; i < to; i++) {
      // xorshift128 step, inlined.
      const t = x ^ (x << 11);
      x = y; y = z; z = w;
      w = w ^ (w >>> 19) ^ t ^ (t >>> 8);
      const layer = w & 127;
      const v = w >> 7;
      if (Math.abs(v) < K[layer]!) {
        out[i] = v * W[layer]!;
      } else {
        // ~1.2% of draws: out of line, so the common path keeps the state in registers.
        s[0] = x; s[1] = y; s[2] = z; s[3] = w;
        out[i] = this.rare(v, layer);
        x = s[0]!; y = s[1]!; z = s[2]!; w = s[3]!;
      }
    }
    s[0] = x; s[1] = y; s[2] = z; s[3] = w;
  }

  private nextWord(): number {
    const s = this.s;
    const x = s[0]!;
    const t = x ^ (x << 11);
    const w = s[3]!;
    s[0] = s[1]!; s[1] = s[2]!; s[2] = w;
    return (s[3] = w ^ (w >>> 19) ^ t ^ (t >>> 8));
  }

  /** A uniform in (0, 1), never 0 (it goes into a logarithm). */
  private nextOpenUniform(): number {
    return ((this.nextWord() >>> 0) + 0.5) / 4294967296;
  }

  /** The rare cases: the base strip's tail, or the wedge between a layer's rectangle and the curve. */
  private rare(v: number, layer: number): number {
    for (;;) {
      const xv = v * ZIG_W[layer]!;
      if (layer === 0) {
        // Marsaglia's tail method: x = -ln(u1)/R until -2 ln(u2) > x².
        let tx: number, ty: number;
        do {
          tx = -Math.log(this.nextOpenUniform()) / ZIG_R;
          ty = -Math.log(this.nextOpenUniform());
        } while (ty + ty < tx * tx);
        return v > 0 ? ZIG_R + tx : -ZIG_R - tx;
      }
      if (ZIG_F[layer]! + this.nextOpenUniform() * (ZIG_F[layer - 1]! - ZIG_F[layer]!) < Math.exp(-0.5 * xv * xv)) return xv;
      const w = this.nextWord();
      layer = w & 127;
      v = w >> 7;
      if (Math.abs(v) < ZIG_K[layer]!) return v * ZIG_W[layer]!;
    }
  }
}

/**
 * Standard normal samples as a JS array (no tensor): the building block of the initializers.
 * @internal
 */
export function normalArray(k: Key, size: number): Float32Array {
  const out = new Float32Array(size);
  new NormalStream(k).fill(out);
  return out;
}

/** Fills `out` with normals times `scale` (a second pass, so the bits are `float32(float32(z) · scale)`). */
function fillScaledNormal(k: Key, out: Float32Array, scale: number): void {
  new NormalStream(k).fill(out);
  if (scale !== 1) for (let i = 0; i < out.length; i++) out[i]! *= scale;
}

/**
 * Fills `out` with the key's normals that fall in `[lower, upper]`, in stream order, times
 * `scale`: draws straight into `out`, compacts in place, and tops up until full.
 */
function fillTruncatedNormal(k: Key, out: Float32Array, lower: number, upper: number, scale: number): void {
  if (!(lower < upper)) throw new FlaxenError('', `truncatedNormal needs lower < upper, found ${lower} and ${upper}`);
  const stream = new NormalStream(k);
  const size = out.length;
  let filled = 0;
  let drawn = 0;
  while (filled < size) {
    const start = filled;
    stream.fill(out, start, size);
    drawn += size - start;
    for (let i = start; i < size; i++) {
      const z = out[i]!;
      if (z >= lower && z <= upper) out[filled++] = z;
    }
    // Rejection needs about (size - filled) / rate more draws. An interval that accepts fewer
    // than 1 in 10,000 draws (far in the tails, or as narrow as [-1e-173, 1e-276], where only an
    // exact 0 is accepted) would run for minutes: refuse it instead of hanging.
    if ((filled === 0 && drawn > 100000) || (drawn >= 1000000 && filled < drawn * 1e-4)) {
      throw new FlaxenError('', `truncatedNormal: the interval [${lower}, ${upper}] is too far in the tails (or too narrow) to sample by rejection: ${filled} of ${drawn} draws fell inside, fewer than 1 in 10,000`);
    }
  }
  if (scale !== 1) for (let i = 0; i < size; i++) out[i]! *= scale;
}

/**
 * Truncated standard normal samples in `[lower, upper]`: the key's normal stream with the
 * values outside the interval skipped (so asking for more samples extends the array).
 * @internal
 */
export function truncatedNormalArray(k: Key, size: number, lower: number, upper: number): Float32Array {
  const out = new Float32Array(size);
  fillTruncatedNormal(k, out, lower, upper, 1);
  return out;
}

/**
 * A new float32 tensor of `shape` whose values `fill` writes. On wasm the values are written
 * straight into the tensor's memory in the wasm heap: a fresh JS array of hundreds of MB costs
 * more in first-touch page faults than drawing its numbers, and `tf.tensor` would copy it once
 * more. Elsewhere (cpu), a JS array handed to `tf.tensor`. Same values either way.
 * @internal
 */
export function tensorFilledBy(shape: number[], fill: (out: Float32Array) => void): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  // Before any memory is taken: a JS array of billions of numbers would be filled for minutes.
  checkFits(size * 4, `a float32 tensor of shape ${formatShape(shape)}`);
  const heap = size > 0 ? wasmHeap() : undefined;
  if (heap) {
    const tensor = heap.alloc(shape);
    try {
      // The heap view is taken after the allocation (growing the heap replaces its buffer), and
      // nothing allocates in the wasm heap while `fill` runs.
      fill(new Float32Array(heap.memory.buffer, heap.offsetOf(tensor)!, size));
    } catch (error) {
      tensor.dispose();
      throw error;
    }
    return tensor;
  }
  const values = new Float32Array(size);
  fill(values);
  return tf.tensor(values, shape, 'float32');
}

/**
 * A tensor of standard normals times `scale` (default 1), drawn straight into the backend's
 * memory: the bits of `normalArray(k, size)` scaled in float32. For initializers.
 * @internal
 */
export function normalTensor(k: Key, shape: number[], scale = 1): tf.Tensor {
  return tensorFilledBy(shape, (out) => fillScaledNormal(k, out, scale));
}

/**
 * A tensor of truncated standard normals in `[lower, upper]` times `scale`, drawn straight into
 * the backend's memory: the bits of `truncatedNormalArray(k, size, lower, upper)` scaled in float32.
 * For initializers.
 * @internal
 */
export function truncatedNormalTensor(k: Key, shape: number[], lower: number, upper: number, scale = 1): tf.Tensor {
  if (!(lower < upper)) throw new FlaxenError('', `truncatedNormal needs lower < upper, found ${lower} and ${upper}`);
  return tensorFilledBy(shape, (out) => fillTruncatedNormal(k, out, lower, upper, scale));
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
  checkShape(shape, 'normal(key, shape)');
  if (dtype !== 'float32') throw new FlaxenError('', `normal(key, shape, dtype) draws float32 values, not ${describeValue(dtype)}`);
  return normalTensor(k, shape);
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
  // The samples are float32: a bound beyond its range (±1e308) would give ±Infinity samples.
  const inRange = (v: unknown) => typeof v === 'number' && Math.abs(v) <= FLOAT32_MAX;
  if (!(inRange(minval) && inRange(maxval) && minval < maxval)) {
    throw new FlaxenError('', `uniform draws float32 samples: it needs minval < maxval, both within ±${FLOAT32_MAX}, found ${describeValue(minval)} and ${describeValue(maxval)}`);
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
  checkShape(shape, 'truncatedNormal(key, shape)');
  return truncatedNormalTensor(k, shape, lower, upper);
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
  checkShape([n], 'permutation(key, n)');
  return tf.tensor1d(permutationArray(k, n), 'int32');
}

