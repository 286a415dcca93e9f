/**
 * What a variables tree cannot tell about its model: which modules are ConvTranspose layers,
 * and whether each stores its kernel as Flax does (`[...k, in, out]`, not flipped) or with
 * `transposeKernel` (`[...k, out, in]`, flipped when run). Inside a `Sequential` a
 * ConvTranspose is `layers_<i>` with a kernel of a Conv's rank, so `toTorch` and `fromTorch`
 * learn it from the model: it runs once, on fixed inputs, while the tfjs kernels that each
 * module runs are recorded (`onnx-trace.ts`). A ConvTranspose with `transposeKernel` reverses
 * its stored kernel (tfjs `Reverse`) before the convolution; one without does not.
 *
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../core/module.js';
import { FlaxenError, describeValue } from '../errors.js';
import { flatten, unflatten } from '../tree/index.js';
import { checkInputs, makeInputs } from './model-inputs.js';
import { traceKernels } from './onnx-trace.js';

/** How a ConvTranspose stores its kernel: `flax` (the default) or `transposed` (`transposeKernel: true`). @internal */
export type ConvTransposeKernel = 'flax' | 'transposed';

/**
 * The ConvTranspose modules of `model` by module path (`layers_3`, `decoder/up`), with how
 * each stores its kernel. `variables` are the model's variables, or `{shape, dtype}` records
 * (then zeros stand in for them); `inputShapes` are the model's input shapes, batch first.
 * Nothing is left allocated. @internal
 */
export function convTransposeKernels(model: unknown, inputShapes: unknown, variables: unknown, what: string): Map<string, ConvTransposeKernel> {
  if (!(model instanceof Module)) throw new FlaxenError('', `${what}: the model option must be a flaxen module (the one the variables belong to), found ${describeValue(model)}`);
  if (!Array.isArray(inputShapes)) {
    throw new FlaxenError('', `${what}: the model option needs inputShapes, the model's input shapes batch first (e.g. { model, inputShapes: [[1, 8, 8, 3]] }), found ${describeValue(inputShapes)}`);
  }
  const specs = checkInputs(inputShapes, what, `${what}: inputShapes`);
  const made: tf.Tensor[] = [];
  try {
    const leaves = flatten<unknown>(variables).map(([path, leaf]) => {
      if (leaf instanceof tf.Tensor) return [path, leaf] as const;
      const { shape, dtype } = leaf as { shape: number[]; dtype: tf.DataType };
      const zeros = tf.zeros(shape, dtype);
      made.push(zeros);
      return [path, zeros] as const;
    });
    const ids = new Map(leaves.map(([path, t]) => [t.id, path]));
    const inputs = makeInputs(specs, specs[0]!.shape[0]!, 0);
    made.push(...inputs);
    const tree = unflatten(leaves);
    const apply = model.apply as (v: unknown, ...a: unknown[]) => unknown;
    const trace = traceKernels(() => apply.call(model, tree, ...inputs), inputs, ids);
    const found = new Map<string, ConvTransposeKernel>();
    for (const k of trace.kernels) {
      if (k.moduleType !== 'ConvTranspose') continue;
      const kernelPath = k.modulePath === '' ? 'params/kernel' : `params/${k.modulePath}/kernel`;
      if (k.name === 'Reverse' && k.inputs.some(([, t]) => ids.get(t.id) === kernelPath)) found.set(k.modulePath, 'transposed');
      else if (!found.has(k.modulePath)) found.set(k.modulePath, 'flax');
    }
    return found;
  } finally {
    for (const t of made) t.dispose();
  }
}
