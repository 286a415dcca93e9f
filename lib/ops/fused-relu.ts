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
import { ownKernels } from './gemm.js';
import { underGradient } from '../tfjs-internals.js';

/**
 * @internal
 * Runs an op that can apply a relu to its output itself, and owns the protocol around it.
 * `op(fuse, mask)` computes the output, with the relu applied when `fuse` is true; its gradient
 * function passes the output gradient through `mask` first (the identity when not fused).
 *
 * The relu is fused outside any gradient tape (nothing to differentiate) or inside
 * `fx.valueAndGrad`, where the op's output is kept for the backward pass as an alias (`kept`:
 * what `keepForBackward` gave for the op's inputs); under a user's own `tf.grads` the op runs
 * unfused and `tf.relu` follows, with tfjs's stock gradient.
 */
export function withFusedRelu<T extends tf.Tensor>(relu: boolean, kept: tf.Tensor[] | undefined, op: (fuse: boolean, mask: (dy: tf.Tensor) => tf.Tensor) => T): T {
  const fuse = relu && (kept !== undefined || !underGradient());
  // Set right after the op (outside its forward function), read by its backward pass.
  let output: tf.Tensor | undefined;
  const y = op(fuse, (dy) => (fuse ? reluGradFromOutput(output!, dy) : dy));
  if (fuse) output = keepForBackward([y])?.[0];
  return (relu && !fuse ? tf.relu(y) : y) as T;
}

/**
 * `dz = dy · [y > 0]`, the gradient before a relu from the gradient after it, given the relu's
 * output. One pass of the own kernel on wasm; `dy · step(y)` (tfjs's stock relu gradient, which
 * reads the input: `y > 0` exactly where the input is) elsewhere.
 */
function reluGradFromOutput(y: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const own = y.size > 0 ? ownKernels(y, dy) : undefined;
  if (!own) return tf.tidy(() => tf.mul(dy, tf.step(y)));
  const dz = own.heap.alloc([...dy.shape]);
  own.kernels.relu_grad(own.heap.offsetOf(y)!, own.heap.offsetOf(dy)!, own.heap.offsetOf(dz)!, y.size);
  return dz;
}
