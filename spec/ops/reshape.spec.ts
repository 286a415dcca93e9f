// flaxen's reshape (lib/ops/reshape.ts): tfjs's reshape and its gradient, without the copy that
// tfjs's Reshape gradient makes of its input for the backward pass.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { asShape, reshape } from '../../lib/ops/reshape.js';
import { countKernel } from '../setup.js';

test('reshape: the values and gradient of tf.reshape, with no Identity copy on the tape', () => {
  const x = tf.tensor(Array.from({ length: 24 }, (_, i) => i - 7), [2, 3, 4]);
  const w = tf.tensor(Array.from({ length: 24 }, (_, i) => Math.cos(i)), [6, 4]);
  const loss = (op: (t: tf.Tensor, shape: number[]) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(tf.square(op(t, [6, 4])), w));
  const [mine, copies] = countKernel('Identity', () => tf.grad(loss((t, s) => reshape(t, s)))(x));
  const [stock, stockCopies] = countKernel('Identity', () => tf.grad(loss((t, s) => tf.reshape(t, s)))(x));
  assert.equal(mine.shape, [2, 3, 4]);
  assert.equal(Array.from(mine.dataSync()), Array.from(stock.dataSync()));
  // (dL/dx = 2·x·w, reshaped back: checked by hand for one element)
  assert.is(mine.dataSync()[5], 2 * (5 - 7) * Math.fround(Math.cos(5)));
  assert.is(copies, stockCopies - 1, `Identity kernels: ${copies}, with tf.reshape ${stockCopies}`);
  const y = reshape(x, [2, 3, 4]);
  assert.ok(y !== x, 'reshape always gives a new tensor (the caller may dispose it)');
  assert.ok(asShape(x, [2, 3, 4]) === x, 'asShape gives x itself when nothing changes');
  tf.dispose([x, w, mine, stock, y]);
});

test('Flatten of an already flat input is a new tensor; disposing it leaves the input', () => {
  const x = tf.ones([3, 5]);
  const y = fx.nn.Flatten().apply({}, x) as tf.Tensor;
  assert.ok(y !== x);
  y.dispose();
  assert.not.ok(x.isDisposed);
  x.dispose();
});

test.run();
