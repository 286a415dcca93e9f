// Issue 11, item 3 and the disposed-tensor part of item 6, run on the cpu and the wasm backend
// alike (the rest of the suite runs on one backend). Before: a batch of shape [0, 5] trapped
// WebAssembly (RuntimeError: divide by zero) and leaked a tensor per call on wasm, and gave a
// loss of 0 on cpu; a disposed tensor given to apply, an optimizer, applyUpdates or trainStep
// gave tfjs's TypeError "reading 'backend'".
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows, backend, collectLeaks, tensorDelta } from '../setup.js';

const leaks = collectLeaks(test);
const BACKENDS = ['cpu', 'wasm'] as const;

/** Runs `body` on backend `name`, then goes back to the suite's backend. */
async function on(name: (typeof BACKENDS)[number], body: () => void): Promise<void> {
  await fx.ready(name);
  try {
    body();
  } finally {
    await fx.ready(backend);
  }
}

const net = fx.nn.Dense(3);
type Params = ReturnType<typeof net.init>['params'];
type Batch = { x: tf.Tensor; y: tf.Tensor };
const loss = (p: Params, batch: Batch) => tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(net.apply({ params: p }, batch.x), batch.y));

for (const name of BACKENDS) {
  test(`${name}: an empty batch is the same FlaxenError for valueAndGrad and trainStep, call after call, leaking nothing; the state stays usable`, () =>
    on(name, () => {
      const { params } = net.init(fx.random.key(0), [2, 5]);
      const empty = { x: tf.zeros([0, 5]), y: tf.zeros([0], 'int32') };
      const state = fx.train.TrainState.create({ apply: net, params, tx: fx.optim.sgd(0.1) });
      for (let i = 0; i < 3; i++) {
        const a = tensorDelta(() => assertThrows(() => fx.valueAndGrad(loss)(params, empty), fx.FlaxenError, "argument 1 after params at 'x' is an empty tensor of shape [0, 5]"));
        const b = tensorDelta(() => assertThrows(() => fx.train.trainStep(state, loss, empty), fx.FlaxenError, "at 'x' is an empty tensor of shape [0, 5]"));
        assert.is(a.delta + b.delta, 0, `call ${i}: nothing leaks`);
      }
      const batch = { x: tf.ones([2, 5]), y: tf.tensor([0, 2], [2], 'int32') };
      const { loss: value, state: next } = fx.train.trainStep(state, loss, batch);
      assert.ok(Number.isFinite(value) && value > 0, `a real batch still trains: loss ${value}`);
      next.dispose();
      tf.dispose([empty.x, empty.y, batch.x, batch.y]);
    }));

  test(`${name}: a disposed tensor given to apply, an optimizer, applyUpdates or trainStep is a FlaxenError naming it`, () =>
    on(name, () => {
      const vars = net.init(fx.random.key(0), [2, 5]);
      const x = tf.ones([2, 5]);
      const gone = tf.ones([2, 5]);
      gone.dispose();
      // A disposed input (also inside a tree of inputs). init only reads an input's shape, which
      // a disposed tensor still has.
      assertThrows(() => net.apply(vars, gone), fx.FlaxenError, 'apply: input 0 was disposed (a tensor of shape [2, 5])');
      const pair = fx.nn.module('Pair', (scope, xs: { a: tf.Tensor; b: tf.Tensor }) => tf.add(scope.call(fx.nn.Dense(3), xs.a), xs.b));
      const pairVars = pair.init(fx.random.key(0), { a: [2, 5], b: [2, 3] } as never);
      assertThrows(() => pair.apply(pairVars, { a: x, b: gone }), fx.FlaxenError, "apply: input 0 at 'b' was disposed");
      fx.tree.dispose(pairVars);
      // A disposed variable.
      const kernel = tf.clone(vars.params.kernel);
      kernel.dispose();
      assertThrows(() => net.apply({ params: { ...vars.params, kernel } }, x), fx.FlaxenError, 'params/kernel', 'was disposed');
      // An optimizer and applyUpdates.
      const tx = fx.optim.adam(0.1);
      const optState = tx.init(vars.params);
      const goneGrads = { kernel, bias: vars.params.bias };
      assertThrows(() => tx.update(goneGrads, optState, vars.params), fx.FlaxenError, 'kernel', 'grads holds a disposed tensor here');
      assertThrows(() => fx.optim.applyUpdates(vars.params, goneGrads), fx.FlaxenError, 'kernel', 'updates holds a disposed tensor here');
      // trainStep: a disposed batch tensor, and a state whose parameters were disposed.
      const state = fx.train.TrainState.create({ apply: net, params: vars.params, tx });
      const y = tf.tensor([0, 1], [2], 'int32');
      assertThrows(() => fx.train.trainStep(state, loss, { x: gone, y }), fx.FlaxenError, "at 'x' was disposed");
      const params = fx.tree.map(vars.params, (t: tf.Tensor) => tf.clone(t));
      const doomed = fx.train.TrainState.create({ apply: net, params, tx });
      params.kernel.dispose();
      assertThrows(() => fx.train.trainStep(doomed, loss, { x, y }), fx.FlaxenError, 'kernel', 'disposed');
      fx.tree.dispose([optState, params, vars, x, y]);
      fx.tree.dispose(doomed.optState);
      state.dispose();
    }));
}

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
