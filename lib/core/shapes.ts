/**
 * Abstract values: a shape and a dtype standing in for a tensor. `initShapes` runs a model on
 * them, so it learns every parameter's shape without allocating or drawing anything.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { isPlainObject } from '../check-options.js';
import { bytesPerElement, checkFits } from '../backend-state.js';

/**
 * A shape and a dtype: the leaf type of `initShapes` trees, and the value that flows through a
 * model while shapes are being inferred.
 *
 * @example
 * ```ts
 * const shapes = fx.nn.Dense(10).initShapes(fx.random.key(0), [2, 20]);
 * shapes.params.kernel; // ShapeDtype { shape: [20, 10], dtype: 'float32' }
 * ```
 */
export class ShapeDtype {
  // A private member makes the class nominal: a Tensor (which also has shape and dtype) is not a ShapeDtype.
  private readonly abstractValue = true;
  /** The shape, e.g. `[20, 256]`. */
  readonly shape: readonly number[];
  /** The tfjs dtype, e.g. `'float32'`. */
  readonly dtype: tf.DataType;
  /**
   * @param shape - the dimensions.
   * @param dtype - the element type, `'float32'` unless given.
   */
  constructor(shape: readonly number[], dtype: tf.DataType = 'float32') {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    Object.freeze(this);
  }
  /** The number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** The rank (number of dimensions). */
  get rank(): number {
    return this.shape.length;
  }
  /** A readable form, e.g. `float32[20, 256]`. */
  toString(): string {
    return `${this.dtype}${formatShape(this.shape)}`;
  }
}

/** A concrete tensor or an abstract stand-in: what flows through a module's body. */
export type Value = tf.Tensor | ShapeDtype;

/**
 * True when `value` is an abstract stand-in rather than a tensor, i.e. the model is being run
 * by `init`/`initShapes` to learn shapes. Layer authors branch on it to skip the math.
 *
 * @example
 * ```ts
 * const double = (x: tf.Tensor) => (fx.isAbstract(x) ? x : tf.mul(x, 2));
 * ```
 */
export function isAbstract(value: unknown): value is ShapeDtype {
  return value instanceof ShapeDtype;
}

/** Checks that `shape` is an array of positive integers; `what` names it in the error. */
export function checkInputShape(shape: unknown, what: string, path = ''): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FlaxenError(path, `${what} must be a tensor or a shape (an array of non-negative integers), found ${describeValue(shape)}`);
  }
  return shape as number[];
}

/** True for an array of numbers (or `[]`): a shape, where `init` takes one instead of a tensor. */
export function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => typeof d === 'number');
}

function abstractValue(value: unknown, where: string): unknown {
  let abstract: ShapeDtype | undefined;
  if (value instanceof tf.Tensor) abstract = new ShapeDtype(value.shape, value.dtype);
  else if (value instanceof ShapeDtype) abstract = value;
  else if (isShape(value)) abstract = new ShapeDtype(checkInputShape(value, where));
  // A tuple or a record of inputs: its tensors and shapes become abstract, the rest passes.
  else if (Array.isArray(value)) return value.map((v, j) => abstractValue(v, `${where}[${j}]`));
  else if (isPlainObject(value)) return Object.fromEntries(Object.keys(value).map((k) => [k, abstractValue(value[k], `${where}.${k}`)]));
  if (!abstract) return value;
  if (abstract.shape.some((d) => d === 0)) {
    throw new FlaxenError('', `${where} has a zero-size shape ${formatShape(abstract.shape)}: init needs at least one example to infer sizes`);
  }
  return abstract;
}

/**
 * Turns the inputs of `init` / `initShapes` into abstract values: tensors and shapes become
 * `ShapeDtype`, also inside arrays of inputs (tuples) and plain objects (records); other values
 * (e.g. `undefined` for an optional mask) pass through.
 */
export function abstractInputs(inputs: readonly unknown[]): unknown[] {
  return inputs.map((input, i) => abstractValue(input, `input ${i}`));
}

/**
 * Replaces abstract values (also inside tuples and records) by zero tensors, for bodies that need
 * real math to find shapes; an input too large for the backend is refused before any allocation.
 */
export function concreteInputs(inputs: readonly unknown[]): unknown[] {
  const concrete = (value: unknown, where: string): unknown => {
    if (value instanceof ShapeDtype) {
      checkFits(value.size * bytesPerElement(value.dtype), `init: a zero stand-in for ${where} ${value.toString()}`);
      return tf.zeros([...value.shape], value.dtype);
    }
    if (Array.isArray(value)) return value.map((v, j) => concrete(v, `${where}[${j}]`));
    if (isPlainObject(value)) return Object.fromEntries(Object.keys(value).map((k) => [k, concrete(value[k], `${where}.${k}`)]));
    return value;
  };
  return inputs.map((input, i) => concrete(input, `input ${i}`));
}

/** Replaces the tensors anywhere in an output (tensor, array or plain object) by `ShapeDtype`. */
export function abstractOutput(output: unknown): unknown {
  if (output instanceof tf.Tensor) return new ShapeDtype(output.shape, output.dtype);
  if (Array.isArray(output)) return output.map(abstractOutput);
  if (output !== null && typeof output === 'object' && Object.getPrototypeOf(output) === Object.prototype) {
    return Object.fromEntries(Object.entries(output).map(([k, v]) => [k, abstractOutput(v)]));
  }
  return output;
}
