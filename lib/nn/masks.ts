/**
 * Attention masks as Flax linen makes them: `makeAttentionMask` (a pairwise comparison of a
 * query-side and a key-side input), `makeCausalMask` (query `i` sees keys `0 … i`) and
 * `combineMasks` (logical and). A mask is `[batch..., 1, qLength, kvLength]`: the `1` is the
 * heads axis, so it broadcasts against the attention logits `[batch..., heads, qLength, kvLength]`.
 * Non-zero (or true) means "may attend". Each function also takes abstract inputs
 * (`fx.ShapeDtype`, as a model body sees them during shape inference) and then returns an
 * abstract mask, so a body can make its masks freely.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../errors.js';
import { ShapeDtype, isAbstract } from '../core/shapes.js';

/**
 * The dtype of a mask: Flax's default is `float32` (1 = may attend, 0 = masked).
 *
 * @example
 * ```ts
 * const dtype: fx.nn.MaskDtype = 'bool';
 * ```
 */
export type MaskDtype = 'float32' | 'int32' | 'bool';

/**
 * A pairwise comparison for {@link makeAttentionMask}: given the query side `[batch..., qLength, 1]`
 * and the key side `[batch..., 1, kvLength]`, returns their broadcast `[batch..., qLength, kvLength]`
 * (any dtype; non-zero = may attend), e.g. `tf.equal` for segment ids or `tf.greaterEqual` for
 * positions.
 *
 * @example
 * ```ts
 * const sameSegment: fx.nn.PairwiseFn = (q, k) => tf.equal(q, k);
 * ```
 */
export type PairwiseFn = (query: tf.Tensor, key: tf.Tensor) => tf.Tensor;

/**
 * Options of {@link makeCausalMask} and {@link combineMasks}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.MaskOptions = { extraBatchDims: 1, dtype: 'bool' };
 * ```
 */
export interface MaskOptions {
  /** Leading axes of size 1 to add, for extra batch axes (default 0). */
  readonly extraBatchDims?: number;
  /** The dtype of the mask (default `float32`, as Flax). */
  readonly dtype?: MaskDtype;
}

/**
 * Options of {@link makeAttentionMask}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.AttentionMaskOptions = { pairwiseFn: tf.equal, dtype: 'bool' };
 * ```
 */
export interface AttentionMaskOptions extends MaskOptions {
  /** The comparison (default: multiplication, Flax's `jnp.multiply`, so both sides must be non-zero). */
  readonly pairwiseFn?: PairwiseFn;
}

type MaskInput = tf.Tensor | ShapeDtype;

const DTYPES: readonly string[] = ['float32', 'int32', 'bool'];

/** Checks that `x` is a live tensor or a ShapeDtype of rank at least `minRank`; returns its shape. */
function checkMaskInput(x: unknown, what: string, minRank: number, expected: string): readonly number[] {
  if (!(x instanceof tf.Tensor) && !isAbstract(x)) throw new FlaxenError('', `${what} must be a tensor, found ${describeValue(x)}`);
  if (x instanceof tf.Tensor && x.isDisposed) throw new FlaxenError('', `${what} must be a live tensor, found a disposed tensor of shape ${formatShape(x.shape)}`);
  if (x.shape.length < minRank) throw new ShapeError('', `${what} must be ${expected} (rank ${minRank} or more), found shape ${formatShape(x.shape)}`);
  return x.shape;
}

function checkOptionsRecord(opts: unknown, known: readonly string[], fn: string): Record<string, unknown> {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new FlaxenError('', `${fn}: options must be an object, found ${describeValue(opts)}`);
  for (const name of Object.keys(opts)) {
    if (!known.includes(name)) throw new FlaxenError('', `${fn}: unknown option '${name}' (known: ${known.join(', ')})`);
  }
  const record = opts as Record<string, unknown>;
  const { extraBatchDims, dtype } = record;
  if (extraBatchDims !== undefined && (typeof extraBatchDims !== 'number' || !Number.isSafeInteger(extraBatchDims) || extraBatchDims < 0)) {
    throw new FlaxenError('', `${fn}: extraBatchDims must be an integer >= 0, found ${describeValue(extraBatchDims)}`);
  }
  if (dtype !== undefined && !DTYPES.includes(dtype as string)) throw new FlaxenError('', `${fn}: dtype must be one of ${DTYPES.join(', ')}, found ${describeValue(dtype)}`);
  return record;
}

/** The numpy broadcast of two shapes (right-aligned), or undefined when they do not broadcast. */
function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * A mask from a pairwise comparison of a query-side and a key-side input, as Flax's
 * `make_attention_mask`: `[batch..., qLength]` and `[batch..., kvLength]` give
 * `[batch..., 1, qLength, kvLength]` with entry `[..., 0, i, j] = pairwiseFn(query[..., i], key[..., j])`
 * (default: their product, so a padding mask from `tf.greater(tokens, 0)` on both sides hides
 * every pair with a padding token). The batch axes of the two inputs broadcast; `extraBatchDims`
 * prepends axes of size 1; the result has `dtype` (default `float32`).
 *
 * @example
 * ```ts
 * const tokens = tf.tensor2d([[5, 7, 0]], [1, 3], 'int32'); // the last token is padding
 * const valid = tf.greater(tokens, 0);
 * const mask = fx.nn.makeAttentionMask(valid, valid);        // [1, 1, 3, 3]
 * Array.from(mask.dataSync());                               // [1, 1, 0, 1, 1, 0, 0, 0, 0]
 * ```
 */
export function makeAttentionMask(queryInput: tf.Tensor, keyInput: tf.Tensor, opts: AttentionMaskOptions = {}): tf.Tensor {
  const o = checkOptionsRecord(opts, ['pairwiseFn', 'extraBatchDims', 'dtype'], 'makeAttentionMask') as AttentionMaskOptions;
  if (o.pairwiseFn !== undefined && typeof o.pairwiseFn !== 'function') {
    throw new FlaxenError('', `makeAttentionMask: pairwiseFn must be a function (query, key) => tensor, found ${describeValue(o.pairwiseFn)}`);
  }
  const qShape = checkMaskInput(queryInput, 'makeAttentionMask: queryInput', 1, '[batch..., qLength]');
  const kShape = checkMaskInput(keyInput, 'makeAttentionMask: keyInput', 1, '[batch..., kvLength]');
  const batch = broadcastShapes(qShape.slice(0, -1), kShape.slice(0, -1));
  if (!batch) {
    throw new ShapeError('', `makeAttentionMask: the batch axes of queryInput ${formatShape(qShape)} and keyInput ${formatShape(kShape)} must broadcast (all but the last axis)`);
  }
  const lq = qShape[qShape.length - 1]!;
  const lk = kShape[kShape.length - 1]!;
  const dtype = o.dtype ?? 'float32';
  const shape = [...new Array<number>(o.extraBatchDims ?? 0).fill(1), ...batch, 1, lq, lk];
  if (isAbstract(queryInput) || isAbstract(keyInput)) return new ShapeDtype(shape, dtype) as unknown as tf.Tensor;
  const pairwise = o.pairwiseFn ?? ((q: tf.Tensor, k: tf.Tensor) => tf.mul(tf.cast(q, 'float32'), tf.cast(k, 'float32')));
  return tf.tidy(() => {
    const q = tf.expandDims(queryInput, -1);
    const k = tf.expandDims(keyInput, -2);
    const pairs: unknown = pairwise(q, k);
    const expected = [...batch, lq, lk];
    if (!(pairs instanceof tf.Tensor) || formatShape(pairs.shape) !== formatShape(expected)) {
      throw new ShapeError('', `makeAttentionMask: pairwiseFn must return the broadcast of its inputs ${formatShape(q.shape)} and ${formatShape(k.shape)}, a tensor ${formatShape(expected)}, found ${describeValue(pairs)}`);
    }
    const allowed = pairs.dtype === 'bool' ? pairs : tf.notEqual(pairs, 0);
    // Flax's astype(dtype) keeps the comparison's values; masks are 0/1, so cast the truth.
    return tf.reshape(tf.cast(allowed, dtype), shape);
  });
}

/**
 * A causal mask for self-attention, as Flax's `make_causal_mask`: for `x` `[batch..., length]`
 * (token ids, say: only the shape is used) it is `[batch..., 1, length, length]`, 1 where the
 * query position `i` may see the key position `j`, i.e. `j <= i`. `extraBatchDims` prepends axes
 * of size 1; the result has `dtype` (default `float32`). (`causalMask(length)` gives the
 * `[1, length, length]` bool form that broadcasts over any batch.)
 *
 * @example
 * ```ts
 * const mask = fx.nn.makeCausalMask(tf.zeros([2, 3], 'int32')); // [2, 1, 3, 3]
 * Array.from(mask.dataSync()).slice(0, 9);                      // [1, 0, 0, 1, 1, 0, 1, 1, 1]
 * ```
 */
export function makeCausalMask(x: tf.Tensor, opts: MaskOptions = {}): tf.Tensor {
  const o = checkOptionsRecord(opts, ['extraBatchDims', 'dtype'], 'makeCausalMask') as MaskOptions;
  const shape = checkMaskInput(x, 'makeCausalMask: x', 1, '[batch..., length]');
  const length = shape[shape.length - 1]!;
  const batch = shape.slice(0, -1);
  const dtype = o.dtype ?? 'float32';
  const outShape = [...new Array<number>(o.extraBatchDims ?? 0).fill(1), ...batch, 1, length, length];
  if (isAbstract(x)) return new ShapeDtype(outShape, dtype) as unknown as tf.Tensor;
  const lower = new Int32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = 0; j <= i; j++) lower[i * length + j] = 1;
  return tf.tidy(() => tf.broadcastTo(tf.cast(tf.tensor(lower, [length, length], 'int32'), dtype), outShape));
}

/**
 * Combines masks by logical and, as Flax's `combine_masks`: `undefined` and `null` entries are
 * skipped (none left gives `undefined`), the others must have one rank and broadcast together.
 * The result has their broadcast shape and `dtype` (default `float32`), 1 where every mask allows.
 *
 * @example
 * ```ts
 * const tokens = tf.tensor2d([[5, 7, 0]], [1, 3], 'int32');
 * const causal = fx.nn.makeCausalMask(tokens);
 * const padding = fx.nn.makeAttentionMask(tf.greater(tokens, 0), tf.greater(tokens, 0));
 * const mask = fx.nn.combineMasks([causal, padding, undefined])!; // [1, 1, 3, 3]
 * Array.from(mask.dataSync());                                    // [1, 0, 0, 1, 1, 0, 0, 0, 0]
 * ```
 */
export function combineMasks(masks: ReadonlyArray<tf.Tensor | null | undefined>, opts: Pick<MaskOptions, 'dtype'> = {}): tf.Tensor | undefined {
  const o = checkOptionsRecord(opts, ['dtype'], 'combineMasks') as MaskOptions;
  if (!Array.isArray(masks)) throw new FlaxenError('', `combineMasks needs an array of masks (undefined entries are skipped), found ${describeValue(masks)}`);
  const present: Array<{ index: number; mask: MaskInput }> = [];
  masks.forEach((m, index) => {
    if (m === undefined || m === null) return;
    checkMaskInput(m, `combineMasks: masks[${index}]`, 0, 'a mask');
    present.push({ index, mask: m });
  });
  if (present.length === 0) return undefined;
  const first = present[0]!;
  let shape: number[] = [...first.mask.shape];
  for (const { index, mask } of present.slice(1)) {
    if (mask.shape.length !== first.mask.shape.length) {
      throw new ShapeError('', `combineMasks: masks must have one rank, found masks[${first.index}] ${formatShape(first.mask.shape)} (rank ${first.mask.shape.length}) and masks[${index}] ${formatShape(mask.shape)} (rank ${mask.shape.length})`);
    }
    const next = broadcastShapes(shape, mask.shape);
    if (!next) throw new ShapeError('', `combineMasks: masks[${index}] ${formatShape(mask.shape)} does not broadcast with the masks before it, ${formatShape(shape)}`);
    shape = next;
  }
  const dtype = o.dtype ?? 'float32';
  if (present.some(({ mask }) => isAbstract(mask))) return new ShapeDtype(shape, dtype) as unknown as tf.Tensor;
  return tf.tidy(() => {
    const truth = (m: tf.Tensor) => (m.dtype === 'bool' ? m : tf.notEqual(m, 0));
    let combined = truth(first.mask as tf.Tensor);
    for (const { mask } of present.slice(1)) combined = tf.logicalAnd(combined, truth(mask as tf.Tensor));
    // A single mask still gets a new tensor (the caller owns every result).
    return tf.cast(tf.broadcastTo(combined, shape), dtype);
  });
}
