import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { compareRun, referenceAdam } from './util.js';

test('addDecayedWeights adds weightDecay·param to the updates', () => {
  const tx = fx.optim.addDecayedWeights(0.1);
  const params = { w: tf.tensor([2, -4]) };
  const grads = { w: tf.tensor([1, 1]) };
  const [u, s] = tx.update(grads, tx.init(params), params);
  assertClose(u.w.dataSync(), [1.2, 0.6]);
  for (const t of [params, grads, u, s]) fx.tree.dispose(t);
});

test('addDecayedWeights with a mask decays only the selected leaves', () => {
  const tx = fx.optim.addDecayedWeights(0.5, { mask: (path) => path.endsWith('kernel') });
  const params = { kernel: tf.tensor([2]), bias: tf.tensor([2]) };
  const grads = { kernel: tf.tensor([1]), bias: tf.tensor([1]) };
  const state = tx.init(params);
  const [u, s] = tx.update(grads, state, params);
  assertClose(u.kernel.dataSync(), [2]);
  assertClose(u.bias.dataSync(), [1]);
  for (const t of [params, grads, state, u, s]) fx.tree.dispose(t);
});

test('adamw is decoupled: −lr·(adam + wd·param), matching the definition over 3 steps', () => {
  const o = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, weightDecay: 0.1 };
  compareRun(fx.optim.adamw(0.05, { weightDecay: 0.1 }), referenceAdam(() => 0.05, o));
});

test('adamw default weight decay is 1e-4', () => {
  compareRun(fx.optim.adamw(0.05), referenceAdam(() => 0.05, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, weightDecay: 1e-4 }));
});

test('adamw differs from adam with an L2 term in the gradient (the test can tell them apart)', () => {
  // Coupled L2 would feed wd·param through Adam's normalisation; the decoupled form does not.
  const decoupled = referenceAdam(() => 0.05, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, weightDecay: 0.5 });
  const plain = referenceAdam(() => 0.05, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 });
  assert.ok(Math.abs(decoupled.updates[0]!['dense/kernel']![0]! - plain.updates[0]!['dense/kernel']![0]!) > 1e-3);
});

test('adamw with a mask decays only the selected leaves', () => {
  const o = { b1: 0.8, b2: 0.99, eps: 1e-8, epsRoot: 0, weightDecay: 0.2 };
  const isKernel = (path: string) => path.endsWith('kernel');
  compareRun(fx.optim.adamw(0.05, { b1: 0.8, b2: 0.99, weightDecay: 0.2, mask: isKernel }), referenceAdam(() => 0.05, o, isKernel));
  compareRun(fx.optim.adamw(0.05, { b1: 0.8, b2: 0.99, weightDecay: 0.2, mask: { dense: { kernel: true, bias: false }, scale: false } }), referenceAdam(() => 0.05, o, isKernel));
});

test('adamw with a schedule scales the decay by the scheduled learning rate', () => {
  const o = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, weightDecay: 0.1 };
  const lr = (s: number) => 0.1 / (s + 1);
  compareRun(fx.optim.adamw(lr, { weightDecay: 0.1 }), referenceAdam(lr, o));
});

test('weight decay without params, or bad arguments, are FlaxenErrors', () => {
  const tx = fx.optim.adamw(0.1);
  const grads = { w: tf.ones([2]) };
  const state = tx.init(grads);
  const before = tf.memory().numTensors;
  assertThrows(() => tx.update(grads, state), fx.FlaxenError, 'addDecayedWeights', 'third argument');
  assert.is(tf.memory().numTensors, before, 'nothing leaks when update throws');
  fx.tree.dispose(grads);
  fx.tree.dispose(state);
  assertThrows(() => fx.optim.adamw(0.1, { weightDecay: -1 }), fx.FlaxenError, 'adamw', 'weightDecay');
  assertThrows(() => fx.optim.adamw(0.1, { b2: 1 }), fx.FlaxenError, 'adamw', 'b2');
  assertThrows(() => fx.optim.addDecayedWeights(-0.1), fx.FlaxenError, 'weightDecay');
});

test.run();
