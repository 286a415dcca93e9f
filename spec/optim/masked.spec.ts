import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { GRADS, PARAMS, all, mapFlat, read, referenceAdam, run, tree, type Flat } from './util.js';

function pick(f: Flat, keep: (path: string) => boolean): Flat {
  return Object.fromEntries(Object.entries(f).filter(([p]) => keep(p)));
}

test('multiTransform with a frozen subtree: its params do not move, the rest follows adam', () => {
  const tx = fx.optim.multiTransform({ train: fx.optim.adam(0.1), frozen: fx.optim.setToZero() }, { dense: 'train', scale: 'frozen' });
  const got = run(tx);
  const ref = referenceAdam(() => 0.1, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 });
  const isDense = (p: string) => p.startsWith('dense/');
  got.params.forEach((p, i) => {
    assertClose(all(pick(p, isDense)), all(pick(ref.params[i]!, isDense)), 1e-6, 2e-5, `dense params at step ${i}`);
    assertClose(p['scale']!, PARAMS['scale']!, 0, 0, `frozen params at step ${i}`);
  });
  assert.is(got.leaked, 0);
});

test('the frozen group keeps no moments; the trained group keeps moments for its leaves only', () => {
  const tx = fx.optim.multiTransform({ train: fx.optim.adam(0.1), frozen: fx.optim.setToZero() }, (path) => (path === 'scale' ? 'frozen' : 'train'));
  const params = tree(PARAMS);
  const before = tf.memory().numTensors;
  const state = tx.init(params);
  assert.is(tf.memory().numTensors - before, 2 * 2, 'mu and nu for the two dense leaves only');
  assert.equal(state.innerStates['frozen'], {});
  const adamState = (state.innerStates['train'] as fx.optim.ChainState)['0'] as fx.optim.ScaleByAdamState;
  assert.equal(fx.tree.flatten(adamState.mu).map(([p]) => p), ['dense/bias', 'dense/kernel']);
  const grads = tree(GRADS[0]!);
  const [u, next] = tx.update(grads, state, params);
  assertClose(read(u)['scale']!, [0]);
  assert.ok(Object.isFrozen(next) && Object.isFrozen(next.innerStates));
  for (const t of [state, grads, u, next]) fx.tree.dispose(t);
  assert.is(tf.memory().numTensors, before);
  fx.tree.dispose(params);
});

test('multiTransform gives each label its own optimizer', () => {
  const tx = fx.optim.multiTransform({ fast: fx.optim.sgd(1), slow: fx.optim.sgd(0.01) }, { dense: { kernel: 'fast', bias: 'slow' }, scale: 'slow' });
  const got = run(tx);
  let params = PARAMS;
  GRADS.forEach((g, i) => {
    params = mapFlat(params, (x, p, j) => x - (p === 'dense/kernel' ? 1 : 0.01) * g[p]![j]!);
    assertClose(all(got.params[i]!), all(params), 1e-6, 1e-5, `step ${i}`);
  });
  assert.is(got.leaked, 0);
});

test('unknown labels, missing labels and bad transforms are FlaxenErrors naming the path', () => {
  const params = tree(PARAMS);
  const bad = fx.optim.multiTransform({ a: fx.optim.sgd(0.1) }, (path) => (path === 'scale' ? 'b' : 'a'));
  assertThrows(() => bad.init(params), fx.FlaxenError, 'scale', "'b'", 'known labels are [a]');
  const partial = fx.optim.multiTransform({ a: fx.optim.sgd(0.1) }, { dense: 'a' });
  assertThrows(() => partial.init(params), fx.FlaxenError, 'labels', 'lacks [scale]');
  assertThrows(() => fx.optim.multiTransform({ a: fx.optim.sgd(0.1) }, { dense: { kernel: 'a', bias: 'c' } }), fx.FlaxenError, 'dense/bias', "'c'", 'known labels are [a]');
  const extra = fx.optim.multiTransform({ a: fx.optim.sgd(0.1) }, { dense: 'a', scale: 'a', head: 'a' });
  assertThrows(() => extra.init(params), fx.FlaxenError, 'head');
  const nonString = fx.optim.multiTransform({ a: fx.optim.sgd(0.1) }, () => 3 as never);
  assertThrows(() => nonString.init(params), fx.FlaxenError, 'dense/bias', 'string');
  assertThrows(() => fx.optim.multiTransform({ a: 3 as never }, 'a'), fx.FlaxenError, "transforms['a']");
  fx.tree.dispose(params);
});

test('masked applies the inner transformation to selected leaves and passes the rest through', () => {
  const tx = fx.optim.masked(fx.optim.scale(10), (path) => path.endsWith('kernel'));
  const params = tree(PARAMS);
  const grads = tree(GRADS[0]!);
  const state = tx.init(params);
  const [u, next] = tx.update(grads, state, params);
  const got = read(u);
  assertClose(got['dense/kernel']!, GRADS[0]!['dense/kernel']!.map((x) => 10 * x));
  assertClose(got['dense/bias']!, GRADS[0]!['dense/bias']!);
  // Passed-through updates are separate tensors: disposing the grads leaves them readable.
  fx.tree.dispose(grads);
  assertClose(read(u)['scale']!, GRADS[0]!['scale']!);
  for (const t of [params, state, u, next]) fx.tree.dispose(t);
});

test('a masked stateful transformation keeps state only for the selected leaves', () => {
  const tx = fx.optim.masked(fx.optim.trace({ decay: 0.5 }), { dense: { kernel: true, bias: false }, scale: false });
  const params = tree(PARAMS);
  const state = tx.init(params);
  assert.equal(fx.tree.flatten((state.inner as fx.optim.TraceState).trace).map(([p]) => p), ['dense/kernel']);
  let s = state;
  let last: Flat = {};
  for (const g of GRADS) {
    const grads = tree(g);
    const [u, next] = tx.update(grads, s, params);
    last = read(u);
    for (const t of [grads, u, s]) fx.tree.dispose(t);
    s = next;
  }
  // trace after three steps: g3 + 0.5·(g2 + 0.5·g1) on the kernel; the rest is g3.
  const expected = GRADS[2]!['dense/kernel']!.map((x, i) => x + 0.5 * (GRADS[1]!['dense/kernel']![i]! + 0.5 * GRADS[0]!['dense/kernel']![i]!));
  assertClose(last['dense/kernel']!, expected);
  assertClose(last['dense/bias']!, GRADS[2]!['dense/bias']!);
  fx.tree.dispose(s);
  fx.tree.dispose(params);
});

test('a mask tree that does not fit the params is a FlaxenError naming the path', () => {
  const params = tree(PARAMS);
  const tx = fx.optim.masked(fx.optim.scale(2), { dense: { kernel: true }, scale: false });
  assertThrows(() => tx.init(params), fx.FlaxenError, 'dense', 'lacks [bias]');
  const notBool = fx.optim.masked(fx.optim.scale(2), () => 'yes' as never);
  assertThrows(() => notBool.init(params), fx.FlaxenError, 'boolean');
  fx.tree.dispose(params);
});

test.run();
