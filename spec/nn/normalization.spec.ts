import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, collectLeaks, tensorDelta, values } from '../setup.js';
import { checkGradients, numbers, sizeOf, t32 } from './layer-helpers.js';

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

/** Asserts `actual` is `expected` (float64) rounded to float32, within `rtol`; infinities must match exactly. */
function assertNearFloat32(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.is(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const e = Math.fround(expected[i]!), a = actual[i]!;
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= rtol * Math.abs(e) : Object.is(a, e);
    assert.ok(ok, `${what}[${i}]: ${a} vs ${e} (float64 ${expected[i]})`);
  }
}

test('BatchNorm in training: features of ±1e19 to 3e38 give the batch statistics and running averages of a float64 reference, and outputs of ±1-ish', () => {
  // Per feature (column), 8 examples: spread 1e19 (variance ~1e38: each square fits, their sum
  // does not), spread 1e20 (variance ~1e40, past float32: the running average 0.01·var fits),
  // 1e38 to 3e38 (the sum of the column is past float32), a constant 3e37, ordinary numbers.
  // Before, the squares or the sums overflowed: variances of Infinity, outputs of 0 or NaN.
  const rows = 8;
  const cols = [numbers(40, rows, -1e19, 3e19), numbers(41, rows, -1e20, 1e20), numbers(42, rows, 1e38, 3e38), new Float64Array(rows).fill(3e37), numbers(43, rows, -2, 2)];
  const x = Float64Array.from({ length: rows * cols.length }, (_, i) => Math.fround(cols[i % cols.length]![Math.floor(i / cols.length)]!));
  const input = t32(x, [rows, cols.length]);
  const bn = fx.nn.BatchNorm();
  const vars = bn.init(k0, [rows, cols.length]);
  const [y, updated] = bn.apply(vars, input, { train: true, mutable: ['batch_stats'] });
  // The float64 reference: mean, biased variance, (x − mean) / sqrt(var + eps), and the running
  // averages 0.99 · (0, 1) + 0.01 · (mean, var) from the initial zeros and ones.
  const column = (c: number) => Array.from({ length: rows }, (_, r) => x[r * cols.length + c]!);
  const mean = cols.map((_, c) => column(c).reduce((a, v) => a + v, 0) / rows);
  const variance = cols.map((_, c) => column(c).reduce((a, v) => a + (v - mean[c]!) ** 2, 0) / rows);
  const expectedY = Array.from(x, (v, i) => (v - mean[i % cols.length]!) / Math.sqrt(variance[i % cols.length]! + 1e-5));
  assertClose(values(y), expectedY, 1e-5, 1e-5, 'normalized');
  assertNearFloat32(values(updated.batch_stats!.mean), mean.map((m) => 0.01 * m), 1e-6, 'running mean');
  assertNearFloat32(values(updated.batch_stats!.var), variance.map((v) => 0.99 + 0.01 * v), 1e-6, 'running var');
  assert.ok(values(updated.batch_stats!.var)[2] === Infinity, 'a variance of ~4e75 is Infinity in float32');
  // A second step averages with the first one's statistics, in float32's range.
  const [y2, again] = bn.apply({ ...vars, batch_stats: updated.batch_stats! }, input, { train: true, mutable: ['batch_stats'] });
  assertNearFloat32(values(again.batch_stats!.mean).slice(0, 2), mean.slice(0, 2).map((m) => 0.99 * 0.01 * m + 0.01 * m), 1e-6, 'running mean, step 2');
  assertNearFloat32(values(again.batch_stats!.var).slice(0, 2), variance.slice(0, 2).map((v) => 0.99 * (0.99 + 0.01 * v) + 0.01 * v), 1e-6, 'running var, step 2');
  // Gradients through the batch statistics stay finite.
  const weights = t32(numbers(44, rows * cols.length), [rows, cols.length]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(bn.apply(vars, t, { train: true, mutable: ['batch_stats'] })[0], weights)))(input);
  assert.ok(values(g).every(Number.isFinite), `finite gradients: ${values(g)}`);
  fx.tree.dispose([vars, input, y, updated, y2, again, weights, g]);
});

test('BatchNorm in training keeps the plain formula\'s bits for features within ±2^32: outputs, gradients, running averages', () => {
  // The plain formula, as BatchNorm computed it before its statistics were scaled: tf.moments
  // over the batch axes, (x − mean) · rsqrt(var + eps) · scale + bias, momentum averages.
  const shape = [4, 3, 3, 5];
  const x = t32(Float64Array.from(numbers(45, sizeOf(shape), -3, 3), (v, i) => (i % 5 === 4 ? v * 1e9 : v)), shape);
  const r = t32(numbers(46, sizeOf(shape)), shape);
  const bn = fx.nn.BatchNorm({ momentum: 0.9 });
  const v = { params: { scale: t32(numbers(47, 5, 0.5, 2), [5]), bias: t32(numbers(48, 5), [5]) }, batch_stats: { mean: t32(numbers(49, 5), [5]), var: t32(numbers(50, 5, 0.5, 2), [5]) } };
  const plain = (t: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor) => {
    const { mean, variance } = tf.moments(t, [0, 1, 2]);
    const y = tf.add(tf.mul(tf.mul(tf.sub(t, tf.reshape(mean, [1, 1, 1, 5])), tf.rsqrt(tf.add(tf.reshape(variance, [1, 1, 1, 5]), 1e-5))), tf.reshape(scale, [1, 1, 1, 5])), tf.reshape(bias, [1, 1, 1, 5]));
    return { y, mean: tf.add(tf.mul(0.9, v.batch_stats.mean), tf.mul(0.1, mean)), variance: tf.add(tf.mul(0.9, v.batch_stats.var), tf.mul(0.1, variance)) };
  };
  const bits = (a: tf.Tensor, b: tf.Tensor, what: string) => {
    const [av, bv] = [a.dataSync(), b.dataSync()];
    assert.is(av.length, bv.length, what);
    for (let i = 0; i < bv.length; i++) if (!Object.is(av[i], bv[i])) assert.unreachable(`${what}[${i}]: ${av[i]} vs ${bv[i]}`);
  };
  const [ours, expected] = [
    tf.tidy(() => {
      const [y, updated] = bn.apply(v, x, { train: true, mutable: ['batch_stats'] });
      const grads = tf.grads((t: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.mul(bn.apply({ ...v, params: { scale, bias } }, t, { train: true, mutable: ['batch_stats'] })[0], r)))([x, v.params.scale, v.params.bias]);
      return [y, updated.batch_stats!.mean, updated.batch_stats!.var, ...grads];
    }),
    tf.tidy(() => {
      const { y, mean, variance } = plain(x, v.params.scale, v.params.bias);
      const grads = tf.grads((t: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.mul(plain(t, scale, bias).y, r)))([x, v.params.scale, v.params.bias]);
      return [y, mean, variance, ...grads];
    }),
  ];
  ['output', 'running mean', 'running var', 'dx', 'dscale', 'dbias'].forEach((what, i) => bits(ours[i]!, expected[i]!, what));
  fx.tree.dispose([x, r, v, ours, expected]);
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
