import { test } from 'uvu';
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, values } from '../setup.js';

const at = (fn: fx.nn.Activation, xs: number[]) => {
  const x = tf.tensor1d(xs);
  const y = fn(x);
  const out = values(y);
  tf.dispose([x, y]);
  return out;
};

test('activations match hand-computed values', () => {
  assertClose(at(fx.nn.relu, [-2, 0, 3]), [0, 0, 3]);
  // sigmoid(2) = 1/(1+e^-2); tanh(1); silu(1) = sigmoid(1)
  assertClose(at(fx.nn.sigmoid, [0, 2, -2]), [0.5, 0.8807970779778823, 0.11920292202211755], 1e-6);
  assertClose(at(fx.nn.tanh, [0, 1]), [0, 0.7615941559557649], 1e-6);
  assertClose(at(fx.nn.silu, [1, -1]), [0.7310585786300049, -0.2689414213699951], 1e-6);
  // GELU, tanh approximation (Flax's default): gelu(1) = 0.5(1+tanh(√(2/π)·1.044715)) = 0.8411919906
  assertClose(at(fx.nn.gelu, [1, -1, 0, 3]), [0.8411919906082768, -0.15880800939172324, 0, 2.99636259], 1e-5);
});

test('softmax and logSoftmax act on the last axis and stay finite at large logits', () => {
  const x = tf.tensor2d([[1e4, 0], [1, 1]]);
  const s = fx.nn.softmax(x);
  const l = fx.nn.logSoftmax(x);
  assertClose(values(s), [1, 0, 0.5, 0.5], 1e-6);
  assertClose(values(l), [0, -1e4, -Math.LN2, -Math.LN2], 1e-3);
  assert.ok(values(l).every(Number.isFinite));
  tf.dispose([x, s, l]);
});

test('activations pass shape stand-ins through and have display names for describe', () => {
  const s = new fx.ShapeDtype([2, 3]);
  assert.is(fx.nn.relu(s as unknown as tf.Tensor), s as unknown as tf.Tensor);
  assert.is(fx.nn.gelu.displayName, 'gelu');
  assert.match(fx.nn.Sequential([fx.nn.Dense(2), fx.nn.silu]).describe(), /\(layers_1\): silu/);
});

test('a plain function layer in Sequential is sized by running it (on zeros, freed afterwards)', () => {
  const flatten = (x: tf.Tensor) => tf.reshape(x, [x.shape[0]!, -1]);
  const net = fx.nn.Sequential([flatten, fx.nn.Dense(3)]);
  const { result: v, delta } = tensorDelta(() => net.init(fx.random.key(0), [2, 4, 5]));
  assert.is(delta, 2);
  assert.equal(v.params.layers_1.kernel.shape, [20, 3]);
  fx.tree.dispose(v);
  const broken = fx.nn.Sequential([(x: tf.Tensor) => tf.reshape(x, [7, 7]), fx.nn.Dense(3)]);
  assertThrows(() => broken.init(fx.random.key(0), [2, 3]), fx.FlaxenError, 'layers_0', '[2, 3]');
});

test('a non-tensor input to an activation is a FlaxenError', () => {
  assertThrows(() => fx.nn.relu([1, 2] as unknown as tf.Tensor), fx.FlaxenError, 'relu needs a tensor');
  const custom = fx.nn.activation('leaky', (x) => tf.leakyRelu(x, 0.1));
  assertClose(at(custom, [-1, 2]), [-0.1, 2], 1e-6);
});

test.run();
