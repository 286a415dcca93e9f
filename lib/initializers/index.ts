/**
 * Initializers with Flax/JAX semantics: `(key, shape, dtype?) => Tensor`. Numbers are drawn in
 * JavaScript from the key alone, so they are the same on every backend.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import type { Initializer } from '../core/scope.js';
import { normalTensor, truncatedNormalTensor, uniformArray } from '../random/samplers.js';

export type { Initializer };

/** How `varianceScaling` counts the fan: inputs, outputs, or their average. */
export type FanMode = 'fan_in' | 'fan_out' | 'fan_avg';
/** The distribution `varianceScaling` draws from. */
export type Distribution = 'truncated_normal' | 'normal' | 'uniform';

/** The fans of a kernel shape. */
export interface Fans {
  /** Inputs feeding each output (times the receptive field). */
  readonly fanIn: number;
  /** Outputs fed by each input (times the receptive field). */
  readonly fanOut: number;
}

/** The standard deviation of a standard normal truncated to [-2, 2], as in JAX. */
const TRUNCATED_STD = 0.87962566103423978;

function axisIndex(axis: number, rank: number): number {
  return axis < 0 ? rank + axis : axis;
}

/**
 * The fans of a kernel shape as JAX computes them: `in` and `out` axes, the rest is the
 * receptive field (e.g. a conv kernel `[kh, kw, in, out]` has fanIn `kh*kw*in`).
 */
export function computeFans(shape: readonly number[], inAxis = -2, outAxis = -1): Fans {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  const i = axisIndex(inAxis, shape.length);
  const o = axisIndex(outAxis, shape.length);
  const size = shape.reduce((a, b) => a * b, 1);
  const receptive = size / (shape[i]! * shape[o]!);
  return { fanIn: shape[i]! * receptive, fanOut: shape[o]! * receptive };
}

function checkDtype(dtype: tf.DataType | undefined, name: string): 'float32' {
  if (dtype !== undefined && dtype !== 'float32') throw new FlaxenError('', `${name} draws float32 values, not ${dtype}`);
  return 'float32';
}

/**
 * Variance scaling (JAX's `variance_scaling`): draws with variance `scale / fan`. A truncated
 * normal is rescaled so that the variance after truncation at ±2 is the requested one.
 *
 * @example
 * ```ts
 * const init = fx.initializers.varianceScaling(2, 'fan_in', 'truncated_normal');
 * const w = init(fx.random.key(0), [784, 256]);
 * ```
 */
export function varianceScaling(
  scale: number,
  mode: FanMode,
  distribution: Distribution,
  opts: { inAxis?: number; outAxis?: number } = {},
): Initializer {
  if (!(typeof scale === 'number' && scale > 0)) throw new FlaxenError('', `varianceScaling needs a positive scale, found ${describeValue(scale)}`);
  if (!['fan_in', 'fan_out', 'fan_avg'].includes(mode)) throw new FlaxenError('', `varianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', found ${describeValue(mode)}`);
  if (!['truncated_normal', 'normal', 'uniform'].includes(distribution)) {
    throw new FlaxenError('', `varianceScaling: distribution must be 'truncated_normal', 'normal' or 'uniform', found ${describeValue(distribution)}`);
  }
  return (key, shape, dtype) => {
    checkDtype(dtype, 'varianceScaling');
    const { fanIn, fanOut } = computeFans(shape, opts.inAxis, opts.outAxis);
    const fan = mode === 'fan_in' ? fanIn : mode === 'fan_out' ? fanOut : (fanIn + fanOut) / 2;
    if (!(fan > 0)) throw new FlaxenError('', `varianceScaling: shape ${formatShape(shape)} has no ${mode}`);
    const variance = scale / fan;
    // Drawn straight into the backend's memory: a fresh JS array of this size costs more in page faults than the draw.
    if (distribution === 'truncated_normal') return truncatedNormalTensor(key, shape, -2, 2, Math.sqrt(variance) / TRUNCATED_STD);
    if (distribution === 'normal') return normalTensor(key, shape, Math.sqrt(variance));
    const limit = Math.sqrt(3 * variance);
    return tf.tensor(uniformArray(key, shape.reduce((a, b) => a * b, 1), -limit, limit), shape, 'float32');
  };
}

/**
 * LeCun normal: truncated normal with variance `1 / fanIn`. The default kernel initializer of
 * `Dense` and `Conv`, as in Flax.
 *
 * @example
 * ```ts
 * const w = fx.initializers.lecunNormal()(fx.random.key(0), [20, 256]);
 * ```
 */
export function lecunNormal(): Initializer {
  return varianceScaling(1, 'fan_in', 'truncated_normal');
}

/**
 * He (Kaiming) normal: truncated normal with variance `2 / fanIn`, for ReLU networks.
 *
 * @example
 * ```ts
 * const dense = fx.nn.Dense(256, { kernelInit: fx.initializers.heNormal() });
 * ```
 */
export function heNormal(): Initializer {
  return varianceScaling(2, 'fan_in', 'truncated_normal');
}

/**
 * Glorot (Xavier) uniform: uniform in ±`sqrt(6 / (fanIn + fanOut))`.
 *
 * @example
 * ```ts
 * const dense = fx.nn.Dense(256, { kernelInit: fx.initializers.glorotUniform() });
 * ```
 */
export function glorotUniform(): Initializer {
  return varianceScaling(1, 'fan_avg', 'uniform');
}

/**
 * Normal with mean 0 and standard deviation `stddev` (Flax's default `1e-2`).
 *
 * @example
 * ```ts
 * const w = fx.initializers.normal(0.02)(fx.random.key(0), [8, 8]);
 * ```
 */
export function normal(stddev = 1e-2): Initializer {
  return (key, shape, dtype) => {
    checkDtype(dtype, 'normal');
    return normalTensor(key, shape, stddev);
  };
}

/**
 * Uniform in `[0, scale)` (Flax's default `1e-2`).
 *
 * @example
 * ```ts
 * const w = fx.initializers.uniform(0.1)(fx.random.key(0), [8]);
 * ```
 */
export function uniform(scale = 1e-2): Initializer {
  return (key, shape, dtype) => {
    checkDtype(dtype, 'uniform');
    return tf.tensor(uniformArray(key, shape.reduce((a, b) => a * b, 1), 0, scale), shape, 'float32');
  };
}

/**
 * All zeros (the default bias initializer). The key is ignored.
 *
 * @example
 * ```ts
 * const b = fx.initializers.zeros(fx.random.key(0), [256]);
 * ```
 */
export const zeros: Initializer = (_key, shape, dtype = 'float32') => tf.zeros(shape, dtype);

/**
 * All ones (e.g. normalization scales). The key is ignored.
 *
 * @example
 * ```ts
 * const s = fx.initializers.ones(fx.random.key(0), [256]);
 * ```
 */
export const ones: Initializer = (_key, shape, dtype = 'float32') => tf.ones(shape, dtype);

/**
 * A constant value. The key is ignored.
 *
 * @example
 * ```ts
 * const b = fx.initializers.constant(0.1)(fx.random.key(0), [256]);
 * ```
 */
export function constant(value: number): Initializer {
  if (typeof value !== 'number') throw new FlaxenError('', `constant(value) needs a number, found ${describeValue(value)}`);
  return (_key, shape, dtype = 'float32') => tf.fill(shape, value, dtype);
}

export { orthogonal } from './orthogonal.js';
