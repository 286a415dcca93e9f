// withLazyGradients: an op on the tape whose gradient thunks run only for inputs on the path.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withLazyGradients } from '../../lib/ops/lazy-grad.js';
import { assertClose, tensorDelta } from '../setup.js';

/** y = a ⊙ b (elementwise), counting how often each gradient thunk runs. */
function product(a: tf.Tensor, b: tf.Tensor, calls: number[]): tf.Tensor {
  return withLazyGradients(
    [a, b],
    (save) => {
      save([a, b]);
      return tf.mul(a, b);
    },
    (dy, [sa, sb]) => [
      () => (calls[0]!++, tf.mul(dy, sb!)),
      () => (calls[1]!++, tf.mul(dy, sa!)),
    ],
  );
}

test('only the thunks of inputs on the path run, and they give the right gradient', () => {
  const a = tf.tensor1d([1, 2, 3]), b = tf.tensor1d([4, 5, 6]);
  const calls = [0, 0];
  const [db] = tf.grads((bi: tf.Tensor) => tf.sum(product(a, bi, calls)))([b]);
  assert.equal(calls, [0, 1]);
  assertClose(db!.dataSync(), [1, 2, 3]);
  const both = tf.grads((ai: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.square(product(ai, bi, calls))))([a, b]);
  assert.equal(calls, [1, 2]);
  // d/da sum((ab)²) = 2ab², d/db = 2a²b
  assertClose(both[0]!.dataSync(), [32, 100, 216]);
  assertClose(both[1]!.dataSync(), [8, 40, 108]);
  tf.dispose([a, b, db!, ...both]);
});

test('the forward value is the op output, outside gradients too, and nothing leaks', () => {
  const a = tf.tensor1d([1, 2]), b = tf.tensor1d([3, 4]);
  const { delta } = tensorDelta(() => {
    const y = product(a, b, [0, 0]);
    assertClose(y.dataSync(), [3, 8]);
    y.dispose();
    tf.dispose(tf.grads((ai: tf.Tensor) => tf.sum(product(ai, b, [0, 0])))([a]));
  });
  assert.is(delta, 0);
  tf.dispose([a, b]);
});

test.run();
