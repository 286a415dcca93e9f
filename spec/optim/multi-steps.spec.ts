import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { GRADS, PARAMS, all, compareRun, mapFlat, tree, type Flat } from './util.js';

test('multiSteps(sgd, 3) returns zeros twice, then −lr times the mean of the 3 gradients', () => {
  const mean = mapFlat(GRADS[0]!, (_, p, i) => (GRADS[0]![p]![i]! + GRADS[1]![p]![i]! + GRADS[2]![p]![i]!) / 3);
  const zero = mapFlat(PARAMS, () => 0);
  const last = mapFlat(mean, (x) => -0.1 * x);
  const params2 = mapFlat(PARAMS, (x, p, i) => x + last[p]![i]!);
  compareRun(fx.optim.multiSteps(fx.optim.sgd(0.1), 3), { updates: [zero, zero, last], params: [PARAMS, PARAMS, params2] });
});

test('multiSteps(adam, 2) runs Adam step 1 on the mean of two gradients, and counts inner steps', () => {
  // Adam's first step on the mean m: −lr·m/(|m| + eps).
  const mean = mapFlat(GRADS[0]!, (_, p, i) => (GRADS[0]![p]![i]! + GRADS[1]![p]![i]!) / 2);
  const step = mapFlat(mean, (x) => (-0.01 * x) / (Math.abs(x) + 1e-8));
  const zero = mapFlat(PARAMS, () => 0);
  const p1 = mapFlat(PARAMS, (x, p, i) => x + step[p]![i]!);
  compareRun(fx.optim.multiSteps(fx.optim.adam(0.01), 2), { updates: [zero, step, zero], params: [PARAMS, p1, p1] });
  const tx = fx.optim.multiSteps(fx.optim.adam(0.01), 2);
  const params = tree(PARAMS);
  let state = tx.init(params);
  for (const g of GRADS) {
    const grads = tree(g);
    const [u, next] = tx.update(grads, state, params);
    for (const t of [grads, u, state]) fx.tree.dispose(t);
    state = next;
    assert.ok(Object.isFrozen(state) && Object.isFrozen(state.accGrads));
  }
  assert.is(state.miniStep, 1);
  assert.is(state.gradientStep, 1);
  assert.is(((state.inner as fx.optim.ChainState)['0'] as fx.optim.ScaleByAdamState).count, 1);
  fx.tree.dispose(state);
  fx.tree.dispose(params);
});

test('the state carried over between inner steps survives disposing the previous state', () => {
  const tx = fx.optim.multiSteps(fx.optim.sgd(0.1, { momentum: 0.9 }), 2);
  const params = { w: tf.ones([2]) };
  const s0 = tx.init(params);
  const g = { w: tf.tensor([1, -1]) };
  const [u1, s1] = tx.update(g, s0, params);
  const [u2, s2] = tx.update(g, s1, params);
  const [u3, s3] = tx.update(g, s2, params);
  fx.tree.dispose(s0);
  fx.tree.dispose(s1);
  fx.tree.dispose(s2);
  const trace = (s3.inner as fx.optim.ChainState)['0'] as fx.optim.TraceState;
  assertClose(((trace.trace as { w: tf.Tensor }).w).dataSync(), [1, -1]);
  for (const t of [params, g, u1, u2, u3, s3]) fx.tree.dispose(t);
});

test('multiSteps(tx, 1) is tx', () => {
  const ref: { updates: Flat[]; params: Flat[] } = { updates: [], params: [] };
  let p = PARAMS;
  for (const g of GRADS) {
    const u = mapFlat(g, (x) => -0.5 * x);
    p = mapFlat(p, (x, q, i) => x + u[q]![i]!);
    ref.updates.push(u);
    ref.params.push(p);
  }
  compareRun(fx.optim.multiSteps(fx.optim.sgd(0.5), 1), ref);
  void all;
});

test('multiSteps arguments are checked', () => {
  assertThrows(() => fx.optim.multiSteps(fx.optim.sgd(0.1), 0), fx.FlaxenError, 'multiSteps', 'everyK');
  assertThrows(() => fx.optim.multiSteps(fx.optim.sgd(0.1), 1.5), fx.FlaxenError, 'everyK');
  assertThrows(() => fx.optim.multiSteps({} as never, 2), fx.FlaxenError, 'inner');
});

test.run();
