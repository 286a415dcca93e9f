/**
 * The gradient of a VALID max pool in one pass of flaxen's own kernel (`maxpool_grad` in
 * `gemm.c`), wherever those kernels run (see `ownKernels` in `gemm.ts`).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ownKernels } from './gemm.js';

/**
 * @internal
 * `dx` for `y = maxPool(x, window, strides, 'valid')`: each output's gradient goes to the first
 * element of its window, row-major, that equals `y` (tfjs's cpu kernel and TensorFlow route it so;
 * overlapping windows add up). One pass, in place of the fifteen tfjs kernels of the portable
 * gradient in `nn/pooling.ts`. Undefined when it cannot run here.
 */
export function maxPoolGradByKernel(x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, window: readonly [number, number], strides: readonly [number, number]): tf.Tensor4D | undefined {
  const own = ownKernels(x, y, dy);
  if (!own || x.size === 0 || y.size === 0) return undefined;
  const { heap, kernels } = own;
  const [n, h, w, c] = x.shape;
  const [, oh, ow] = y.shape;
  const dx = heap.alloc([n, h, w, c]) as tf.Tensor4D;
  kernels.maxpool_grad(heap.offsetOf(x)!, heap.offsetOf(y)!, heap.offsetOf(dy)!, heap.offsetOf(dx)!, n, h, w, c, oh, ow, window[0], window[1], strides[0], strides[1]);
  return dx;
}
