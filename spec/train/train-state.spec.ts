import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, values } from '../setup.js';

const TrainState = fx.train.TrainState;

function linearProblem() {
  // y = x·[2, -1] + 0.5 on a fixed batch of 16 points.
  const x = fx.random.normal(fx.random.key(1), [16, 2]);
  const y = tf.tidy(() => tf.add(tf.matMul(x, tf.tensor([[2], [-1]])), 0.5));
  return { x, y };
}

test('create builds a frozen state at step 0 with the optimizer state of the params', () => {
  const net = fx.nn.Dense(3);
  const params = net.init(fx.random.key(0), [1, 2]).params;
  const before = tf.memory().numTensors;
  const state = TrainState.create({ apply: net, params, tx: fx.optim.adam(1e-3) });
  assert.is(state.step, 0);
  assert.ok(Object.isFrozen(state));
  assert.is(state.params, params);
  assert.is(tf.memory().numTensors - before, 4); // adam's mu and nu for kernel and bias
  const x = tf.ones([5, 2]);
  const y = state.apply({ params: state.params }, x);
  assert.equal(y.shape, [5, 3]);
  tf.dispose([x, y]);
  state.dispose();
  assert.ok(params.kernel.isDisposed && state.isSpent);
  assert.is(tf.memory().numTensors, before - 2);
});

test('applyGradients follows SGD by hand and disposes the grads and the previous state', () => {
  const start = tf.memory().numTensors;
  const params = { w: tf.tensor([1, 2]), b: tf.scalar(0.5) };
  let state = TrainState.create({ apply: (v: any, x: tf.Tensor) => tf.mul(v.params.w, x), params, tx: fx.optim.sgd(0.1) });
  const grads = { w: tf.tensor([0.5, -1]), b: tf.scalar(2) };
  const old = state;
  state = state.applyGradients(grads);
  assert.is(state.step, 1);
  assertClose(values(state.params.w), [0.95, 2.1]);
  assertClose(values(state.params.b), [0.3]);
  assert.ok(grads.w.isDisposed && grads.b.isDisposed, 'grads disposed');
  assert.ok(params.w.isDisposed && params.b.isDisposed, 'old params disposed');
  assert.ok(old.isSpent && !state.isSpent);
  const again = { w: tf.zeros([2]), b: tf.scalar(0) };
  assertThrows(() => old.applyGradients(again), fx.FlaxenError, 'already advanced', 'step 0');
  fx.tree.dispose(again);
  state.dispose();
  assert.is(tf.memory().numTensors, start, 'nothing leaks');
});

test('with adam, applyGradients updates and applies in one pass: the bits of tx.update then applyUpdates', () => {
  // adam's fused path (updateAndApply: the fused kernel on wasm, tfjs ops elsewhere) against
  // the two public steps, over several steps, with a schedule, on odd leaf sizes (SIMD tails)
  const params = { w: fx.random.normal(fx.random.key(5), [7, 3]), b: fx.random.normal(fx.random.key(6), [5]) };
  const tx = fx.optim.adam(fx.optim.schedules.cosineDecay(0.1, 10));
  const clone = () => fx.tree.map(params, (t: tf.Tensor) => t.clone());
  let state = TrainState.create({ apply: () => tf.scalar(0), params: clone(), tx });
  let refParams = clone() as typeof params;
  let refOpt = tx.init(refParams);
  for (let step = 0; step < 4; step++) {
    const grads = { w: fx.random.normal(fx.random.key(10 + step), [7, 3]), b: fx.random.normal(fx.random.key(20 + step), [5]) };
    const [updates, nextOpt] = tx.update(grads, refOpt, refParams);
    const nextParams = fx.optim.applyUpdates(refParams, updates) as typeof params;
    fx.tree.dispose([updates, refParams]);
    fx.tree.dispose(refOpt);
    refParams = nextParams;
    refOpt = nextOpt;
    state = state.applyGradients(grads);
  }
  const got = fx.tree.flatten(state.params), want = fx.tree.flatten(refParams);
  assert.equal(got.map(([path]) => path), want.map(([path]) => path));
  got.forEach(([path, t], i) => assert.equal(Array.from((t as tf.Tensor).dataSync()), Array.from((want[i]![1] as tf.Tensor).dataSync()), path));
  // the optimizer state: moments (tensors) and step counts (numbers)
  const bits = (v: unknown) => (v instanceof tf.Tensor ? Array.from(v.dataSync()) : v);
  assert.equal(fx.tree.leaves(state.optState).map(bits), fx.tree.leaves(refOpt).map(bits));
  state.dispose();
  fx.tree.dispose([refParams, refOpt, params]);
});

test('state tensors that the optimizer carries over unchanged are not disposed', () => {
  // A transform whose update returns the very same state object.
  const tx: fx.optim.GradientTransformation<{ marker: tf.Tensor }> = {
    init: () => ({ marker: tf.scalar(7) }),
    update: (grads, state) => [fx.tree.map(grads, (g: tf.Tensor) => tf.mul(g, -1)) as typeof grads, state],
  };
  let state = TrainState.create({ apply: () => 0, params: { w: tf.tensor([1]) }, tx });
  const marker = state.optState.marker;
  state = state.applyGradients({ w: tf.tensor([1]) });
  state = state.applyGradients({ w: tf.tensor([1]) });
  assert.not.ok(marker.isDisposed);
  assertClose(values(state.params.w), [-1]);
  state.dispose();
  assert.ok(marker.isDisposed);
});

test('a failing applyGradients disposes nothing: the state and the grads stay usable', () => {
  let state = TrainState.create({ apply: () => 0, params: { w: tf.tensor([1, 2]) }, tx: fx.optim.sgd(1) });
  const before = tf.memory().numTensors;
  const bad = { v: tf.tensor([1, 2]) };
  assertThrows(() => state.applyGradients(bad), fx.FlaxenError);
  assert.not.ok(state.isSpent || bad.v.isDisposed);
  assert.is(tf.memory().numTensors, before + 1);
  bad.v.dispose();
  state = state.applyGradients({ w: tf.tensor([1, 1]) });
  assertClose(values(state.params.w), [0, 1]);
  state.dispose();
});

test('trainStep returns the next state and the loss as a number; the loss decreases', () => {
  const { x, y } = linearProblem();
  const net = fx.nn.Dense(1);
  let state = TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 2]).params, tx: fx.optim.sgd(0.1) });
  const lossFn = (params: typeof state.params, batch: { x: tf.Tensor; y: tf.Tensor }, s: typeof state) =>
    tf.mean(fx.losses.l2Loss(s.apply({ params }, batch.x), batch.y));
  // The first loss equals the loss computed directly at the initial params.
  const direct = tf.tidy(() => lossFn(state.params, { x, y }, state).dataSync()[0]!);
  const first = fx.train.trainStep(state, lossFn, { x, y });
  assert.type(first.loss, 'number');
  assertClose([first.loss], [direct], 1e-6);
  state = first.state;
  let loss = first.loss;
  for (let i = 0; i < 150; i++) ({ state, loss } = fx.train.trainStep(state, lossFn, { x, y }));
  assert.is(state.step, 151);
  assert.ok(loss < 1e-4, `loss ${loss}`);
  assertClose(values(state.params.kernel), [2, -1], 1e-2);
  assertClose(values(state.params.bias), [0.5], 1e-2);
  assert.not.ok(x.isDisposed || y.isDisposed, 'the batch is the caller’s');
  state.dispose();
  tf.dispose([x, y]);
});

test('2000 steps of trainStep with Adam do not grow the number of live tensors', () => {
  const { x, y } = linearProblem();
  const net = fx.nn.Dense(1);
  const start = tf.memory().numTensors;
  let state = TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 2]).params, tx: fx.optim.adam(1e-2) });
  const lossFn = (params: typeof state.params, batch: { x: tf.Tensor; y: tf.Tensor }, s: typeof state) =>
    tf.mean(fx.losses.l2Loss(s.apply({ params }, batch.x), batch.y));
  let loss = 0;
  for (let i = 0; i < 10; i++) ({ state, loss } = fx.train.trainStep(state, lossFn, { x, y }));
  const afterTen = tf.memory().numTensors;
  const firstLoss = loss;
  for (let i = 10; i < 2000; i++) ({ state, loss } = fx.train.trainStep(state, lossFn, { x, y }));
  assert.is(tf.memory().numTensors, afterTen);
  assert.is(afterTen - start, 6); // 2 params + Adam's mu and nu for each
  assert.ok(loss < firstLoss / 10, `loss ${firstLoss} -> ${loss}`);
  state.dispose();
  assert.is(tf.memory().numTensors, start);
  tf.dispose([x, y]);
});

test('the hand-written loop (valueAndGrad + applyGradients) does not grow either', () => {
  const { x, y } = linearProblem();
  const net = fx.nn.Dense(1);
  let state = TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 2]).params, tx: fx.optim.chain(fx.optim.sgd(0.05, { momentum: 0.9 })) });
  const lossFn = (params: typeof state.params) => tf.mean(fx.losses.l2Loss(net.apply({ params }, x), y));
  const grad = fx.valueAndGrad(lossFn);
  const counts: number[] = [];
  for (let i = 0; i < 300; i++) {
    const [loss, grads] = grad(state.params);
    state = state.applyGradients(grads);
    loss.dispose();
    if (i % 100 === 99) counts.push(tf.memory().numTensors);
  }
  assert.ok(counts.every((c) => c === counts[0]), String(counts));
  state.dispose();
  tf.dispose([x, y]);
});

test('trainStep with hasAux hands back aux tensors owned by the caller', () => {
  const { x, y } = linearProblem();
  const net = fx.nn.Dense(1);
  let state = TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 2]).params, tx: fx.optim.sgd(0.1) });
  const lossFn = (params: typeof state.params, batch: { x: tf.Tensor; y: tf.Tensor }, s: typeof state) => {
    const pred = s.apply({ params }, batch.x) as tf.Tensor;
    return [tf.mean(fx.losses.l2Loss(pred, batch.y)), { pred, step: s.step }] as const;
  };
  const before = tf.memory().numTensors;
  const result = fx.train.trainStep(state, lossFn, { x, y }, { hasAux: true });
  state = result.state;
  assert.equal(result.aux.pred.shape, [16, 1]);
  assert.is(result.aux.step, 0);
  assert.is(tf.memory().numTensors - before, 1);
  result.aux.pred.dispose();
  state.dispose();
  tf.dispose([x, y]);
});

test('the documented BatchNorm loop (batch_stats in the state, { mutable: true }, typeof state in the loss) trains and does not grow', () => {
  const { x, y } = linearProblem();
  const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.BatchNorm(), fx.nn.relu, fx.nn.Dense(1)]);
  let state = TrainState.create({ apply: net, variables: net.init(fx.random.key(0), [1, 2]), tx: fx.optim.adam(1e-2) });
  // typeof state: the parameter and collection types come from init's variables (no params among the collections)
  const lossFn = (params: typeof state.params, batch: { x: tf.Tensor; y: tf.Tensor }, s: typeof state) => {
    const [pred, updated] = s.apply(s.variables(params), batch.x, { train: true, mutable: ['batch_stats'] });
    return [tf.mean(fx.losses.l2Loss(pred, batch.y)), updated] as const;
  };
  const firstMean = state.collections.batch_stats.layers_1.mean;
  assert.equal(Object.keys(state.collections), ['batch_stats']);
  const losses: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < 150; i++) {
    const result = fx.train.trainStep(state, lossFn, { x, y }, { mutable: true });
    state = result.state;
    losses.push(result.loss);
    counts.push(tf.memory().numTensors);
  }
  assert.ok(counts.slice(10).every((c) => c === counts[10]), 'no growth');
  assert.ok(losses[149]! < losses[0]! / 10, `loss ${losses[0]} -> ${losses[149]}`);
  assert.ok(firstMean.isDisposed, 'the first statistics were replaced and freed');
  // The running mean moved away from its initial zeros.
  assert.ok(values(state.collections.batch_stats.layers_1.mean).some((v) => Math.abs(v) > 1e-3));
  state.dispose();
  tf.dispose([x, y]);
});

test('batch statistics may also ride along as aux, beside a state without collections', () => {
  const { x, y } = linearProblem();
  const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.BatchNorm(), fx.nn.relu, fx.nn.Dense(1)]);
  const variables = net.init(fx.random.key(0), [1, 2]);
  let batchStats = variables.batch_stats;
  let state = TrainState.create({ apply: net, params: variables.params, tx: fx.optim.adam(1e-2) });
  const lossFn = (params: typeof state.params, batch: { x: tf.Tensor; y: tf.Tensor }, s: typeof state) => {
    const [pred, updated] = s.apply({ params, batch_stats: batchStats }, batch.x, { train: true, mutable: ['batch_stats'] });
    return [tf.mean(fx.losses.l2Loss(pred, batch.y)), updated.batch_stats] as const;
  };
  const losses: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < 150; i++) {
    const result = fx.train.trainStep(state, lossFn, { x, y }, { hasAux: true });
    fx.tree.dispose(batchStats);
    batchStats = result.aux;
    state = result.state;
    losses.push(result.loss);
    counts.push(tf.memory().numTensors);
  }
  assert.ok(counts.slice(10).every((c) => c === counts[10]), 'no growth');
  assert.ok(losses[149]! < losses[0]! / 10, `loss ${losses[0]} -> ${losses[149]}`);
  assert.ok(values((batchStats as any).layers_1.mean).some((v) => Math.abs(v) > 1e-3));
  state.dispose();
  fx.tree.dispose(batchStats);
  tf.dispose([x, y]);
});

test('bad arguments and spent states are FlaxenErrors; a failing loss leaves the state usable', () => {
  const net = fx.nn.Dense(1);
  const params = net.init(fx.random.key(0), [1, 2]).params;
  assertThrows(() => TrainState.create({ apply: 3 as never, params, tx: fx.optim.sgd(0.1) }), fx.FlaxenError, 'apply must be');
  assertThrows(() => TrainState.create({ apply: net, params, tx: {} as never }), fx.FlaxenError, 'tx must be');
  assertThrows(() => TrainState.create({ apply: net, params: {}, tx: fx.optim.sgd(0.1) }), fx.FlaxenError, 'at least one tensor');
  assertThrows(() => TrainState.create({ apply: net, params, tx: fx.optim.sgd(0.1), lr: 1 } as never), fx.FlaxenError, "'lr'");
  assertThrows(() => new (TrainState as any)(Symbol('x'), {}), fx.FlaxenError, 'TrainState.create');
  let state = TrainState.create({ apply: net, params, tx: fx.optim.sgd(0.1) });
  const before = tf.memory().numTensors;
  assertThrows(() => fx.train.trainStep(state, (p: any) => tf.add(p.kernel, 1), {}), fx.FlaxenError, 'scalar');
  assert.is(tf.memory().numTensors, before);
  const next = fx.train.trainStep(state, (p: any) => tf.sum(p.kernel), {}).state;
  assertThrows(() => fx.train.trainStep(state, (p: any) => tf.sum(p.kernel), {}), fx.FlaxenError, 'already advanced');
  assertThrows(() => fx.train.trainStep({} as never, (p: any) => tf.sum(p.kernel), {}), fx.FlaxenError, 'TrainState');
  state = next;
  state.dispose();
  state.dispose(); // idempotent
});

test.run();
