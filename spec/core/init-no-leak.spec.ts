// `init` of a custom module that is not abstract-safe first runs its body on abstract values; a
// body that makes tensors of its own before it meets an abstract value fails that attempt and is
// run again on zeros. The tensors of the failed attempt must not be left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { tensorDelta } from '../setup.js';

const Padded = fx.nn.module('Padded', (scope, x: tf.Tensor) => {
  const pad = tf.zeros([x.shape[0]!, 2]);   // made before the abstract x is used
  return scope.call(fx.nn.Dense(3), tf.concat([x, pad], 1));
});

test('init of a custom body that makes its own tensors leaves none behind', () => {
  const { delta } = tensorDelta(() => {
    const vars = Padded.init(fx.random.key(0), [4, 5]);
    assert.equal((vars.params as any).Dense_0.kernel.shape, [7, 3]);
    fx.tree.dispose(vars);
  });
  assert.is(delta, 0);
});

test('its output is kept and right: apply after init gives the Dense of the padded input', () => {
  const vars = Padded.init(fx.random.key(0), [4, 5]);
  const x = fx.random.normal(fx.random.key(1), [4, 5]);
  const y = Padded.apply(vars, x) as tf.Tensor;
  const p = (vars.params as any).Dense_0;
  const worst = tf.tidy(() => {
    const expected = tf.add(tf.matMul(tf.concat([x, tf.zeros([4, 2])], 1), p.kernel), p.bias);
    return tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]!;
  });
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
  tf.dispose([x, y]);
  fx.tree.dispose(vars);
});

test.run();
