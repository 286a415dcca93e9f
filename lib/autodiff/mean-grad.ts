/**
 * A cheaper gradient for `tf.mean` over all its elements (a loss's batch mean, once per
 * training step), registered over tfjs's own. tfjs computes `(reshape(dy) · ones(x.shape)) / n`:
 * a reshape, a tensor of ones, a multiply, a scalar and a division, five new tensors (three
 * kernel dispatches, two uploads from JS) for one broadcast value. Here the value `dy / n` is
 * computed in JS (`dy` is one number, read back where that is a copy of four bytes: the wasm and
 * cpu backends) and written by one `tf.fill`. The bits are tfjs's: `dy · 1 = dy` exactly, and float32 division is
 * correctly rounded in both (`Math.fround(dy / fround(n))` rounds the exact quotient once more
 * from double, which is innocuous for a quotient of float32 numbers).
 *
 * Everything else runs tfjs's own gradient unchanged: a mean over some axes only, another
 * backend, and a backward pass that is itself recorded on a tape (nested gradients, where `dy`
 * must stay differentiable).
 *
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs's gradients first (this one replaces one of them). The path names its folder so that the
// browser bundle's plugin (scripts/build-browser.mjs) maps it to tfjs-core's module, as for backend.ts.
import '../autodiff/register-gradients.js';
import { engineState } from '../tfjs-internals.js';

type GradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: unknown) => Record<string, () => tf.Tensor>;

const stock = tf.getGradient('Mean') as { gradFunc: GradFunc; inputsToSave?: string[] } | undefined;

if (stock && typeof stock.gradFunc === 'function') {
  const stockGrad = stock.gradFunc;
  tf.registerGradient({
    ...stock,
    kernelName: 'Mean',
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: unknown) => {
      const d = dy as tf.Tensor;
      const [x] = saved;
      const backend = tf.getBackend();
      const taped = (engineState()?.gradientDepth ?? 1) > 0;
      if (!x || d.size !== 1 || d.dtype !== 'float32' || taped || (backend !== 'wasm' && backend !== 'cpu')) return stockGrad(dy, saved, attrs);
      return {
        x: () => {
          const n = Math.fround(x.size / d.size);
          return tf.fill(x.shape, Math.fround(d.dataSync()[0]! / n), 'float32');
        },
      };
    },
  } as unknown as tf.GradConfig);
}
