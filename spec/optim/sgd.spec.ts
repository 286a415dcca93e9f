import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { GRADS, PARAMS, all, mapFlat, read, run, tree, type Flat } from './util.js';

// Reference: SGD with Optax's trace, in float64: trace = g + m·trace; update = −lr·trace, or
// −lr·(g + m·trace_new) with Nesterov.
function referenceSgd(lrAt: (step: number) => number, momentum: number | undefined, nesterov: boolean): { updates: Flat[]; params: Flat[] } {
  let trace = mapFlat(PARAMS, () => 0);
  let params = PARAMS;
  const updates: Flat[] = [];
  const paramsSeen: Flat[] = [];
  GRADS.forEach((g, step) => {
    const lr = lrAt(step);
    let u: Flat;
    if (momentum === undefined) {
      u = mapFlat(g, (x) => -lr * x);
    } else {
      const newTrace = mapFlat(g, (x, p, i) => x + momentum * trace[p]![i]!);
      u = nesterov ? mapFlat(g, (x, p, i) => -lr * (x + momentum * newTrace[p]![i]!)) : mapFlat(newTrace, (x) => -lr * x);
      trace = newTrace;
    }
    params = mapFlat(params, (x, p, i) => x + u[p]![i]!);
    updates.push(u);
    paramsSeen.push(params);
  });
  return { updates, params: paramsSeen };
}

function compare(tx: fx.optim.GradientTransformation, ref: { updates: Flat[]; params: Flat[] }): void {
  const got = run(tx);
  got.updates.forEach((u, i) => assertClose(all(u), all(ref.updates[i]!), 1e-6, 1e-5, `updates at step ${i}`));
  got.params.forEach((p, i) => assertClose(all(p), all(ref.params[i]!), 1e-6, 1e-5, `params at step ${i}`));
  assert.is(got.leaked, 0, 'tensors left alive');
}

test('plain sgd moves params by -lr·g', () => {
  compare(fx.optim.sgd(0.1), referenceSgd(() => 0.1, undefined, false));
});

test('the first plain sgd step matches hand-computed numbers', () => {
  const tx = fx.optim.sgd(0.5);
  const params = { w: tf.tensor([1, 2]) };
  const grads = { w: tf.tensor([0.5, -1]) };
  const state = tx.init(params);
  const [updates] = tx.update(grads, state, params);
  const next = fx.optim.applyUpdates(params, updates);
  assertClose(next.w.dataSync(), [0.75, 2.5]);
  for (const t of [params, grads, updates, next]) fx.tree.dispose(t);
});

test('sgd with momentum follows trace = g + m·trace over 3 steps', () => {
  compare(fx.optim.sgd(0.1, { momentum: 0.9 }), referenceSgd(() => 0.1, 0.9, false));
});

test('sgd with Nesterov momentum uses g + m·trace_new', () => {
  compare(fx.optim.sgd(0.05, { momentum: 0.8, nesterov: true }), referenceSgd(() => 0.05, 0.8, true));
});

test('Nesterov differs from heavy-ball momentum (the test can tell them apart)', () => {
  const a = referenceSgd(() => 0.05, 0.8, true).updates[1]!;
  const b = referenceSgd(() => 0.05, 0.8, false).updates[1]!;
  assert.ok(Math.abs(all(a)[0]! - all(b)[0]!) > 1e-3);
});

test('a learning-rate schedule is evaluated at step 0, 1, 2', () => {
  const lr = (step: number) => 0.1 * (step + 1);
  compare(fx.optim.sgd(lr, { momentum: 0.5 }), referenceSgd(lr, 0.5, false));
  compare(fx.optim.sgd(fx.optim.schedules.linear(0.3, 0, 3)), referenceSgd((s) => 0.3 - 0.1 * s, undefined, false));
});

test('without momentum the updates are still new tensors, safe to dispose apart from the grads', () => {
  const tx = fx.optim.chain(fx.optim.identity());
  const grads = { w: tf.tensor([1, 2]) };
  const [u] = tx.update(grads, tx.init(grads));
  assert.is.not(u.w, grads.w);
  grads.w.dispose();
  assertClose(u.w.dataSync(), [1, 2]);
  u.w.dispose();
});

test('grads shaped unlike the state are a FlaxenError naming the path', () => {
  const tx = fx.optim.sgd(0.1, { momentum: 0.9 });
  const params = tree(PARAMS);
  const state = tx.init(params);
  const partial = { dense: { kernel: tf.zeros([2, 2]) }, scale: tf.zeros([]) };
  assertThrows(() => tx.update(partial, state, params), fx.FlaxenError, 'dense', 'bias');
  const wrongShape = { dense: { bias: tf.zeros([3]), kernel: tf.zeros([2, 2]) }, scale: tf.zeros([]) };
  assertThrows(() => tx.update(wrongShape, state, params), fx.ShapeError, 'dense/bias', '[3]', '[2]');
  for (const t of [params, state, partial, wrongShape]) fx.tree.dispose(t);
});

test('bad arguments are FlaxenErrors', () => {
  assertThrows(() => fx.optim.sgd(-0.1), fx.FlaxenError, 'sgd', 'learningRate');
  assertThrows(() => fx.optim.sgd(Number.NaN), fx.FlaxenError, 'learningRate');
  assertThrows(() => fx.optim.sgd('0.1' as unknown as number), fx.FlaxenError, 'learningRate');
  assertThrows(() => fx.optim.sgd(0.1, { momentum: -1 }), fx.FlaxenError, 'momentum');
  assertThrows(() => fx.optim.sgd(0.1, { nesterov: true }), fx.FlaxenError, 'nesterov');
  assertThrows(() => fx.optim.sgd(0.1, { momentun: 0.9 } as never), fx.FlaxenError, 'momentun');
});

test('a schedule that returns NaN is a FlaxenError naming the step', () => {
  const tx = fx.optim.sgd((s) => (s < 1 ? 0.1 : Number.NaN));
  const params = { w: tf.ones([1]) };
  let state = tx.init(params);
  const [u, s1] = tx.update(params, state, params);
  assertThrows(() => tx.update(params, s1, params), fx.FlaxenError, 'step 1');
  fx.tree.dispose(params);
  fx.tree.dispose(u);
});

test.run();
