// The contract every optimizer of fx.optim keeps, checked in one table (Optax's alias_test is the
// model): each optimizer, crossed with a parabola and the Rosenbrock function, converges; leaks
// nothing; returns frozen states and leaves its inputs untouched; refuses an unknown option and a
// state from another optimizer; and equals, bit for bit, the reference chain its documentation
// names, through `update` and through its fused `updateAndApply` where it has one; and continues
// bit for bit after its state and parameters went through a checkpoint (toBytes, fromBytes).
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';

const { optim } = fx;
type Tx = fx.optim.GradientTransformation;

interface Row {
  readonly name: string;
  /** The optimizer at learning rate `lr`, with extra options (for the unknown-option check). */
  readonly make: (lr: number, opts?: Record<string, unknown>) => Tx;
  /** The chain of building blocks its documentation says it is. */
  readonly reference: (lr: number) => Tx;
  /** Learning rates for the parabola and for Rosenbrock (tuned as in Optax's alias_test). */
  readonly lr: { readonly parabola: number; readonly rosenbrock: number };
}

const TABLE: readonly Row[] = [
  { name: 'sgd', make: (lr, o = {}) => optim.sgd(lr, o), reference: (lr) => optim.chain(optim.identity(), optim.scaleByLearningRate(lr)), lr: { parabola: 0.1, rosenbrock: 0.01 } },
  {
    name: 'sgd with momentum',
    make: (lr, o = {}) => optim.sgd(lr, { momentum: 0.9, ...o }),
    reference: (lr) => optim.chain(optim.trace({ decay: 0.9 }), optim.scaleByLearningRate(lr)),
    lr: { parabola: 0.05, rosenbrock: 5e-4 },
  },
  { name: 'adam', make: (lr, o = {}) => optim.adam(lr, o), reference: (lr) => optim.chain(optim.scaleByAdam(), optim.scaleByLearningRate(lr)), lr: { parabola: 0.1, rosenbrock: 0.02 } },
  {
    name: 'adamw',
    make: (lr, o = {}) => optim.adamw(lr, { weightDecay: 1e-4, ...o }),
    reference: (lr) => optim.chain(optim.scaleByAdam(), optim.addDecayedWeights(1e-4), optim.scaleByLearningRate(lr)),
    lr: { parabola: 0.1, rosenbrock: 0.02 },
  },
  { name: 'rmsprop', make: (lr, o = {}) => optim.rmsprop(lr, o), reference: (lr) => optim.chain(optim.scaleByRms(), optim.scaleByLearningRate(lr), optim.identity()), lr: { parabola: 0.02, rosenbrock: 3e-3 } },
  { name: 'adagrad', make: (lr, o = {}) => optim.adagrad(lr, o), reference: (lr) => optim.chain(optim.scaleByRss(), optim.scaleByLearningRate(lr)), lr: { parabola: 0.5, rosenbrock: 0.1 } },
  {
    name: 'lion',
    make: (lr, o = {}) => optim.lion(lr, o),
    reference: (lr) => optim.chain(optim.scaleByLion(), optim.addDecayedWeights(1e-3), optim.scaleByLearningRate(lr)),
    lr: { parabola: 0.01, rosenbrock: 3e-3 },
  },
  {
    name: 'lamb',
    make: (lr, o = {}) => optim.lamb(lr, o),
    reference: (lr) => optim.chain(optim.scaleByAdam({ eps: 1e-6 }), optim.addDecayedWeights(0), optim.scaleByTrustRatio(), optim.scaleByLearningRate(lr)),
    lr: { parabola: 5e-3, rosenbrock: 0.02 },
  },
];

type Params = { readonly w: tf.Tensor };

/** A test function: its value and gradient at `w`, by hand, and its minimum. */
interface Problem {
  readonly name: 'parabola' | 'rosenbrock';
  readonly start: number[];
  readonly minimum: number[];
  readonly steps: number;
  readonly value: (w: number[]) => number;
  readonly gradient: (w: number[]) => number[];
}

const PROBLEMS: readonly Problem[] = [
  {
    // ½ Σ (w_i − t_i)²: gradient w − t.
    name: 'parabola',
    start: [2, 0.5, -1],
    minimum: [1, -2, 0.5],
    steps: 600,
    value: (w) => w.reduce((s, x, i) => s + 0.5 * (x - [1, -2, 0.5][i]!) ** 2, 0),
    gradient: (w) => w.map((x, i) => x - [1, -2, 0.5][i]!),
  },
  {
    // (a − x)² + b (y − x²)² with a = 1, b = 10 (a milder valley than b = 100, as Optax's test):
    // gradient [−2(a − x) − 4bx(y − x²), 2b(y − x²)].
    name: 'rosenbrock',
    start: [-0.5, 0.8],
    minimum: [1, 1],
    steps: 1500,
    value: ([x, y]) => (1 - x!) ** 2 + 10 * (y! - x! ** 2) ** 2,
    gradient: ([x, y]) => [-2 * (1 - x!) - 40 * x! * (y! - x! ** 2), 20 * (y! - x! ** 2)],
  },
];

/** Runs `steps` steps of `tx` on `problem` through TrainState-style ownership; returns the final point. */
function minimize(tx: Tx, problem: Problem, steps = problem.steps): number[] {
  let params: Params = { w: tf.tensor(problem.start) };
  let state = tx.init(params);
  for (let i = 0; i < steps; i++) {
    const grads = { w: tf.tensor(problem.gradient(Array.from(params.w.dataSync()))) };
    const [updates, next] = tx.update(grads, state, params);
    const applied = optim.applyUpdates(params, updates);
    for (const t of [grads, updates, state, params]) fx.tree.dispose(t);
    params = applied;
    state = next;
  }
  const w = Array.from(params.w.dataSync());
  fx.tree.dispose(params);
  fx.tree.dispose(state);
  return w;
}

function deepFrozen(value: unknown): boolean {
  if (value instanceof tf.Tensor || value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(deepFrozen);
}

const bits = (tree: unknown) => fx.tree.leaves(tree).map((v) => (v instanceof tf.Tensor ? Array.from(v.dataSync()) : v));

for (const row of TABLE) {
  for (const problem of PROBLEMS) {
    test(`${row.name} converges on the ${problem.name} function`, () => {
      const tx = row.make(row.lr[problem.name]);
      const w = minimize(tx, problem);
      const tolerance = problem.name === 'parabola' ? 2e-2 : 5e-2;
      w.forEach((x, i) => assert.ok(Math.abs(x - problem.minimum[i]!) < tolerance, `${row.name} on ${problem.name}: w = [${w}] after ${problem.steps} steps, minimum [${problem.minimum}] (value ${problem.value(w)})`));
    });
  }

  test(`${row.name}: no tensor leaks, states are frozen, inputs are neither changed nor disposed`, () => {
    const tx = row.make(0.01);
    const before = tf.memory().numTensors;
    const params = { w: tf.tensor([0.5, -1, 2]), b: tf.tensor([[1, 2], [3, 4]]) };
    const grads = { w: tf.tensor([0.1, -0.2, 0.3]), b: tf.tensor([[-1, 1], [0, 2]]) };
    const [paramsBefore, gradsBefore] = [bits(params), bits(grads)];
    const state = tx.init(params);
    assert.ok(deepFrozen(state), 'init returns a frozen state');
    const afterInit = tf.memory().numTensors;
    const [updates, next] = tx.update(grads, state, params);
    assert.ok(deepFrozen(next) && Object.isFrozen(updates), 'update returns a frozen state and frozen updates');
    for (const t of [...fx.tree.leaves(params), ...fx.tree.leaves(grads), ...fx.tree.leaves(state)]) {
      if (t instanceof tf.Tensor) assert.not.ok(t.isDisposed, 'no input is disposed');
    }
    assert.equal(bits(params), paramsBefore, 'params untouched');
    assert.equal(bits(grads), gradsBefore, 'grads untouched');
    const given = new Set([...fx.tree.leaves(params), ...fx.tree.leaves(grads), ...fx.tree.leaves(state)].filter((t) => t instanceof tf.Tensor));
    const fresh = [...fx.tree.leaves(updates), ...fx.tree.leaves(next)].filter((t) => t instanceof tf.Tensor);
    assert.ok(fresh.every((t) => !given.has(t)), 'the updates and the new state share no tensor object with the inputs');
    assert.is(new Set(fresh).size, fresh.length, 'nor with each other');
    const made = fx.tree.leaves(updates).length + fx.tree.leaves(next).filter((t) => t instanceof tf.Tensor).length;
    assert.is(tf.memory().numTensors - afterInit, made, 'only the updates and the new state are new');
    fx.tree.dispose(updates);
    fx.tree.dispose(state);
    let current = next;
    for (let i = 0; i < 5; i++) {
      const [u, s] = tx.update(grads, current, params);
      fx.tree.dispose(u);
      fx.tree.dispose(current);
      current = s;
    }
    assert.is(tf.memory().numTensors, afterInit, 'the tensor count is flat over steps');
    for (const t of [current, params, grads]) fx.tree.dispose(t);
    assert.is(tf.memory().numTensors, before, 'and back to where it started');
  });

  test(`${row.name} refuses an unknown option, listing the known ones`, () => {
    assertThrows(() => row.make(0.01, { learning_rate: 0.1 }), fx.FlaxenError, "unknown option 'learning_rate'", 'known options are');
  });

  test(`${row.name} refuses the state of every other optimizer`, () => {
    const params = { w: tf.tensor([1, 2]) };
    const grads = { w: tf.tensor([0.5, -0.5]) };
    const tx = row.make(0.01);
    for (const other of TABLE) {
      if (other === row) continue;
      const foreign = other.make(0.01).init(params);
      assertThrows(() => tx.update(grads, foreign as never, params), fx.FlaxenError);
      fx.tree.dispose(foreign);
    }
    fx.tree.dispose(params);
    fx.tree.dispose(grads);
  });

  test(`${row.name} equals its reference chain bit for bit, and its fused updateAndApply equals update then applyUpdates`, () => {
    const tx = row.make(0.05), reference = row.reference(0.05);
    const start = () => ({ w: fx.random.normal(fx.random.key(1), [13]), b: fx.random.normal(fx.random.key(2), [3, 5]) });
    const runs = [
      { tx, fused: false, params: start() },
      { tx: reference, fused: false, params: start() },
      ...(tx.updateAndApply ? [{ tx, fused: true, params: start() }] : []),
    ].map((r) => ({ ...r, state: r.tx.init(r.params) }));
    for (let step = 0; step < 4; step++) {
      const grads = { w: fx.random.normal(fx.random.key(10 + step), [13]), b: fx.random.normal(fx.random.key(20 + step), [3, 5]) };
      for (const r of runs) {
        let params: typeof r.params, state: fx.optim.OptState;
        if (r.fused) [params, state] = r.tx.updateAndApply!(grads, r.state, r.params);
        else {
          const [updates, next] = r.tx.update(grads, r.state, r.params);
          params = optim.applyUpdates(r.params, updates);
          state = next;
          fx.tree.dispose(updates);
        }
        fx.tree.dispose(r.params);
        fx.tree.dispose(r.state);
        r.params = params;
        r.state = state;
      }
      fx.tree.dispose(grads);
    }
    const [first, ...rest] = runs;
    for (const r of rest) {
      assert.equal(bits(r.params), bits(first!.params), `${r.fused ? 'fused' : 'reference'} params`);
      assert.equal(bits(r.state), bits(first!.state), `${r.fused ? 'fused' : 'reference'} state`);
    }
    for (const r of runs) {
      fx.tree.dispose(r.params);
      fx.tree.dispose(r.state);
    }
  });
}

for (const row of TABLE) {
  test(`${row.name}: a checkpoint round trip of params and state continues bit for bit`, () => {
    // With a schedule, so that the step count decides the learning rate of every later step.
    const tx = row.make(0.05), scheduled = optim.chain(tx, optim.scaleBySchedule((t) => 1 / (1 + 0.25 * t)));
    const gradsAt = (step: number) => ({ w: fx.random.normal(fx.random.key(10 + step), [13]), b: fx.random.normal(fx.random.key(20 + step), [3, 5]) });
    const advance = (params: Params & { b: tf.Tensor }, state: fx.optim.OptState, from: number, to: number) => {
      for (let step = from; step < to; step++) {
        const grads = gradsAt(step);
        const [updates, next] = scheduled.update(grads, state as fx.optim.ChainState, params);
        const applied = optim.applyUpdates(params, updates);
        for (const t of [grads, updates, state, params]) fx.tree.dispose(t);
        params = applied;
        state = next;
      }
      return { params, state };
    };
    const start = () => ({ w: fx.random.normal(fx.random.key(1), [13]), b: fx.random.normal(fx.random.key(2), [3, 5]) });
    const p0 = start();
    const uninterrupted = advance(p0, scheduled.init(p0), 0, 6);
    const p1 = start();
    const half = advance(p1, scheduled.init(p1), 0, 3);
    const before = tf.memory().numTensors;
    const bytes = fx.checkpoint.toBytes({ params: half.params, opt: half.state, step: 3 });
    const restored = fx.checkpoint.fromBytes(bytes, { params: half.params, opt: half.state, step: 3 });
    assert.is(tf.memory().numTensors - before, fx.tree.leaves(half.params).length + fx.tree.leaves(half.state).filter((l) => l instanceof tf.Tensor).length, 'only the restored tensors');
    fx.tree.dispose([half.params, half.state]);
    assert.is(restored.step, 3);
    const resumed = advance(restored.params as Params & { b: tf.Tensor }, restored.opt, 3, 6);
    assert.equal(bits(resumed.params), bits(uninterrupted.params), 'params after resuming');
    assert.equal(bits(resumed.state), bits(uninterrupted.state), 'optimizer state after resuming (counts included)');
    fx.tree.dispose([resumed, uninterrupted]);
  });
}

test('the table holds every optimizer fx.optim exports', () => {
  const optimizers = ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', 'lion', 'lamb'];
  for (const name of optimizers) assert.ok(TABLE.some((row) => row.name === name), name);
  assert.is(TABLE.filter((row) => row.make(0.1).updateAndApply).map((row) => row.name).join(), 'adam,adamw', 'the optimizers with a fused update-and-apply');
});

test('boolean options of the optimizers and schedules are checked for their kind, by the one options checker', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['sgd', () => fx.optim.sgd(0.1, { momentum: 0.9, nesterov: 1 as never }), 'nesterov'],
    ['rmsprop', () => fx.optim.rmsprop(0.1, { centered: 'yes' as never }), 'centered'],
    ['scaleByRms', () => fx.optim.scaleByRms({ epsInSqrt: 0 as never }), 'epsInSqrt'],
    ['scaleByLearningRate', () => fx.optim.scaleByLearningRate(0.1, { flipSign: null as never }), 'flipSign'],
    ['exponentialDecay', () => fx.optim.schedules.exponentialDecay(1, 10, 0.5, { staircase: 'true' as never }), 'staircase'],
    ['valueAndGrad', () => fx.valueAndGrad((x: tf.Tensor) => tf.sum(x), { hasAux: 1 as never }), 'hasAux'],
  ];
  for (const [where, make, option] of cases) assertThrows(make, fx.FlaxenError, `${where}: option '${option}' must be a boolean (true or false)`);
});

test.run();
