// Divergence is reported, not silently trained on (issue 10): a non-finite loss or gradient in
// trainStep is a DivergenceError naming the step, and the state given to the step stays live and
// unchanged; { onNonFinite: 'skip' } skips the update instead (the step still advances).
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';

const { TrainState, DivergenceError } = fx.train;
type P = { readonly w: tf.Tensor };

// ½ Σ (x·w − y)²: with sgd(1e6) each step multiplies the error by about −1e6, so the loss
// overflows float32 within a few steps.
const x = tf.tensor2d([[1, 2], [3, 1], [-1, 0.5]]);
const y = tf.tensor1d([1, -1, 2]);
const quadratic = (params: P) => tf.mul(0.5, tf.sum(tf.square(tf.sub(tf.squeeze(tf.matMul(x, tf.reshape(params.w, [2, 1]))), y))));
const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

test('sgd(1e6) no longer trains on NaN: the step whose loss overflows throws a DivergenceError naming it, and that state is still usable', () => {
  let state = TrainState.create({ apply: () => tf.scalar(0), params: { w: tf.tensor([0.1, -0.2]) }, tx: fx.optim.sgd(1e6) });
  const before = tf.memory().numTensors;
  let caught: InstanceType<typeof DivergenceError> | undefined;
  const losses: number[] = [];
  for (let i = 0; i < 50 && !caught; i++) {
    try {
      const result = fx.train.trainStep(state, quadratic, undefined);
      losses.push(result.loss);
      state = result.state;
    } catch (error) {
      if (!(error instanceof DivergenceError)) throw error;
      caught = error;
    }
  }
  assert.ok(caught, `no DivergenceError after losses ${losses}`);
  assert.ok(caught instanceof fx.FlaxenError);
  assert.is(caught.step, state.step, 'the error names the step of the state it started from');
  assert.is(caught.step, losses.length);
  assert.ok(losses.every(Number.isFinite), 'every step before it had a finite loss and gradients');
  assert.ok(caught.message.includes(`trainStep at step ${caught.step}:`), caught.message);
  assert.ok(!Number.isFinite(caught.loss) || caught.gradients.length > 0);
  assert.ok(!state.isSpent, 'the state given to the failed step is live');
  assert.ok(fx.tree.leaves(state.params).every((t) => !t.isDisposed));
  assert.ok(Array.from(state.params.w.dataSync()).every(Number.isFinite), 'and finite');
  assert.is(tf.memory().numTensors, before, 'the failed step leaked nothing');
  // The user can save it, which is the point: restore, lower the learning rate, go on.
  const back = fx.checkpoint.fromBytes(fx.checkpoint.toBytes(state), state);
  assert.equal(bits(back.params.w), bits(state.params.w));
  back.dispose();
  state.dispose();
});

test('a NaN loss names the loss; a non-finite gradient with a finite loss names the parameter', () => {
  const state = TrainState.create({ apply: () => tf.scalar(0), params: { a: tf.tensor([0, 1]), b: tf.tensor([1, 2]) }, tx: fx.optim.adam(1e-3) });
  const before = tf.memory().numTensors;
  const nanLoss = (p: { a: tf.Tensor; b: tf.Tensor }) => tf.add(tf.sum(tf.log(tf.sub(p.b, 5))), tf.sum(p.a));
  const e1 = assertThrows(() => fx.train.trainStep(state, nanLoss, undefined), DivergenceError, 'trainStep at step 0: the loss is NaN') as InstanceType<typeof DivergenceError>;
  assert.ok(Number.isNaN(e1.loss));
  // sqrt(|a|) at a = 0: a finite loss, an infinite gradient for a only.
  const infGrad = (p: { a: tf.Tensor; b: tf.Tensor }) => tf.add(tf.sum(tf.sqrt(tf.abs(p.a))), tf.sum(p.b));
  const e2 = assertThrows(() => fx.train.trainStep(state, infGrad, undefined), DivergenceError, "the gradient of 'a' holds NaN or ±Infinity") as InstanceType<typeof DivergenceError>;
  assert.ok(Number.isFinite(e2.loss));
  assert.equal(e2.gradients, ['a']);
  assert.is(e2.treePath, 'a');
  assert.is(tf.memory().numTensors, before);
  assert.ok(!state.isSpent);
  state.dispose();
});

test('finite gradients whose sum overflows float32 are not divergence (the elements are looked at)', () => {
  // The gradient of Σ w·c is c = 3e38 everywhere: finite, but their sum overflows.
  const c = tf.fill([4], 3e38);
  const state = TrainState.create({ apply: () => tf.scalar(0), params: { w: tf.zeros([4]) }, tx: fx.optim.sgd(2e-38) });
  const loss = (p: P) => tf.mul(tf.sum(tf.mul(p.w, c)), 1);
  const result = fx.train.trainStep(state, loss, undefined);
  assert.is(result.loss, 0);
  assert.is(result.skipped, false);
  const w = Array.from(result.state.params.w.dataSync());
  assert.ok(w.every((v) => Math.abs(v + 6) < 1e-4), `the update -2e-38 · 3e38 = -6, found ${w}`);
  result.state.dispose();
  c.dispose();
});

test("onNonFinite: 'skip' skips the update: step + 1, the same parameters and optimizer state, skipped: true, no leak", () => {
  const tx = fx.optim.adam(1e-2);
  let state = TrainState.create({ apply: () => tf.scalar(0), params: { w: tf.tensor([1, 2]) }, tx, key: fx.random.key(3) });
  state = fx.train.trainStep(state, (p: P) => tf.sum(tf.square(p.w)), undefined).state;
  const before = tf.memory().numTensors;
  const w = bits(state.params.w);
  const count = (state.optState as any)['0'].count;
  const nan = (p: P) => tf.mul(tf.sum(p.w), NaN);
  const result = fx.train.trainStep(state, nan, undefined, { onNonFinite: 'skip' });
  assert.is(result.skipped, true);
  assert.ok(Number.isNaN(result.loss));
  assert.is(result.state.step, 2, 'the step advances (the batch was used up; stepKey moves on)');
  assert.equal(bits(result.state.params.w), w, 'the parameters did not move');
  assert.is((result.state.optState as any)['0'].count, count, "the optimizer's count did not move");
  assert.ok(state.isSpent && !result.state.isSpent, 'the tensors moved to the next state');
  assert.is(tf.memory().numTensors, before, 'nothing leaked, nothing was freed');
  const next = fx.train.trainStep(result.state, (p: P) => tf.sum(tf.square(p.w)), undefined, { onNonFinite: 'skip' });
  assert.is(next.skipped, false);
  assert.is(next.state.step, 3);
  next.state.dispose();
});

test('bad onNonFinite and unknown options are FlaxenErrors', () => {
  const state = TrainState.create({ apply: () => tf.scalar(0), params: { w: tf.tensor([1, 2]) }, tx: fx.optim.sgd(0.1) });
  const loss = (p: P) => tf.sum(p.w);
  assertThrows(() => fx.train.trainStep(state, loss, undefined, { onNonFinite: 'ignore' } as any), fx.FlaxenError, "onNonFinite must be 'raise' or 'skip'");
  assertThrows(() => fx.train.trainStep(state, loss, undefined, { hasaux: true } as any), fx.FlaxenError, "unknown option 'hasaux'");
  assertThrows(() => fx.train.trainStep(state, loss, undefined, { mutable: 'yes' } as any), fx.FlaxenError, 'mutable must be true or false');
  state.dispose();
});

test.run();
