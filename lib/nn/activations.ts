/**
 * Activation functions. They are plain functions of a tensor, usable inside `Sequential`, in
 * custom modules, or on their own; they also accept the abstract values of shape inference.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { isAbstract } from '../core/shapes.js';

/** Marks functions that pass `ShapeDtype` values through (same shape out as in). @internal */
export const SHAPE_PRESERVING: unique symbol = Symbol('flaxen.shapePreserving');

/**
 * An activation: a tensor in, a tensor of the same shape out.
 *
 * @example
 * ```ts
 * const act: fx.nn.Activation = fx.nn.relu;
 * act(tf.tensor([-1, 2])); // [0, 2]
 * ```
 */
export interface Activation {
  (x: tf.Tensor): tf.Tensor;
  /** The name `describe` prints. */
  readonly displayName: string;
  /** @internal */
  readonly [SHAPE_PRESERVING]: true;
}

/**
 * Wraps a shape-preserving tensor function as an {@link Activation}: it gets a display name for
 * `describe`, a check that its input is a tensor, and passes abstract values through.
 *
 * @example
 * ```ts
 * const leaky = fx.nn.activation('leakyRelu', (x) => tf.leakyRelu(x, 0.1));
 * ```
 */
export function activation(name: string, fn: (x: tf.Tensor) => tf.Tensor): Activation {
  const wrapped = ((x: tf.Tensor) => {
    if (isAbstract(x)) return x;
    if (!(x instanceof tf.Tensor)) throw new FlaxenError('', `${name} needs a tensor, found ${describeValue(x)}`);
    return fn(x);
  }) as Activation;
  Object.defineProperty(wrapped, 'name', { value: name });
  Object.defineProperty(wrapped, 'displayName', { value: name });
  Object.defineProperty(wrapped, SHAPE_PRESERVING, { value: true });
  return Object.freeze(wrapped);
}

/**
 * `max(x, 0)`.
 *
 * @example
 * ```ts
 * fx.nn.relu(tf.tensor([-1, 2])); // [0, 2]
 * ```
 */
export const relu = activation('relu', (x) => tf.relu(x));

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU with the tanh approximation (Flax's default, `approximate=True`):
 * `0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))`.
 *
 * @example
 * ```ts
 * fx.nn.gelu(tf.tensor([1])); // ≈ 0.8412
 * ```
 */
export const gelu = activation('gelu', (x) =>
  tf.tidy(() => {
    const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  }),
);

/**
 * The logistic function `1 / (1 + e^-x)`.
 *
 * @example
 * ```ts
 * fx.nn.sigmoid(tf.tensor([0])); // [0.5]
 * ```
 */
export const sigmoid = activation('sigmoid', (x) => tf.sigmoid(x));

/**
 * Hyperbolic tangent.
 *
 * @example
 * ```ts
 * fx.nn.tanh(tf.tensor([0])); // [0]
 * ```
 */
export const tanh = activation('tanh', (x) => tf.tanh(x));

/**
 * SiLU (swish): `x · sigmoid(x)`.
 *
 * @example
 * ```ts
 * fx.nn.silu(tf.tensor([1])); // ≈ 0.7311
 * ```
 */
export const silu = activation('silu', (x) => tf.tidy(() => tf.mul(x, tf.sigmoid(x))));

/**
 * Softmax over the last axis.
 *
 * @example
 * ```ts
 * fx.nn.softmax(tf.tensor([[1, 1]])); // [[0.5, 0.5]]
 * ```
 */
export const softmax = activation('softmax', (x) => tf.softmax(x));

/**
 * Log-softmax over the last axis (stable for large inputs).
 *
 * @example
 * ```ts
 * fx.nn.logSoftmax(tf.tensor([[0, 0]])); // [[-0.6931, -0.6931]]
 * ```
 */
export const logSoftmax = activation('logSoftmax', (x) => tf.logSoftmax(x));
