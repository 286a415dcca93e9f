import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, transient, values } from '../setup.js';

test('l2Loss is 0.5·(p − t)² elementwise, with gradient p − t', () => {
  const p = tf.tensor([[1, 2], [-3, 0.5]]);
  const t = tf.tensor([[0, 4], [1, 0.5]]);
  const { result, delta } = tensorDelta(() => fx.losses.l2Loss(p, t));
  assert.is(delta, 1);
  assert.equal(result.shape, [2, 2]);
  assertClose(values(result), [0.5, 2, 8, 0]);
  const g = fx.grad((q: tf.Tensor) => tf.sum(fx.losses.l2Loss(q, t)))(p);
  assertClose(values(g), [1, -2, -4, 0]);
  const noTarget = fx.losses.l2Loss(p);
  assertClose(values(noTarget), [0.5, 2, 4.5, 0.125]);
  tf.dispose([p, t, result, g, noTarget]);
});

test('huberLoss is quadratic inside delta and linear outside, with clipped gradients', () => {
  const p = tf.tensor([0.5, 3, -3, -0.2, 1]);
  const t = tf.zeros([5]);
  const loss = fx.losses.huberLoss(p, t);
  assertClose(values(loss), [0.125, 2.5, 2.5, 0.02, 0.5]);
  const wide = fx.losses.huberLoss(p, undefined, 2);
  assertClose(values(wide), [0.125, 4, 4, 0.02, 0.5]);
  const g = fx.grad((q: tf.Tensor) => tf.sum(fx.losses.huberLoss(q, t)))(p);
  assertClose(values(g), [0.5, 1, -1, -0.2, 1]);
  tf.dispose([p, t, loss, wide, g]);
});

test('regression losses are finite for huge errors', () => {
  const p = tf.tensor([1e4, -1e4]);
  const h = fx.losses.huberLoss(p);
  assertClose(values(h), [1e4 - 0.5, 1e4 - 0.5], 1e-2);
  const l = fx.losses.l2Loss(p);
  assertClose(values(l), [5e7, 5e7], 1);
  tf.dispose([p, h, l]);
});

test('shapes must match exactly: no silent broadcasting', () => {
  const p = tf.zeros([4, 1]);
  const t = tf.zeros([4]);
  assertThrows(() => fx.losses.l2Loss(p, t), fx.ShapeError, 'l2Loss', '[4, 1]', '[4]');
  assertThrows(() => fx.losses.huberLoss(p, t), fx.ShapeError, 'huberLoss', '[4, 1]', '[4]');
  assertThrows(() => fx.losses.huberLoss(p, undefined, 0), fx.FlaxenError, 'delta', 'positive');
  assertThrows(() => fx.losses.l2Loss(transient(tf.zeros([2], 'int32'))), fx.FlaxenError, 'float32');
  tf.dispose([p, t]);
});

test.run();
