import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, collectLeaks, tensorDelta, values } from '../setup.js';
import { checkGradients, numbers, t32 } from './layer-helpers.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

const k0 = fx.random.key(0);

/** Normalizes groups of `x` (float64): `groupOf(i)` says which statistics group element i belongs to. */
function refNormalize(x: Float64Array, groups: number, groupOf: (i: number) => number, eps: number, scale?: (i: number) => number, bias?: (i: number) => number, rms = false): Float64Array {
  const sum = new Float64Array(groups);
  const sq = new Float64Array(groups);
  const count = new Float64Array(groups);
  x.forEach((v, i) => { const g = groupOf(i); sum[g]! += v; sq[g]! += v * v; count[g]!++; });
  return x.map((v, i) => {
    const g = groupOf(i);
    const mean = rms ? 0 : sum[g]! / count[g]!;
    const variance = sq[g]! / count[g]! - mean * mean;
    return ((v - mean) / Math.sqrt(variance + eps)) * (scale ? scale(i) : 1) + (bias ? bias(i) : 0);
  });
}

test('BatchNorm: params scale (ones) and bias (zeros), batch_stats mean (zeros) and var (ones), sized by the feature axis', () => {
  const bn = fx.nn.BatchNorm();
  const vars = bn.init(k0, [4, 5, 5, 3]);
  assert.equal(fx.tree.map(vars, (t: tf.Tensor) => t.shape), { params: { scale: [3], bias: [3] }, batch_stats: { mean: [3], var: [3] } });
  assert.equal(Array.from(vars.params.scale.dataSync()), [1, 1, 1]);
  assert.equal(Array.from(vars.params.bias.dataSync()), [0, 0, 0]);
  assert.equal(Array.from(vars.batch_stats.mean.dataSync()), [0, 0, 0]);
  assert.equal(Array.from(vars.batch_stats.var.dataSync()), [1, 1, 1]);
  const shapes = fx.nn.BatchNorm({ axis: 1 }).initShapes(k0, [4, 6, 2]);
  assert.equal(shapes.batch_stats.mean.shape, [6]);
  fx.tree.dispose(vars);
});

test('BatchNorm in training normalizes with batch statistics (biased variance) and returns momentum-updated running averages', () => {
  const bn = fx.nn.BatchNorm({ momentum: 0.9 });
  const vars = bn.init(k0, [6, 2]);
  const x = numbers(1, 12, -3, 5);
  const scale = [1.5, -0.5];
  const bias = [0.25, 2];
  const v = { params: { scale: tf.tensor1d(scale), bias: tf.tensor1d(bias) }, batch_stats: { mean: tf.tensor1d([1, -1]), var: tf.tensor1d([2, 3]) } };
  const input = t32(x, [6, 2]);
  const [y, updated] = bn.apply(v, input, { train: true, mutable: ['batch_stats'] });
  assertClose(y.dataSync(), refNormalize(x, 2, (i) => i % 2, 1e-5, (i) => scale[i % 2]!, (i) => bias[i % 2]!), 1e-5, 1e-4);
  // hand-computed running averages: 0.9 * old + 0.1 * batch statistic
  const mean = [0, 1].map((c) => [0, 1, 2, 3, 4, 5].reduce((s, r) => s + x[r * 2 + c]!, 0) / 6);
  const variance = [0, 1].map((c) => [0, 1, 2, 3, 4, 5].reduce((s, r) => s + (x[r * 2 + c]! - mean[c]!) ** 2, 0) / 6);
  assertClose(updated.batch_stats!.mean.dataSync(), [0.9 * 1 + 0.1 * mean[0]!, 0.9 * -1 + 0.1 * mean[1]!], 1e-5, 1e-5);
  assertClose(updated.batch_stats!.var.dataSync(), [0.9 * 2 + 0.1 * variance[0]!, 0.9 * 3 + 0.1 * variance[1]!], 1e-5, 1e-5);
  assert.equal(Object.keys(updated), ['batch_stats']);
  // the inputs were not changed
  assert.equal(Array.from(v.batch_stats.mean.dataSync()), [1, -1]);
  fx.tree.dispose([vars, v, input, y, updated]);
});

test('BatchNorm in evaluation uses the running averages', () => {
  const bn = fx.nn.BatchNorm();
  const x = numbers(2, 8);
  const v = { params: { scale: tf.tensor1d([2, 1]), bias: tf.tensor1d([0, 1]) }, batch_stats: { mean: tf.tensor1d([0.5, -0.5]), var: tf.tensor1d([4, 0.25]) } };
  const input = t32(x, [4, 2]);
  const y = bn.apply(v, input);
  const expected = Array.from(x, (val, i) => (i % 2 === 0 ? ((val - 0.5) / Math.sqrt(4 + 1e-5)) * 2 : (val + 0.5) / Math.sqrt(0.25 + 1e-5) + 1));
  assertClose(y.dataSync(), expected, 1e-5, 1e-4);
  fx.tree.dispose([v, input, y]);
});

test('BatchNorm training without mutable is an ImmutableCollectionError naming the layer', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(3), fx.nn.BatchNorm()]);
  const vars = net.init(k0, [2, 4]);
  const x = tf.ones([2, 4]);
  assertThrows(() => net.apply(vars, x, { train: true }), fx.ImmutableCollectionError, 'layers_1', 'BatchNorm', "mutable: ['batch_stats']");
  const before = tf.memory().numTensors;
  const [y, updated] = net.apply(vars, x, { train: true, mutable: ['batch_stats'] });
  assert.is(tf.memory().numTensors - before, 1 + 2); // the output, two running averages
  assert.equal(fx.tree.map(updated, (t: tf.Tensor) => t.shape), { batch_stats: { layers_1: { mean: [3], var: [3] } } });
  fx.tree.dispose([vars, x, y, updated]);
});

test('BatchNorm gradients in training (through the batch statistics) match finite differences', () => {
  const bn = fx.nn.BatchNorm();
  const xs = [5, 3];
  const stats = { mean: tf.zeros([3]), var: tf.ones([3]) };
  checkGradients(
    (x, s, b) => bn.apply({ params: { scale: s!, bias: b! }, batch_stats: stats }, x!, { train: true, mutable: ['batch_stats'] })[0],
    (x, s, b) => refNormalize(x!, 3, (i) => i % 3, 1e-5, (i) => s![i % 3]!, (i) => b![i % 3]!),
    [{ values: numbers(3, 15), shape: xs }, { values: numbers(4, 3), shape: [3] }, { values: numbers(5, 3), shape: [3] }],
    { atol: 5e-4, rtol: 5e-3 },
  );
  tf.dispose([stats.mean, stats.var]);
});

test('LayerNorm normalizes each example over the last axis (epsilon 1e-6), params scale/bias [features]; gradients match', () => {
  const ln = fx.nn.LayerNorm();
  const vars = ln.init(k0, [2, 3, 4]);
  assert.equal(fx.tree.map(vars, (t: tf.Tensor) => t.shape), { params: { scale: [4], bias: [4] } });
  const x = numbers(6, 24, -2, 3);
  const input = t32(x, [2, 3, 4]);
  const y = ln.apply(vars, input);
  assertClose(y.dataSync(), refNormalize(x, 6, (i) => Math.floor(i / 4), 1e-6), 1e-5, 1e-4);
  checkGradients(
    (t, s, b) => ln.apply({ params: { scale: s!, bias: b! } }, t!),
    (t, s, b) => refNormalize(t!, 6, (i) => Math.floor(i / 4), 1e-6, (i) => s![i % 4]!, (i) => b![i % 4]!),
    [{ values: x, shape: [2, 3, 4] }, { values: numbers(7, 4), shape: [4] }, { values: numbers(8, 4), shape: [4] }],
    { atol: 5e-4, rtol: 5e-3 },
  );
  fx.tree.dispose([vars, input, y]);
});

test('RMSNorm: x / sqrt(mean(x²) + eps) * scale, only a scale parameter; gradients match', () => {
  const norm = fx.nn.RMSNorm();
  const vars = norm.init(k0, [3, 5]);
  assert.equal(fx.tree.map(vars, (t: tf.Tensor) => t.shape), { params: { scale: [5] } });
  const x = numbers(9, 15);
  checkGradients(
    (t, s) => norm.apply({ params: { scale: s! } }, t!),
    (t, s) => refNormalize(t!, 3, (i) => Math.floor(i / 5), 1e-6, (i) => s![i % 5]!, undefined, true),
    [{ values: x, shape: [3, 5] }, { values: numbers(10, 5), shape: [5] }],
    { atol: 5e-4, rtol: 5e-3 },
  );
  const input = t32(x, [3, 5]);
  const y = norm.apply(vars, input);
  assertClose(y.dataSync(), refNormalize(x, 3, (i) => Math.floor(i / 5), 1e-6, undefined, undefined, true), 1e-5, 1e-4);
  fx.tree.dispose([vars, input, y]);
});

test('GroupNorm normalizes per example and channel group over the spatial axes; gradients match', () => {
  const gn = fx.nn.GroupNorm(2);
  const vars = gn.init(k0, [2, 3, 3, 4]);
  assert.equal(fx.tree.map(vars, (t: tf.Tensor) => t.shape), { params: { scale: [4], bias: [4] } });
  const x = numbers(11, 72, -1, 2);
  // element i = ((n*3 + h)*3 + w)*4 + c  -> group n*2 + floor(c / 2)
  const groupOf = (i: number) => Math.floor(i / 36) * 2 + Math.floor((i % 4) / 2);
  const input = t32(x, [2, 3, 3, 4]);
  const y = gn.apply(vars, input);
  assertClose(y.dataSync(), refNormalize(x, 4, groupOf, 1e-6), 1e-5, 1e-4);
  checkGradients(
    (t, s, b) => gn.apply({ params: { scale: s!, bias: b! } }, t!),
    (t, s, b) => refNormalize(t!, 4, groupOf, 1e-6, (i) => s![i % 4]!, (i) => b![i % 4]!),
    [{ values: x, shape: [2, 3, 3, 4] }, { values: numbers(12, 4), shape: [4] }, { values: numbers(13, 4), shape: [4] }],
    { atol: 5e-4, rtol: 5e-3 },
  );
  fx.tree.dispose([vars, input, y]);
});

test('normalization errors name the path; bad options are FlaxenErrors', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(6), fx.nn.GroupNorm(4)]);
  assertThrows(() => net.init(k0, [2, 3]), fx.ShapeError, 'layers_1', 'GroupNorm(4)', '6 channels');
  const ln = fx.nn.Sequential([fx.nn.LayerNorm()]);
  const vars = ln.init(k0, [2, 4]);
  const wrong = tf.ones([2, 5]);
  assertThrows(() => ln.apply(vars, wrong), fx.ShapeError, 'layers_0', "'params/layers_0/scale'", '[4]', '[5]');
  wrong.dispose();
  assertThrows(() => fx.nn.BatchNorm({ momentum: 2 }), fx.FlaxenError, 'momentum');
  assertThrows(() => fx.nn.BatchNorm({ axis: 3 }).init(k0, [2, 3]), fx.ShapeError, 'axis 3');
  assertThrows(() => fx.nn.LayerNorm({ epsilon: -1 }), fx.FlaxenError, 'epsilon');
  assertThrows(() => fx.nn.LayerNorm({ eps: 1 } as fx.nn.NormOptions), fx.FlaxenError, "'eps'");
  assertThrows(() => fx.nn.GroupNorm(0), fx.FlaxenError, 'numGroups');
  assertThrows(() => fx.nn.RMSNorm().init(k0, new fx.ShapeDtype([2, 3], 'int32') as unknown as tf.Tensor), fx.FlaxenError, 'float32');
  fx.tree.dispose(vars);
});

test('normalization layers: initShapes allocates nothing, init/apply leave nothing, work in Sequential and custom modules, describe', () => {
  for (const layer of [fx.nn.BatchNorm(), fx.nn.LayerNorm(), fx.nn.RMSNorm(), fx.nn.GroupNorm(2)]) {
    const { delta } = tensorDelta(() => layer.initShapes(k0, [2, 4, 4, 6]));
    assert.is(delta, 0);
    const x = tf.ones([2, 4, 4, 6]);
    const { result: vars, delta: d1 } = tensorDelta(() => layer.init(k0, x));
    assert.is(d1, fx.tree.leaves(vars).length);
    const { result: y, delta: d2 } = tensorDelta(() => layer.apply(vars as never, x));
    assert.is(d2, 1);
    fx.tree.dispose([vars, x, y]);
  }
  const net = fx.nn.Sequential([fx.nn.Conv(4, [3, 3]), fx.nn.BatchNorm(), fx.nn.relu, fx.nn.LayerNorm(), fx.nn.GroupNorm(2), fx.nn.RMSNorm()]);
  assert.ok(net.describe().includes('(layers_1): BatchNorm(-1)'));
  assert.ok(net.describe().includes('(layers_3): LayerNorm(-1)'));
  const vars = net.init(k0, [1, 4, 4, 2]);
  assert.ok(net.describe(vars).includes('(layers_1): BatchNorm(4)'), net.describe(vars));
  assert.ok(net.describe(vars).includes('(layers_4): GroupNorm(4, groups 2)'));
  const Block = fx.nn.module('Block', (scope, x: tf.Tensor) => {
    const h = scope.call(fx.nn.BatchNorm(), scope.call(fx.nn.Dense(3), x));
    return scope.call(fx.nn.LayerNorm(), tf.add(h, 1));
  });
  const bv = Block.init(k0, [2, 5]);
  assert.equal(fx.tree.map(bv, (t: tf.Tensor) => t.shape), {
    params: { Dense_0: { kernel: [5, 3], bias: [3] }, BatchNorm_0: { scale: [3], bias: [3] }, LayerNorm_0: { scale: [3], bias: [3] } },
    batch_stats: { BatchNorm_0: { mean: [3], var: [3] } },
  });
  const input = tf.ones([2, 5]);
  const [y, upd] = Block.apply(bv, input, { train: true, mutable: ['batch_stats'] });
  assert.equal(y.shape, [2, 3]);
  fx.tree.dispose([vars, bv, input, y, upd]);
});

test('LayerNorm and RMSNorm of rows of ±1e20 (squares past float32) give ±1, not 0; rows of zeros give zeros', () => {
  // Hand-derived: the row [a, −a, a, −a] has mean 0 and variance a², so LayerNorm gives ±1 (eps
  // is negligible); RMSNorm divides by sqrt(mean(x²)) = a, the same. Before: x² overflowed to
  // Infinity and both returned 0.
  const x = tf.tensor([[1e20, -1e20, 1e20, -1e20], [3e38, -3e38, 3e38, -3e38], [0, 0, 0, 0], [1, 2, 3, 4]]);
  const ln = fx.nn.LayerNorm();
  const rms = fx.nn.RMSNorm();
  const lnVars = ln.init(k0, [4, 4]);
  const rmsVars = rms.init(k0, [4, 4]);
  const [yt, rt] = [ln.apply(lnVars, x), rms.apply(rmsVars, x)];
  const [y, r] = [values(yt), values(rt)];
  assertClose(y.slice(0, 12), [1, -1, 1, -1, 1, -1, 1, -1, 0, 0, 0, 0], 1e-6);
  assertClose(r.slice(0, 12), [1, -1, 1, -1, 1, -1, 1, -1, 0, 0, 0, 0], 1e-6);
  // An ordinary row keeps the usual numbers: (x − 2.5) / sqrt(1.25 + 1e-6).
  assertClose(y.slice(12), [-1.5, -0.5, 0.5, 1.5].map((v) => v / Math.sqrt(1.25 + 1e-6)), 1e-6, 1e-6);
  // Gradients through the huge rows are finite.
  const weights = tf.tensor([1, 2, 3, 4]);
  const gt = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(ln.apply(lnVars, t), weights)))(x);
  const g = values(gt);
  assert.ok(g.every(Number.isFinite), `finite gradients: ${g}`);
  fx.tree.dispose([lnVars, rmsVars, x, yt, rt, weights, gt]);
});

test('BatchNorm in training refuses an empty batch (its running averages took left-over memory on wasm), and normalizes one in eval mode', () => {
  const bn = fx.nn.BatchNorm();
  const vars = bn.init(k0, [2, 3]);
  const empty = tf.zeros([0, 3]);
  const { delta } = tensorDelta(() => assertThrows(() => bn.apply(vars, empty, { train: true, mutable: ['batch_stats'] }), fx.ShapeError, 'at least one example', '[0, 3]'));
  assert.is(delta, 0);
  const y = bn.apply(vars, empty);
  assert.equal(y.shape, [0, 3]);
  fx.tree.dispose([vars, empty, y]);
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
