/**
 * Attention: `MultiHeadDotProductAttention`, `SelfAttention`, the `DenseGeneral` projections they
 * use, `dotProductAttention` and `causalMask`, with Flax's parameter names and layouts.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, MissingRngError, ShapeError, describeValue, formatShape } from '../errors.js';
import { Module } from '../core/module.js';
import type { Initializer, Scope } from '../core/scope.js';
import { ShapeDtype, isAbstract } from '../core/shapes.js';
import { lecunNormal, zeros } from '../initializers/index.js';
import type { Key } from '../random/key.js';
import { bernoulli } from '../random/samplers.js';
import { Input, checkInput } from './layer-util.js';
import { checkFeatures, checkOptions, shapeOfLeaf } from './util.js';
import type { OptionKinds } from '../check-options.js';

/**
 * An initializer for a kernel with several input or output axes, drawn as Flax's
 * `DenseGeneral` does: on the flat matrix `[prod(inAxes), prod(outAxes)]` (so fans count whole
 * input and output sizes), then reshaped. @internal
 */
function flatInit(init: Initializer, inAxes: number): Initializer {
  return (key, shape, dtype) => {
    const fanIn = shape.slice(0, inAxes).reduce((a, b) => a * b, 1);
    const fanOut = shape.slice(inAxes).reduce((a, b) => a * b, 1);
    return tf.tidy(() => tf.reshape(init(key, [fanIn, fanOut], dtype), shape));
  };
}

interface ProjectionOptions {
  readonly features: readonly number[];
  readonly inAxes: 1 | 2;
  readonly useBias: boolean;
  readonly kernelInit: Initializer;
  readonly biasInit: Initializer;
}

/**
 * `DenseGeneral` as Flax's attention uses it: contracts the last `inAxes` axes of the input with
 * a kernel `[...inShape, ...features]` and adds a bias `[...features]`.
 */
function project(scope: Scope, x: Input, o: ProjectionOptions, layer: string): tf.Tensor {
  const shape = checkInput(x, layer, scope.path, o.inAxes + 1);
  const inShape = shape.slice(shape.length - o.inAxes);
  const kernel = scope.param('kernel', flatInit(o.kernelInit, o.inAxes), [...inShape, ...o.features]);
  const bias = o.useBias ? scope.param('bias', o.biasInit, [...o.features]) : undefined;
  const outShape = [...shape.slice(0, shape.length - o.inAxes), ...o.features];
  if (isAbstract(x)) return new ShapeDtype(outShape) as unknown as tf.Tensor;
  return tf.tidy(() => {
    const inSize = inShape.reduce((a, b) => a * b, 1);
    const outSize = o.features.reduce((a, b) => a * b, 1);
    let y = tf.matMul(tf.reshape(x, [-1, inSize]), tf.reshape(kernel, [inSize, outSize]));
    if (bias) y = tf.add(y, tf.reshape(bias, [outSize]));
    return tf.reshape(y, outShape);
  });
}

function projection(name: string, o: ProjectionOptions): Module {
  return new Module({
    type: 'DenseGeneral',
    name,
    abstractSafe: true,
    body: (scope, x: Input) => project(scope, x, o, 'DenseGeneral'),
    summarize: (variables) => {
      const kernel = shapeOfLeaf(variables, 'params', 'kernel');
      const inShape = kernel ? kernel.slice(0, o.inAxes) : new Array<number>(o.inAxes).fill(-1);
      return { header: `DenseGeneral(${formatShape(inShape)} -> ${formatShape(o.features)})` };
    },
  });
}

/**
 * A causal (lower-triangular) attention mask `[1, length, length]` (bool): query `i` may attend
 * to keys `0 … i`. It broadcasts against `[batch..., heads, length, length]`. Give the length,
 * or (as Flax's `make_causal_mask(x)`) the input whose last axis is the length: during shape
 * inference an abstract input gives an abstract mask, so a model body can call it freely.
 *
 * @example
 * ```ts
 * const mask = fx.nn.causalMask(4);            // bool [1, 4, 4]
 * const same = fx.nn.causalMask(tf.zeros([2, 4], 'int32'));
 * ```
 */
export function causalMask(lengthOrInput: number | tf.Tensor): tf.Tensor {
  let length: number;
  if (typeof lengthOrInput === 'number') length = checkFeatures(lengthOrInput, 'causalMask(length)');
  else if (lengthOrInput instanceof tf.Tensor || isAbstract(lengthOrInput)) {
    if (lengthOrInput.shape.length < 1) throw new ShapeError('', `causalMask(input) needs an input of rank 1 or more (its last axis is the length), found a scalar`);
    length = lengthOrInput.shape[lengthOrInput.shape.length - 1]!;
    if (isAbstract(lengthOrInput)) return new ShapeDtype([1, length, length], 'bool') as unknown as tf.Tensor;
  } else throw new FlaxenError('', `causalMask needs a length or a tensor, found ${describeValue(lengthOrInput)}`);
  const values = new Uint8Array(length * length);
  for (let i = 0; i < length; i++) for (let j = 0; j <= i; j++) values[i * length + j] = 1;
  return tf.tensor(values, [1, length, length], 'bool');
}

/** True when `a` broadcasts to `b` (numpy rules, right-aligned). */
function broadcastsTo(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  const offset = b.length - a.length;
  return a.every((d, i) => d === 1 || d === b[i + offset]);
}

/**
 * Dot-product attention over `[batch..., length, heads, headDim]` inputs, as Flax's
 * `nn.dot_product_attention`: `softmax(q·kᵀ / sqrt(headDim))·v` per head; `mask` (true or
 * non-zero = may attend), broadcastable to `[batch..., heads, qLength, kvLength]`, sets the
 * logits it excludes to a large negative number. Returns `[batch..., qLength, heads, headDim]`.
 *
 * @example
 * ```ts
 * const q = tf.ones([2, 5, 4, 8]);   // batch 2, length 5, 4 heads of 8
 * fx.nn.dotProductAttention(q, q, q).shape; // [2, 5, 4, 8]
 * ```
 */
export function dotProductAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  opts: { readonly mask?: tf.Tensor; readonly dropout?: { readonly rate: number; readonly key: Key } } = {},
): tf.Tensor {
  for (const [what, t] of [['query', query], ['key', key], ['value', value]] as const) {
    if (!(t instanceof tf.Tensor)) throw new FlaxenError('', `dotProductAttention: ${what} must be a tensor, found ${describeValue(t)}`);
    if (t.rank < 3) throw new ShapeError('', `dotProductAttention: ${what} must be [batch..., length, heads, headDim], found ${formatShape(t.shape)}`);
  }
  const kvOk = key.rank === query.rank && value.rank === query.rank && formatShape(key.shape) === formatShape(value.shape) &&
    key.shape.every((d, i) => i === query.rank - 3 || d === query.shape[i]);
  if (!kvOk) {
    throw new ShapeError('', `dotProductAttention: key and value must equal the query ${formatShape(query.shape)} except in length, found key ${formatShape(key.shape)} and value ${formatShape(value.shape)}`);
  }
  if (opts.mask !== undefined) {
    // Checked before any kernel runs: a mask that does not broadcast was a bare tfjs error.
    if (!(opts.mask instanceof tf.Tensor)) throw new FlaxenError('', `dotProductAttention: mask must be a tensor, found ${describeValue(opts.mask)}`);
    const target = [...query.shape.slice(0, query.rank - 3), query.shape[query.rank - 2]!, query.shape[query.rank - 3]!, key.shape[key.rank - 3]!];
    if (!broadcastsTo(opts.mask.shape, target)) {
      throw new ShapeError('', `dotProductAttention: the mask ${formatShape(opts.mask.shape)} must broadcast to [batch..., heads, qLength, kvLength] = ${formatShape(target)}`);
    }
  }
  return tf.tidy(() => {
    const rank = query.rank;
    const batch = query.shape.slice(0, rank - 3);
    const [lq, heads, depth] = query.shape.slice(rank - 3) as [number, number, number];
    const lk = key.shape[rank - 3]!;
    const b = batch.reduce((a, c) => a * c, 1);
    const toHeads = (t: tf.Tensor, l: number) => tf.transpose(tf.reshape(t, [b, l, heads, depth]), [0, 2, 1, 3]);
    const q = toHeads(tf.mul(query, 1 / Math.sqrt(depth)), lq);
    const k = toHeads(key, lk);
    const v = toHeads(value, lk);
    let logits = tf.reshape(tf.matMul(q, k, false, true), [...batch, heads, lq, lk]);
    if (opts.mask) {
      const allowed = opts.mask.dtype === 'bool' ? opts.mask : tf.notEqual(opts.mask, 0);
      logits = tf.where(allowed, logits, tf.fill(logits.shape, -1e10));
    }
    let weights = tf.softmax(logits);
    if (opts.dropout && opts.dropout.rate > 0) {
      // Broadcast dropout, as Flax's default: one mask for every batch entry and head.
      const keep = tf.cast(bernoulli(opts.dropout.key, 1 - opts.dropout.rate, [lq, lk]), 'float32');
      weights = tf.mul(weights, tf.mul(keep, 1 / (1 - opts.dropout.rate)));
    }
    const out = tf.matMul(tf.reshape(weights, [b, heads, lq, lk]), v); // [b, heads, lq, depth]
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [...batch, lq, heads, depth]);
  });
}

/**
 * Options of {@link MultiHeadDotProductAttention} and {@link SelfAttention}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.AttentionOptions = { numHeads: 8, qkvFeatures: 256, dropoutRate: 0.1 };
 * ```
 */
export interface AttentionOptions {
  /** The number of heads; must divide `qkvFeatures`. */
  readonly numHeads: number;
  /** The size of queries, keys and values over all heads (default: the query input's features). */
  readonly qkvFeatures?: number;
  /** The output size (default: the query input's features). */
  readonly outFeatures?: number;
  /** Dropout on the attention weights in training, from the `dropout` stream (default 0). */
  readonly dropoutRate?: number;
  /** Biases in the four projections (default true). */
  readonly useBias?: boolean;
  /** Kernel initializer of the projections (default `lecunNormal()`, on the flattened kernel as in Flax). */
  readonly kernelInit?: Initializer;
  /** Bias initializer (default `zeros`). */
  readonly biasInit?: Initializer;
  /** A fixed name inside a parent module. */
  readonly name?: string;
}

const ATTENTION_OPTIONS: OptionKinds<AttentionOptions> = {
  numHeads: 'any',
  qkvFeatures: 'any',
  outFeatures: 'any',
  dropoutRate: 'any',
  useBias: 'boolean',
  kernelInit: 'function',
  biasInit: 'function',
  name: 'string',
};

/**
 * The inputs of `MultiHeadDotProductAttention`: `(inputsQ)`, `(inputsQ, inputsKV)` or
 * `(inputsQ, inputsKV, mask)`.
 *
 * @example
 * ```ts
 * const inputs: fx.nn.AttentionInputs = [tf.ones([1, 4, 8]), tf.ones([1, 6, 8])];
 * ```
 */
export type AttentionInputs = [tf.Tensor] | [tf.Tensor, tf.Tensor | undefined] | [tf.Tensor, tf.Tensor | undefined, tf.Tensor | undefined];
/**
 * The inputs of `SelfAttention`: `(x)` or `(x, mask)`.
 *
 * @example
 * ```ts
 * const inputs: fx.nn.SelfAttentionInputs = [tf.ones([1, 4, 8]), fx.nn.causalMask(4)];
 * ```
 */
export type SelfAttentionInputs = [tf.Tensor] | [tf.Tensor, tf.Tensor | undefined];

/**
 * The variables of a `MultiHeadDotProductAttention` or `SelfAttention` layer.
 *
 * @example
 * ```ts
 * const vars: fx.nn.AttentionParams = fx.nn.SelfAttention({ numHeads: 2 }).init(fx.random.key(0), [1, 3, 8]);
 * vars.params.out.kernel.shape; // [2, 4, 8]
 * ```
 */
export type AttentionParams = {
  /** The trainable parameters: four projections. */
  params: {
    /** Query projection. */
    query: {
      /** `[inFeatures, numHeads, headDim]`. */
      kernel: tf.Tensor;
      /** `[numHeads, headDim]` (absent when `useBias` is false). */
      bias: tf.Tensor;
    };
    /** Key projection. */
    key: {
      /** `[kvFeatures, numHeads, headDim]`. */
      kernel: tf.Tensor;
      /** `[numHeads, headDim]` (absent when `useBias` is false). */
      bias: tf.Tensor;
    };
    /** Value projection. */
    value: {
      /** `[kvFeatures, numHeads, headDim]`. */
      kernel: tf.Tensor;
      /** `[numHeads, headDim]` (absent when `useBias` is false). */
      bias: tf.Tensor;
    };
    /** Output projection, merging the heads. */
    out: {
      /** `[numHeads, headDim, outFeatures]`. */
      kernel: tf.Tensor;
      /** `[outFeatures]` (absent when `useBias` is false). */
      bias: tf.Tensor;
    };
  };
};

function attentionModule(type: 'MultiHeadDotProductAttention' | 'SelfAttention', opts: AttentionOptions): Module<AttentionParams, any[], tf.Tensor> {
  if (opts === null || typeof opts !== 'object') throw new FlaxenError('', `${type} needs options { numHeads, ... }, found ${describeValue(opts)}`);
  checkOptions(opts, ATTENTION_OPTIONS, type);
  const numHeads = checkFeatures(opts.numHeads, `${type}: numHeads`);
  if (opts.qkvFeatures !== undefined) {
    checkFeatures(opts.qkvFeatures, `${type}: qkvFeatures`);
    if (opts.qkvFeatures % numHeads !== 0) throw new FlaxenError('', `${type}: numHeads ${numHeads} must divide qkvFeatures ${opts.qkvFeatures}`);
  }
  if (opts.outFeatures !== undefined) checkFeatures(opts.outFeatures, `${type}: outFeatures`);
  const { dropoutRate = 0, useBias = true, kernelInit = lecunNormal(), biasInit = zeros } = opts;
  if (typeof dropoutRate !== 'number' || !(dropoutRate >= 0 && dropoutRate < 1)) throw new FlaxenError('', `${type}: dropoutRate must be in [0, 1), found ${describeValue(dropoutRate)}`);

  const body = (scope: Scope, inputsQ: Input, inputsKV: Input | undefined, mask: Input | undefined): tf.Tensor => {
    const qShape = checkInput(inputsQ, type, scope.path, 2, 'a query input [batch..., length, features]');
    const kv = inputsKV ?? inputsQ;
    const kvShape = checkInput(kv, type, scope.path, 2, 'a key/value input [batch..., length, features]');
    if (kvShape.length !== qShape.length || kvShape.slice(0, -2).some((d, i) => d !== qShape[i])) {
      throw new ShapeError(scope.path, `${type}: the key/value input ${formatShape(kvShape)} must have the batch axes of the query input ${formatShape(qShape)}`);
    }
    const features = qShape[qShape.length - 1]!;
    const qkvFeatures = opts.qkvFeatures ?? features;
    const outFeatures = opts.outFeatures ?? features;
    if (qkvFeatures % numHeads !== 0) {
      throw new ShapeError(scope.path, `${type}: numHeads ${numHeads} must divide the query/key/value size ${qkvFeatures} (taken from the input's features, shape ${formatShape(qShape)}); give qkvFeatures`);
    }
    const headDim = qkvFeatures / numHeads;
    const lq = qShape[qShape.length - 2]!;
    const lk = kvShape[kvShape.length - 2]!;
    const batch = qShape.slice(0, -2);
    if (mask !== undefined) {
      if (!(mask instanceof tf.Tensor) && !isAbstract(mask)) throw new FlaxenError(scope.path, `${type}: mask must be a tensor, found ${describeValue(mask)}`);
      const target = [...batch, numHeads, lq, lk];
      if (!broadcastsTo(mask.shape, target)) {
        throw new ShapeError(scope.path, `${type}: the mask ${formatShape(mask.shape)} must broadcast to [batch..., heads, qLength, kvLength] = ${formatShape(target)}`);
      }
    }
    const proj = (name: string, features: readonly number[], inAxes: 1 | 2) => projection(name, { features, inAxes, useBias, kernelInit, biasInit });
    const query = scope.call(proj('query', [numHeads, headDim], 1), inputsQ);
    const key = scope.call(proj('key', [numHeads, headDim], 1), kv);
    const value = scope.call(proj('value', [numHeads, headDim], 1), kv);
    let attended: tf.Tensor;
    if (isAbstract(query)) {
      attended = new ShapeDtype([...batch, lq, numHeads, headDim]) as unknown as tf.Tensor;
    } else {
      let dropout: { rate: number; key: Key } | undefined;
      if (scope.train && dropoutRate > 0) {
        if (!scope.hasRng('dropout')) throw new MissingRngError(scope.path, `${type} with dropoutRate ${dropoutRate} in training mode needs the 'dropout' random stream: pass rngs: { dropout: fx.random.key(...) } to apply`);
        dropout = { rate: dropoutRate, key: scope.rng('dropout') };
      }
      attended = dotProductAttention(query, key, value, { mask: mask as tf.Tensor | undefined, dropout });
    }
    return scope.call(proj('out', [outFeatures], 2), attended);
  };

  return new Module({
    type,
    name: opts.name,
    abstractSafe: true,
    body: type === 'SelfAttention' ? (scope: Scope, x: Input, mask?: Input) => body(scope, x, undefined, mask) : body,
    summarize: (variables) => {
      const params = variables?.['params'] as Record<string, Record<string, { shape: number[] }>> | undefined;
      const qk = params?.['query']?.['kernel']?.shape;
      const ok = params?.['out']?.['kernel']?.shape;
      const inSize = qk ? qk[0] : -1;
      const qkv = qk ? qk[1]! * qk[2]! : (opts.qkvFeatures ?? -1);
      const out = ok ? ok[2] : (opts.outFeatures ?? -1);
      return { header: `${type}(${inSize} -> ${out}, heads ${numHeads}, qkv ${qkv})` };
    },
  });
}

/**
 * Multi-head dot-product attention, as Flax's `nn.MultiHeadDotProductAttention`. Apply it to
 * `(inputsQ, inputsKV?, mask?)`: queries from `inputsQ` `[batch..., qLength, features]`, keys
 * and values from `inputsKV` (default `inputsQ`). Parameters, each sized from its input:
 * `query`, `key`, `value` (DenseGeneral, kernel `[in, numHeads, headDim]`, bias
 * `[numHeads, headDim]`) and `out` (kernel `[numHeads, headDim, outFeatures]`, bias
 * `[outFeatures]`), with `headDim = qkvFeatures / numHeads`. The optional `mask` (bool, true =
 * may attend) broadcasts to `[batch..., numHeads, qLength, kvLength]`; see {@link causalMask},
 * and `makeCausalMask`, `makeAttentionMask` and `combineMasks` (Flax's mask helpers, `masks.ts`).
 * Masked logits are set to -1e10, not -Infinity, so a query that may attend to nothing gets
 * uniform weights and finite outputs and gradients.
 *
 * @example
 * ```ts
 * const mha = fx.nn.MultiHeadDotProductAttention({ numHeads: 4 });
 * const vars = mha.init(fx.random.key(0), [2, 10, 32], [2, 7, 16]);
 * vars.params.key.kernel.shape;                   // [16, 4, 8]
 * mha.apply(vars, tf.ones([2, 10, 32]), tf.ones([2, 7, 16])).shape; // [2, 10, 32]
 * ```
 */
export function MultiHeadDotProductAttention(opts: AttentionOptions): Module<AttentionParams, AttentionInputs, tf.Tensor> {
  return attentionModule('MultiHeadDotProductAttention', opts) as Module<AttentionParams, AttentionInputs, tf.Tensor>;
}

/**
 * Self-attention, as Flax's `nn.SelfAttention`: {@link MultiHeadDotProductAttention} with keys
 * and values from the same input. Apply it to `(x, mask?)`.
 *
 * @example
 * ```ts
 * const attn = fx.nn.SelfAttention({ numHeads: 2 });
 * const vars = attn.init(fx.random.key(0), [1, 6, 16]);
 * attn.apply(vars, tf.ones([1, 6, 16]), fx.nn.causalMask(6)).shape; // [1, 6, 16]
 * ```
 */
export function SelfAttention(opts: AttentionOptions): Module<AttentionParams, SelfAttentionInputs, tf.Tensor> {
  return attentionModule('SelfAttention', opts) as Module<AttentionParams, SelfAttentionInputs, tf.Tensor>;
}
