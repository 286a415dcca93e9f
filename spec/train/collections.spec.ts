// TrainState carries every collection a model needs (issue 10): batch_stats live in the state
// and advance with trainStep({ mutable: true }); a root key gives per-step keys; a state is
// checkpointed whole and restored live from a fresh state, and the restored run continues bit
// for bit (Adam with a schedule, BatchNorm, Dropout).
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';

const TrainState = fx.train.TrainState;
const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.BatchNorm(), fx.nn.relu, fx.nn.Dropout(0.3), fx.nn.Dense(3)]);

type Batch = { x: tf.Tensor; y: tf.Tensor };
const batchAt = (step: number): Batch => ({
  x: fx.random.normal(fx.random.foldIn(fx.random.key(100), step), [6, 4]),
  y: tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'),
});
const freeBatch = (b: Batch) => tf.dispose([b.x, b.y]);

const lossFn = (params: any, batch: Batch, s: fx.train.TrainState) => {
  const [logits, updated] = s.apply(s.variables(params), batch.x, { train: true, mutable: ['batch_stats'], rngs: { dropout: s.stepKey() } });
  return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, batch.y)), updated] as const;
};

const fresh = () =>
  TrainState.create({ apply: net, variables: net.init(fx.random.key(0), [1, 4]), tx: fx.optim.adam(fx.optim.schedules.warmupCosineDecay(0, 0.05, 2, 20)), key: fx.random.key(7) });

/** Runs steps [from, to) and returns the losses. */
function run(state: fx.train.TrainState, from: number, to: number): { state: fx.train.TrainState; losses: number[] } {
  const losses: number[] = [];
  for (let step = from; step < to; step++) {
    assert.is(state.step, step);
    const batch = batchAt(step);
    const result = fx.train.trainStep(state, lossFn, batch, { mutable: true });
    freeBatch(batch);
    state = result.state;
    losses.push(result.loss);
  }
  return { state, losses };
}

const bitsOf = (tree: unknown) =>
  fx.tree.leaves<unknown>(tree).map((l) => (l instanceof tf.Tensor ? Array.from(new Uint32Array(new Float32Array(l.dataSync()).buffer)) : fx.random.isKey(l) ? [l.hi, l.lo] : l));

test('create({ variables }) splits params from the other collections; variables() puts them back together', () => {
  const state = fresh();
  assert.equal(Object.keys(state.collections), ['batch_stats']);
  assert.equal(Object.keys(state.variables()).sort(), ['batch_stats', 'params']);
  assert.is(state.variables().params, state.params);
  assert.ok(Object.isFrozen(state.collections) && Object.isFrozen(state.variables()));
  state.dispose();
});

test('batch_stats advance with trainStep({ mutable: true }): the next state holds what apply returned', () => {
  const start = fresh();
  const batch = batchAt(0);
  // What the step's apply returns, computed independently on the same variables and key.
  const [output, expected] = net.apply(start.variables(), batch.x, { train: true, mutable: ['batch_stats'], rngs: { dropout: fx.random.foldIn(fx.random.key(7), 0) } });
  output.dispose();
  const oldStats = fx.tree.leaves(start.collections);
  const state = fx.train.trainStep(start, lossFn, batch, { mutable: true }).state;
  assert.equal(bitsOf(state.collections), bitsOf(expected), 'the running statistics of the step');
  assert.ok(oldStats.every((t) => (t as tf.Tensor).isDisposed), 'the previous statistics are freed');
  fx.tree.dispose(expected);
  freeBatch(batch);
  state.dispose();
});

test('training with collections and per-step keys does not grow the number of live tensors', () => {
  let state: fx.train.TrainState = fresh();
  ({ state } = run(state, 0, 3));
  const before = tf.memory().numTensors;
  ({ state } = run(state, 3, 40));
  assert.is(tf.memory().numTensors, before);
  state.dispose();
});

test('stepKey is foldIn(key, step); a state without a key says so', () => {
  let state: fx.train.TrainState = fresh();
  const k0 = state.stepKey();
  assert.equal([k0.hi, k0.lo], [fx.random.foldIn(fx.random.key(7), 0).hi, fx.random.foldIn(fx.random.key(7), 0).lo]);
  ({ state } = run(state, 0, 2));
  assert.equal(String(state.stepKey()), String(fx.random.foldIn(fx.random.key(7), 2)));
  state.dispose();
  const plain = TrainState.create({ apply: fx.nn.Dense(2), params: fx.nn.Dense(2).init(fx.random.key(0), [1, 2]).params, tx: fx.optim.sgd(0.1) });
  assertThrows(() => plain.stepKey(), fx.FlaxenError, 'no key', 'key: fx.random.key(seed)');
  plain.dispose();
});

test('a TrainState is checkpointed whole and restored live: the resumed run equals the uninterrupted one bit for bit', () => {
  const straight = run(fresh(), 0, 8);
  const first = run(fresh(), 0, 4);
  const bytes = fx.checkpoint.toBytes(first.state, {}, { config: { lr: 0.05 } });
  assert.is(fx.checkpoint.readInfo(bytes).step, 4);
  assert.equal(fx.checkpoint.readInfo(bytes).randomKeys, ['key']);
  const target = fresh();
  const before = tf.memory().numTensors;
  const restored = fx.checkpoint.fromBytes(bytes, target);
  assert.ok(restored instanceof TrainState, 'a live TrainState');
  assert.is(restored.step, 4);
  assert.is(restored.apply, target.apply);
  assert.is(restored.tx, target.tx);
  assert.equal(bitsOf(restored.params), bitsOf(first.state.params));
  assert.equal(bitsOf(restored.optState), bitsOf(first.state.optState));
  assert.equal(bitsOf(restored.collections), bitsOf(first.state.collections));
  assert.equal(String(restored.key), String(first.state.key));
  assert.ok(!target.isSpent, 'the target is only read');
  const stateTensors = (s: fx.train.TrainState) => fx.tree.leaves(s.toStateDict()).filter((l) => l instanceof tf.Tensor).length;
  assert.is(tf.memory().numTensors - before, stateTensors(target), 'only the restored tensors are new');
  target.dispose();
  first.state.dispose();
  const resumed = run(restored, 4, 8);
  assert.equal([...first.losses, ...resumed.losses], straight.losses, 'the losses');
  assert.equal(bitsOf(resumed.state.toStateDict()), bitsOf(straight.state.toStateDict()), 'params, optimizer state, statistics, key');
  resumed.state.dispose();
  straight.state.dispose();
});

test('save and load a TrainState through a file', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'flaxen-ts-'));
  try {
    const { state } = run(fresh(), 0, 2);
    await fx.checkpoint.save(join(dir, 'state.safetensors'), state);
    const target = fresh();
    const back = await fx.checkpoint.load(join(dir, 'state.safetensors'), target);
    assert.is(back.step, 2);
    assert.equal(bitsOf(back.toStateDict()), bitsOf(state.toStateDict()));
    assert.is((await fx.checkpoint.loadInfo(join(dir, 'state.safetensors'))).step, 2);
    for (const s of [state, target, back]) s.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a checkpoint of another optimizer or another model does not restore into a state, and allocates nothing', () => {
  const adamState = fresh();
  const bytes = fx.checkpoint.toBytes(adamState);
  const sgdTarget = TrainState.create({ apply: net, variables: net.init(fx.random.key(0), [1, 4]), tx: fx.optim.sgd(0.1, { momentum: 0.9 }), key: fx.random.key(7) });
  const noKey = TrainState.create({ apply: net, variables: net.init(fx.random.key(0), [1, 4]), tx: fx.optim.adam(fx.optim.schedules.warmupCosineDecay(0, 0.05, 2, 20)) });
  const before = tf.memory().numTensors;
  assertThrows(() => fx.checkpoint.fromBytes(bytes, sgdTarget), fx.checkpoint.CheckpointMismatchError, 'unexpected opt_state/0/count', 'missing opt_state/0/trace/');
  assertThrows(() => fx.checkpoint.fromBytes(bytes, noKey), fx.checkpoint.CheckpointMismatchError, 'unexpected key (a random key');
  assert.is(tf.memory().numTensors, before);
  for (const s of [adamState, sgdTarget, noKey]) s.dispose();
});

test('bad collections and spent states are FlaxenErrors that name the problem', () => {
  const vars = net.init(fx.random.key(0), [1, 4]);
  assertThrows(() => TrainState.create({ apply: net, params: vars.params, collections: { step: {} }, tx: fx.optim.sgd(0.1) }), fx.FlaxenError, "may not be named 'step'");
  assertThrows(() => TrainState.create({ apply: net, variables: vars, params: vars.params, tx: fx.optim.sgd(0.1) } as any), fx.FlaxenError, 'either variables, or params');
  assertThrows(() => TrainState.create({ apply: net, params: vars.params, tx: fx.optim.sgd(0.1), key: 7 as any }), fx.FlaxenError, 'key must be a random key');
  assertThrows(() => TrainState.create({ apply: net, params: vars.params, tx: fx.optim.sgd(0.1), step: -1 }), fx.FlaxenError, 'non-negative integer');
  const state = TrainState.create({ apply: net, variables: vars, tx: fx.optim.sgd(0.1), key: fx.random.key(1) });
  const batch = batchAt(0);
  const before = tf.memory().numTensors;
  const wrong = (params: any, b: Batch, s: fx.train.TrainState) => {
    const [logits, updated] = s.apply(s.variables(params), b.x, { train: true, mutable: ['batch_stats'], rngs: { dropout: s.stepKey() } });
    return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, b.y)), { stats: (updated as any).batch_stats }] as const;
  };
  assertThrows(() => fx.train.trainStep(state, wrong, batch, { mutable: true }), fx.FlaxenError, "the updated collection 'stats' is not one of this state's ('batch_stats')");
  assertThrows(() => fx.train.trainStep(state, lossFn as any, batch), fx.FlaxenError);
  assert.is(tf.memory().numTensors, before, 'the failed steps leak nothing');
  assert.ok(!state.isSpent, 'and leave the state usable');
  const next = fx.train.trainStep(state, lossFn, batch, { mutable: true }).state;
  assertThrows(() => state.toStateDict(), fx.FlaxenError, 'already advanced');
  assertThrows(() => fx.checkpoint.toBytes(state), fx.FlaxenError, 'already advanced');
  freeBatch(batch);
  next.dispose();
});

test('create can start from a given step and optimizer state', () => {
  const params = { w: tf.tensor([1, 2]) };
  const tx = fx.optim.adam(1e-2);
  const optState = tx.init(params);
  const state = TrainState.create({ apply: () => tf.scalar(0), params, tx, step: 12, optState });
  assert.is(state.step, 12);
  assert.is(state.optState, optState);
  state.dispose();
  assert.ok(fx.tree.leaves(optState).every((l) => !(l instanceof tf.Tensor) || l.isDisposed), 'the state owned the given optimizer state');
});

test.run();
