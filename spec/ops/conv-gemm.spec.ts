// Convolutions as matrix products (lib/ops/conv-gemm.ts): the forward product is XNNPACK's
// convolution bit for bit; the two gradients equal tfjs's (cpu backend's stock conv2d
// gradients are checked in conv.spec.ts against the same ops) up to float32 rounding, here
// against float64 sums written out directly. Off wasm, every function declines.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { convByProduct, convInputGradByProduct, convKernelGradByProduct, im2colMatrix, type ConvWindow } from '../../lib/ops/conv-gemm.js';
import { normalArray } from '../../lib/random/samplers.js';
import { assertClose, backend, tensorDelta } from '../setup.js';

const onWasm = backend === 'wasm';

function randn(seed: number, shape: number[]): tf.Tensor4D {
  return tf.tensor4d(normalArray(fx.random.key(seed), shape.reduce((a, b) => a * b, 1)), shape as [number, number, number, number]);
}

const cases: Array<{ name: string; xs: number[]; ks: number[]; win: ConvWindow }> = [
  { name: 'LeNet first layer: 1 channel, SAME', xs: [3, 28, 28, 1], ks: [5, 5, 1, 6], win: { strides: [1, 1], padding: [[2, 2], [2, 2]], dilation: [1, 1] } },
  { name: 'LeNet second layer: 6 channels, VALID', xs: [3, 14, 14, 6], ks: [5, 5, 6, 16], win: { strides: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1] } },
  { name: 'stride 2, uneven padding', xs: [2, 9, 8, 3], ks: [3, 2, 3, 5], win: { strides: [2, 2], padding: [[1, 0], [0, 2]], dilation: [1, 1] } },
  { name: 'dilation [2, 3], explicit padding', xs: [2, 10, 11, 2], ks: [2, 3, 2, 9], win: { strides: [1, 1], padding: [[1, 1], [2, 2]], dilation: [2, 3] } },
  { name: 'stride [1, 3], 4-channel rows (SIMD copies)', xs: [2, 10, 11, 4], ks: [3, 3, 4, 3], win: { strides: [1, 3], padding: [[1, 1], [0, 1]], dilation: [1, 1] } },
];

/** The window of output pixel (b, oy, ox) at kernel tap (ky, kx), as input coordinates. */
function tap(c: (typeof cases)[number], oy: number, ox: number, ky: number, kx: number): [number, number] {
  return [oy * c.win.strides[0] + ky * c.win.dilation[0] - c.win.padding[0][0], ox * c.win.strides[1] + kx * c.win.dilation[1] - c.win.padding[1][0]];
}

for (const c of cases) {
  test(`forward product equals tf.fused.conv2d bit for bit: ${c.name}`, () => {
    if (!onWasm) return;
    const x = randn(1, c.xs), k = randn(2, c.ks), bias = tf.tensor1d(normalArray(fx.random.key(3), c.ks[3]!));
    const { result: got, delta } = tensorDelta(() => convByProduct(x, k, c.win, bias));
    assert.is(delta, 1, 'only the output is left');
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], [...c.win.padding[0]], [...c.win.padding[1]], [0, 0]];
    const stock = tf.fused.conv2d({ x, filter: k, strides: [...c.win.strides], pad, dilations: [...c.win.dilation], bias });
    assert.equal(got!.shape, stock.shape);
    const a = got!.dataSync(), b = stock.dataSync();
    for (let i = 0; i < b.length; i++) if (!Object.is(a[i], b[i])) assert.unreachable(`[${i}]: ${a[i]} vs ${b[i]}`);
    tf.dispose([x, k, bias, got!, stock]);
  });

  test(`kernel and input gradients equal float64 sums: ${c.name}`, () => {
    if (!onWasm) return;
    const x = randn(4, c.xs), k = randn(5, c.ks);
    const y = convByProduct(x, k, c.win)!;
    const dy = randn(6, y.shape);
    const [n, h, w, ci] = c.xs as [number, number, number, number];
    const [kh, kw, , co] = c.ks as [number, number, number, number];
    const [, oh, ow] = y.shape;
    const xv = x.dataSync(), kv = k.dataSync(), dyv = dy.dataSync();
    const dk = new Float64Array(k.size), dx = new Float64Array(x.size);
    for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++)
      for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const [iy, ix] = tap(c, oy, ox, ky, kx);
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        for (let cin = 0; cin < ci; cin++) for (let f = 0; f < co; f++) {
          const g = dyv[((b * oh + oy) * ow + ox) * co + f]!;
          dk[((ky * kw + kx) * ci + cin) * co + f]! += xv[((b * h + iy) * w + ix) * ci + cin]! * g;
          dx[((b * h + iy) * w + ix) * ci + cin]! += kv[((ky * kw + kx) * ci + cin) * co + f]! * g;
        }
      }
    const before = tf.memory().numTensors;
    const gotK = convKernelGradByProduct(x, dy, k.shape, c.win)!;
    const gotX = convInputGradByProduct(dy, k, x.shape, c.win)!;
    assert.is(tf.memory().numTensors, before + 2, 'only the two gradients are left');
    assertClose(gotK.dataSync(), dk, 1e-3, 1e-4, 'kernel gradient');
    assertClose(gotX.dataSync(), dx, 1e-4, 1e-4, 'input gradient');
    // ... and the kernel gradient from a kept im2col matrix is the same bits
    const cols = im2colMatrix(x, k.shape, c.win)!;
    const fromCols = convKernelGradByProduct(x, dy, k.shape, c.win, cols)!;
    assert.equal(Array.from(fromCols.dataSync()), Array.from(gotK.dataSync()));
    tf.dispose([x, k, y, dy, gotK, gotX, cols, fromCols]);
  });
}

test('declines negative padding, and everything off wasm', () => {
  const x = randn(7, [1, 6, 6, 2]), k = randn(8, [3, 3, 2, 2]);
  const cropped: ConvWindow = { strides: [1, 1], padding: [[-1, 0], [0, 0]], dilation: [1, 1] };
  assert.is(convByProduct(x, k, cropped), undefined, 'negative padding');
  const plain: ConvWindow = { strides: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1] };
  if (!onWasm) assert.is(convByProduct(x, k, plain), undefined, 'off wasm');
  tf.dispose([x, k]);
});

test.run();
