// The general convolution op and its hand-written gradients, against a plain-loop float64
// reference, finite differences of that reference, and tfjs's stock gradients on the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { ConvGeometry, convGeneral, convOutputSize, padForType } from '../../lib/ops/conv.js';
import { gemmCounter, setOwnGemm } from '../../lib/ops/gemm.js';
import { assertClose, backend, withOwnKernels } from '../setup.js';

type Shape4 = [number, number, number, number];

/** Deterministic pseudo-random numbers in [-1, 1) from a seed (no Math.random). */
function numbers(seed: number, n: number): Float64Array {
  const next = fx.random.generator(fx.random.key(seed));
  return Float64Array.from({ length: n }, () => next() * 2 - 1);
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** A naive convolution in float64, written from the definition of lax.conv_general_dilated. */
function refConv(x: Float64Array, xs: Shape4, w: Float64Array, ws: Shape4, g: ConvGeometry): { y: Float64Array; ys: Shape4 } {
  const [n, h, wd, c] = xs;
  const [kh, kw, cg, f] = ws;
  const [[pt], [pl]] = g.padding;
  const oh = convOutputSize(h, kh, { stride: g.strides[0], pad: g.padding[0], inputDilation: g.inputDilation[0], kernelDilation: g.kernelDilation[0] });
  const ow = convOutputSize(wd, kw, { stride: g.strides[1], pad: g.padding[1], inputDilation: g.inputDilation[1], kernelDilation: g.kernelDilation[1] });
  const perGroupOut = f / g.groups;
  const y = new Float64Array(n * oh * ow * f);
  const input = (b: number, i: number, j: number, ch: number): number => {
    // i, j index the padded, input-dilated image.
    const di = i - pt;
    const dj = j - pl;
    if (di < 0 || dj < 0 || di % g.inputDilation[0] !== 0 || dj % g.inputDilation[1] !== 0) return 0;
    const si = di / g.inputDilation[0];
    const sj = dj / g.inputDilation[1];
    if (si >= h || sj >= wd) return 0;
    return x[((b * h + si) * wd + sj) * c + ch]!;
  };
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let o = 0; o < f; o++) {
          const group = Math.floor(o / perGroupOut);
          let sum = 0;
          for (let a = 0; a < kh; a++)
            for (let e = 0; e < kw; e++)
              for (let q = 0; q < cg; q++) {
                sum += input(b, i * g.strides[0] + a * g.kernelDilation[0], j * g.strides[1] + e * g.kernelDilation[1], group * cg + q) * w[((a * kw + e) * cg + q) * f + o]!;
              }
          y[((b * oh + i) * ow + j) * f + o] = sum;
        }
  return { y, ys: [n, oh, ow, f] };
}

interface Case {
  name: string;
  xs: Shape4;
  ws: Shape4;
  g: ConvGeometry;
}

const geom = (o: Partial<ConvGeometry>): ConvGeometry => ({ strides: [1, 1], padding: [[0, 0], [0, 0]], inputDilation: [1, 1], kernelDilation: [1, 1], groups: 1, ...o });

const cases: Case[] = [
  { name: 'stride 1, VALID', xs: [2, 5, 6, 3], ws: [3, 2, 3, 4], g: geom({}) },
  { name: 'stride 2, SAME', xs: [2, 7, 6, 2], ws: [3, 3, 2, 3], g: geom({ strides: [2, 2], padding: [padForType('SAME', 7, 3, 2), padForType('SAME', 6, 3, 2)] }) },
  { name: 'strides [2, 3], explicit uneven padding', xs: [1, 8, 9, 2], ws: [2, 3, 2, 2], g: geom({ strides: [2, 3], padding: [[0, 3], [2, 1]] }) },
  { name: 'kernel dilation 2, explicit padding', xs: [2, 7, 7, 2], ws: [3, 2, 2, 3], g: geom({ kernelDilation: [2, 3], padding: [[1, 2], [2, 0]] }) },
  { name: 'stride 2 and dilation 2 together', xs: [1, 9, 8, 2], ws: [2, 2, 2, 2], g: geom({ strides: [2, 2], kernelDilation: [2, 2], padding: [[1, 1], [0, 1]] }) },
  { name: 'input dilation 2 (transposed convolution)', xs: [1, 4, 3, 2], ws: [3, 3, 2, 2], g: geom({ inputDilation: [2, 2], padding: [[2, 2], [1, 2]] }) },
  { name: 'two feature groups', xs: [2, 5, 5, 4], ws: [3, 3, 2, 6], g: geom({ groups: 2, padding: [[1, 1], [1, 1]] }) },
  { name: 'depthwise (groups = channels, multiplier 2), stride 2', xs: [2, 6, 6, 3], ws: [3, 3, 1, 6], g: geom({ groups: 3, strides: [2, 2], padding: [[1, 1], [1, 1]] }) },
  { name: 'depthwise, multiplier 1, dilation 2, uneven padding', xs: [2, 7, 6, 4], ws: [2, 3, 1, 4], g: geom({ groups: 4, kernelDilation: [2, 2], padding: [[0, 2], [1, 0]] }) },
  { name: 'depthwise, stride 2 and dilation 2 together', xs: [1, 9, 9, 2], ws: [2, 2, 1, 2], g: geom({ groups: 2, strides: [2, 2], kernelDilation: [2, 2], padding: [[1, 1], [0, 0]] }) },
  // One input channel, stride 1: the forward convolution runs on pixel pairs (see pairCases).
  { name: 'one input channel, SAME (pixel pairs)', xs: [2, 6, 8, 1], ws: [3, 3, 1, 3], g: geom({ padding: [[1, 1], [1, 1]] }) },
  { name: 'one input channel, even kernel, uneven padding (pixel pairs; batch 1, so the kernel gradient too)', xs: [1, 5, 6, 1], ws: [2, 4, 1, 2], g: geom({ padding: [[0, 1], [2, 1]] }) },
  { name: 'one input channel, odd left padding (pixel pairs)', xs: [2, 4, 6, 1], ws: [3, 2, 1, 5], g: geom({ padding: [[1, 0], [1, 0]] }) },
  { name: 'one input channel, odd width (plain convolution)', xs: [2, 5, 5, 1], ws: [3, 3, 1, 2], g: geom({}) },
];

for (const c of cases) for (const own of [true, false]) {
  const path = own ? 'own products' : 'tfjs convolutions';
  test(`convGeneral forward matches a naive convolution (${path}): ${c.name}`, () => withOwnKernels(own, () => {
    const x = numbers(1, size(c.xs));
    const w = numbers(2, size(c.ws));
    const ref = refConv(x, c.xs, w, c.ws, c.g);
    const y = tf.tidy(() => convGeneral(tf.tensor4d(Float32Array.from(x), c.xs), tf.tensor4d(Float32Array.from(w), c.ws), c.g));
    assert.equal(y.shape, ref.ys);
    assertClose(y.dataSync(), ref.y, 1e-5, 1e-4, c.name);
    y.dispose();
    // The same with a bias (fused into the convolution, or added after a depthwise one).
    const b = numbers(9, c.ws[3]);
    const yb = tf.tidy(() => convGeneral(tf.tensor4d(Float32Array.from(x), c.xs), tf.tensor4d(Float32Array.from(w), c.ws), c.g, tf.tensor1d(Float32Array.from(b))));
    const refB = ref.y.map((v, i) => v + b[i % c.ws[3]]!);
    assertClose(yb.dataSync(), refB, 1e-5, 1e-4, `${c.name} with bias`);
    yb.dispose();
  }));

  test(`convGeneral gradients match finite differences of the reference (${path}): ${c.name}`, () => withOwnKernels(own, () => {
    const x = numbers(3, size(c.xs));
    const w = numbers(4, size(c.ws));
    const { ys } = refConv(x, c.xs, w, c.ws, c.g);
    const r = numbers(5, size(ys));
    const b = numbers(8, c.ws[3]);
    const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array) => {
      const { y } = refConv(xv, c.xs, wv, c.ws, c.g);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += (y[i]! + bv[i % bv.length]!) * r[i]!;
      return s;
    };
    const fd = (which: 'x' | 'w' | 'b'): Float64Array => {
      const base = which === 'x' ? x : which === 'w' ? w : b;
      const out = new Float64Array(base.length);
      const eps = 1e-3;
      for (let i = 0; i < base.length; i++) {
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i]! += eps;
        minus[i]! -= eps;
        const at = (v: Float64Array) => loss(which === 'x' ? v : x, which === 'w' ? v : w, which === 'b' ? v : b);
        out[i] = (at(plus) - at(minus)) / (2 * eps);
      }
      return out;
    };
    const before = tf.memory().numTensors;
    const [dx, dw, db] = tf.tidy(() => {
      const rt = tf.tensor4d(Float32Array.from(r), ys);
      return tf.grads((xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(convGeneral(xt as tf.Tensor4D, wt as tf.Tensor4D, c.g, bt as tf.Tensor1D), rt)))([
        tf.tensor4d(Float32Array.from(x), c.xs),
        tf.tensor4d(Float32Array.from(w), c.ws),
        tf.tensor1d(Float32Array.from(b)),
      ]);
    });
    assert.equal(dx!.shape, c.xs);
    assert.equal(dw!.shape, c.ws);
    assert.equal(db!.shape, [c.ws[3]]);
    assertClose(dx!.dataSync(), fd('x'), 1e-4, 1e-3, `${c.name} dx`);
    assertClose(dw!.dataSync(), fd('w'), 1e-4, 1e-3, `${c.name} dw`);
    assertClose(db!.dataSync(), fd('b'), 1e-4, 1e-3, `${c.name} dbias`);
    tf.dispose([dx!, dw!, db!]);
    assert.is(tf.memory().numTensors, before, 'no tensor left behind');
  }));
}

/**
 * The convolutions that run while `f` runs: tfjs's convolution kernels (plain, fused, depthwise)
 * by name, and flaxen's own matrix products (one-thread wasm) as 'product'.
 */
async function convKernelsRun(f: () => tf.Tensor[]): Promise<string[]> {
  const before = gemmCounter.calls;
  const info = await tf.profile(() => {
    tf.dispose(tf.tidy(f));
    return [];
  });
  const products = Array.from({ length: gemmCounter.calls - before }, () => 'product');
  return [...info.kernels.map((k) => k.name).filter((name) => /Conv2D|DepthwiseConv2d/.test(name)), ...products];
}

for (const c of [cases[1]!, cases[7]!]) {
  test(`gradient of an unneeded input not computed: only the kernel gradient runs when x is data: ${c.name}`, async () => {
    const x = tf.tensor4d(Float32Array.from(numbers(10, size(c.xs))), c.xs);
    const w = tf.tensor4d(Float32Array.from(numbers(11, size(c.ws))), c.ws);
    const b = tf.tensor1d(Float32Array.from(numbers(12, c.ws[3])));
    const conv = (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.square(convGeneral(xt as tf.Tensor4D, wt as tf.Tensor4D, c.g, bt as tf.Tensor1D)));
    const forward = await convKernelsRun(() => [conv(x, w, b)]);
    const all = await convKernelsRun(() => tf.grads(conv)([x, w, b]));
    const kernelOnly = await convKernelsRun(() => tf.grads((wt: tf.Tensor) => conv(x, wt, b))([w]));
    const biasOnly = await convKernelsRun(() => tf.grads((bt: tf.Tensor) => conv(x, w, bt))([b]));
    const inputOnly = await convKernelsRun(() => tf.grads((xt: tf.Tensor) => conv(xt, w, b))([x]));
    assert.is(forward.length, 1, `one convolution forward: ${forward}`);
    assert.is(all.length, 3, `forward, input gradient, kernel gradient: ${all}`);
    assert.is(kernelOnly.length, 2, `forward and kernel gradient only: ${kernelOnly}`);
    assert.is(inputOnly.length, 2, `forward and input gradient only: ${inputOnly}`);
    assert.is(biasOnly.length, 1, `the bias gradient needs no convolution: ${biasOnly}`);
    // ... and the gradients computed alone are those computed together.
    const [dxAll, dwAll, dbAll] = tf.grads(conv)([x, w, b]);
    const [dwAlone] = tf.grads((wt: tf.Tensor) => conv(x, wt, b))([w]);
    assertClose(dwAlone!.dataSync(), dwAll!.dataSync(), 0, 0, 'dw alone');
    tf.dispose([x, w, b, dxAll!, dwAll!, dbAll!, dwAlone!]);
  });
}

// The one-channel cases whose forward convolution runs on pixel pairs: the convolution kernel
// that runs sees the input as [n, h, w/2, 2]; with an odd width it sees the input itself.
for (const [c, paired] of [[cases[10]!, true], [cases[11]!, true], [cases[12]!, true], [cases[13]!, false]] as const) {
  test(`one-channel forward convolution ${paired ? 'on pixel pairs' : 'plain'}: ${c.name}`, async () => {
    const x = tf.tensor4d(Float32Array.from(numbers(13, size(c.xs))), c.xs);
    const w = tf.tensor4d(Float32Array.from(numbers(14, size(c.ws))), c.ws);
    const b = tf.tensor1d(Float32Array.from(numbers(15, c.ws[3])));
    for (const bias of [undefined, b]) {
      // (the tfjs path: flaxen's own products, when they run, need no pairs)
      const previous = setOwnGemm(false);
      const info = await tf.profile(() => convGeneral(x, w, c.g, bias)).finally(() => setOwnGemm(previous));
      tf.dispose(info.result as tf.Tensor);
      const inputs = info.kernels.filter((k) => /^(Fused)?Conv2D$/.test(k.name)).map((k) => k.inputShapes[0]);
      const expected = paired ? [c.xs[0], c.xs[1], c.xs[2] / 2, 2] : c.xs;
      assert.equal(inputs, [expected], `${bias ? 'with' : 'without'} bias`);
    }
    tf.dispose([x, w, b]);
  });
}

// tfjs's own conv2d gradients (cpu backend: it has Conv2DBackpropFilter) for the cases they support.
const stockCases: Array<{ name: string; xs: Shape4; ws: Shape4; strides: [number, number]; pad: 'same' | 'valid' | number[][] }> = [
  { name: 'stride 1 valid', xs: [2, 6, 5, 3], ws: [3, 3, 3, 2], strides: [1, 1], pad: 'valid' },
  { name: 'stride 2 same', xs: [2, 7, 8, 2], ws: [3, 2, 2, 4], strides: [2, 2], pad: 'same' },
  { name: 'strides [3, 2] explicit', xs: [1, 9, 7, 2], ws: [2, 3, 2, 3], strides: [3, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
];

for (const c of stockCases) {
  test(`convGeneral gradients on ${backend} equal tfjs's stock conv2d gradients on cpu: ${c.name}`, async () => {
    const x = Float32Array.from(numbers(6, size(c.xs)));
    const w = Float32Array.from(numbers(7, size(c.ws)));
    const stock = async () => {
      await tf.setBackend('cpu');
      try {
        return tf.tidy(() => {
          const [dx, dw] = tf.grads((xt: tf.Tensor, wt: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, c.strides, c.pad as 'same'))))([
            tf.tensor4d(x, c.xs),
            tf.tensor4d(w, c.ws),
          ]);
          return [Array.from(dx!.dataSync()), Array.from(dw!.dataSync())];
        });
      } finally {
        await fx.ready(backend);
      }
    };
    await fx.ready('cpu');
    const [sdx, sdw] = await stock();
    assert.is(tf.getBackend(), backend);
    const pads = c.pad === 'valid'
      ? [[0, 0], [0, 0]]
      : c.pad === 'same'
        ? [padForType('SAME', c.xs[1], c.ws[0], c.strides[0]), padForType('SAME', c.xs[2], c.ws[1], c.strides[1])]
        : [c.pad[1], c.pad[2]];
    const g = geom({ strides: c.strides, padding: pads as unknown as ConvGeometry['padding'] });
    const [dx, dw] = tf.tidy(() =>
      tf.grads((xt: tf.Tensor, wt: tf.Tensor) => tf.sum(tf.square(convGeneral(xt as tf.Tensor4D, wt as tf.Tensor4D, g))))([tf.tensor4d(x, c.xs), tf.tensor4d(w, c.ws)]),
    );
    assertClose(dx!.dataSync(), sdx!, 1e-4, 1e-4, 'dx');
    assertClose(dw!.dataSync(), sdw!, 1e-4, 1e-4, 'dw');
    tf.dispose([dx!, dw!]);
  });
}

test('padForType follows lax.padtype_to_pads: SAME puts the extra pixel after', () => {
  assert.equal(padForType('SAME', 28, 5, 1), [2, 2]);
  assert.equal(padForType('SAME', 7, 3, 2), [1, 1]);
  assert.equal(padForType('SAME', 6, 3, 2), [0, 1]);
  assert.equal(padForType('SAME', 5, 1, 2), [0, 0]);
  assert.equal(padForType('VALID', 5, 3, 2), [0, 0]);
});

test.run();
