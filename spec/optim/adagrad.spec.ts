import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { compareRun, referenceLoop } from './util.js';

// Reference Adagrad (Optax): s = s + g² from s = initial; u = −lr·g/sqrt(s + eps), 0 where s = 0.
function reference(lr: number, initial: number, eps: number) {
  const sums: Record<string, number[]> = {};
  return referenceLoop((g, _p, path) => {
    sums[path] = g.map((x, i) => (sums[path]?.[i] ?? initial) + x * x);
    return g.map((x, i) => (sums[path]![i]! > 0 ? (-lr * x) / Math.sqrt(sums[path]![i]! + eps) : 0));
  });
}

test('adagrad with defaults matches the definition over 3 steps', () => {
  compareRun(fx.optim.adagrad(0.1), reference(0.1, 0.1, 1e-7));
});

test('adagrad with another initial accumulator and a large eps', () => {
  compareRun(fx.optim.adagrad(0.3, { initialAccumulatorValue: 1, eps: 0.5 }), reference(0.3, 1, 0.5));
});

test('adagrad with zero initial accumulator and eps gives 0 (not NaN) for zero gradients', () => {
  const tx = fx.optim.adagrad(0.1, { initialAccumulatorValue: 0, eps: 0 });
  const params = { w: tf.ones([3]) };
  const grads = { w: tf.tensor([0, 2, -1]) };
  const state = tx.init(params);
  const [u, s] = tx.update(grads, state, params);
  assertClose(u.w.dataSync(), [0, -0.1, 0.1]);
  for (const t of [params, grads, state, u, s]) fx.tree.dispose(t);
});

test('adagrad rejects bad arguments', () => {
  assertThrows(() => fx.optim.adagrad(-0.1), fx.FlaxenError, 'adagrad', 'learningRate');
  assertThrows(() => fx.optim.adagrad(0.1, { initialAccumulatorValue: -1 }), fx.FlaxenError, 'initialAccumulatorValue');
});

test.run();
