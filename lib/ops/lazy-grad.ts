/**
 * Ops whose gradients are computed only for the inputs that need them.
 *
 * `tf.customGrad` computes every input's gradient as soon as any is needed. The gradient of a
 * layer with respect to the data (the first layer's input) is then computed and thrown away: for
 * a convolution on MNIST, a whole transposed convolution per step. tfjs's tape itself calls
 * gradient functions lazily, input by input, for the inputs on the path to the differentiated
 * variables; `withLazyGradients` records an op with one such thunk per input.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { runKernelFunc } from '../tfjs-internals.js';

/** The gradient thunks of one op, by input index; tfjs calls only those of inputs on the path. */
type GradientThunks = Record<string, () => tf.Tensor>;

/**
 * Runs `forward` as one node of tfjs's gradient tape, with one lazy gradient thunk per input:
 * tfjs's backpropagation calls only the thunks of the inputs that lead to the differentiated
 * variables, so an unneeded gradient (e.g. of the data) is never computed. `forward(save)` must
 * `save` the tensors the thunks use (they arrive as `saved`), as with `tf.customGrad`. Uses the
 * engine's `runKernelFunc` (the function behind `tf.customGrad`, through `lib/tfjs-internals.ts`); if a tfjs version lacks it,
 * falls back to `tf.customGrad`, which computes every gradient. Registers nothing globally.
 *
 * @param inputs - the op's tensor inputs, in the order of the gradient thunks.
 * @param forward - computes the output; `save` keeps tensors for the backward pass.
 * @param gradients - one thunk per input, from the output gradient `dy` and the saved tensors.
 * @example
 * ```ts
 * // y = a · b with gradients da = dy·bᵀ and db = aᵀ·dy, each computed only if needed
 * const y = withLazyGradients([a, b], (save) => { save([a, b]); return tf.matMul(a, b); },
 *   (dy, [sa, sb]) => [() => tf.matMul(dy, tf.transpose(sb!)), () => tf.matMul(tf.transpose(sa!), dy)]);
 * ```
 */
export function withLazyGradients(
  inputs: tf.Tensor[],
  forward: (save: (tensors: tf.Tensor[]) => void) => tf.Tensor,
  gradients: (dy: tf.Tensor, saved: tf.Tensor[]) => Array<() => tf.Tensor>,
): tf.Tensor {
  const kernelFunc = runKernelFunc();
  if (kernelFunc) {
    const inputMap: Record<string, tf.Tensor> = {};
    inputs.forEach((t, i) => (inputMap[i] = t));
    return kernelFunc({
      forwardFunc: (_backend, save) => forward(save),
      backwardsFunc: (dy, saved) => {
        const thunks: GradientThunks = {};
        gradients(dy, saved).forEach((thunk, i) => (thunks[i] = thunk));
        return thunks;
      },
      inputs: inputMap,
    });
  }
  const custom = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    return { value: forward(save), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => gradients(dy, saved).map((thunk) => thunk()) };
  });
  return custom(...inputs);
}
