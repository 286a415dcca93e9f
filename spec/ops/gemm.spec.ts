// flaxen's own matrix product (lib/ops/gemm.c) against tfjs's XNNPACK matMul, bit for bit, in
// every layout it reads (A or transpose(A), B or transpose(B)), with bias and relu, on shapes
// that hit every edge of its tiles (rows not a multiple of 4, columns not a multiple of 8, k = 1);
// and a float64 loop as an independent reference. Off wasm, it declines and tfjs does the work.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { gemm, setOwnGemm } from '../../lib/ops/gemm.js';
import { dense } from '../../lib/ops/matmul.js';
import { normalArray } from '../../lib/random/samplers.js';
import { assertClose, backend, tensorDelta } from '../setup.js';

const onWasm = backend === 'wasm';

function randn(seed: number, shape: number[]): tf.Tensor {
  return tf.tensor(normalArray(fx.random.key(seed), shape.reduce((a, b) => a * b, 1)), shape);
}

function assertBits(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  assert.equal(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.dataSync(), b = expected.dataSync();
  for (let i = 0; i < b.length; i++) if (!Object.is(a[i], b[i])) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

// [m, k, n]: tiles of 4 rows and 8 columns, with remainders of every size
const shapes: Array<[number, number, number]> = [[1, 1, 1], [3, 5, 7], [4, 8, 8], [5, 9, 9], [7, 13, 11], [64, 784, 256], [33, 64, 10], [6, 1, 17]];

test('own product equals tf.matMul bit for bit: a·b, transpose(a)·b, a·transpose(b), transpose both', () => {
  if (!onWasm) return;
  for (const [m, k, n] of shapes) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const a = randn(m * 7 + k, ta ? [k, m] : [m, k]), b = randn(n * 5 + k, tb ? [n, k] : [k, n]);
      const got = gemm(a, b, { transposeA: ta, transposeB: tb });
      assert.ok(got, 'the own product runs on the one-thread wasm backend');
      // XNNPACK's plain product of the explicitly transposed operands
      const stock = tf.tidy(() => tf.matMul(ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b));
      assertBits(got!, stock, `${m}x${k}x${n} ta=${ta} tb=${tb}`);
      tf.dispose([a, b, got!, stock]);
    }
  }
});

test('bias and relu equal tf.fused.matMul bit for bit', () => {
  if (!onWasm) return;
  for (const [m, k, n] of shapes) {
    const a = randn(1, [m, k]), b = randn(2, [k, n]), bias = randn(3, [n]);
    for (const relu of [false, true]) {
      const got = gemm(a, b, { bias, relu })!;
      const stock = tf.fused.matMul({ a, b, bias, activation: relu ? 'relu' : 'linear' });
      assertBits(got, stock, `${m}x${k}x${n} bias relu=${relu}`);
      tf.dispose([got, stock]);
    }
    tf.dispose([a, b, bias]);
  }
});

test('own product is near a float64 loop (an independent reference)', () => {
  if (!onWasm) return;
  const [m, k, n] = [9, 70, 19];
  const a = randn(4, [k, m]), b = randn(5, [n, k]), bias = randn(6, [n]);
  const product = gemm(a, b, { transposeA: true, transposeB: true, bias })!;
  const got = product.dataSync();
  const av = a.dataSync(), bv = b.dataSync(), biasv = bias.dataSync();
  const ref: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = biasv[j]!;
    for (let p = 0; p < k; p++) s += av[p * m + i]! * bv[j * k + p]!;
    ref.push(s);
  }
  assertClose(got, ref, 1e-4, 1e-4, 'transpose(a)·transpose(b) + bias');
  tf.dispose([a, b, bias, product]);
});

test('own product leaves exactly its result behind, and declines what it cannot do', () => {
  const a = randn(7, [6, 5]), b = randn(8, [5, 3]);
  if (!onWasm) {
    assert.is(gemm(a, b), undefined, 'declines off wasm');
    tf.dispose([a, b]);
    return;
  }
  const { result, delta } = tensorDelta(() => gemm(a, b));
  assert.is(delta, 1);
  result!.dispose();
  const ints = tf.cast(a, 'int32');
  assert.is(gemm(ints, b), undefined, 'declines int32');
  const empty = tf.zeros([0, 5]);
  assert.is(gemm(empty, b), undefined, 'declines an empty operand');
  const previous = setOwnGemm(false);
  assert.is(gemm(a, b), undefined, 'declines when turned off');
  setOwnGemm(previous);
  tf.dispose([a, b, ints, empty]);
});

test('dense and its gradients are the same bits with the own product and with tfjs matMul', () => {
  const x = randn(9, [37, 50]), w = randn(10, [50, 21]), b = randn(11, [21]), r = randn(12, [37, 21]);
  const run = () => {
    const y = dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D);
    const grads = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(r, dense(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D))))([x, w, b]);
    return [y, ...grads];
  };
  const own = run();
  const previous = setOwnGemm(false);
  const stock = run();
  setOwnGemm(previous);
  ['y', 'dx', 'dkernel', 'dbias'].forEach((what, i) => assertBits(own[i]!, stock[i]!, what));
  tf.dispose([x, w, b, r, ...own, ...stock]);
});

test.run();
