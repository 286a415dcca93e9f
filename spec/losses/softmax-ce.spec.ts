// The fused softmax cross-entropy (lib/ops/softmax-ce.ts, one own kernel per direction on wasm),
// checked against float64 references computed here, against finite differences, and against
// the composed tfjs path it replaces (own kernels off), which it matches to a few ulps.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { wrapOwnKernels } from '../../lib/ops/kernel-hook.js';
import { assertClose, backend, countKernel, tensorDelta, transient, values, withOwnKernels } from '../setup.js';

const loss = fx.losses.softmaxCrossEntropyWithIntegerLabels;

/** Runs `fn` and counts the calls of the own kernels named `names`. */
function countOwn<T>(fn: () => T, ...names: string[]): [T, Record<string, number>] {
  const calls: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  wrapOwnKernels((name, kernel) => (...args) => {
    if (name in calls) calls[name]!++;
    return kernel(...args);
  });
  try {
    return [fn(), calls];
  } finally {
    wrapOwnKernels(undefined);
  }
}

/** Deterministic pseudo-random numbers in [-1, 1) (a sine hash: no state, no dependency). */
function noise(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const s = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
    return 2 * (s - Math.floor(s)) - 1;
  });
}

/** Float64 reference from the float32 inputs: the losses and d(Σ w·loss)/dlogits = w·(softmax − onehot). */
function reference(x: Float32Array, labels: number[], classes: number, w: number[]): { loss: number[]; grad: number[] } {
  const lossOut: number[] = [];
  const grad: number[] = [];
  labels.forEach((label, r) => {
    const row = Array.from(x.subarray(r * classes, (r + 1) * classes));
    const m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    lossOut.push(-(row[label]! - m - Math.log(z)));
    row.forEach((v, c) => grad.push(w[r]! * (Math.exp(v - m) / z - (c === label ? 1 : 0))));
  });
  return { loss: lossOut, grad };
}

test('the fused loss and its gradient match a float64 reference for many class counts and scales', () => {
  for (const classes of [1, 2, 3, 4, 5, 7, 8, 9, 10, 33, 1000]) {
    for (const scale of [1, 30, 1e3]) {
      const rows = 6;
      const x = Float32Array.from(noise(rows * classes, classes + scale), (v) => v * scale);
      const labels = noise(rows, classes * 7).map((v) => Math.min(classes - 1, Math.floor(((v + 1) / 2) * classes)));
      const w = noise(rows, 3 + classes);
      const ref = reference(x, labels, classes, w);
      const logits = tf.tensor(x, [rows, classes]);
      const lab = tf.tensor1d(labels, 'int32');
      const weights = tf.tensor1d(w);
      const { result, delta } = tensorDelta(() => fx.valueAndGrad((l: tf.Tensor) => tf.sum(tf.mul(loss(l, lab), weights)))(logits));
      const [value, g] = result;
      assert.is(delta, 2, 'only the value and the gradient stay');
      const what = `${classes} classes, logits up to ${scale}`;
      // Each loss to float32 rounding of its terms: |x| ≤ scale, so an absolute error of a few ulps of scale.
      assertClose(values(transient(loss(logits, lab))), ref.loss, 4e-7 * scale, 2e-6, `${what}: loss`);
      assertClose(values(g), ref.grad, 2e-6, 2e-5, `${what}: gradient`);
      assertClose(values(value), [ref.loss.reduce((s, v, r) => s + v * w[r]!, 0)], 4e-6 * scale, 1e-5, `${what}: weighted sum`);
      tf.dispose([logits, lab, weights, value, g]);
    }
  }
});

test('the fused gradient agrees with central finite differences of the fused loss', () => {
  const classes = 5;
  const x = noise(3 * classes, 11).map((v) => 2 * v);
  const labels = [4, 0, 2];
  const f = (v: number[]): number => {
    const t = tf.tensor(v, [3, classes]);
    const out = tf.tidy(() => tf.sum(loss(t, labels)).dataSync()[0]!);
    t.dispose();
    return out;
  };
  const logits = tf.tensor(x, [3, classes]);
  const g = values(transient(fx.grad((l: tf.Tensor) => tf.sum(loss(l, labels)))(logits)));
  const h = 1e-2;
  const fd = x.map((_, i) => {
    const up = [...x], down = [...x];
    up[i]! += h;
    down[i]! -= h;
    return (f(up) - f(down)) / (2 * h);
  });
  // The truncation error of the central difference is about h²/6·|f'''| ≤ 2e-5 here; float32 rounding of f adds ~1e-5/h.
  assertClose(g, fd, 2e-3, 0, 'dloss/dlogits');
  logits.dispose();
});

test('masked logits: [[1, 2, -Inf]] label 0 gives 1.31326, [[0, -Inf]] label 0 gives 0, a label on a masked class +Infinity, a NaN logit NaN', () => {
  const a = loss(transient(tf.tensor([[1, 2, -Infinity]])), [0]);
  assertClose(values(a), [Math.log(1 + Math.E)], 1e-6, 1e-7);
  const b = loss(transient(tf.tensor([[0, -Infinity]])), [0]);
  assert.equal(values(b), [0]);
  const c = loss(transient(tf.tensor([[1, -Infinity], [-Infinity, -Infinity]])), [1, 0]);
  assert.equal(values(c), [Infinity, Infinity]);
  const d = loss(transient(tf.tensor([[1, NaN, 0], [1, Infinity, 0], [1, 2, 3]])), [0, 0, 0]);
  assert.ok(Number.isNaN(values(d)[0]!) && Number.isNaN(values(d)[1]!), `NaN and +Infinity logits give NaN, found ${values(d)}`);
  assert.ok(Number.isFinite(values(d)[2]!), 'other rows are unaffected');
  // A row masked entirely, or a label on a masked class: finite gradients (softmax − onehot, softmax 0 where masked).
  const masked = tf.tensor([[-Infinity, -Infinity, -Infinity], [1, -Infinity, 2]]);
  const g = fx.grad((l: tf.Tensor) => tf.sum(loss(l, [1, 1])))(masked);
  const p = 1 / (1 + Math.E);
  assertClose(values(g), [0, -1, 0, p, -1, 1 - p], 1e-6, 1e-6);
  tf.dispose([a, b, c, d, masked, g]);
});

test('on wasm one own kernel call per direction runs, with no tfjs kernel copying the inputs; results are deterministic and within a few ulps of the tfjs path', () => {
  if (backend !== 'wasm') return; // the fused op exists on the wasm backend only
  const classes = 10;
  const x = tf.tensor(noise(64 * classes, 5).map((v) => 4 * v), [64, classes]);
  const labels = tf.tensor1d(noise(64, 9).map((v) => Math.floor(((v + 1) / 2) * classes)), 'int32');
  const mean = (l: tf.Tensor) => tf.mean(loss(l, labels));
  const [[[value, g], copies], calls] = countOwn(() => countKernel('Identity', () => fx.valueAndGrad(mean)(x)), 'softmax_ce', 'softmax_ce_grad');
  assert.equal(calls, { softmax_ce: 1, softmax_ce_grad: 1 });
  // Under tfjs's own tape the op saves copies of the logits and labels (Identity kernels), with the same numbers.
  const [stock, stockCopies] = countKernel('Identity', () => tf.grad(mean)(x));
  assert.is(copies, stockCopies - 2, 'the logits and labels are kept for the backward pass without copies');
  assert.equal(values(stock), values(g), 'tf.grad gives the same bits');
  const [again, gAgain] = fx.valueAndGrad(mean)(x);
  assert.equal(values(again), values(value), 'same bits on a second run');
  assert.equal(values(gAgain), values(g));
  const [composed, gComposed] = withOwnKernels(false, () => fx.valueAndGrad(mean)(x));
  assertClose(values(value), values(composed), 0, 1e-6, 'loss vs the tfjs path');
  assertClose(values(g), values(gComposed), 1e-8, 1e-5, 'gradient vs the tfjs path');
  tf.dispose([x, labels, value, g, stock, again, gAgain, composed, gComposed]);
});

test('the fused op leaves no tensor behind, with or without a tape, for tensor and JS labels', () => {
  const x = tf.tensor([[1, 2, 3], [0, -1, 4]]);
  const lab = tf.tensor1d([2, 0], 'int32');
  const { result, delta } = tensorDelta(() => loss(x, lab));
  assert.is(delta, 1);
  result.dispose();
  const { result: r2, delta: d2 } = tensorDelta(() => fx.valueAndGrad((l: tf.Tensor) => tf.sum(loss(l, [2, 0])))(x));
  assert.is(d2, 2);
  tf.dispose([...r2]);
  const { result: r3, delta: d3 } = tensorDelta(() => tf.grad((l: tf.Tensor) => tf.sum(loss(l, [2, 0])))(x));
  assert.is(d3, 1);
  tf.dispose([x, lab, r3]);
});

test.run();
