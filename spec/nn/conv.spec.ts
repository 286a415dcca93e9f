import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, backend, checkKeptInputs, collectLeaks, tensorDelta } from '../setup.js';
import { gemmCounter, setOwnGemm } from '../../lib/ops/gemm.js';
import { checkGradients, naiveConv2d, numbers, sizeOf, stats, t32 } from './layer-helpers.js';

// Every test leaves tf.memory() as it found it (the last test checks); inputs made inline for one
// call are owned by `made`.
const made: tf.Tensor[] = [];
const leaks = collectLeaks(test, made);
function own<T extends tf.Tensor>(t: T): T {
  made.push(t);
  return t;
}

const k0 = fx.random.key(0);
const params = (v: unknown) => (v as { params: Record<string, tf.Tensor> }).params;
const vals = (t: tf.Tensor) => Float64Array.from(t.dataSync());

test('Conv: kernel [kh, kw, in, features] from the input, zero bias, LeCun-normal kernel (std 1/sqrt(fanIn))', () => {
  const conv = fx.nn.Conv(256, [3, 3]);
  const vars = conv.init(k0, [1, 8, 8, 64]);
  assert.equal(vars.params.kernel.shape, [3, 3, 64, 256]);
  assert.equal(vars.params.bias.shape, [256]);
  assert.ok(vars.params.bias.dataSync().every((v) => v === 0));
  const { mean, std } = stats(vars.params.kernel);
  const expected = 1 / Math.sqrt(3 * 3 * 64);
  assert.ok(Math.abs(mean) < 0.02 * expected * 10, `mean ${mean}`);
  assert.ok(Math.abs(std / expected - 1) < 0.03, `std ${std} vs ${expected}`);
  // truncated at 2 std of the underlying normal
  assert.ok(vars.params.kernel.dataSync().every((v) => Math.abs(v) <= 2 * expected / 0.8796 + 1e-6));
  fx.tree.dispose(vars);
});

test('Conv 2-D SAME stride 2 forward matches a naive loop (pads [1, 1] for 7 px, kernel 3: ceil(7/2) = 4 outputs)', () => {
  const conv = fx.nn.Conv(3, [3, 3], { strides: 2 });
  const x = numbers(1, 2 * 7 * 7 * 2);
  const vars = conv.init(k0, [2, 7, 7, 2]);
  const kernel = vals(vars.params.kernel);
  const bias = numbers(2, 3);
  const v2 = { params: { kernel: vars.params.kernel, bias: own(t32(bias, [3])) } };
  const y = conv.apply(v2, own(t32(x, [2, 7, 7, 2])));
  const ref = naiveConv2d(x, [2, 7, 7, 2], kernel, [3, 3, 2, 3], { strides: [2, 2], pads: [[1, 1], [1, 1]], bias });
  assert.equal(y.shape, [2, 4, 4, 3]);
  assertClose(y.dataSync(), ref.y, 1e-5, 1e-4);
  fx.tree.dispose([vars, v2.params.bias, y]);
});

test('Conv VALID with kernel dilation and an explicit-padding case match the naive loop', () => {
  const x = numbers(3, 1 * 9 * 8 * 2);
  for (const [opts, pads] of [
    [{ padding: 'VALID', kernelDilation: 2 }, [[0, 0], [0, 0]]],
    [{ padding: [[2, 0], [1, 3]] }, [[2, 0], [1, 3]]],
    [{ padding: 'SAME', strides: [2, 3] }, [[1, 1], [0, 1]]], // 9 -> ceil(9/2) = 5 outputs: total pad 4*2+3-9 = 2; 8 -> 3: total 2*3+3-8 = 1, after
  ] as const) {
    const conv = fx.nn.Conv(2, [3, 3], opts as fx.nn.ConvOptions);
    const vars = conv.init(k0, [1, 9, 8, 2]);
    const y = conv.apply(vars, own(t32(x, [1, 9, 8, 2])));
    const ref = naiveConv2d(x, [1, 9, 8, 2], vals(vars.params.kernel), [3, 3, 2, 2], {
      pads: pads as unknown as number[][],
      dilation: (opts as unknown as { kernelDilation?: number }).kernelDilation ? [2, 2] : [1, 1],
      strides: (opts as unknown as { strides?: number[] }).strides ?? [1, 1],
    });
    assert.equal(y.shape, ref.shape, JSON.stringify(opts));
    assertClose(y.dataSync(), ref.y, 1e-5, 1e-4, JSON.stringify(opts));
    fx.tree.dispose([vars, y]);
  }
});

test('Conv 1-D: kernel [k, in, features], input [batch, length, channels], CAUSAL padding puts k-1 zeros before', () => {
  const conv = fx.nn.Conv(4, 3, { padding: 'CAUSAL' });
  const vars = conv.init(k0, [2, 6, 3]);
  assert.equal(vars.params.kernel.shape, [3, 3, 4]);
  const x = numbers(4, 2 * 6 * 3);
  const y = conv.apply(vars, own(t32(x, [2, 6, 3])));
  const ref = naiveConv2d(x, [2, 1, 6, 3], vals(vars.params.kernel), [1, 3, 3, 4], { pads: [[0, 0], [2, 0]] });
  assert.equal(y.shape, [2, 6, 4]);
  assertClose(y.dataSync(), ref.y, 1e-5, 1e-4);
  fx.tree.dispose([vars, y]);
});

test('Conv accepts extra batch axes and no batch axis (as Flax)', () => {
  const conv = fx.nn.Conv(2, [2, 2], { padding: 'VALID' });
  const vars = conv.init(k0, [3, 2, 4, 4, 1]);
  assert.equal(own(conv.apply(vars, own(tf.ones([3, 2, 4, 4, 1])))).shape, [3, 2, 3, 3, 2]);
  assert.equal(own(conv.apply(vars, own(tf.ones([4, 4, 1])))).shape, [3, 3, 2]);
  fx.tree.dispose(vars);
});

test('Conv depthwise (featureGroupCount = channels): kernel [3, 3, 1, C*M], forward matches the grouped naive loop', () => {
  const conv = fx.nn.Conv(6, [3, 3], { featureGroupCount: 3, useBias: false });
  const vars = conv.init(k0, [1, 5, 5, 3]);
  assert.equal(vars.params.kernel.shape, [3, 3, 1, 6]);
  assert.equal(Object.keys(vars.params), ['kernel']);
  const x = numbers(5, 5 * 5 * 3);
  const y = conv.apply(vars, own(t32(x, [1, 5, 5, 3])));
  const ref = naiveConv2d(x, [1, 5, 5, 3], vals(vars.params.kernel), [3, 3, 1, 6], { pads: [[1, 1], [1, 1]], groups: 3 });
  assertClose(y.dataSync(), ref.y, 1e-5, 1e-4);
  fx.tree.dispose([vars, y]);
});

test('Conv gradients (input, kernel, bias) match finite differences of the naive loop, stride 2 SAME and dilation 2', () => {
  for (const [opts, pads, strides, dilation] of [
    [{ strides: 2 }, [[0, 1], [0, 1]], [2, 2], [1, 1]],
    [{ kernelDilation: 2, padding: 'VALID' }, [[0, 0], [0, 0]], [1, 1], [2, 2]],
    [{ featureGroupCount: 2, padding: 1 }, [[1, 1], [1, 1]], [1, 1], [1, 1]],
  ] as const) {
    const conv = fx.nn.Conv(2, [2, 2], opts as fx.nn.ConvOptions);
    const groups = (opts as unknown as { featureGroupCount?: number }).featureGroupCount ?? 1;
    const xs = [2, 6, 6, 2];
    const ws = [2, 2, 2 / groups, 2];
    checkGradients(
      (x, k, b) => conv.apply({ params: { kernel: k!, bias: b! } }, x!),
      (x, k, b) => naiveConv2d(x!, xs, k!, ws, { strides: [...strides], pads: pads as unknown as number[][], dilation: [...dilation], groups, bias: b }).y,
      [{ values: numbers(6, sizeOf(xs)), shape: xs }, { values: numbers(7, sizeOf(ws)), shape: ws }, { values: numbers(8, 2), shape: [2] }],
      { what: JSON.stringify(opts) },
    );
  }
});

test('Conv as a first layer: the gradient with respect to the data is never computed (one convolution forward, one for the kernel)', async () => {
  const conv = fx.nn.Conv(4, [3, 3]);
  const x = t32(numbers(12, 2 * 7 * 7 * 1), [2, 7, 7, 1]);
  const vars = conv.init(k0, x.shape);
  const loss = (kernel: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.square(conv.apply({ params: { kernel, bias } }, x) as tf.Tensor));
  // flaxen's own products (one-thread wasm): the forward and the kernel gradient, two products
  const before = gemmCounter.calls;
  tf.dispose(tf.grads(loss)([params(vars).kernel!, params(vars).bias!]));
  if (backend === 'wasm') assert.is(gemmCounter.calls - before, 2, 'forward and kernel gradient only');
  // tfjs's convolutions: two Conv2D kernels
  const previous = setOwnGemm(false);
  const info = await tf.profile(() => {
    tf.dispose(tf.grads(loss)([params(vars).kernel!, params(vars).bias!]));
    return tf.scalar(0);
  });
  setOwnGemm(previous);
  tf.dispose(info.result);
  const convs = info.kernels.map((k) => k.name).filter((name) => /Conv2D/.test(name));
  assert.is(convs.length, 2, `forward and kernel gradient only, found ${convs.join(', ')}`);
  // ... and the parameter gradients are those computed when the data gradient is computed too.
  const [dxAll, dkAll, dbAll] = tf.grads((xt: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv.apply({ params: { kernel: k, bias: b } }, xt) as tf.Tensor)))([
    x,
    params(vars).kernel!,
    params(vars).bias!,
  ]);
  const [dk, db] = tf.grads(loss)([params(vars).kernel!, params(vars).bias!]);
  assert.equal(Array.from(dk!.dataSync()), Array.from(dkAll!.dataSync()));
  assert.equal(Array.from(db!.dataSync()), Array.from(dbAll!.dataSync()));
  tf.dispose([x, dk!, db!, dxAll!, dkAll!, dbAll!]);
  fx.tree.dispose(vars);
});

test('Conv and MaxPool keep their inputs for the backward pass without copies inside fx.valueAndGrad: the same bits as under tf.grads, and nothing leaks', () => {
  const net = fx.nn.Sequential([
    fx.nn.Conv(4, [3, 3]), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: 2 }),
    fx.nn.Conv(4, [3, 3], { featureGroupCount: 4 }), fx.nn.MaxPool([2, 2], { strides: 1 }),
    fx.nn.Flatten(), fx.nn.Dense(3),
  ]);
  const x = t32(numbers(13, 2 * 8 * 8 * 2), [2, 8, 8, 2]);
  const { params } = net.init(k0, x.shape);
  const loss = (p: typeof params) => tf.sum(tf.square(net.apply({ params: p }, x) as tf.Tensor));
  // Saving a tensor for the backward pass copies it with an Identity kernel.
  const { copies, stockCopies } = checkKeptInputs(loss, params, (p) => net.apply({ params: p }, x));
  // two convolutions keep x and the kernel, two max pools their input: 6 tensors not copied
  assert.ok(copies <= stockCopies - 6, `Identity kernels: ${copies} with fx.valueAndGrad, ${stockCopies} with tf.grads`);
  fx.tree.dispose(params);
  x.dispose();
});

test('ConvTranspose: kernel [kh, kw, in, features]; SAME gives in*stride; forward matches a scatter-form reference', () => {
  const up = fx.nn.ConvTranspose(2, [3, 3], { strides: 2 });
  const vars = up.init(k0, [1, 3, 4, 2]);
  assert.equal(vars.params.kernel.shape, [3, 3, 2, 2]);
  const x = numbers(9, 3 * 4 * 2);
  const y = up.apply(vars, own(t32(x, [1, 3, 4, 2])));
  assert.equal(y.shape, [1, 6, 8, 2]);
  // lax.conv_transpose, SAME, k=3, s=2: padding of the dilated input (2, 1) (hand-derived from
  // _conv_transpose_padding: pad_len = k + s - 2 = 3, s <= k - 1 so before = ceil(3/2) = 2).
  // Then y[o] = Σ_a xd[o + a - 2] w[a], i.e. each x[i] lands on o = 2i + 2 - a.
  const w = vals(vars.params.kernel);
  const ref = new Float64Array(6 * 8 * 2);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 4; j++)
      for (let a = 0; a < 3; a++)
        for (let e = 0; e < 3; e++) {
          const oi = 2 * i + 2 - a;
          const oj = 2 * j + 2 - e;
          if (oi < 0 || oi >= 6 || oj < 0 || oj >= 8) continue;
          for (let c = 0; c < 2; c++) for (let f = 0; f < 2; f++) ref[(oi * 8 + oj) * 2 + f]! += x[(i * 4 + j) * 2 + c]! * w[((a * 3 + e) * 2 + c) * 2 + f]!;
        }
  assertClose(y.dataSync(), ref, 1e-5, 1e-4);
  fx.tree.dispose([vars, y]);
});

test('ConvTranspose VALID output is in*stride + max(k - stride, 0); gradients match finite differences', () => {
  const up = fx.nn.ConvTranspose(2, [3, 3], { strides: 2, padding: 'VALID' });
  const vars = up.init(k0, [1, 3, 3, 1]);
  assert.equal(own(up.apply(vars, own(tf.ones([1, 3, 3, 1])))).shape, [1, 7, 7, 2]);
  // reference: scatter with before-padding k - 1 = 2 (VALID)
  const ref = (x: Float64Array, w: Float64Array, b: Float64Array) => {
    const out = new Float64Array(7 * 7 * 2);
    for (let o = 0; o < out.length; o++) out[o] = b[o % 2]!;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let a = 0; a < 3; a++) for (let e = 0; e < 3; e++) {
      const oi = 2 * i + 2 - a;
      const oj = 2 * j + 2 - e;
      for (let f = 0; f < 2; f++) out[(oi * 7 + oj) * 2 + f]! += x[i * 3 + j]! * w[(a * 3 + e) * 2 + f]!;
    }
    return out;
  };
  checkGradients(
    (x, k, b) => up.apply({ params: { kernel: k!, bias: b! } }, x!),
    (x, k, b) => ref(x!, k!, b!),
    [{ values: numbers(10, 9), shape: [1, 3, 3, 1] }, { values: numbers(11, 18), shape: [3, 3, 1, 2] }, { values: numbers(12, 2), shape: [2] }],
  );
  fx.tree.dispose(vars);
});

test('Conv and ConvTranspose errors name the path and both shapes', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.Conv(8, [3, 3])]);
  assertThrows(() => net.init(k0, [2, 5]), fx.ShapeError, 'layers_1', 'Conv', 'rank 3', '[2, 4]');
  const conv = fx.nn.Sequential([fx.nn.Conv(8, [3, 3])]);
  const vars = conv.init(k0, [1, 6, 6, 3]);
  assertThrows(() => conv.apply(vars, own(tf.ones([1, 6, 6, 4]))), fx.ShapeError, 'layers_0', "'params/layers_0/kernel'", '[3, 3, 3, 8]', '[3, 3, 4, 8]');
  assertThrows(() => fx.nn.Conv(8, [5, 5], { padding: 'VALID' }).init(k0, [1, 3, 3, 1]), fx.ShapeError, 'too small', '[3, 3]');
  assertThrows(() => fx.nn.Conv(8, [3, 3], { featureGroupCount: 2 }).init(k0, [1, 4, 4, 3]), fx.ShapeError, 'featureGroupCount 2', '3 channels');
  assertThrows(() => fx.nn.Conv(0, [3, 3]), fx.FlaxenError, 'features');
  assertThrows(() => fx.nn.Conv(8, [3, 3, 3]), fx.FlaxenError, 'kernelSize');
  assertThrows(() => fx.nn.Conv(8, [3, 3], { padding: 'FULL' as 'SAME' }), fx.FlaxenError, 'padding');
  assertThrows(() => fx.nn.Conv(8, [3, 3], { strides: [1, 2, 3] }), fx.FlaxenError, 'strides');
  assertThrows(() => fx.nn.Conv(9, [3, 3], { featureGroupCount: 2 }), fx.FlaxenError, 'divide features');
  assertThrows(() => fx.nn.Conv(8, [3, 3], { inputDilation: 2 }), fx.FlaxenError, 'SAME', 'inputDilation');
  assertThrows(() => fx.nn.Conv(8, [3, 3], { stride: 2 } as fx.nn.ConvOptions), fx.FlaxenError, "unknown option 'stride'");
  assertThrows(() => fx.nn.ConvTranspose(8, [3, 3]).init(k0, [4, 4]), fx.ShapeError, 'ConvTranspose', 'rank 3');
  assertThrows(() => fx.nn.Conv(8, [3, 3]).init(k0, new fx.ShapeDtype([1, 4, 4, 1], 'int32') as unknown as tf.Tensor), fx.FlaxenError, 'float32', 'int32');
  fx.tree.dispose(vars);
});

test('Conv/ConvTranspose: initShapes allocates nothing; init and apply leave no tensors behind', () => {
  for (const layer of [fx.nn.Conv(4, [3, 3]), fx.nn.ConvTranspose(4, [3, 3], { strides: 2 }), fx.nn.Conv(4, 3)]) {
    const shape = layer.type === 'Conv' && layer.describe().includes('kernel [3])') ? [2, 8, 3] : [2, 8, 8, 3];
    const { result: shapes, delta } = tensorDelta(() => layer.initShapes(k0, shape));
    assert.is(delta, 0);
    assert.ok(shapes.params.kernel instanceof fx.ShapeDtype);
    const x = tf.ones(shape);
    const { result: vars, delta: initDelta } = tensorDelta(() => layer.init(k0, x));
    assert.is(initDelta, 2);
    const { result: y, delta: applyDelta } = tensorDelta(() => layer.apply(vars, x));
    assert.is(applyDelta, 1);
    y.dispose();
    // and a gradient through the layer leaves nothing either
    const { delta: gradDelta } = tensorDelta(() => tf.tidy(() => tf.grad((k: tf.Tensor) => tf.sum(layer.apply({ params: { kernel: k, bias: vars.params.bias } }, x)))(vars.params.kernel).dispose()));
    assert.is(gradDelta, 0);
    fx.tree.dispose([vars, x]);
  }
});

test('Conv works inside Sequential and inside a custom module; describe shows -1 before init', () => {
  const net = fx.nn.Sequential([fx.nn.Conv(4, [3, 3]), fx.nn.relu, fx.nn.Conv(2, [1, 1], { strides: 2, padding: 'VALID' })]);
  assert.is(net.describe(), 'Sequential(\n  (layers_0): Conv(-1 -> 4, kernel [3, 3])\n  (layers_1): relu\n  (layers_2): Conv(-1 -> 2, kernel [1, 1], strides [2, 2], VALID)\n)');
  const vars = net.init(k0, [1, 6, 6, 3]);
  assert.ok(net.describe(vars).includes('Conv(3 -> 4, kernel [3, 3])'));
  assert.ok(net.describe(vars).includes('Conv(4 -> 2, kernel [1, 1]'));
  const Block = fx.nn.module('Block', (scope, x: tf.Tensor) => tf.add(scope.call(fx.nn.Conv(3, [3, 3]), x), x));
  const bv = Block.init(k0, [1, 5, 5, 3]);
  assert.equal(Object.keys(bv.params), ['Conv_0']);
  const y = Block.apply(bv, own(tf.ones([1, 5, 5, 3])));
  assert.equal(y.shape, [1, 5, 5, 3]);
  fx.tree.dispose([vars, bv, y]);
});

test('ConvTranspose with transposeKernel flips the kernel: equals tfjs conv2dTranspose (gradient semantics) for stride 1', () => {
  const up = fx.nn.ConvTranspose(3, [3, 3], { transposeKernel: true, padding: 'VALID' });
  const vars = up.init(k0, [1, 4, 4, 2]);
  assert.equal(vars.params.kernel.shape, [3, 3, 3, 2]);
  const x = t32(numbers(13, 32), [1, 4, 4, 2]);
  const y = up.apply({ params: { kernel: vars.params.kernel, bias: vars.params.bias } }, x);
  const expected = tf.conv2dTranspose(x as tf.Tensor4D, vars.params.kernel as tf.Tensor4D, [1, 6, 6, 3], 1, 'valid');
  assertClose(y.dataSync(), expected.dataSync(), 1e-5, 1e-4);
  fx.tree.dispose([vars, x, y, expected]);
});

test('ConvTranspose inside Sequential and a custom module (an encoder-decoder); Conv inputDilation at layer level', () => {
  const autoencoder = fx.nn.Sequential([
    fx.nn.Conv(8, [3, 3], { strides: 2 }),
    fx.nn.relu,
    fx.nn.ConvTranspose(1, [3, 3], { strides: 2 }),
  ]);
  assert.ok(autoencoder.describe().includes('(layers_2): ConvTranspose(-1 -> 1, kernel [3, 3], strides [2, 2])'));
  const vars = autoencoder.init(k0, [1, 8, 8, 1]);
  assert.equal(vars.params.layers_2.kernel.shape, [3, 3, 8, 1]);
  assert.ok(autoencoder.describe(vars).includes('ConvTranspose(8 -> 1'));
  const y = autoencoder.apply(vars, own(tf.ones([2, 8, 8, 1])));
  assert.equal(y.shape, [2, 8, 8, 1]);
  const Up = fx.nn.module('Up', (scope, x: tf.Tensor) => scope.call(fx.nn.ConvTranspose(4, 2, { strides: 2, padding: 'VALID' }), x));
  const uv = Up.init(k0, [1, 5, 3]);
  assert.equal(fx.tree.map(uv, (t: tf.Tensor) => t.shape), { params: { ConvTranspose_0: { kernel: [2, 3, 4], bias: [4] } } });
  const uy = Up.apply(uv, own(tf.ones([1, 5, 3])));
  assert.equal(uy.shape, [1, 10, 4]);
  // input dilation 2 on 4 pixels -> 7, VALID kernel 3 -> 5
  const dil = fx.nn.Conv(2, [3, 3], { inputDilation: 2, padding: 'VALID' });
  assert.equal(dil.initShapes(k0, [1, 4, 4, 1]).params.kernel.shape, [3, 3, 1, 2]);
  const dv = dil.init(k0, [1, 4, 4, 1]);
  const x = numbers(14, 16);
  const dy = dil.apply(dv, own(t32(x, [1, 4, 4, 1])));
  const stuffed = new Float64Array(49);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) stuffed[(2 * i) * 7 + 2 * j] = x[i * 4 + j]!;
  const ref = naiveConv2d(stuffed, [1, 7, 7, 1], vals(dv.params.kernel), [3, 3, 1, 2], {});
  assert.equal(dy.shape, [1, 5, 5, 2]);
  assertClose(dy.dataSync(), ref.y, 1e-5, 1e-4);
  fx.tree.dispose([vars, y, uv, uy, dv, dy]);
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
