import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta } from '../setup.js';
import { checkGradients, numbers, stats, t32 } from './layer-helpers.js';

const k0 = fx.random.key(0);
const shapesOf = (v: unknown) => fx.tree.map(v, (t: tf.Tensor) => t.shape);

interface P { wq: Float64Array; bq: Float64Array; wk: Float64Array; bk: Float64Array; wv: Float64Array; bv: Float64Array; wo: Float64Array; bo: Float64Array }

/** Multi-head attention in float64 loops, from the definition (Flax layout). */
function refAttention(xq: Float64Array, xkv: Float64Array, p: P, d: { B: number; Lq: number; Lk: number; Fq: number; Fkv: number; H: number; D: number; O: number }, mask?: (b: number, h: number, i: number, j: number) => boolean): Float64Array {
  const { B, Lq, Lk, Fq, Fkv, H, D, O } = d;
  const proj = (x: Float64Array, L: number, F: number, w: Float64Array, bias: Float64Array) => {
    const out = new Float64Array(B * L * H * D);
    for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let e = 0; e < D; e++) {
      let s = bias[h * D + e]!;
      for (let i = 0; i < F; i++) s += x[(b * L + l) * F + i]! * w[(i * H + h) * D + e]!;
      out[((b * L + l) * H + h) * D + e] = s;
    }
    return out;
  };
  const q = proj(xq, Lq, Fq, p.wq, p.bq);
  const k = proj(xkv, Lk, Fkv, p.wk, p.bk);
  const v = proj(xkv, Lk, Fkv, p.wv, p.bv);
  const y = new Float64Array(B * Lq * O);
  for (let b = 0; b < B; b++) for (let i = 0; i < Lq; i++) {
    const attended = new Float64Array(H * D);
    for (let h = 0; h < H; h++) {
      const logits = new Float64Array(Lk);
      for (let j = 0; j < Lk; j++) {
        let s = 0;
        for (let e = 0; e < D; e++) s += q[((b * Lq + i) * H + h) * D + e]! * k[((b * Lk + j) * H + h) * D + e]!;
        logits[j] = mask && !mask(b, h, i, j) ? -1e10 : s / Math.sqrt(D);
      }
      const m = Math.max(...logits);
      const ex = logits.map((z) => Math.exp(z - m));
      const total = ex.reduce((a, c) => a + c, 0);
      for (let j = 0; j < Lk; j++) for (let e = 0; e < D; e++) attended[h * D + e]! += (ex[j]! / total) * v[((b * Lk + j) * H + h) * D + e]!;
    }
    for (let o = 0; o < O; o++) {
      let s = p.bo[o]!;
      for (let hd = 0; hd < H * D; hd++) s += attended[hd]! * p.wo[hd * O + o]!;
      y[(b * Lq + i) * O + o] = s;
    }
  }
  return y;
}

test('MultiHeadDotProductAttention: Flax names and layouts, each projection sized from its own input', () => {
  const mha = fx.nn.MultiHeadDotProductAttention({ numHeads: 4 });
  const vars = mha.initShapes(k0, [2, 10, 32], [2, 7, 16]);
  assert.equal(shapesOf(vars), {
    params: {
      query: { kernel: [32, 4, 8], bias: [4, 8] },
      key: { kernel: [16, 4, 8], bias: [4, 8] },
      value: { kernel: [16, 4, 8], bias: [4, 8] },
      out: { kernel: [4, 8, 32], bias: [32] },
    },
  });
  const other = fx.nn.MultiHeadDotProductAttention({ numHeads: 3, qkvFeatures: 12, outFeatures: 5, useBias: false }).initShapes(k0, [1, 4, 6]);
  assert.equal(shapesOf(other), { params: { query: { kernel: [6, 3, 4] }, key: { kernel: [6, 3, 4] }, value: { kernel: [6, 3, 4] }, out: { kernel: [3, 4, 5] } } });
});

test('attention kernels are LeCun-normal over the flattened kernel (std 1/sqrt(in) for query, 1/sqrt(heads*headDim) for out)', () => {
  const mha = fx.nn.SelfAttention({ numHeads: 8, qkvFeatures: 512 });
  const vars = mha.init(k0, [1, 2, 128]);
  const q = stats(vars.params.query.kernel);
  const o = stats(vars.params.out.kernel);
  assert.ok(Math.abs(q.std * Math.sqrt(128) - 1) < 0.03, `query std ${q.std}`);
  assert.ok(Math.abs(o.std * Math.sqrt(512) - 1) < 0.03, `out std ${o.std}`);
  assert.ok(vars.params.query.bias.dataSync().every((v) => v === 0));
  fx.tree.dispose(vars);
});

const dims = { B: 2, Lq: 3, Lk: 4, Fq: 5, Fkv: 3, H: 2, D: 3, O: 5 };
function randomParams(seed: number, d = dims): P {
  const n = (s: number, k: number) => numbers(seed + s, k, -0.8, 0.8);
  return { wq: n(1, d.Fq * d.H * d.D), bq: n(2, d.H * d.D), wk: n(3, d.Fkv * d.H * d.D), bk: n(4, d.H * d.D), wv: n(5, d.Fkv * d.H * d.D), bv: n(6, d.H * d.D), wo: n(7, d.H * d.D * d.O), bo: n(8, d.O) };
}
function toVars(p: P, d = dims) {
  return {
    params: {
      query: { kernel: t32(p.wq, [d.Fq, d.H, d.D]), bias: t32(p.bq, [d.H, d.D]) },
      key: { kernel: t32(p.wk, [d.Fkv, d.H, d.D]), bias: t32(p.bk, [d.H, d.D]) },
      value: { kernel: t32(p.wv, [d.Fkv, d.H, d.D]), bias: t32(p.bv, [d.H, d.D]) },
      out: { kernel: t32(p.wo, [d.H, d.D, d.O]), bias: t32(p.bo, [d.O]) },
    },
  };
}

test('MultiHeadDotProductAttention forward matches plain loops, with and without a mask', () => {
  const mha = fx.nn.MultiHeadDotProductAttention({ numHeads: 2, qkvFeatures: 6 });
  const p = randomParams(10);
  const vars = toVars(p);
  const xq = numbers(20, 2 * 3 * 5);
  const xkv = numbers(21, 2 * 4 * 3);
  const [q, kv] = [t32(xq, [2, 3, 5]), t32(xkv, [2, 4, 3])];
  const y = mha.apply(vars, q, kv);
  assert.equal(y.shape, [2, 3, 5]);
  assertClose(y.dataSync(), refAttention(xq, xkv, p, dims), 1e-5, 1e-4);
  // a mask [batch, 1, q, kv] that hides some keys (per example) and a whole row for one query
  const allowed = (b: number, _h: number, i: number, j: number) => (b === 0 ? j !== 1 : j <= i) && !(b === 1 && i === 0);
  const maskValues: boolean[] = [];
  for (let b = 0; b < 2; b++) for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) maskValues.push(allowed(b, 0, i, j));
  const mask = tf.tensor4d(maskValues, [2, 1, 3, 4], 'bool');
  const ym = mha.apply(vars, q, kv, mask);
  assertClose(ym.dataSync(), refAttention(xq, xkv, p, dims, allowed), 1e-5, 1e-4);
  fx.tree.dispose([vars, q, kv, y, ym, mask]);
});

test('attention gradients (inputs and all eight parameters) match finite differences', () => {
  const d = { B: 1, Lq: 2, Lk: 3, Fq: 3, Fkv: 2, H: 2, D: 2, O: 2 };
  const mha = fx.nn.MultiHeadDotProductAttention({ numHeads: 2, qkvFeatures: 4, outFeatures: 2 });
  const p = randomParams(30, d);
  const names: Array<keyof P> = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo'];
  const shapes: Record<keyof P, number[]> = { wq: [3, 2, 2], bq: [2, 2], wk: [2, 2, 2], bk: [2, 2], wv: [2, 2, 2], bv: [2, 2], wo: [2, 2, 2], bo: [2] };
  checkGradients(
    (xq, xkv, ...w) => mha.apply({ params: { query: { kernel: w[0]!, bias: w[1]! }, key: { kernel: w[2]!, bias: w[3]! }, value: { kernel: w[4]!, bias: w[5]! }, out: { kernel: w[6]!, bias: w[7]! } } }, xq!, xkv!),
    (xq, xkv, ...w) => refAttention(xq!, xkv!, Object.fromEntries(names.map((n, i) => [n, w[i]!])) as unknown as P, d),
    [{ values: numbers(40, 6), shape: [1, 2, 3] }, { values: numbers(41, 6), shape: [1, 3, 2] }, ...names.map((n) => ({ values: p[n], shape: shapes[n] }))],
    { atol: 5e-4, rtol: 5e-3 },
  );
});

test('SelfAttention equals MultiHeadDotProductAttention(x, x); causalMask lets query i see keys 0..i', () => {
  const d = { ...dims, Lk: 3, Fkv: 5 };
  const p = randomParams(50, d);
  const vars = toVars(p, d);
  const x = numbers(51, 2 * 3 * 5);
  const self = fx.nn.SelfAttention({ numHeads: 2, qkvFeatures: 6 });
  const mask = fx.nn.causalMask(3);
  assert.equal(Array.from(mask.dataSync()), [1, 0, 0, 1, 1, 0, 1, 1, 1]);
  const tokens = tf.zeros([2, 3], 'int32');
  const fromInput = fx.nn.causalMask(tokens);
  assert.equal(Array.from(fromInput.dataSync()), Array.from(mask.dataSync()));
  const abstract = fx.nn.causalMask(new fx.ShapeDtype([2, 5], 'int32') as unknown as tf.Tensor);
  assert.ok(abstract instanceof fx.ShapeDtype && abstract.dtype === 'bool');
  assert.equal(abstract.shape, [1, 5, 5]);
  tf.dispose([tokens, fromInput]);
  const input = t32(x, [2, 3, 5]);
  const y = self.apply(vars, input, mask);
  assertClose(y.dataSync(), refAttention(x, x, p, d, (_b, _h, i, j) => j <= i), 1e-5, 1e-4);
  const y2 = fx.nn.MultiHeadDotProductAttention({ numHeads: 2, qkvFeatures: 6 }).apply(vars, input);
  assertClose(y2.dataSync(), refAttention(x, x, p, d), 1e-5, 1e-4);
  fx.tree.dispose([vars, input, y, y2, mask]);
});

test('attention dropout needs the dropout stream in training; the same key gives the same output', () => {
  const attn = fx.nn.SelfAttention({ numHeads: 2, dropoutRate: 0.5 });
  const vars = attn.init(k0, [1, 4, 4]);
  const x = t32(numbers(60, 16), [1, 4, 4]);
  assertThrows(() => attn.apply(vars, x, { train: true }), fx.MissingRngError, 'SelfAttention', "'dropout'");
  const a = attn.apply(vars, x, { train: true, rngs: { dropout: fx.random.key(1) } });
  const b = attn.apply(vars, x, { train: true, rngs: { dropout: fx.random.key(1) } });
  const c = attn.apply(vars, x);
  assert.equal(Array.from(a.dataSync()), Array.from(b.dataSync()));
  assert.not.equal(Array.from(a.dataSync()), Array.from(c.dataSync()));
  fx.tree.dispose([vars, x, a, b, c]);
});

test('attention errors name the path: heads not dividing, bad mask, mismatched batch', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(6), fx.nn.SelfAttention({ numHeads: 4 })]);
  assertThrows(() => net.init(k0, [2, 3, 5]), fx.ShapeError, 'layers_1', 'numHeads 4', '6');
  const mha = fx.nn.MultiHeadDotProductAttention({ numHeads: 2 });
  assertThrows(() => mha.init(k0, [2, 3, 4], [3, 5, 4]), fx.ShapeError, 'batch axes');
  const mask = tf.ones([2, 2, 3, 3], 'bool');
  assertThrows(() => mha.init(k0, [2, 3, 4], [2, 5, 4], mask), fx.ShapeError, 'mask', '[2, 2, 3, 5]');
  assertThrows(() => fx.nn.SelfAttention({ numHeads: 3, qkvFeatures: 8 }), fx.FlaxenError, 'divide qkvFeatures');
  const [q4, kv5, flat] = [tf.ones([1, 2, 2, 4]), tf.ones([1, 3, 2, 5]), tf.ones([2, 4])];
  assertThrows(() => fx.nn.dotProductAttention(q4, kv5, kv5), fx.ShapeError, 'dotProductAttention', '[1, 3, 2, 5]');
  assertThrows(() => fx.nn.dotProductAttention(flat, flat, flat), fx.ShapeError, 'headDim');
  assertThrows(() => fx.nn.SelfAttention({} as fx.nn.AttentionOptions), fx.FlaxenError, 'numHeads');
  const vars = fx.nn.Sequential([fx.nn.SelfAttention({ numHeads: 2 })]).init(k0, [1, 3, 4]);
  const wide = tf.ones([1, 3, 6]);
  assertThrows(() => fx.nn.Sequential([fx.nn.SelfAttention({ numHeads: 2 })]).apply(vars, wide), fx.ShapeError, 'layers_0/query', '[4, 2, 2]', '[6, 2, 3]');
  fx.tree.dispose([vars, mask, q4, kv5, flat, wide]);
});

test('attention: initShapes allocates nothing; apply leaves one tensor; Sequential nesting; custom module; describe', () => {
  const mha = fx.nn.SelfAttention({ numHeads: 2 });
  const { delta } = tensorDelta(() => mha.initShapes(k0, [2, 5, 8]));
  assert.is(delta, 0);
  const vars = mha.init(k0, [2, 5, 8]);
  const x = tf.ones([3, 5, 8]);
  const { result: y, delta: d } = tensorDelta(() => mha.apply(vars, x));
  assert.is(d, 1);
  assert.equal(y.shape, [3, 5, 8]);
  assert.is(mha.describe(), 'SelfAttention(-1 -> -1, heads 2, qkv -1)');
  assert.is(mha.describe(vars), 'SelfAttention(8 -> 8, heads 2, qkv 8)');
  const net = fx.nn.Sequential([fx.nn.Sequential([fx.nn.Dense(8), fx.nn.LayerNorm()]), fx.nn.SelfAttention({ numHeads: 4 })]);
  assert.is(net.describe(), 'Sequential(\n  (layers_0): Sequential(\n    (layers_0): Dense(-1 -> 8)\n    (layers_1): LayerNorm(-1)\n  )\n  (layers_1): SelfAttention(-1 -> -1, heads 4, qkv -1)\n)');
  const nv = net.init(k0, [1, 3, 5]);
  assert.equal(nv.params.layers_1.query.kernel.shape, [8, 4, 2]);
  const Cross = fx.nn.module('Cross', (scope, a: tf.Tensor, b: tf.Tensor) => scope.call(fx.nn.MultiHeadDotProductAttention({ numHeads: 1 }), a, b));
  const cv = Cross.init(k0, [1, 2, 3], [1, 4, 7]);
  assert.equal((cv.params as Record<string, Record<string, Record<string, tf.Tensor>>>)['MultiHeadDotProductAttention_0']!['key']!['kernel']!.shape, [7, 1, 3]);
  fx.tree.dispose([vars, x, y, nv, cv]);
});

test.run();
