import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, backend, countKernel } from '../setup.js';
import { GRADS, PARAMS, all, compareRun, read, referenceAdam, tree } from './util.js';

test('chain applies its stages in order', () => {
  // clip then scale differs from scale then clip.
  const grads = { w: tf.tensor([0.5, 3]) };
  const a = fx.optim.chain(fx.optim.clip(1), fx.optim.scale(2));
  const b = fx.optim.chain(fx.optim.scale(2), fx.optim.clip(1));
  const [ua] = a.update(grads, a.init(grads));
  const [ub] = b.update(grads, b.init(grads));
  assertClose(ua.w.dataSync(), [1, 2]);
  assertClose(ub.w.dataSync(), [1, 1]);
  for (const t of [grads, ua, ub]) fx.tree.dispose(t);
});

test('adam is chain(scaleByAdam, scaleByLearningRate) and so is its state', () => {
  const manual = fx.optim.chain(fx.optim.scaleByAdam(), fx.optim.scaleByLearningRate(0.01));
  compareRun(manual, referenceAdam(() => 0.01, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 }));
  const params = { w: tf.ones([2]) };
  const state = fx.optim.adam(0.01).init(params);
  assert.equal(Object.keys(state), ['0', '1']);
  assert.equal(Object.keys(state['0']!).sort(), ['count', 'mu', 'nu']);
  assert.equal(state['1'], {});
  fx.tree.dispose(state);
  fx.tree.dispose(params);
});

test('adam(lr) continues from the state of chain(scaleByAdam, scaleByLearningRate) and back', () => {
  const ref = referenceAdam(() => 0.01, { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 });
  const manual = fx.optim.chain(fx.optim.scaleByAdam(), fx.optim.scaleByLearningRate(0.01));
  const alias = fx.optim.adam(0.01);
  let params = tree(PARAMS);
  let state = manual.init(params);
  GRADS.forEach((g, i) => {
    const tx = i === 1 ? alias : manual;
    const grads = tree(g);
    const [u, next] = tx.update(grads, state, params);
    const p = fx.optim.applyUpdates(params, u);
    for (const t of [grads, u, state, params]) fx.tree.dispose(t);
    params = p;
    state = next;
    assertClose(all(read(params)), all(ref.params[i]!), 1e-6, 2e-5, `step ${i}`);
  });
  fx.tree.dispose(params);
  fx.tree.dispose(state);
});

test('chain state is a plain object so fx.tree.dispose frees every inner tensor', () => {
  const tx = fx.optim.chain(fx.optim.sgd(0.1, { momentum: 0.9 }), fx.optim.scaleByAdam());
  const params = { w: tf.ones([2]), b: tf.ones([3]) };
  const before = tf.memory().numTensors;
  const state = tx.init(params);
  assert.is(tf.memory().numTensors - before, 2 + 4);
  fx.tree.dispose(state);
  assert.is(tf.memory().numTensors, before);
  fx.tree.dispose(params);
});

test('an empty chain is the identity', () => {
  const tx = fx.optim.chain();
  const grads = { w: tf.tensor([1, 2]) };
  const [u, s] = tx.update(grads, tx.init(grads));
  assertClose(u.w.dataSync(), [1, 2]);
  assert.is.not(u.w, grads.w);
  assert.equal(s, {});
  for (const t of [grads, u]) fx.tree.dispose(t);
});

test('nested chains leave no intermediate tensors alive', () => {
  const tx = fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.chain(fx.optim.scaleByAdam(), fx.optim.scale(2)), fx.optim.scaleByLearningRate(0.1));
  const params = { w: tf.ones([2]) };
  const grads = { w: tf.tensor([3, 4]) };
  const state = tx.init(params);
  const before = tf.memory().numTensors;
  const [u, s] = tx.update(grads, state, params);
  assert.is(tf.memory().numTensors - before, 3, 'one update and two moments');
  for (const t of [u, s]) fx.tree.dispose(t);
  assert.is(tf.memory().numTensors, before);
  for (const t of [params, grads, state]) fx.tree.dispose(t);
});

test('chain rejects non-transformations and foreign states', () => {
  assertThrows(() => fx.optim.chain(fx.optim.sgd(0.1), 3 as never), fx.FlaxenError, 'chain', 'argument 1');
  const tx = fx.optim.chain(fx.optim.scale(1), fx.optim.scale(2));
  const grads = { w: tf.ones([1]) };
  assertThrows(() => tx.update(grads, { 0: {} } as never), fx.FlaxenError, 'chain', 'lacks [1]');
  assertThrows(() => tx.update(grads, undefined as never), fx.FlaxenError, 'chain', 'state');
  fx.tree.dispose(grads);
});

test('a composite optimizer keeps the tensor count flat over 300 steps', () => {
  const tx = fx.optim.chain(
    fx.optim.clipByGlobalNorm(1),
    fx.optim.multiTransform(
      {
        decay: fx.optim.adamw(fx.optim.schedules.warmupCosineDecay(0, 0.01, 10, 300), { weightDecay: 0.1, mask: (p) => p.endsWith('kernel') }),
        frozen: fx.optim.setToZero(),
        other: fx.optim.rmsprop(0.01, { momentum: 0.9 }),
      },
      { dense: { kernel: 'decay', bias: 'other' }, scale: 'frozen' },
    ),
  );
  const before = tf.memory().numTensors;
  let params = tree(PARAMS);
  let state = tx.init(params);
  const grads = tree(GRADS[0]!);
  const afterInit = tf.memory().numTensors;
  for (let i = 0; i < 300; i++) {
    const [u, next] = tx.update(grads, state, params);
    const p = fx.optim.applyUpdates(params, u);
    for (const t of [u, state, params]) fx.tree.dispose(t);
    params = p;
    state = next;
    if (i % 50 === 0) assert.is(tf.memory().numTensors, afterInit, `step ${i}`);
  }
  assert.is(tf.memory().numTensors, afterInit);
  assertClose(read(params)['scale']!, PARAMS['scale']!, 0, 0);
  for (const t of [grads, state, params]) fx.tree.dispose(t);
  assert.is(tf.memory().numTensors, before);
});

test('an update that fails on a later leaf leaves no tensor behind', () => {
  const tx = fx.optim.adam(0.1);
  const params = { a: tf.ones([2]), b: tf.ones([2]) };
  const state = tx.init(params);
  const grads = { a: tf.ones([2]), b: tf.ones([3]) };
  const before = tf.memory().numTensors;
  assertThrows(() => tx.update(grads, state, params), fx.ShapeError, 'b', '[3]', '[2]');
  assert.is(tf.memory().numTensors, before);
  for (const t of [params, state, grads]) fx.tree.dispose(t);
});

/** Steps `tx` by updateAndApply (fused) and by update then applyUpdates; returns both runs' leaves as bits, and the Sqrt kernels each dispatched. */
function fusedAgainstUnfused(tx: fx.optim.GradientTransformation, steps = 4) {
  const start = { w: fx.random.normal(fx.random.key(5), [7, 3]), b: fx.random.normal(fx.random.key(6), [5]), s: fx.random.normal(fx.random.key(7), [1]) };
  const clone = () => fx.tree.map(start, (t: tf.Tensor) => t.clone()) as typeof start;
  const runs = { fused: { params: clone(), sqrt: 0 }, unfused: { params: clone(), sqrt: 0 } };
  let fusedState = tx.init(runs.fused.params);
  let unfusedState = tx.init(runs.unfused.params);
  const before = tf.memory().numTensors;
  for (let step = 0; step < steps; step++) {
    const grads = fx.tree.map(start, (t: tf.Tensor, path: string) => fx.random.normal(fx.random.key(100 * step + path.length), t.shape));
    const [[params, state], fusedSqrt] = countKernel('Sqrt', () => tx.updateAndApply!(grads, fusedState, runs.fused.params));
    const [[updates, next], unfusedSqrt] = countKernel('Sqrt', () => tx.update(grads, unfusedState, runs.unfused.params));
    const applied = fx.optim.applyUpdates(runs.unfused.params, updates);
    for (const t of [grads, updates, runs.fused.params, runs.unfused.params, fusedState, unfusedState]) fx.tree.dispose(t);
    runs.fused = { params, sqrt: runs.fused.sqrt + fusedSqrt };
    runs.unfused = { params: applied, sqrt: runs.unfused.sqrt + unfusedSqrt };
    fusedState = state;
    unfusedState = next;
  }
  const leaked = tf.memory().numTensors - before;
  const bits = (v: unknown) => (v instanceof tf.Tensor ? Array.from(v.dataSync()) : v);
  const out = {
    fused: { params: fx.tree.leaves(runs.fused.params).map(bits), state: fx.tree.leaves(fusedState).map(bits), sqrt: runs.fused.sqrt },
    unfused: { params: fx.tree.leaves(runs.unfused.params).map(bits), state: fx.tree.leaves(unfusedState).map(bits), sqrt: runs.unfused.sqrt },
    leaked,
  };
  for (const t of [runs.fused.params, runs.unfused.params, fusedState, unfusedState, start]) fx.tree.dispose(t);
  return out;
}

test('chain(clipByGlobalNorm(1), adam(lr)) keeps the fused update-and-apply: the bits of update then applyUpdates', () => {
  const clipped = fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.adam(fx.optim.schedules.cosineDecay(0.1, 10)));
  assert.type(clipped.updateAndApply, 'function', 'declared, since its last stage (adam) declares it');
  const out = fusedAgainstUnfused(clipped);
  assert.equal(out.fused.params, out.unfused.params, 'parameters');
  assert.equal(out.fused.state, out.unfused.state, 'optimizer state');
  assert.is(out.leaked, 0, 'no tensor left behind');
  // The fused Adam kernel runs in place of the tfjs ops (whose step takes one Sqrt per leaf);
  // the only Sqrt kernel left is the clipping's global norm, once per step.
  if (backend === 'wasm') assert.is(out.fused.sqrt, 4, 'one Sqrt per step: the global norm only');
  else assert.is(out.fused.sqrt, 4 * (1 + 3), 'off wasm, tfjs ops: a Sqrt per leaf too');
});

test('adam is chain(scaleByAdam, scaleByLearningRate): the same bits, the same state, the same fast paths', () => {
  const plain = fx.optim.chain(fx.optim.scaleByAdam(), fx.optim.scaleByLearningRate(0.01));
  assert.type(plain.updateAndApply, 'function', 'the chain folds the learning rate into the Adam step and has the fast path');
  const a = fusedAgainstUnfused(fx.optim.adam(0.01)), b = fusedAgainstUnfused(plain);
  assert.equal(a.unfused, b.unfused);
  assert.equal(a.fused.params, a.unfused.params);
  const w = fusedAgainstUnfused(fx.optim.adamw(0.01, { weightDecay: 0.1 }));
  assert.equal(w.fused.params, w.unfused.params, 'adamw: update-and-apply falls back to update then applyUpdates, same bits');
});

test('a chain declares updateAndApply only when its last stages allow it', () => {
  assert.is(fx.optim.sgd(0.1).updateAndApply, undefined, 'sgd has no fused path');
  assert.is(fx.optim.chain(fx.optim.adam(0.1), fx.optim.scale(2)).updateAndApply, undefined, 'a stage after adam that cannot fold');
  assert.is(fx.optim.chain().updateAndApply, undefined);
  assert.type(fx.optim.chain(fx.optim.chain(fx.optim.clip(1), fx.optim.adam(0.1))).updateAndApply, 'function', 'nested');
});

test.run();
