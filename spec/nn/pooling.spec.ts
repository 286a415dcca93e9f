import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, withOwnKernels } from '../setup.js';
import { checkGradients, numbers, t32 } from './layer-helpers.js';

const k0 = fx.random.key(0);

/** Naive 2-D pooling with explicit pads; `include` counts padded cells in the average. */
function naivePool(kind: 'max' | 'avg', x: Float64Array, [n, h, w, c]: number[], win: number[], strides: number[], pads: number[][], include = true) {
  const oh = Math.floor((h! + pads[0]![0]! + pads[0]![1]! - win[0]!) / strides[0]!) + 1;
  const ow = Math.floor((w! + pads[1]![0]! + pads[1]![1]! - win[1]!) / strides[1]!) + 1;
  const y = new Float64Array(n! * oh * ow * c!);
  for (let b = 0; b < n!; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let ch = 0; ch < c!; ch++) {
    let acc = kind === 'max' ? -Infinity : 0;
    let count = 0;
    for (let a = 0; a < win[0]!; a++) for (let e = 0; e < win[1]!; e++) {
      const r = i * strides[0]! + a - pads[0]![0]!;
      const col = j * strides[1]! + e - pads[1]![0]!;
      const inside = r >= 0 && r < h! && col >= 0 && col < w!;
      if (!inside) { if (include) count++; continue; }
      const v = x[((b * h! + r) * w! + col) * c! + ch]!;
      acc = kind === 'max' ? Math.max(acc, v) : acc + v;
      count++;
    }
    y[((b * oh + i) * ow + j) * c! + ch] = kind === 'max' ? acc : acc / count;
  }
  return { y, shape: [n!, oh, ow, c!] };
}

test('MaxPool defaults are Flax\'s (strides 1, VALID) and the forward matches a naive loop', () => {
  const x = numbers(1, 2 * 5 * 6 * 3);
  const xt = t32(x, [2, 5, 6, 3]);
  const y = fx.nn.MaxPool([2, 3]).apply({}, xt);
  const ref = naivePool('max', x, [2, 5, 6, 3], [2, 3], [1, 1], [[0, 0], [0, 0]]);
  assert.equal(y.shape, ref.shape);
  assertClose(y.dataSync(), ref.y);
  tf.dispose([xt, y]);
});

test('MaxPool strides 2 SAME pads with -Infinity (padding never wins) — also for all-negative inputs', () => {
  const x = numbers(2, 1 * 5 * 5 * 2, -3, -1);
  const xt = t32(x, [1, 5, 5, 2]);
  const y = fx.nn.MaxPool([3, 3], { strides: 2, padding: 'SAME' }).apply({}, xt);
  const ref = naivePool('max', x, [1, 5, 5, 2], [3, 3], [2, 2], [[1, 1], [1, 1]]);
  assert.equal(y.shape, [1, 3, 3, 2]);
  assertClose(y.dataSync(), ref.y);
  tf.dispose([xt, y]);
});

test('AvgPool at padded edges counts the padding (Flax count_include_pad=True) unless countIncludePad: false', () => {
  // A 3x3 window at the corner of a 2x2 image of ones with SAME padding, stride 2:
  // 4 real ones and 5 padded zeros -> 4/9 by default, 1 with countIncludePad false.
  const ones = tf.ones([1, 2, 2, 1]);
  const incl = fx.nn.AvgPool([3, 3], { strides: 2, padding: 'SAME' }).apply({}, ones);
  const excl = fx.nn.AvgPool([3, 3], { strides: 2, padding: 'SAME', countIncludePad: false }).apply({}, ones);
  assertClose(incl.dataSync(), [4 / 9]);
  assertClose(excl.dataSync(), [1]);
  const x = numbers(3, 1 * 6 * 5 * 2);
  const xt = t32(x, [1, 6, 5, 2]);
  for (const include of [true, false]) {
    const y = fx.nn.AvgPool([3, 2], { strides: [2, 1], padding: [[1, 2], [1, 0]], countIncludePad: include }).apply({}, xt);
    const ref = naivePool('avg', x, [1, 6, 5, 2], [3, 2], [2, 1], [[1, 2], [1, 0]], include);
    assert.equal(y.shape, ref.shape);
    assertClose(y.dataSync(), ref.y, 1e-5, 1e-4, `include ${include}`);
    y.dispose();
  }
  tf.dispose([ones, incl, excl, xt]);
});

test('1-D pooling over [batch, length, channels]', () => {
  const x = numbers(4, 2 * 7 * 3);
  const xt = t32(x, [2, 7, 3]);
  const y = fx.nn.MaxPool(2, { strides: 2 }).apply({}, xt);
  const ref = naivePool('max', x, [2, 1, 7, 3], [1, 2], [1, 2], [[0, 0], [0, 0]]);
  assert.equal(y.shape, [2, 3, 3]);
  assertClose(y.dataSync(), ref.y);
  tf.dispose([xt, y]);
});

test('pooling gradients match finite differences (max: the winner gets it; avg with padding)', () => {
  const xs = [1, 4, 5, 2];
  checkGradients(
    (x) => fx.nn.MaxPool([2, 2], { strides: 2, padding: 'SAME' }).apply({}, x!),
    (x) => naivePool('max', x!, xs, [2, 2], [2, 2], [[0, 0], [0, 1]]).y,
    [{ values: numbers(5, 40), shape: xs }],
  );
  checkGradients(
    (x) => fx.nn.AvgPool([3, 3], { strides: 2, padding: 'SAME', countIncludePad: false }).apply({}, x!),
    (x) => naivePool('avg', x!, xs, [3, 3], [2, 2], [[0, 1], [1, 1]], false).y, // SAME: 4 rows -> 2, total pad 1 (after); 5 cols -> 3, total 2
    [{ values: numbers(6, 40), shape: xs }],
  );
});

// Each max-pool gradient test runs with flaxen's own kernel (one-thread wasm) and with the
// portable tfjs-op gradient.
for (const own of [true, false]) {
const path = own ? 'own kernel' : 'tfjs ops';
test(`MaxPool gradient is right for windows of negative values (wasm MaxPoolGrad starts at FLT_MIN) and overlapping windows (${path})`, () => withOwnKernels(own, () => {
  const x = tf.tensor4d([-5, -1, -3, -2], [1, 2, 2, 1]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(fx.nn.MaxPool([2, 2], { strides: 2 }).apply({}, t)))(x);
  assert.equal(Array.from(g.dataSync()), [0, 1, 0, 0]);
  // ties (e.g. zeros after a relu): the first maximum in row-major window order gets the gradient
  const z = tf.tensor4d([0, 0, 0, 0, -1, 0, 0, 0, 0], [1, 3, 3, 1]);
  for (const [win, strides, expected] of [
    [[2, 2], 2, [1, 0, 0, 0, 0, 0, 0, 0, 0]],
    [[1, 3], 1, [1, 0, 0, 1, 0, 0, 1, 0, 0]],
    [[2, 2], 1, [1, 1, 0, 1, 0, 1, 0, 0, 0]],
  ] as const) {
    const gz = tf.grad((t: tf.Tensor) => tf.sum(fx.nn.MaxPool([...win], { strides }).apply({}, t)))(z);
    assert.equal(Array.from(gz.dataSync()), [...expected], `window ${win} strides ${strides}`);
    gz.dispose();
  }
  z.dispose();
  const xs = [2, 5, 5, 2];
  checkGradients(
    (t) => fx.nn.MaxPool([2, 2], { strides: 2 }).apply({}, t!),
    (v) => naivePool('max', v!, xs, [2, 2], [2, 2], [[0, 0], [0, 0]]).y,
    [{ values: numbers(9, 100, -2, -1), shape: xs }],
  );
  checkGradients(
    (t) => fx.nn.MaxPool([3, 3], { strides: 1 }).apply({}, t!),
    (v) => naivePool('max', v!, xs, [3, 3], [1, 1], [[0, 0], [0, 0]]).y,
    [{ values: numbers(8, 100, -2, -1), shape: xs }],
  );
  tf.dispose([x, g]);
}));

/**
 * The max-pool gradient by a plain loop: each output's gradient goes to the first maximum of its
 * window in row-major order (padding never wins). `values` come from a small set, so ties are common.
 */
function naiveMaxPoolGrad(x: Float64Array, [n, h, w, c]: number[], win: number[], strides: number[], pads: number[][], dy: Float64Array): Float64Array {
  const oh = Math.floor((h! + pads[0]![0]! + pads[0]![1]! - win[0]!) / strides[0]!) + 1;
  const ow = Math.floor((w! + pads[1]![0]! + pads[1]![1]! - win[1]!) / strides[1]!) + 1;
  const dx = new Float64Array(x.length);
  for (let b = 0; b < n!; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let ch = 0; ch < c!; ch++) {
    let best = -1;
    for (let a = 0; a < win[0]!; a++) for (let e = 0; e < win[1]!; e++) {
      const r = i * strides[0]! + a - pads[0]![0]!;
      const col = j * strides[1]! + e - pads[1]![0]!;
      if (r < 0 || r >= h! || col < 0 || col >= w!) continue;
      const at = ((b * h! + r) * w! + col) * c! + ch;
      if (best < 0 || x[at]! > x[best]!) best = at;
    }
    dx[best] += dy[((b * oh + i) * ow + j) * c! + ch]!;
  }
  return dx;
}

test(`MaxPool gradient with tiling windows equals a plain first-maximum loop exactly: ties, infinities, padding, uneven sizes (${path})`, () => withOwnKernels(own, () => {
  const tie = (seed: number, count: number, extra: number[] = []) => {
    const next = fx.random.generator(fx.random.key(seed));
    const pool = [-2, -1, 0, 0, 0.5, 1, ...extra];
    return Float64Array.from({ length: count }, () => pool[Math.floor(next() * pool.length)]!);
  };
  const cases: Array<{ name: string; shape: number[]; win: number[]; pads?: number[][]; padding?: 'SAME' | 'VALID'; extra?: number[] }> = [
    { name: '2x2 on 8x6 (LeNet-like, many ties)', shape: [3, 8, 6, 5], win: [2, 2] },
    { name: '2x2 with infinities', shape: [2, 4, 6, 3], win: [2, 2], extra: [Infinity, -Infinity, 3.4028234663852886e38 * 0.5] },
    { name: '2x2 VALID on 5x7 (edges dropped)', shape: [2, 5, 7, 2], win: [2, 2] },
    { name: '2x2 SAME on 5x5 (-Infinity padding after)', shape: [2, 5, 5, 3], win: [2, 2], padding: 'SAME', pads: [[0, 1], [0, 1]] },
    { name: '3x2 windows', shape: [2, 6, 6, 2], win: [3, 2] },
    { name: '1x3 windows', shape: [1, 2, 9, 4], win: [1, 3] },
    // 4 channels or more: groups of 4 channels at a time, the last group overlapping (6 = 4 + 2)
    { name: '2x2 VALID on 5x7, 6 channels (edges dropped, overlapping channel groups)', shape: [2, 5, 7, 6], win: [2, 2] },
    { name: '2x2 with infinities, 6 channels', shape: [2, 4, 6, 6], win: [2, 2], extra: [Infinity, -Infinity, 3.4028234663852886e38 * 0.5] },
  ];
  for (const c of cases) {
    const size = c.shape.reduce((a, b) => a * b, 1);
    const x = tie(20 + c.shape[1]!, size, c.extra);
    const layer = fx.nn.MaxPool(c.win, { strides: c.win, padding: c.padding ?? 'VALID' });
    const xt = t32(x, c.shape);
    const y = layer.apply({}, xt);
    const yShape = y.shape;
    y.dispose();
    const dy = numbers(30, yShape.reduce((a, b) => a * b, 1));
    const dyt = t32(dy, yShape);
    const before = tf.memory().numTensors;
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply({}, t), dyt)))(xt);
    const want = naiveMaxPoolGrad(Float64Array.from(Float32Array.from(x)), c.shape, c.win, c.win, c.pads ?? [[0, 0], [0, 0]], Float64Array.from(Float32Array.from(dy)));
    assert.equal(Array.from(g.dataSync()), Array.from(Float32Array.from(want)), c.name);
    g.dispose();
    assert.is(tf.memory().numTensors, before, `${c.name}: no tensor left behind`);
    tf.dispose([xt, dyt]);
  }
  // 1-D pooling runs as a 2-D pooling of height 1.
  const x1 = tie(40, 2 * 8 * 3);
  const x1t = t32(x1, [2, 8, 3]);
  const g1 = tf.grad((t: tf.Tensor) => tf.sum(fx.nn.MaxPool(2, { strides: 2 }).apply({}, t)))(x1t);
  const want1 = naiveMaxPoolGrad(x1, [2, 1, 8, 3], [1, 2], [1, 2], [[0, 0], [0, 0]], new Float64Array(2 * 4 * 3).fill(1));
  assert.equal(Array.from(g1.dataSync()), Array.from(want1));
  tf.dispose([x1t, g1]);
}));
}

test('GlobalAvgPool averages every spatial axis; Flatten keeps the batch axis', () => {
  const x = numbers(7, 2 * 3 * 4 * 5);
  const xt = t32(x, [2, 3, 4, 5]);
  const g = fx.nn.GlobalAvgPool().apply({}, xt);
  const ref = new Float64Array(10);
  for (let b = 0; b < 2; b++) for (let i = 0; i < 12; i++) for (let c = 0; c < 5; c++) ref[b * 5 + c]! += x[(b * 12 + i) * 5 + c]! / 12;
  assert.equal(g.shape, [2, 5]);
  assertClose(g.dataSync(), ref);
  const f = fx.nn.Flatten().apply({}, xt);
  assert.equal(f.shape, [2, 60]);
  assertClose(f.dataSync(), x);
  checkGradients((t) => fx.nn.GlobalAvgPool().apply({}, t!), (v) => {
    const out = new Float64Array(10);
    for (let b = 0; b < 2; b++) for (let i = 0; i < 12; i++) for (let c = 0; c < 5; c++) out[b * 5 + c]! += v![(b * 12 + i) * 5 + c]! / 12;
    return out;
  }, [{ values: x, shape: [2, 3, 4, 5] }]);
  tf.dispose([xt, g, f]);
});

test('the Dense after Flatten is sized by the image: 28x28 and 32x32 give different kernels', () => {
  const net = fx.nn.Sequential([fx.nn.Conv(6, [5, 5], { padding: 'VALID' }), fx.nn.MaxPool([2, 2], { strides: 2 }), fx.nn.Flatten(), fx.nn.Dense(10)]);
  const s28 = net.initShapes(k0, [1, 28, 28, 1]);
  const s32 = net.initShapes(k0, [1, 32, 32, 1]);
  assert.equal(s28.params.layers_3.kernel.shape, [12 * 12 * 6, 10]);
  assert.equal(s32.params.layers_3.kernel.shape, [14 * 14 * 6, 10]);
});

test('pooling errors name the path; initShapes and apply leave no tensors', () => {
  const net = fx.nn.Sequential([fx.nn.MaxPool([2, 2])]);
  assertThrows(() => net.init(k0, [4, 4]), fx.ShapeError, 'layers_0', 'MaxPool', 'rank 3');
  assertThrows(() => net.init(k0, [1, 1, 4, 2]), fx.ShapeError, 'layers_0', 'smaller than the window');
  assertThrows(() => fx.nn.MaxPool([2, 2], { padding: [[2, 0], [0, 0]] }).init(k0, [1, 4, 4, 1]), fx.FlaxenError, 'smaller than the window');
  assertThrows(() => fx.nn.MaxPool([0, 2]), fx.FlaxenError, 'window');
  assertThrows(() => fx.nn.AvgPool([2, 2], { countIncludePad: false, stride: 2 } as fx.nn.AvgPoolOptions), fx.FlaxenError, "'stride'");
  assertThrows(() => fx.nn.GlobalAvgPool().init(k0, [2, 5]), fx.ShapeError, 'GlobalAvgPool', 'rank 3');
  for (const layer of [fx.nn.MaxPool([2, 2], { padding: 'SAME' }), fx.nn.AvgPool([3, 3], { padding: 'SAME', countIncludePad: false }), fx.nn.GlobalAvgPool(), fx.nn.Flatten()]) {
    const { result: shapes, delta } = tensorDelta(() => layer.initShapes(k0, [2, 6, 6, 3]));
    assert.is(delta, 0);
    assert.equal(shapes, {});
    const x = tf.ones([2, 6, 6, 3]);
    const { result: y, delta: d } = tensorDelta(() => layer.apply({}, x));
    assert.is(d, 1);
    tf.dispose([x, y]);
  }
  const M = fx.nn.module('Head', (scope, x: tf.Tensor) => scope.call(fx.nn.Dense(3), scope.call(fx.nn.Flatten(), scope.call(fx.nn.AvgPool([2, 2], { strides: 2 }), x))));
  const vars = M.init(k0, [1, 4, 4, 2]);
  assert.equal(Object.keys(vars.params), ['Dense_0']);
  assert.equal(vars.params.Dense_0!.kernel.shape, [8, 3]);
  fx.tree.dispose(vars);
  assert.is(fx.nn.Sequential([fx.nn.MaxPool([2, 2], { strides: 2 }), fx.nn.AvgPool(3, { padding: 'SAME' }), fx.nn.Flatten(), fx.nn.GlobalAvgPool()]).describe(),
    'Sequential(\n  (layers_0): MaxPool([2, 2], strides [2, 2])\n  (layers_1): AvgPool([3], padding SAME)\n  (layers_2): Flatten\n  (layers_3): GlobalAvgPool\n)');
});

test.run();
