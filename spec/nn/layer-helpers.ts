// Helpers for the layer specs: seeded numbers, a naive float64 convolution, and a gradient
// check of a tfjs function against central finite differences of a float64 JS reference.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose } from '../setup.js';

/** Deterministic numbers in [lo, hi) from a seed (never Math.random). */
export function numbers(seed: number, n: number, lo = -1, hi = 1): Float64Array {
  const next = fx.random.generator(fx.random.key(seed));
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * next());
}

export const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** A float32 tensor from float64 values. */
export const t32 = (values: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(values), shape, 'float32');

/**
 * Naive NHWC convolution in float64: y[n,i,j,o] = Σ x_p[n, i·s + a·d, j·s + e·d, g·cg + q] · w[a,e,q,o],
 * with explicit padding `pads` and `groups` feature groups.
 */
export function naiveConv2d(
  x: Float64Array, xs: number[], w: Float64Array, ws: number[],
  o: { strides?: number[]; pads?: number[][]; dilation?: number[]; groups?: number; bias?: Float64Array },
): { y: Float64Array; shape: number[] } {
  const [n, h, wd, c] = xs as [number, number, number, number];
  const [kh, kw, cg, f] = ws as [number, number, number, number];
  const [sh, sw] = o.strides ?? [1, 1];
  const [[pt, pb], [pl, pr]] = (o.pads ?? [[0, 0], [0, 0]]) as [[number, number], [number, number]];
  const [dh, dw] = o.dilation ?? [1, 1];
  const groups = o.groups ?? 1;
  const oh = Math.floor((h + pt + pb - ((kh - 1) * dh + 1)) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - ((kw - 1) * dw + 1)) / sw) + 1;
  const y = new Float64Array(n * oh * ow * f);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let out = 0; out < f; out++) {
          const g = Math.floor(out / (f / groups));
          let s = o.bias ? o.bias[out]! : 0;
          for (let a = 0; a < kh; a++)
            for (let e = 0; e < kw; e++) {
              const r = i * sh + a * dh - pt;
              const col = j * sw + e * dw - pl;
              if (r < 0 || r >= h || col < 0 || col >= wd) continue;
              for (let q = 0; q < cg; q++) s += x[((b * h + r) * wd + col) * c + g * cg + q]! * w[((a * kw + e) * cg + q) * f + out]!;
            }
          y[((b * oh + i) * ow + j) * f + out] = s;
        }
  return { y, shape: [n, oh, ow, f] };
}

/**
 * Checks the gradients of `loss = Σ f(inputs) · r` computed by tfjs (on the current backend)
 * against central finite differences of the same loss computed by a float64 reference `ref`.
 */
export function checkGradients(
  f: (...inputs: tf.Tensor[]) => tf.Tensor,
  ref: (...inputs: Float64Array[]) => Float64Array,
  inputs: Array<{ values: Float64Array; shape: number[] }>,
  opts: { eps?: number; atol?: number; rtol?: number; what?: string; seed?: number } = {},
): void {
  const { eps = 1e-3, atol = 2e-4, rtol = 2e-3, what = '' } = opts;
  const outSize = ref(...inputs.map((i) => i.values)).length;
  const r = numbers(opts.seed ?? 99, outSize);
  const refLoss = (vals: Float64Array[]) => {
    const y = ref(...vals);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * r[i]!;
    return s;
  };
  const grads = tf.tidy(() => {
    const rt = tf.tensor(Float32Array.from(r));
    const g = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(f(...ts), [-1]), rt)))(inputs.map((i) => t32(i.values, i.shape)));
    return g.map((t) => Array.from(t.dataSync()));
  });
  inputs.forEach((input, k) => {
    const expected = new Float64Array(input.values.length);
    for (let i = 0; i < input.values.length; i++) {
      const vals = inputs.map((x) => Float64Array.from(x.values));
      vals[k]![i]! += eps;
      const plus = refLoss(vals);
      vals[k]![i]! -= 2 * eps;
      const minus = refLoss(vals);
      expected[i] = (plus - minus) / (2 * eps);
    }
    assertClose(grads[k]!, expected, atol, rtol, `${what} gradient of input ${k}`);
  });
}

/** Mean and standard deviation of a tensor's values. */
export function stats(t: tf.Tensor): { mean: number; std: number } {
  const v = t.dataSync();
  let m = 0;
  for (const x of v) m += x;
  m /= v.length;
  let s = 0;
  for (const x of v) s += (x - m) ** 2;
  return { mean: m, std: Math.sqrt(s / v.length) };
}
