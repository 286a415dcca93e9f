// The one-step gradient of a full tf.mean (lib/autodiff/mean-grad.ts): the same bits as tfjs's
// own formula, (reshape(dy) · ones) / n, computed here with tfjs ops; tfjs's gradient where it
// does not apply (some axes only, a taped backward pass).
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, countKernel, values } from '../setup.js';

/** tfjs's Mean gradient, written out: (reshape(dy, expanded) · ones(x.shape)) / reduceSize. */
function stockMeanGrad(dy: tf.Tensor, shape: number[], axes: number[]): tf.Tensor {
  return tf.tidy(() => {
    const expanded = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const n = axes.reduce((s, a) => s * shape[a]!, 1);
    return tf.div(tf.mul(tf.reshape(dy, expanded), tf.ones(shape)), n);
  });
}

test('the gradient of a full mean has the bits of tfjs\'s formula, for many sizes and output gradients', () => {
  const cases: Array<[number[], boolean]> = [[[64], false], [[3, 5], false], [[7, 1, 9], true], [[1000], false], [[3, 77], true], [[1], false]];
  for (const [shape, keepDims] of cases) {
    for (const c of [1, -0.37, 3.3e-5, 12345.678, 1 / 3]) {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
      const scale = tf.scalar(c);
      const [g, realDivs] = countKernel('RealDiv', () => fx.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, undefined, keepDims), scale)))(x));
      assert.is(realDivs, 0, `${shape}: no division kernel: the quotient is computed once, in JS`);
      const dy = tf.tidy(() => tf.mul(tf.ones(keepDims ? shape.map(() => 1) : []), scale));
      const expected = stockMeanGrad(dy, shape, shape.map((_, i) => i));
      assert.equal(g.shape, shape);
      assert.equal(values(g), values(expected), `${shape}, dy = ${c}: same bits as tfjs's formula`);
      assertClose(values(g).slice(0, 1), [Math.fround(c) / shape.reduce((a, b) => a * b, 1)], 0, 1e-6, 'dy / n');
      tf.dispose([x, scale, g, dy, expected]);
    }
  }
});

test('a mean over some axes, and a mean inside a nested gradient, use tfjs\'s own gradient', () => {
  const x = tf.tensor([[1, 2, 3], [4, 5, 6]]);
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, 1), tf.tensor([1, 2]))))(x);
  assertClose(values(g), [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3], 1e-7);
  // d/dx Σ (d/dx mean(x²)) · x = d/dx Σ 2x²/n = 4x/n: the inner backward pass is taped and must stay differentiable.
  const outer = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.grad((w: tf.Tensor) => tf.mean(tf.square(w)))(v), v)))(x);
  assertClose(values(outer), values(x).map((v) => (4 * v) / 6), 1e-6);
  tf.dispose([x, g, outer]);
});

test.run();
