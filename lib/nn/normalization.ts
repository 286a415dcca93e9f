/**
 * Normalization layers: `BatchNorm` (with the `batch_stats` collection), `LayerNorm`,
 * `RMSNorm`, `GroupNorm`, with Flax's parameter names, defaults and statistics (biased variance).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ImmutableCollectionError, ShapeError, describeValue, formatShape } from '../errors.js';
import { Module, Variables } from '../core/module.js';
import type { Initializer, Scope } from '../core/scope.js';
import { ShapeDtype, isAbstract } from '../core/shapes.js';
import { ones, zeros } from '../initializers/index.js';
import { Input, abstractOr, checkInput, normAxis } from './layer-util.js';
import { checkFeatures, checkOptions, shapeOfLeaf } from './util.js';
import { overflowScale } from '../ops/power-of-two.js';
import type { OptionKinds } from '../check-options.js';

function checkEpsilon(epsilon: unknown, layer: string): number {
  if (typeof epsilon !== 'number' || !(epsilon >= 0) || !Number.isFinite(epsilon)) throw new FlaxenError('', `${layer}: epsilon must be a non-negative number, found ${describeValue(epsilon)}`);
  return epsilon;
}


/** Declares `scale` and `bias` of `shape` as the options ask. */
function scaleAndBias(scope: Scope, shape: number[], o: { useScale: boolean; useBias: boolean; scaleInit: Initializer; biasInit: Initializer }) {
  return {
    scale: o.useScale ? scope.param('scale', o.scaleInit, shape) : undefined,
    bias: o.useBias ? scope.param('bias', o.biasInit, shape) : undefined,
  };
}

/** `(x - mean) * rsqrt(var + eps) * scale + bias`, with every statistic already broadcastable. */
function normalize(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number, scale?: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
  if (scale) y = tf.mul(y, scale);
  if (bias) y = tf.add(y, bias);
  return y;
}

/**
 * The statistics of `x` over `axes` (kept as axes of size 1) computed on `z = x / s`, with `s` a
 * power of two from `overflowScale` per group, so that no square (and no sum) overflows: rows of
 * ±1e20 have squares of 1e40, past float32. `s` is 1 for groups within ±2^32, where every
 * step below is exact and the plain formula's bits come out. Scaled groups are first shifted by
 * their first element: a float32 mean of equal values is not always exact (six copies of 3e37),
 * and its rounding, divided by the group's (zero) deviation, made a constant group of huge
 * values ±1 instead of 0. Unscaled groups are not shifted (the shift is multiplied by 0).
 * `eps / s²` (formed as `(eps / s) / s`) underflows for large `s` (to 0 for the default eps and
 * s >= 2^64); it is kept at least `min(eps, 2^-64)`, so that a constant group of 1e20 gives 0
 * rather than 0 · ∞ = NaN, and a finite gradient (that floor is far below the variance of any
 * group whose values differ, so it changes nothing else).
 */
function scaledMoments(x: tf.Tensor, axes: number | number[], epsilon: number) {
  const s = overflowScale(tf.max(tf.abs(x), axes, true));
  const z = tf.div(x, s);
  const scaledEpsilon = tf.maximum(tf.div(tf.div(epsilon, s), s), Math.min(epsilon, 2 ** -64));
  const rank = x.rank;
  const reduced = (Array.isArray(axes) ? axes : [axes]).map((a) => (a < 0 ? a + rank : a));
  const first = tf.slice(z, new Array(rank).fill(0), x.shape.map((d, i) => (reduced.includes(i) ? 1 : d)));
  const shifted = tf.sub(z, tf.mul(first, tf.step(tf.sub(s, 1.5))));
  // tf.moments, then shifted − mean again, as the plain formula had it: the same graph, so the
  // same gradients, bit for bit.
  const { mean, variance } = tf.moments(shifted, axes, true);
  return { s, first, shifted, mean, variance, scaledEpsilon };
}

/**
 * `(x − mean) / sqrt(var + eps)` over `axes` (without centering: `x / sqrt(mean(x²) + eps)`),
 * computed on `x / s` as {@link scaledMoments} says: rows of ±1e20 normalize to ±1 instead of 0.
 * As `s` is a power of two, `z / sqrt(var(z) + eps / s²)` is `x / sqrt(var(x) + eps)` rounded
 * the same way, and rows within ±2^32 (s = 1) give the plain formula's bits.
 */
function standardize(x: tf.Tensor, axes: number | number[], epsilon: number, center: boolean): tf.Tensor {
  if (!center) {
    const s = overflowScale(tf.max(tf.abs(x), axes, true));
    const z = tf.div(x, s);
    const scaledEpsilon = tf.maximum(tf.div(tf.div(epsilon, s), s), Math.min(epsilon, 2 ** -64));
    return tf.mul(z, tf.rsqrt(tf.add(tf.mean(tf.square(z), axes, true), scaledEpsilon)));
  }
  const { shifted, mean, variance, scaledEpsilon } = scaledMoments(x, axes, epsilon);
  return tf.mul(tf.sub(shifted, mean), tf.rsqrt(tf.add(variance, scaledEpsilon)));
}

const featureText = (variables: Variables | undefined, name = 'scale', collection = 'params'): string => {
  const shape = shapeOfLeaf(variables, collection, name);
  return shape ? (shape.length === 1 ? String(shape[0]) : formatShape(shape)) : '-1';
};

/**
 * Options of {@link BatchNorm}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.BatchNormOptions = { momentum: 0.9, epsilon: 1e-3 };
 * ```
 */
export interface BatchNormOptions {
  /** Weight of the old running average: `ra = momentum * ra + (1 - momentum) * batch` (default 0.99). */
  readonly momentum?: number;
  /** Added to the variance (default 1e-5). */
  readonly epsilon?: number;
  /** The feature axis or axes, which keep their own statistics (default -1: channels last). */
  readonly axis?: number | readonly number[];
  /** Learn a scale (default true; `scale` starts at ones). */
  readonly useScale?: boolean;
  /** Learn a bias (default true; `bias` starts at zeros). */
  readonly useBias?: boolean;
  /** Initializer of `scale` (default `ones`). */
  readonly scaleInit?: Initializer;
  /** Initializer of `bias` (default `zeros`). */
  readonly biasInit?: Initializer;
  /**
   * Force the running averages (true) or the batch statistics (false) regardless of the mode;
   * by default the mode decides: batch statistics when `apply(..., { train: true })`.
   */
  readonly useRunningAverage?: boolean;
  /** A fixed name inside a parent module (default `BatchNorm_<k>`). */
  readonly name?: string;
}

const BATCH_NORM_OPTIONS: OptionKinds<BatchNormOptions> = {
  momentum: 'any',
  epsilon: 'any',
  axis: 'any',
  useScale: 'boolean',
  useBias: 'boolean',
  scaleInit: 'function',
  biasInit: 'function',
  useRunningAverage: 'boolean',
  name: 'string',
};

/**
 * The variables of a `BatchNorm` layer: two collections.
 *
 * @example
 * ```ts
 * const vars: fx.nn.BatchNormVars = fx.nn.BatchNorm().init(fx.random.key(0), [2, 4]);
 * vars.batch_stats.var; // ones [4]
 * ```
 */
export type BatchNormVars = {
  /** The trainable parameters. */
  params: {
    /** Multiplies the normalized input; the size of the feature axes, initialized to ones (absent when `useScale` is false). */
    scale: tf.Tensor;
    /** Added after scaling; the size of the feature axes, initialized to zeros (absent when `useBias` is false). */
    bias: tf.Tensor;
  };
  /** The running statistics, updated in training when `mutable: ['batch_stats']` is given. */
  batch_stats: {
    /** Running average of the batch mean; initialized to zeros. */
    mean: tf.Tensor;
    /** Running average of the (biased) batch variance; initialized to ones. */
    var: tf.Tensor;
  };
};

/**
 * Batch normalization, as Flax's `nn.BatchNorm`. Parameters `scale` (ones) and `bias` (zeros),
 * and in the `batch_stats` collection the running `mean` (zeros) and `var` (ones), all of the
 * size of the feature axis (default: the last).
 *
 * In training (`apply(vars, x, { train: true, mutable: ['batch_stats'] })`) it normalizes with
 * the statistics of the batch (mean and biased variance over every axis but the feature axis)
 * and returns the updated running averages `momentum * old + (1 - momentum) * batch` in the
 * second element of the result. Training without `mutable: ['batch_stats']` is an
 * `ImmutableCollectionError` naming the layer. In evaluation (the default) it uses the running
 * averages. `init` returns both collections.
 *
 * @example
 * ```ts
 * const bn = fx.nn.BatchNorm();
 * const vars = bn.init(fx.random.key(0), [4, 16]);   // { params: {scale, bias}, batch_stats: {mean, var} }
 * const [y, updated] = bn.apply(vars, tf.randomNormal([4, 16]), { train: true, mutable: ['batch_stats'] });
 * const next = { ...vars, ...updated };              // the new running averages
 * ```
 */
export function BatchNorm(opts: BatchNormOptions = {}): Module<BatchNormVars> {
  checkOptions(opts, BATCH_NORM_OPTIONS, 'BatchNorm');
  const { momentum = 0.99, axis = -1, scaleInit = ones, biasInit = zeros } = opts;
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) throw new FlaxenError('', `BatchNorm: momentum must be a number in [0, 1], found ${describeValue(momentum)}`);
  const epsilon = checkEpsilon(opts.epsilon ?? 1e-5, 'BatchNorm');
  const useScale = opts.useScale ?? true;
  const useBias = opts.useBias ?? true;
  const axes = typeof axis === 'number' ? [axis] : axis;
  if (!Array.isArray(axes) || axes.length === 0 || axes.some((a) => !Number.isSafeInteger(a))) throw new FlaxenError('', `BatchNorm: axis must be an integer or an array of integers, found ${describeValue(axis)}`);
  const forced = opts.useRunningAverage;
  return new Module({
    type: 'BatchNorm',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, 'BatchNorm', scope.path, 1);
      const featureAxes = [...new Set(axes.map((a) => normAxis(a, shape.length, 'BatchNorm', scope.path)))].sort((a, b) => a - b);
      const reduceAxes = shape.map((_, i) => i).filter((i) => !featureAxes.includes(i));
      const featureShape = featureAxes.map((a) => shape[a]!);
      const broadcastShape = shape.map((d, i) => (featureAxes.includes(i) ? d : 1));
      const { scale, bias } = scaleAndBias(scope, featureShape, { useScale, useBias, scaleInit, biasInit });
      const raMean = scope.variable('batch_stats', 'mean', zeros, featureShape);
      const raVar = scope.variable('batch_stats', 'var', ones, featureShape);
      const useRunning = forced ?? !scope.train;
      if (isAbstract(x)) return new ShapeDtype(shape) as unknown as tf.Tensor;
      const b = (t: tf.Tensor) => tf.reshape(t, broadcastShape);
      if (useRunning) {
        return tf.tidy(() => normalize(x as tf.Tensor, b(raMean.value), b(raVar.value), epsilon, scale && b(scale), bias && b(bias)));
      }
      if (reduceAxes.length === 0) throw new ShapeError(scope.path, `BatchNorm in training needs axes to average over, but the input ${formatShape(shape)} has only the feature axes`);
      // No examples: no batch statistics (0/0), and the running averages must not take any.
      if (reduceAxes.some((a) => shape[a] === 0)) {
        throw new ShapeError(scope.path, `BatchNorm in training needs at least one example to average over, found an empty batch of shape ${formatShape(shape)}; skip empty batches (or apply with train: false)`);
      }
      // The batch statistics of x / s (s = 1 for features within ±2^32, whose numbers are then
      // the plain formula's, bit for bit): no square or sum overflows for features of 1e20.
      const batch = scaledMoments(x as tf.Tensor, reduceAxes, epsilon);
      if (!scope.isInitializing) {
        try {
          const f = (t: tf.Tensor) => tf.reshape(t, featureShape);
          const s = f(batch.s);
          // The batch mean in x's units: a scaled feature was shifted by its first element.
          const mean = tf.mul(tf.where(tf.greater(s, 1), tf.add(f(batch.mean), f(batch.first)), f(batch.mean)), s);
          raMean.value = tf.add(tf.mul(momentum, raMean.value), tf.mul(1 - momentum, mean));
          // The batch variance's share, (1 − momentum) · var, is weighted in units of s² before
          // it is scaled back: features of 1e20 have a variance of 1e40, past float32, but a
          // share of 1e38 (it becomes Infinity only when the share itself is past float32).
          const share = tf.mul(tf.mul(tf.mul(1 - momentum, f(batch.variance)), s), s);
          raVar.value = tf.add(tf.mul(momentum, raVar.value), share);
        } catch (error) {
          if (!(error instanceof ImmutableCollectionError)) throw error;
          throw new ImmutableCollectionError(
            scope.path,
            `BatchNorm in training mode updates its running averages in the 'batch_stats' collection, which is not mutable here: ` +
              `call apply(variables, x, { train: true, mutable: ['batch_stats'] }) and keep the returned batch_stats, or apply with train: false to use the running averages`,
          );
        }
      }
      return tf.tidy(() => {
        let y = tf.mul(tf.sub(batch.shifted, batch.mean), tf.rsqrt(tf.add(batch.variance, batch.scaledEpsilon)));
        if (scale) y = tf.mul(y, b(scale));
        if (bias) y = tf.add(y, b(bias));
        return y;
      });
    },
    summarize: (variables) => {
      const extras = (momentum !== 0.99 ? `, momentum ${momentum}` : '') + (epsilon !== 1e-5 ? `, epsilon ${epsilon}` : '');
      return { header: `BatchNorm(${featureText(variables, 'mean', 'batch_stats')}${extras})` };
    },
  });
}

/**
 * Options of {@link LayerNorm}, {@link RMSNorm} and {@link GroupNorm}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.NormOptions = { epsilon: 1e-5, useBias: false };
 * ```
 */
export interface NormOptions {
  /** Added to the variance (default 1e-6, as in Flax). */
  readonly epsilon?: number;
  /** Learn a scale (default true; `scale` starts at ones). */
  readonly useScale?: boolean;
  /** Learn a bias (default true; `bias` starts at zeros). Not used by `RMSNorm`. */
  readonly useBias?: boolean;
  /** Initializer of `scale` (default `ones`). */
  readonly scaleInit?: Initializer;
  /** Initializer of `bias` (default `zeros`). */
  readonly biasInit?: Initializer;
  /** A fixed name inside a parent module. */
  readonly name?: string;
}

const NORM_OPTIONS: OptionKinds<NormOptions> = { epsilon: 'any', useScale: 'boolean', useBias: 'boolean', scaleInit: 'function', biasInit: 'function', name: 'string' };
const { useBias: _noBias, biasInit: _noBiasInit, ...RMS_NORM_OPTIONS } = NORM_OPTIONS;

function normOptions(opts: NormOptions, layer: string, kinds: OptionKinds<Omit<NormOptions, 'useBias' | 'biasInit'>> = NORM_OPTIONS) {
  checkOptions(opts, kinds, layer);
  return {
    epsilon: checkEpsilon(opts.epsilon ?? 1e-6, layer),
    useScale: opts.useScale ?? true,
    useBias: opts.useBias ?? true,
    scaleInit: opts.scaleInit ?? ones,
    biasInit: opts.biasInit ?? zeros,
  };
}

/**
 * The variables of a `LayerNorm` or `GroupNorm` layer.
 *
 * @example
 * ```ts
 * const vars: fx.nn.NormParams = fx.nn.LayerNorm().init(fx.random.key(0), [2, 4]);
 * ```
 */
export type NormParams = {
  /** The trainable parameters. */
  params: {
    /** `[features]`, multiplies the normalized input; initialized to ones (absent when `useScale` is false). */
    scale: tf.Tensor;
    /** `[features]`, added after scaling; initialized to zeros (absent when `useBias` is false). */
    bias: tf.Tensor;
  };
};

/**
 * Layer normalization over the last axis, as Flax's `nn.LayerNorm`:
 * `(x - mean) / sqrt(var + epsilon) * scale + bias` with the mean and biased variance of each
 * example's features; `scale` (ones) and `bias` (zeros) are `[features]`. Default epsilon 1e-6.
 *
 * @example
 * ```ts
 * const ln = fx.nn.LayerNorm();
 * const vars = ln.init(fx.random.key(0), [2, 10, 64]);   // scale, bias: [64]
 * ```
 */
export function LayerNorm(opts: NormOptions = {}): Module<NormParams> {
  const o = normOptions(opts, 'LayerNorm');
  return new Module({
    type: 'LayerNorm',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, 'LayerNorm', scope.path, 1);
      const { scale, bias } = scaleAndBias(scope, [shape[shape.length - 1]!], o);
      return abstractOr(x, shape, () => {
        let y = standardize(x as tf.Tensor, -1, o.epsilon, true);
        if (scale) y = tf.mul(y, scale);
        return bias ? tf.add(y, bias) : y;
      });
    },
    summarize: (variables) => ({ header: `LayerNorm(${featureText(variables)}${o.epsilon !== 1e-6 ? `, epsilon ${o.epsilon}` : ''})` }),
  });
}

/**
 * Root-mean-square normalization over the last axis, as Flax's `nn.RMSNorm`:
 * `x / sqrt(mean(x²) + epsilon) * scale`, with `scale` (ones) `[features]` and no bias.
 *
 * @example
 * ```ts
 * const norm = fx.nn.RMSNorm();
 * const vars = norm.init(fx.random.key(0), [2, 64]);   // { params: { scale: [64] } }
 * ```
 */
export function RMSNorm(opts: Omit<NormOptions, 'useBias' | 'biasInit'> = {}): Module<{
  /** The trainable parameters. */
  params: {
    /** `[features]`, multiplies the normalized input; initialized to ones (absent when `useScale` is false). */
    scale: tf.Tensor;
  };
}> {
  const o = normOptions(opts, 'RMSNorm', RMS_NORM_OPTIONS);
  return new Module({
    type: 'RMSNorm',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, 'RMSNorm', scope.path, 1);
      const scale = o.useScale ? scope.param('scale', o.scaleInit, [shape[shape.length - 1]!]) : undefined;
      return abstractOr(x, shape, () => {
        const t = x as tf.Tensor;
        const y = standardize(t, -1, o.epsilon, false);
        return scale ? tf.mul(y, scale) : y;
      });
    },
    summarize: (variables) => ({ header: `RMSNorm(${featureText(variables)}${o.epsilon !== 1e-6 ? `, epsilon ${o.epsilon}` : ''})` }),
  });
}

/**
 * Group normalization, as Flax's `nn.GroupNorm`: the channels (last axis) are split into
 * `numGroups` groups, and each example is normalized per group over its spatial axes and the
 * group's channels; `scale` (ones) and `bias` (zeros) are `[channels]`. Default epsilon 1e-6.
 *
 * @param numGroups - the number of groups (default 32, as in Flax); must divide the channels.
 * @example
 * ```ts
 * const gn = fx.nn.GroupNorm(4);
 * const vars = gn.init(fx.random.key(0), [2, 8, 8, 16]);   // scale, bias: [16]
 * ```
 */
export function GroupNorm(numGroups = 32, opts: NormOptions = {}): Module<NormParams> {
  checkFeatures(numGroups, 'GroupNorm(numGroups)');
  const o = normOptions(opts, 'GroupNorm');
  return new Module({
    type: 'GroupNorm',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, 'GroupNorm', scope.path, 2, 'an input [batch, ..., channels]');
      const channels = shape[shape.length - 1]!;
      if (channels % numGroups !== 0) {
        throw new ShapeError(scope.path, `GroupNorm(${numGroups}): the number of groups must divide the channels, found ${channels} channels (input shape ${formatShape(shape)})`);
      }
      const { scale, bias } = scaleAndBias(scope, [channels], o);
      return abstractOr(x, shape, () => {
        const n = shape[0]!;
        const inner = shape.slice(1, -1).reduce((a, b) => a * b, 1);
        const grouped = tf.reshape(x as tf.Tensor, [n, inner, numGroups, channels / numGroups]);
        let y = tf.reshape(standardize(grouped, [1, 3], o.epsilon, true), [...shape]);
        if (scale) y = tf.mul(y, scale);
        return bias ? tf.add(y, bias) : y;
      });
    },
    summarize: (variables) => ({ header: `GroupNorm(${featureText(variables)}, groups ${numGroups})` }),
  });
}
