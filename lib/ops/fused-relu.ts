/**
 * A relu fused into the op before it (`Dense` or `Conv` followed by `relu` in a `Sequential`):
 * the product applies `max(0, ·)` as it stores its output, and the backward pass masks the
 * output gradient with `y > 0` once, in one pass of flaxen's own kernel. That saves the `Relu`
 * kernel, the copy tfjs makes of its input for the backward pass, and the `Step`/`Multiply` pair
 * of its stock gradient.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { keepForBackward } from '../autodiff/grad.js';
import { ownKernelTime, ownKernels, underGradient } from './gemm.js';

/**
 * @internal
 * Whether an op may fuse a relu here: outside any gradient tape (nothing to differentiate), or
 * inside `fx.valueAndGrad`, where the op keeps its output for the backward pass as an alias
 * (`kept`: what `keepForBackward` gave for its inputs). Under a user's own `tf.grads` the op
 * runs unfused and `tf.relu` follows, with tfjs's stock gradient.
 */
export function mayFuseRelu(kept: tf.Tensor[] | undefined): boolean {
  return kept !== undefined || !underGradient();
}

/**
 * @internal
 * Keeps the output `y` of an op with a fused relu for its backward pass (inside
 * `fx.valueAndGrad`; outside any tape there is no backward pass): call it right after the op,
 * and read the kept tensor in the gradient with `.value`.
 */
export function keepOutput(y: tf.Tensor): { readonly value: tf.Tensor | undefined } {
  return { value: keepForBackward([y])?.[0] };
}

/**
 * @internal
 * `dz = dy · [y > 0]`, the gradient before a relu from the gradient after it, given the relu's
 * output. One pass of the own kernel on wasm; `dy · step(y)` (tfjs's stock relu gradient, which
 * reads the input: `y > 0` exactly where the input is) elsewhere.
 */
export function reluGradFromOutput(y: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const own = y.size > 0 ? ownKernels(y, dy) : undefined;
  if (!own) return tf.tidy(() => tf.mul(dy, tf.step(y)));
  const dz = own.heap.alloc([...dy.shape]);
  const start = performance.now();
  own.kernels.relu_grad(own.heap.offsetOf(y)!, own.heap.offsetOf(dy)!, own.heap.offsetOf(dz)!, y.size);
  ownKernelTime.ms += performance.now() - start;
  return dz;
}
