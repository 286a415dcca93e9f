// The masked-logit softmax shared by the losses and attention: -Infinity entries get probability
// 0, rows masked entirely get zeros, gradients are finite; unmasked rows keep tfjs's numbers.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { logSoftmax, softmax, weightedLogProbSum } from '../../lib/ops/softmax.js';
import { assertClose, tensorDelta, values } from '../setup.js';

test('logSoftmax of rows without masks is the textbook x − max − log Σ exp(x − max), bit for bit, and near tf.logSoftmax', () => {
  const x = tf.tensor([[1, 2, 3], [-1e4, 0, 1e4], [0.5, 0.5, 0.5]]);
  const textbook = tf.tidy(() => {
    const shifted = tf.sub(x, tf.max(x, -1, true));
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), -1, true)));
  });
  const [ours, stock] = [logSoftmax(x), tf.logSoftmax(x)];
  assert.equal(values(ours), values(textbook));
  assertClose(values(ours), values(stock), 1e-6);
  tf.dispose([x, textbook, ours, stock]);
});

test('masked entries get probability 0, a row masked entirely gets zeros (not NaN), and gradients are finite', () => {
  // Hand-derived: softmax([1, 2]) = [1, e] / (1 + e).
  const P = 1 / (1 + Math.E);
  const x = tf.tensor([[1, 2, -Infinity], [-Infinity, -Infinity, -Infinity], [0, -Infinity, 0]]);
  const [p, logP] = [softmax(x), logSoftmax(x)];
  assertClose(values(p), [P, 1 - P, 0, 0, 0, 0, 0.5, 0, 0.5], 1e-7);
  const lp = values(logP);
  assertClose(lp.slice(0, 2), [Math.log(P), Math.log(1 - P)], 1e-6);
  assert.equal([lp[2], ...lp.slice(3, 6), lp[7]], [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity]);
  // d/dx Σ w·softmax(x) through tfjs's own gradients: finite, zero on masked entries and rows.
  const w = tf.tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
  const gradient = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(w, softmax(z))))(x);
  const g = values(gradient);
  tf.dispose([x, p, logP, w, gradient]);
  assert.ok(g.every(Number.isFinite), `finite: ${g}`);
  // Row 0: p_i (w_i − Σ p w) with p = [P, 1 − P].
  const pw = P * 1 + (1 - P) * 2;
  assertClose(g, [P * (1 - pw), (1 - P) * (2 - pw), 0, 0, 0, 0, 0.5 * (1 - 2), 0, 0.5 * (3 - 2)], 1e-6);
});

test('weightedLogProbSum takes 0 · log 0 as 0 and a weight on a masked entry as -Infinity', () => {
  const lp = tf.tensor([[-0.5, -Infinity], [-0.5, -Infinity]]);
  const weights = tf.tensor([[2, 0], [1, 1]]);
  const sum = weightedLogProbSum(weights, lp);
  assert.equal(values(sum), [-1, -Infinity]);
  tf.dispose([lp, weights, sum]);
});

test('none of them leaves a tensor behind', () => {
  const x = tf.tensor([[1, -Infinity]]);
  const { delta } = tensorDelta(() => tf.dispose([softmax(x), logSoftmax(x), weightedLogProbSum(x, x)]));
  assert.is(delta, 0);
  x.dispose();
});

test.run();
