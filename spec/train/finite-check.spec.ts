// The cheap finiteness check of trainStep (issue 10): on the wasm backend a WebAssembly SIMD
// kernel (lib/ops/all-finite.ts) scans the gradient leaves in the backend's memory instead of a
// tf.sum per leaf. It must agree with an element-by-element look in JS on every length (the
// 64-byte rounds, the float-by-float tail), read no byte outside a leaf, and give trainStep the
// same DivergenceErrors, losses and parameters as the tfjs path, leaking nothing.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { backend, assertThrows } from '../setup.js';
import { firstNonFinite, setOwnFiniteCheck } from '../../lib/ops/all-finite.js';
import { wrapOwnKernels } from '../../lib/ops/kernel-hook.js';

const { TrainState, DivergenceError } = fx.train;
const onWasm = backend === 'wasm';

/** The reference: the index of the first array holding NaN or ±Infinity, by looking at every element. */
const reference = (arrays: readonly Float32Array[], from = 0) => {
  for (let i = from; i < arrays.length; i++) if (arrays[i]!.some((x) => !Number.isFinite(x))) return i;
  return -1;
};

/** Counts the kernel's calls while `fn` runs. */
function countingCalls<T>(fn: () => T): { result: T; calls: number } {
  let calls = 0;
  wrapOwnKernels((name, kernel) => (name === 'nonFinite' ? (...args: number[]) => (calls++, kernel(...args)) : kernel));
  try {
    return { result: fn(), calls };
  } finally {
    wrapOwnKernels(undefined);
  }
}

test('the kernel agrees with an element-by-element look for every length up to 80 and every position of NaN, ±Infinity', () => {
  if (!onWasm) return;
  const bads = [NaN, Infinity, -Infinity, new Float32Array(new Uint32Array([0xffc00001]).buffer)[0]!];
  const finite = [0, -0, 1, -2.5, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 1.1754942e-38];
  let checked = 0;
  for (let n = 1; n <= 80; n++) {
    const base = Float32Array.from({ length: n }, (_, i) => finite[i % finite.length]!);
    const t = tf.tensor1d(base);
    assert.is(firstNonFinite([t]), -1, `all finite, length ${n}`);
    t.dispose();
    for (let pos = 0; pos < n; pos++) {
      const arr = base.slice();
      arr[pos] = bads[(n + pos) % bads.length]!;
      const bad = tf.tensor1d(arr);
      assert.is(firstNonFinite([bad]), reference([arr]), `length ${n}, ${arr[pos]} at ${pos}`);
      bad.dispose();
      checked++;
    }
  }
  assert.is(checked, (80 * 81) / 2);
});

test('it reports the first bad leaf from `from` on, and reads no byte of its neighbours', () => {
  if (!onWasm) return;
  // Tensors made one after the other mostly lie side by side in the heap: finite leaves of odd
  // lengths between leaves full of NaN. A read past a leaf's end would find the NaN.
  const arrays: Float32Array[] = [];
  for (let i = 0; i < 60; i++) arrays.push(i % 2 === 0 ? new Float32Array(1 + (i % 7) * 5).fill(0.5) : new Float32Array(3 + (i % 5)).fill(NaN));
  const tensors = arrays.map((a) => tf.tensor1d(a));
  for (let i = 0; i < tensors.length; i += 2) assert.is(firstNonFinite([tensors[i]!]), -1, `finite leaf ${i} of length ${arrays[i]!.length}`);
  for (let from = 0; from < 6; from++) assert.is(firstNonFinite(tensors, from), reference(arrays, from), `from ${from}`);
  // The last element of the last leaf (length 13: three 4-float vectors and a tail of one).
  const leaves = [tf.zeros([64]), tf.ones([3, 3]), tf.tensor1d(Float32Array.from({ length: 13 }, (_, i) => (i === 12 ? -Infinity : i)))];
  assert.is(firstNonFinite(leaves), 2);
  assert.is(firstNonFinite(leaves.slice(0, 2)), -1);
  assert.is(firstNonFinite([]), -1);
  const empty = tf.zeros([0]);
  assert.is(firstNonFinite([empty]), -1, 'an empty leaf is finite');
  tf.dispose([...tensors, ...leaves, empty]);
});

test('it makes no tensor, and declines (undefined) when it cannot run: turned off, an int32 leaf', () => {
  if (!onWasm) return;
  const t = tf.tensor1d([1, NaN, 3]);
  const before = tf.memory().numTensors;
  assert.is(firstNonFinite([t]), 0);
  assert.is(tf.memory().numTensors, before);
  const ints = tf.tensor1d([1, 2], 'int32');
  assert.is(firstNonFinite([t, ints]), undefined);
  const previous = setOwnFiniteCheck(false);
  try {
    assert.is(firstNonFinite([t]), undefined);
  } finally {
    setOwnFiniteCheck(previous);
  }
  tf.dispose([t, ints]);
});

type P = { readonly a: tf.Tensor; readonly b: tf.Tensor; readonly c: tf.Tensor };

/** Params whose leaves are not multiples of 4 long; `poison` puts `bad` into the gradient of `c`'s last element and, optionally, of `a`. */
function setup(zero = false) {
  const params = zero
    ? { a: tf.zeros([5]), b: tf.zeros([2, 3]), c: tf.zeros([13]) }
    : { a: tf.tensor1d([0.5, -1, 2, 0.25, 3]), b: tf.ones([2, 3]), c: tf.tensor1d(Float32Array.from({ length: 13 }, (_, i) => i / 10)) };
  return TrainState.create({ apply: () => tf.scalar(0), params, tx: fx.optim.adam(1e-2) });
}
// Σ w for each leaf, whose gradient is declared to be `g` (a constant chosen per leaf, NaN and
// ±Infinity included): a finite loss with exactly the gradients wanted.
const withGradient = (g: number[]) => tf.customGrad(((w: tf.Tensor) => ({ value: tf.sum(w), gradFunc: () => tf.reshape(tf.tensor1d(g), w.shape) })) as Parameters<typeof tf.customGrad>[0]);
const linearLoss = (grads: { a: number[]; b: number[]; c: number[] }) => (p: P) =>
  tf.addN([withGradient(grads.a)(p.a), withGradient(grads.b)(p.b), withGradient(grads.c)(p.c)]) as tf.Scalar;
const gradsWith = (aBad: number | undefined, cBad: number | undefined) => ({
  a: [1, 2, 3, 4, aBad ?? 5],
  b: [1, 1, 1, 1, 1, 1],
  c: Array.from({ length: 13 }, (_, i) => (i === 12 && cBad !== undefined ? cBad : 1)),
});

/** trainStep's outcome on `loss`: the error message and paths, or the loss and the new parameters' bits. */
function outcome(loss: (p: P) => tf.Tensor, opts: fx.train.StepOptions = {}, zero = false) {
  const state = setup(zero);
  const before = tf.memory().numTensors;
  try {
    const result = fx.train.trainStep(state, loss, undefined, opts as {});
    const bits = fx.tree.leaves(result.state.params).map((t) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer)));
    const out = { loss: result.loss, skipped: result.skipped, bits, leaked: tf.memory().numTensors - before };
    result.state.dispose();
    return out;
  } catch (e) {
    if (!(e instanceof DivergenceError)) throw e;
    const out = { message: e.message, gradients: [...e.gradients], loss: e.loss, leaked: tf.memory().numTensors - before, live: !state.isSpent };
    state.dispose();
    return out;
  }
}

/** Runs `fn` with the kernel, then with the tfjs path; returns both results and the kernel's calls. */
function bothPaths<T>(fn: () => T): { kernel: T; tfjs: T; calls: number } {
  const { result: kernel, calls } = countingCalls(fn);
  const previous = setOwnFiniteCheck(false);
  try {
    return { kernel, tfjs: fn(), calls };
  } finally {
    setOwnFiniteCheck(previous);
  }
}

test('a NaN in the last element of the last leaf (13 long): the same DivergenceError naming its path on both paths, no leak', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const { kernel, tfjs, calls } = bothPaths(() => outcome(linearLoss(gradsWith(undefined, bad))));
    assert.equal(kernel, tfjs);
    assert.equal((kernel as { gradients: string[] }).gradients, ['c']);
    assert.ok((kernel as { message: string }).message.startsWith("trainStep at step 0: the gradient of 'c' holds NaN or ±Infinity"), (kernel as { message: string }).message);
    assert.is(kernel.leaked, 0);
    assert.ok((kernel as { live: boolean }).live);
    if (onWasm) assert.ok(calls >= 3, `the kernel ran (${calls} calls)`);
  }
});

test('every bad leaf is named, in order, on both paths; a finite step gives the same bits on both', () => {
  const two = bothPaths(() => outcome(linearLoss(gradsWith(NaN, Infinity))));
  assert.equal(two.kernel, two.tfjs);
  assert.equal((two.kernel as { gradients: string[] }).gradients, ['a', 'c']);
  const nanLoss = bothPaths(() => outcome((p: P) => tf.mul(tf.sum(p.a), NaN)));
  assert.equal(nanLoss.kernel, nanLoss.tfjs);
  assert.ok((nanLoss.kernel as { message: string }).message.startsWith('trainStep at step 0: the loss is NaN, and the gradient of'), (nanLoss.kernel as { message: string }).message);
  // Gradients of ±3e38 at zero parameters: a loss of 0 and finite gradients, although their sums overflow.
  const huge = bothPaths(() => outcome(linearLoss({ a: [3e38, 3e38, 3e38, 3e38, 3e38], b: [1, 1, 1, 1, 1, 1], c: new Array(13).fill(-3e38) }), {}, true));
  assert.equal(huge.kernel, huge.tfjs);
  assert.is((huge.kernel as { skipped: boolean }).skipped, false);
  const skipped = bothPaths(() => outcome(linearLoss(gradsWith(undefined, NaN)), { onNonFinite: 'skip' }));
  assert.equal(skipped.kernel, skipped.tfjs);
  assert.is((skipped.kernel as { skipped: boolean }).skipped, true);
  assert.is(skipped.kernel.leaked, 0);
});

test('a training run checks with the kernel, one call per leaf and step, and trains bit for bit as the tfjs check does', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(7), fx.nn.relu, fx.nn.Dense(3)]);
  const x = fx.random.normal(fx.random.key(1), [10, 5]);
  const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 'int32');
  const run = () => {
    let state = TrainState.create({ apply: net, variables: net.init(fx.random.key(0), [1, 5]), tx: fx.optim.adam(1e-2) });
    const lossFn = (params: typeof state.params, _: undefined, s: typeof state) => tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply(s.variables(params), x), y));
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = fx.train.trainStep(state, lossFn, undefined);
      state = result.state;
      losses.push(result.loss);
    }
    const bits = fx.tree.leaves(state.params).map((t) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer)));
    state.dispose();
    return { losses, bits };
  };
  const before = tf.memory().numTensors;
  const { kernel, tfjs, calls } = bothPaths(run);
  assert.equal(kernel, tfjs);
  if (onWasm) assert.is(calls, 5 * 4, 'four leaves, five steps');
  assert.is(tf.memory().numTensors, before);
  tf.dispose([x, y]);
});

test('assertThrows sees a DivergenceError from the kernel path as a FlaxenError with the leaf as treePath', () => {
  const state = setup();
  const e = assertThrows(() => fx.train.trainStep(state, linearLoss(gradsWith(undefined, NaN)), undefined), fx.FlaxenError, "the gradient of 'c'");
  assert.is((e as InstanceType<typeof DivergenceError>).treePath, 'c');
  state.dispose();
});

test.run();
