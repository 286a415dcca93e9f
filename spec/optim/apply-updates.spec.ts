import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';

test('applyUpdates adds leaf by leaf into a new frozen tree', () => {
  const params = { a: { w: tf.tensor([1, 2]) }, b: tf.tensor([[1, 2], [3, 4]]) };
  const updates = { a: { w: tf.tensor([0.5, -1]) }, b: tf.tensor([[1, 1], [1, -1]]) };
  const before = tf.memory().numTensors;
  const next = fx.optim.applyUpdates(params, updates);
  assert.is(tf.memory().numTensors - before, 2);
  assertClose(next.a.w.dataSync(), [1.5, 1]);
  assertClose(next.b.dataSync(), [2, 3, 4, 3]);
  assert.equal(next.b.shape, [2, 2]);
  assert.ok(Object.isFrozen(next) && Object.isFrozen(next.a));
  assert.not.ok(params.a.w.isDisposed || updates.a.w.isDisposed);
  assertClose(params.a.w.dataSync(), [1, 2]);
  for (const t of [params, updates, next]) fx.tree.dispose(t);
});

test('applyUpdates keeps the dtype of each parameter', () => {
  const params = { w: tf.tensor([1, 2], [2], 'int32') };
  const updates = { w: tf.tensor([0.4, -1.2]) };
  const next = fx.optim.applyUpdates(params, updates);
  assert.is(next.w.dtype, 'int32');
  for (const t of [params, updates, next]) fx.tree.dispose(t);
});

test('applyUpdates on trees of different structure is a FlaxenError naming the path', () => {
  const params = { layer: { kernel: tf.ones([2, 2]), bias: tf.ones([2]) } };
  const [k22, k23, b2, extra] = [tf.ones([2, 2]), tf.ones([2, 3]), tf.ones([2]), tf.ones([1])];
  assertThrows(() => fx.optim.applyUpdates(params, { layer: { kernel: k22 } }), fx.FlaxenError, 'layer', 'lacks [bias]', 'applyUpdates');
  assertThrows(() => fx.optim.applyUpdates(params, { layer: { kernel: k22, bias: b2, extra } }), fx.FlaxenError, 'layer', 'extra [extra]');
  assertThrows(() => fx.optim.applyUpdates(params, { layer: { kernel: k23, bias: b2 } }), fx.ShapeError, 'layer/kernel', '[2, 2]', '[2, 3]');
  assertThrows(() => fx.optim.applyUpdates(params, { layer: b2 }), fx.FlaxenError, 'layer', 'differ in structure');
  fx.tree.dispose(params);
  tf.dispose([k22, k23, b2, extra]);
});

test('applyUpdates leaves nothing behind when it throws', () => {
  const params = { a: tf.ones([2]), b: tf.ones([2]) };
  const updates = { a: tf.ones([2]), b: tf.ones([3]) };
  const before = tf.memory().numTensors;
  assertThrows(() => fx.optim.applyUpdates(params, updates), fx.ShapeError, 'b');
  assert.is(tf.memory().numTensors, before);
  fx.tree.dispose(params);
  fx.tree.dispose(updates);
});

test('a disposed tensor given to applyUpdates or an optimizer update is a FlaxenError naming the argument and the path', () => {
  // Before: tfjs's TypeError "Cannot read properties of undefined (reading 'backend')".
  const params = { layer: { w: tf.ones([3]) } };
  const gone = { layer: { w: tf.ones([3]) } };
  gone.layer.w.dispose();
  assertThrows(() => fx.optim.applyUpdates(params, gone), fx.FlaxenError, 'layer/w: applyUpdates: updates holds a disposed tensor here');
  assertThrows(() => fx.optim.applyUpdates(gone, params), fx.FlaxenError, 'layer/w: applyUpdates: params holds a disposed tensor here');
  for (const tx of [fx.optim.sgd(0.1), fx.optim.adam(0.1), fx.optim.rmsprop(0.1), fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.adam(0.1))]) {
    const state = tx.init(params);
    assertThrows(() => tx.update(gone, state, params), fx.FlaxenError, 'layer/w: ', 'grads holds a disposed tensor here');
    fx.tree.dispose(state);
  }
  fx.tree.dispose(params);
});

test.run();
