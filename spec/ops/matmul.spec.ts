// The fast dense/matMul ops compute the numbers of the straightforward tfjs ops: forward and
// gradients, checked against plain-loop float64 references and against tfjs's stock
// `tf.matMul` gradient, on random inputs; `Dense` on rank-3 inputs goes through them.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { gemmCounter, setOwnGemm } from '../../lib/ops/gemm.js';
import { columnSums, dense, matMul, transpose2d } from '../../lib/ops/matmul.js';
import { normalArray } from '../../lib/random/samplers.js';
import { assertClose, assertThrows, backend, tensorDelta, values, withOwnKernels } from '../setup.js';
import { wrapOwnKernels } from '../../lib/ops/kernel-hook.js';

function randn(seed: number, shape: number[]): tf.Tensor {
  return tf.tensor(normalArray(fx.random.key(seed), shape.reduce((a, b) => a * b, 1)), shape);
}

/** C = A·B in float64 with plain loops; A [n, k], B [k, m] given row-major. */
function refMatMul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * m + j]!;
    c[i * m + j] = s;
  }
  return c;
}
function refTranspose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

const shapes: Array<[number, number, number]> = [[1, 1, 1], [5, 3, 4], [64, 37, 10], [17, 128, 33]];

test('dense(x, kernel, bias) equals x·kernel + bias (float64 reference) and the stock ops', () => {
  for (const [n, k, m] of shapes) {
    const x = randn(1, [n, k]), w = randn(2, [k, m]), b = randn(3, [m]);
    const got = dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D);
    const ref = refMatMul(x.dataSync(), w.dataSync(), n, k, m);
    const bias = b.dataSync();
    for (let i = 0; i < n * m; i++) ref[i]! += bias[i % m]!;
    assert.equal(got.shape, [n, m]);
    assertClose(got.dataSync(), ref, 1e-4, 1e-4, `dense ${n}x${k}x${m}`);
    const stock = tf.tidy(() => tf.add(tf.matMul(x, w), b));
    assertClose(got.dataSync(), stock.dataSync(), 1e-5, 1e-5, `dense vs stock ${n}x${k}x${m}`);
    const noBias = dense(x as tf.Tensor2D, w as tf.Tensor2D);
    const stockNoBias = tf.matMul(x, w);
    assertClose(noBias.dataSync(), stockNoBias.dataSync(), 0, 0, 'dense without bias is matMul');
    tf.dispose([x, w, b, got, stock, noBias, stockNoBias]);
  }
});

test('the gradients of dense equal the float64 reference and tfjs stock gradients', () => {
  for (const [n, k, m] of shapes) {
    const x = randn(4, [n, k]), w = randn(5, [k, m]), b = randn(6, [m]), r = randn(7, [n, m]);
    // L = sum(r ⊙ (x·W + b)): dL/dx = r·Wᵀ, dL/dW = xᵀ·r, dL/db = column sums of r
    const fast = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(r, dense(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D))))([x, w, b]);
    const stock = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(r, tf.add(tf.matMul(xi, wi), bi))))([x, w, b]);
    const rv = r.dataSync(), wv = w.dataSync(), xv = x.dataSync();
    const dx = refMatMul(rv, refTranspose(wv, k, m), n, m, k);
    const dw = refMatMul(refTranspose(xv, n, k), rv, k, n, m);
    const db = new Float64Array(m);
    for (let i = 0; i < n * m; i++) db[i % m]! += rv[i]!;
    assertClose(fast[0]!.dataSync(), dx, 1e-4, 1e-4, 'dx');
    assertClose(fast[1]!.dataSync(), dw, 1e-4, 1e-4, 'dkernel');
    assertClose(fast[2]!.dataSync(), db, 1e-4, 1e-4, 'dbias');
    for (let i = 0; i < 3; i++) assertClose(fast[i]!.dataSync(), stock[i]!.dataSync(), 1e-5, 1e-5, `input ${i} vs stock`);
    tf.dispose([x, w, b, r, ...fast, ...stock]);
  }
});

test('the gradient of matMul agrees with finite differences through a nonlinear loss (both forms of dy·bᵀ)', () => {
  // [4, 3]·[3, 5]: dy has more rows than b (dy·bᵀ); [2, 6]·[6, 3]: fewer ((b·dyᵀ)ᵀ)
  for (const [n, k, m] of [[4, 3, 5], [2, 6, 3]] as const) {
    const a = randn(8, [n, k]), b = randn(9, [k, m]);
    const loss = (ai: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.tanh(matMul(ai as tf.Tensor2D, bi as tf.Tensor2D)));
    const [da, db] = tf.grads(loss)([a, b]);
    // central differences of the same loss computed in float64 JS
    const av = Float64Array.from(a.dataSync()), bv = Float64Array.from(b.dataSync());
    const f = (A: Float64Array, B: Float64Array) => refMatMul(A, B, n, k, m).reduce((s, v) => s + Math.tanh(v), 0);
    const h = 1e-6;
    const numeric = (which: Float64Array, i: number) => {
      const save = which[i]!;
      which[i] = save + h; const up = f(av, bv);
      which[i] = save - h; const down = f(av, bv);
      which[i] = save;
      return (up - down) / (2 * h);
    };
    assertClose(da!.dataSync(), Array.from(av, (_, i) => numeric(av, i)), 1e-4, 1e-3, `da ${n}x${k}x${m}`);
    assertClose(db!.dataSync(), Array.from(bv, (_, i) => numeric(bv, i)), 1e-4, 1e-3, `db ${n}x${k}x${m}`);
    tf.dispose([a, b, da!, db!]);
  }
});

test('only the gradients on the path are computed: no product for the gradient of a data input', () => {
  const x = randn(10, [8, 6]), w = randn(11, [6, 4]), b = randn(12, [4]);
  const onlyParams = () => tf.grads((wi: tf.Tensor, bi: tf.Tensor) => tf.sum(dense(x as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D)))([w, b]);
  const all = () => tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(dense(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D)))([x, w, b]);
  // flaxen's own product (wasm): forward and dW, plus dx only when x is differentiated
  const products = (f: () => tf.Tensor[]) => {
    const before = gemmCounter.calls;
    tf.dispose(f());
    return gemmCounter.calls - before;
  };
  if (backend === 'wasm') {
    assert.is(products(onlyParams), 2);
    assert.is(products(all), 3);
  }
  // tfjs's matMul with explicit transposes: one transpose (of x) for dW, a second for dx
  const transposes = async (f: () => tf.Tensor[]) => {
    const info = await tf.profile(() => { tf.dispose(tf.tidy(f)); return []; });
    return info.kernels.filter((k) => k.name === 'Transpose').length;
  };
  return (async () => {
    const previous = setOwnGemm(false);
    try {
      assert.is(await transposes(onlyParams), 1);
      assert.is(await transposes(all), 2);
    } finally {
      setOwnGemm(previous);
    }
    tf.dispose([x, w, b]);
  })();
});

test('forward and backward leave no tensor behind', () => {
  const x = randn(13, [8, 6]), w = randn(14, [6, 4]), b = randn(15, [4]);
  const { delta } = tensorDelta(() => {
    tf.dispose(dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D));
    const g = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(dense(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D)))([x, w, b]);
    tf.dispose(g);
  });
  assert.is(delta, 0);
  tf.dispose([x, w, b]);
});

test('Dense on a rank-3 input: output and gradients equal the straightforward computation', () => {
  const layer = fx.nn.Dense(5);
  const x = randn(16, [2, 3, 7]);
  const vars = layer.init(fx.random.key(0), x);
  const { kernel, bias } = vars.params;
  const y = layer.apply(vars, x) as tf.Tensor;
  assert.equal(y.shape, [2, 3, 5]);
  const stockY = tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [6, 7]), kernel), bias));
  assertClose(y.dataSync(), stockY.dataSync(), 1e-5, 1e-5, 'output');
  const r = randn(17, [2, 3, 5]);
  const [value, grads] = fx.valueAndGrad((p: typeof vars.params) => tf.sum(tf.mul(r, layer.apply({ params: p }, x) as tf.Tensor)))(vars.params);
  const stock = tf.grads((k: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(r, tf.reshape(tf.add(tf.matMul(tf.reshape(x, [6, 7]), k), b), [2, 3, 5]))))([kernel, bias]);
  assertClose(grads.kernel.dataSync(), stock[0]!.dataSync(), 1e-5, 1e-5, 'dkernel');
  assertClose(grads.bias.dataSync(), stock[1]!.dataSync(), 1e-5, 1e-5, 'dbias');
  // and the gradient with respect to a rank-3 input, against the float64 reference r·Wᵀ
  const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(r, layer.apply(vars, xi) as tf.Tensor)))(x);
  assert.equal(dx.shape, [2, 3, 7]);
  assertClose(dx.dataSync(), refMatMul(r.dataSync(), refTranspose(kernel.dataSync(), 7, 5), 6, 5, 7), 1e-4, 1e-4, 'dx');
  tf.dispose([x, y, stockY, r, value, grads.kernel, grads.bias, ...stock, dx]);
  fx.tree.dispose(vars);
});

test('transpose2d is tf.transpose, bit for bit, including the blocked path for 256-multiple row counts', () => {
  for (const shape of [[5, 3], [256, 7], [512, 24], [1024, 3], [256, 1]] as const) {
    const x = randn(20, [...shape]);
    const got = transpose2d(x as tf.Tensor2D);
    assert.equal(got.shape, [shape[1], shape[0]]);
    // reference: the index permutation done in JS
    const xv = x.dataSync();
    const ref = refTranspose(xv, shape[0], shape[1]);
    assertClose(got.dataSync(), ref, 0, 0, `transpose ${shape}`);
    tf.dispose([x, got]);
  }
});

test('columnSums is tf.sum(x, 0) bit for bit (blocked path for 256-multiple row counts), and near the float64 sums', () => {
  for (const shape of [[5, 3], [256, 7], [256, 256], [512, 40], [768, 33]] as const) {
    const x = randn(30, [...shape]);
    const got = columnSums(x as tf.Tensor2D);
    const stock = tf.sum(x, 0);
    assert.equal(got.shape, [shape[1]]);
    const g = got.dataSync(), st = stock.dataSync();
    for (let j = 0; j < shape[1]; j++) if (!Object.is(g[j], st[j])) assert.unreachable(`column ${j} of ${shape}: ${g[j]} vs ${st[j]}`);
    const xv = x.dataSync();
    const ref = new Float64Array(shape[1]);
    for (let i = 0; i < shape[0]; i++) for (let j = 0; j < shape[1]; j++) ref[j]! += xv[i * shape[1] + j]!;
    assertClose(g, ref, 1e-3, 1e-5, `float64 sums ${shape}`);
    tf.dispose([x, got, stock]);
  }
});

test('columnSums runs the own col_sums kernel on wasm: tf.sum(x, 0) bit for bit at every column tail, with NaN, ±Infinity and -0 as tfjs has them, and near the float64 sums', () => {
  const shapes = [[1, 1], [3, 1], [2, 3], [64, 4], [64, 5], [64, 10], [64, 16], [33, 17], [64, 256], [7, 33], [256, 120], [1, 84]] as const;
  for (const own of [true, false]) {
    for (const shape of shapes) {
      const x = randn(31 + shape[1], [...shape]);
      const calls = { n: 0 };
      wrapOwnKernels((name, kernel) => (...args) => {
        if (name === 'col_sums') calls.n++;
        return kernel(...args);
      });
      let got: tf.Tensor;
      try {
        got = withOwnKernels(own, () => columnSums(x as tf.Tensor2D));
      } finally {
        wrapOwnKernels(undefined);
      }
      assert.is(calls.n, own && backend === 'wasm' ? 1 : 0, `col_sums calls for ${shape} (own kernels ${own})`);
      const stock = withOwnKernels(false, () => tf.sum(x, 0));
      const g = got.dataSync(), st = stock.dataSync();
      for (let j = 0; j < shape[1]; j++) if (!Object.is(g[j], st[j])) assert.unreachable(`column ${j} of ${shape}: ${g[j]} vs ${st[j]}`);
      const xv = x.dataSync();
      const ref = new Float64Array(shape[1]);
      for (let i = 0; i < shape[0]; i++) for (let j = 0; j < shape[1]; j++) ref[j]! += xv[i * shape[1] + j]!;
      assertClose(g, ref, 1e-4, 1e-5, `float64 sums ${shape}`);
      tf.dispose([x, got, stock]);
    }
  }
  // Special values: a NaN or opposite infinities give NaN, one infinity gives it, -0 + -0 is +0 from the start at 0.
  const special = tf.tensor2d([
    [NaN, Infinity, -0, 1, -Infinity, 3e38],
    [1, 1, -0, -1, -Infinity, 3e38],
    [2, -Infinity, -0, 0, 5, -3e38],
  ]);
  const got = columnSums(special);
  const stock = withOwnKernels(false, () => tf.sum(special, 0));
  assert.equal(Array.from(got.dataSync()), Array.from(stock.dataSync()));
  // float32 sums on wasm (3e38 + 3e38 overflows); tfjs's cpu kernel sums in float64 before it rounds.
  const last = backend === 'wasm' ? 'Infinity' : String(Math.fround(3e38));
  assert.equal(Array.from(got.dataSync()).map((v) => Object.is(v, -0) ? '-0' : String(v)), ['NaN', 'NaN', '0', '0', '-Infinity', last]);
  tf.dispose([special, got, stock]);
});

test('the bias gradient of dense at batch 256 is tf.sum(dy, 0) bit for bit', () => {
  const x = randn(25, [256, 40]), w = randn(26, [40, 64]), b = randn(27, [64]), r = randn(28, [256, 64]);
  const [db] = tf.grads((bi: tf.Tensor) => tf.sum(tf.mul(r, dense(x as tf.Tensor2D, w as tf.Tensor2D, bi as tf.Tensor1D))))([b]);
  const ref = tf.sum(r, 0); // dy of sum(r ⊙ y) is r
  const g = db!.dataSync(), rv = ref.dataSync();
  for (let j = 0; j < 64; j++) if (!Object.is(g[j], rv[j])) assert.unreachable(`bias gradient ${j}: ${g[j]} vs ${rv[j]}`);
  tf.dispose([x, w, b, r, db!, ref]);
});

test('dense gradients at batch 256 (blocked transposes) equal the stock gradients', () => {
  const x = randn(21, [256, 40]), w = randn(22, [40, 12]), b = randn(23, [12]), r = randn(24, [256, 12]);
  const fast = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(r, dense(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D))))([x, w, b]);
  const stock = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(r, tf.add(tf.matMul(xi, wi), bi))))([x, w, b]);
  for (let i = 0; i < 3; i++) assertClose(fast[i]!.dataSync(), stock[i]!.dataSync(), 1e-4, 1e-5, `input ${i}`);
  tf.dispose([x, w, b, r, ...fast, ...stock]);
});

test('empty matrices: products, transposes and column sums are exact (zeros or empty) on every backend, and leak nothing', () => {
  // Before: transpose2d sent 0 rows down the blocked path (wasm: divide by zero), and wasm's
  // matMul with an inner size of 0 and Sum over 0 rows returned left-over memory, not zeros.
  const w = randn(7, [5, 300]) as tf.Tensor2D, b = randn(8, [300]) as tf.Tensor1D;
  const { delta } = tensorDelta(() =>
    tf.tidy(() => {
      assert.equal(transpose2d(tf.zeros([0, 256]) as tf.Tensor2D).shape, [256, 0]);
      assert.equal(transpose2d(tf.zeros([256, 0]) as tf.Tensor2D).shape, [0, 256]);
      assert.equal(values(columnSums(tf.zeros([0, 40]) as tf.Tensor2D)), new Array(40).fill(0));
      assert.equal(values(matMul(tf.ones([3, 0]) as tf.Tensor2D, tf.ones([0, 4]) as tf.Tensor2D)), new Array(12).fill(0));
      assert.equal(matMul(tf.ones([0, 3]) as tf.Tensor2D, tf.ones([3, 4]) as tf.Tensor2D).shape, [0, 4]);
      // k = 0: each output is the bias, then the relu.
      assert.equal(values(dense(tf.ones([2, 0]) as tf.Tensor2D, tf.ones([0, 3]) as tf.Tensor2D, tf.tensor1d([1, -2, 3]), { relu: true })), [1, 0, 3, 1, 0, 3]);
      // An empty batch: an empty output; the gradients (sums over no examples) are zeros.
      const x = tf.zeros([0, 5]) as tf.Tensor2D;
      for (const relu of [false, true]) {
        assert.equal(dense(x, w, b, { relu }).shape, [0, 300]);
        const [dx, dw, db] = tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, { relu })))([x, w, b]);
        assert.equal(dx!.shape, [0, 5]);
        assert.equal(values(dw!), new Array(1500).fill(0), 'the kernel gradient is zeros');
        assert.equal(values(db!), new Array(300).fill(0), 'the bias gradient is zeros');
      }
      const [dx, dk] = tf.grads((x: tf.Tensor, k: tf.Tensor) => tf.sum(matMul(x as tf.Tensor2D, k as tf.Tensor2D)))([tf.zeros([0, 256]), tf.ones([256, 3])]);
      assert.equal(dx!.shape, [0, 256]);
      assert.equal(values(dk!), new Array(768).fill(0));
    }),
  );
  assert.is(delta, 0, 'nothing outlives the tidy');
  tf.dispose([w, b]);
});

test('bad shapes raise a FlaxenError naming both shapes', () => {
  const a = tf.zeros([2, 3]), b = tf.zeros([4, 5]);
  assertThrows(() => matMul(a as tf.Tensor2D, b as tf.Tensor2D), fx.FlaxenError, '[2, 3]', '[4, 5]');
  const kernel = tf.zeros([3, 5]), bias = tf.zeros([4]);
  assertThrows(() => dense(a as tf.Tensor2D, kernel as tf.Tensor2D, bias as tf.Tensor1D), fx.FlaxenError, '[4]');
  tf.dispose([a, b, kernel, bias]);
});

test.run();
