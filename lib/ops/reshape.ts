/**
 * A reshape whose gradient saves nothing.
 *
 * tfjs-core's gradient of `Reshape` lists its input among the tensors to save (it only needs the
 * input's shape), and saving a tensor for the backward pass copies it on wasm: each taped
 * reshape of a `[64, 28, 28, 6]` activation cost a 0.2 ms `Identity` copy in a LeNet step.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { withLazyGradients } from './lazy-grad.js';

/**
 * @internal
 * `tf.reshape(x, shape)` (a new tensor on the same data) with a gradient that reshapes `dy`
 * back to `x`'s shape and saves no tensor.
 */
export function reshape<R extends tf.Rank = tf.Rank>(x: tf.Tensor, shape: readonly number[]): tf.Tensor<R> {
  const inShape = [...x.shape];
  return withLazyGradients([x], () => tf.reshape(x, [...shape]), (dy) => [() => tf.reshape(dy, inShape)]) as tf.Tensor<R>;
}

/**
 * @internal
 * {@link reshape} for intermediate values: `x` itself when it already has `shape` (then nothing
 * is recorded at all). Not for a layer's output, which must be a tensor the caller can dispose.
 */
export function asShape<R extends tf.Rank = tf.Rank>(x: tf.Tensor, shape: readonly number[]): tf.Tensor<R> {
  if (shape.length === x.rank && shape.every((d, i) => d === x.shape[i])) return x as tf.Tensor<R>;
  return reshape<R>(x, shape);
}
