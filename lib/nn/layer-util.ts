/**
 * Checks and conversions shared by the layers of this library (conv, pooling, normalization,
 * attention), so their error messages read alike.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../errors.js';
import { ShapeDtype, isAbstract } from '../core/shapes.js';

/** A tensor or its abstract stand-in, as a layer body receives it. @internal */
export type Input = tf.Tensor | ShapeDtype;

/**
 * Checks that `x` is a tensor (or a shape stand-in during init) of rank at least `minRank`
 * and of a float dtype; returns its shape. @internal
 */
export function checkInput(x: unknown, layer: string, path: string, minRank: number, what = 'an input'): readonly number[] {
  if (!(x instanceof tf.Tensor) && !isAbstract(x)) throw new FlaxenError(path, `${layer} needs a tensor input, found ${describeValue(x)}`);
  if (x.shape.length < minRank) {
    throw new ShapeError(path, `${layer} needs ${what} of rank ${minRank} or more, found shape ${formatShape(x.shape)} (rank ${x.shape.length})`);
  }
  if (x.dtype !== 'float32') throw new FlaxenError(path, `${layer} needs a float32 input, found ${x.dtype}`);
  return x.shape;
}

/**
 * Turns a number or an array into an array of `n` positive integers (e.g. strides `2` →
 * `[2, 2]`); `what` names the option in the error. @internal
 */
export function toTuple(value: unknown, n: number, what: string, min = 1): number[] {
  const arr = typeof value === 'number' ? new Array<number>(n).fill(value) : value;
  if (!Array.isArray(arr) || arr.length !== n || arr.some((v) => !Number.isSafeInteger(v) || v < min)) {
    throw new FlaxenError('', `${what} must be an integer >= ${min} or an array of ${n} of them, found ${describeValue(value)}${Array.isArray(value) ? ` [${value.join(', ')}]` : ''}`);
  }
  return [...arr] as number[];
}

/**
 * Padding as Flax takes it: a mode, one integer for every side, or one `[before, after]` pair
 * per spatial axis.
 *
 * @example
 * ```ts
 * const same: fx.nn.Padding = 'SAME';
 * const explicit: fx.nn.Padding = [[1, 2], [0, 1]];
 * ```
 */
export type Padding = 'SAME' | 'VALID' | number | ReadonlyArray<readonly [number, number]>;

/** Checks a padding option for `n` spatial axes. @internal */
export function checkPadding(padding: unknown, n: number, layer: string, modes: readonly string[] = ['SAME', 'VALID']): Padding {
  if (typeof padding === 'string' && modes.includes(padding)) return padding as Padding;
  if (typeof padding === 'number' && Number.isSafeInteger(padding) && padding >= 0) return padding;
  if (
    Array.isArray(padding) &&
    padding.length === n &&
    padding.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => Number.isSafeInteger(v) && v >= 0))
  ) {
    return padding as Padding;
  }
  throw new FlaxenError('', `${layer}: padding must be ${modes.map((m) => `'${m}'`).join(', ')}, a non-negative integer, or ${n} pair(s) [before, after] of non-negative integers, found ${describeValue(padding)}`);
}

/** The shape with the leading batch axes merged into one (or added when there is none). @internal */
export function batchSplit(shape: readonly number[], featureRank: number): { batch: number[]; merged: number } {
  const batch = shape.slice(0, shape.length - featureRank);
  return { batch, merged: batch.reduce((a, b) => a * b, 1) };
}

/** Returns a `ShapeDtype` during shape inference, otherwise runs `compute` inside `tf.tidy`. @internal */
export function abstractOr(x: Input, shape: readonly number[], compute: () => tf.Tensor, dtype: tf.DataType = 'float32'): tf.Tensor {
  if (isAbstract(x)) return new ShapeDtype(shape, dtype) as unknown as tf.Tensor;
  return tf.tidy(compute);
}

/** Normalizes a possibly negative axis for a rank. @internal */
export function normAxis(axis: number, rank: number, layer: string, path: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isSafeInteger(axis) || a < 0 || a >= rank) throw new ShapeError(path, `${layer}: axis ${axis} is out of range for an input of rank ${rank}`);
  return a;
}
