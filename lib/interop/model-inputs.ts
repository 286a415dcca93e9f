/**
 * The example inputs that the interop functions run a model on: {@link OnnxInput} shapes (batch
 * first) checked and made into fixed tensors.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';

/**
 * One input of {@link toOnnx} (and of the `inputShapes` option of `toTorch` and `fromTorch`):
 * its shape, batch size first (float32), or its shape and dtype (`int32` token ids for an
 * `Embed`, `bool` masks).
 *
 * @example
 * ```ts
 * const image: fx.interop.OnnxInput = [1, 28, 28, 1];
 * const tokens: fx.interop.OnnxInput = { shape: [1, 16], dtype: 'int32' };
 * ```
 */
export type OnnxInput =
  | readonly number[]
  | {
      /** The shape, batch size first. */
      readonly shape: readonly number[];
      /** The element type. */
      readonly dtype: 'float32' | 'int32' | 'bool';
    };

/** A checked {@link OnnxInput}. @internal */
export interface InputSpec {
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32' | 'bool';
}

const DTYPES = new Set(['float32', 'int32', 'bool']);

/**
 * Checks the inputs given to `what` (e.g. `toOnnx`): shapes of positive integers, batch size
 * first and the same in every input. @internal
 */
export function checkInputs(inputShapes: readonly unknown[], what: string, usage: string): InputSpec[] {
  if (inputShapes.length === 0) throw new FlaxenError('', `${usage} needs the shape of each input, batch size first, e.g. [1, 784]`);
  const specs = inputShapes.map((given, i) => {
    const spec = Array.isArray(given) ? { shape: given, dtype: 'float32' } : (given as Partial<InputSpec> | null);
    const shape = spec?.shape;
    if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isSafeInteger(d) || d < 1) || !DTYPES.has(String(spec?.dtype))) {
      throw new FlaxenError('', `${what}: input ${i} must be a shape of positive integers, batch size first (e.g. [1, 784]), or { shape, dtype } with dtype float32, int32 or bool; found ${describeValue(given)}`);
    }
    return { shape: [...shape] as number[], dtype: spec!.dtype as InputSpec['dtype'] };
  });
  const batch = specs[0]!.shape[0];
  specs.forEach((s, i) => {
    if (s.shape[0] !== batch) throw new FlaxenError('', `${what}: every input's first axis is the batch: input 0 has ${batch}, input ${i} has shape ${formatShape(s.shape)}`);
  });
  return specs;
}

/**
 * Inputs at batch size `batch`: fixed values that differ with `salt` (ids are 0, masks true).
 * @internal
 */
export function makeInputs(specs: readonly InputSpec[], batch: number, salt: number): tf.Tensor[] {
  return specs.map((s, i) => {
    const shape = [batch, ...s.shape.slice(1)];
    const size = shape.reduce((a, b) => a * b, 1);
    if (s.dtype === 'int32') return tf.zeros(shape, 'int32');
    if (s.dtype === 'bool') return tf.ones(shape, 'bool');
    const values = new Float32Array(size);
    for (let k = 0; k < size; k++) values[k] = Math.sin((k + 1) * (0.7 + 0.11 * i) + salt);
    return tf.tensor(values, shape, 'float32');
  });
}
