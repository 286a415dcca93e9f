/**
 * Argument checks shared by the losses: every problem is a `FlaxenError` (or `ShapeError`)
 * naming the function and both shapes.
 *
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../errors.js';

/**
 * Integer class labels given as a tensor or as JS numbers (a typed array or an array).
 *
 * @example
 * ```ts
 * const labels: fx.losses.LabelsLike = Int32Array.from([3, 1, 4]);
 * ```
 */
export type LabelsLike = tf.Tensor | Int32Array | Uint8Array | readonly number[];

/** @internal Throws unless `x` is a live float32 tensor of rank at least `minRank`. */
export function checkFloat(x: unknown, what: string, fnName: string, minRank = 0): asserts x is tf.Tensor {
  if (!(x instanceof tf.Tensor)) throw new FlaxenError('', `${fnName}: ${what} must be a tensor, found ${describeValue(x)}`);
  if (x.isDisposed) throw new FlaxenError('', `${fnName}: ${what} was disposed`);
  if (x.dtype !== 'float32') throw new FlaxenError('', `${fnName}: ${what} must be float32, found ${x.dtype}`);
  if (x.rank < minRank) throw new ShapeError('', `${fnName}: ${what} must have rank ${minRank} or more, found shape ${formatShape(x.shape)}`);
}

/** @internal Throws a `ShapeError` unless the two shapes are equal. */
export function checkSameShape(a: tf.Tensor, b: tf.Tensor, what: string, fnName: string): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError('', `${fnName}: ${what} must have the shape of the predictions ${formatShape(a.shape)}, found ${formatShape(b.shape)}`);
  }
}

/**
 * @internal Integer class labels for logits of shape `[..., C]`: a tensor of shape `[...]`
 * (int32, or float32 holding integers) or JS numbers for rank-2 logits. Returns an int32
 * tensor and whether the caller must dispose it.
 */
export function integerLabels(logits: tf.Tensor, labels: unknown, fnName: string): { labels: tf.Tensor; owned: boolean } {
  const expected = logits.shape.slice(0, -1);
  if (labels instanceof tf.Tensor) {
    if (labels.isDisposed) throw new FlaxenError('', `${fnName}: labels were disposed`);
    if (labels.rank !== expected.length || labels.shape.some((d: number, i: number) => d !== expected[i])) {
      throw new ShapeError('', `${fnName}: integer labels for logits of shape ${formatShape(logits.shape)} must have shape ${formatShape(expected)}, found ${formatShape(labels.shape)}`);
    }
    if (labels.dtype !== 'int32' && labels.dtype !== 'float32') throw new FlaxenError('', `${fnName}: labels must be int32, found ${labels.dtype}`);
    checkClassIndices(labels.dataSync() as ArrayLike<number>, logits.shape[logits.rank - 1]!, fnName);
    if (labels.dtype === 'int32') return { labels, owned: false };
    return { labels: tf.cast(labels, 'int32'), owned: true };
  }
  if (labels instanceof Int32Array || labels instanceof Uint8Array || Array.isArray(labels)) {
    const numbers = labels as ArrayLike<number>;
    if (expected.length !== 1 || numbers.length !== expected[0]) {
      throw new ShapeError('', `${fnName}: integer labels for logits of shape ${formatShape(logits.shape)} must have shape ${formatShape(expected)}, found ${numbers.length} JS numbers`);
    }
    checkClassIndices(numbers, logits.shape[logits.rank - 1]!, fnName);
    return { labels: tf.tensor1d(Int32Array.from(numbers), 'int32'), owned: true };
  }
  throw new FlaxenError('', `${fnName}: labels must be an int32 tensor or an array of integers, found ${describeValue(labels)}`);
}

/** Throws a FlaxenError naming the first label that is not an integer in `[0, classes)`. */
function checkClassIndices(numbers: ArrayLike<number>, classes: number, fnName: string): void {
  for (let i = 0; i < numbers.length; i++) {
    const v = numbers[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new FlaxenError('', `${fnName}: label ${i} must be an integer in [0, ${classes}), found ${describeValue(v)}`);
  }
}
