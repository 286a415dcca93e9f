// Sums of squares past float32's range (issue 11, item 6): LayerNorm of rows of ±1e20 returned
// 0, clipByGlobalNorm of gradients of 1e30 returned updates of 0, and of 3e38 still did after a
// first fix (the norm, sqrt(3)·3e38, is itself past float32). The fix scales by a power of two
// (lib/ops/power-of-two.ts), which must leave ordinary numbers bit for bit as the plain formulas
// give them: the first tests compare bits with the plain formulas, the others compare huge
// inputs with float64 references and hand-derived values.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, collectLeaks, values } from '../setup.js';

const leaks = collectLeaks(test);

// ---- The plain formulas, as flaxen computed them before the overflow fixes ----

function plainLayerNorm(x: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
}
function plainRmsNorm(x: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
}
function plainGroupNorm(x: tf.Tensor, groups: number, eps: number): tf.Tensor {
  const [n, ...rest] = x.shape;
  const channels = rest[rest.length - 1]!;
  const inner = rest.slice(0, -1).reduce((a, b) => a * b, 1);
  const grouped = tf.reshape(x, [n!, inner, groups, channels / groups]);
  const { mean, variance } = tf.moments(grouped, [1, 3], true);
  return tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
}
function plainGlobalNorm(leaves: tf.Tensor[]): tf.Tensor {
  return tf.sqrt(tf.addN(leaves.map((g) => tf.sum(tf.square(g)))));
}

/** The float32 bit patterns of a tensor, for exact comparison. */
const bits = (t: tf.Tensor): number[] => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

/** Ordinary inputs: normal draws times `scale`, shifted by `shift · scale`. */
function ordinary(seed: number, shape: number[], scale: number, shift: number): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.add(fx.random.normal(fx.random.key(seed), shape), shift), scale));
}

// Up to 1e8: the values stay below 2^32, where nothing is scaled (lib/ops/power-of-two.ts).
const ORDINARY_SCALES = [1e-3, 0.7, 1, 37, 1e4, 1e8];

test('LayerNorm, RMSNorm and GroupNorm give the plain formulas\' bits (and LayerNorm their gradients) on ordinary inputs', () => {
  const ln = fx.nn.LayerNorm({ useScale: false, useBias: false });
  const rms = fx.nn.RMSNorm({ useScale: false });
  const gn = fx.nn.GroupNorm(4, { useScale: false, useBias: false });
  const lnVars = ln.init(fx.random.key(0), [1, 24]);
  const rmsVars = rms.init(fx.random.key(0), [1, 24]);
  const gnVars = gn.init(fx.random.key(0), [1, 3, 24]);
  let seed = 1;
  for (const scale of ORDINARY_SCALES) {
    for (const shift of [0, 5]) {
      tf.tidy(() => {
        const x = ordinary(seed++, [6, 24], scale, shift);
        const what = `scale ${scale}, shift ${shift}`;
        assert.equal(bits(ln.apply(lnVars, x)), bits(plainLayerNorm(x, 1e-6)), `LayerNorm, ${what}`);
        assert.equal(bits(rms.apply(rmsVars, x)), bits(plainRmsNorm(x, 1e-6)), `RMSNorm, ${what}`);
        const x3 = tf.reshape(x, [2, 3, 24]);
        assert.equal(bits(gn.apply(gnVars, x3)), bits(plainGroupNorm(x3, 4, 1e-6)), `GroupNorm, ${what}`);
        // Gradients, compared as numbers (a zero's sign may differ: the scale's branch adds +0).
        const w = tf.reshape(tf.range(0, 24), [1, 24]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(ln.apply(lnVars, t), w)))(x);
        const gPlain = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(plainLayerNorm(t, 1e-6), w)))(x);
        assert.equal(values(g), values(gPlain), `LayerNorm gradient, ${what}`);
      });
    }
  }
  fx.tree.dispose([lnVars, rmsVars, gnVars]);
});

test('globalNorm and clipByGlobalNorm give the plain formulas\' bits on ordinary gradients, clipped or not', () => {
  let seed = 100;
  for (const scale of ORDINARY_SCALES) {
    for (const maxNorm of [0.5, 1e12]) {
      tf.tidy(() => {
        const grads = { a: ordinary(seed++, [7], scale, 0), b: { c: ordinary(seed++, [3, 5], scale, 1) } };
        const leaves = [grads.a, grads.b.c];
        const plainNorm = plainGlobalNorm(leaves);
        const what = `scale ${scale}, maxNorm ${maxNorm}`;
        assert.equal(bits(fx.optim.globalNorm(grads)), bits(plainNorm), `globalNorm, ${what}`);
        const cMax = tf.scalar(maxNorm);
        const factor = tf.div(cMax, tf.maximum(plainNorm, cMax));
        const clipper = fx.optim.clipByGlobalNorm(maxNorm);
        const [u] = clipper.update(grads, clipper.init({}));
        assert.equal(bits(u.a), bits(tf.mul(grads.a, factor)), `clipByGlobalNorm a, ${what}`);
        assert.equal(bits(u.b.c), bits(tf.mul(grads.b.c, factor)), `clipByGlobalNorm b.c, ${what}`);
      });
    }
  }
});

// ---- Huge inputs against float64 references ----

/** Float64 normalization of each group of `x` (rows of `groupSize` consecutive values after `order`), two-pass. */
function reference(x: ArrayLike<number>, members: number[][], eps: number, center: boolean): Float64Array {
  const out = new Float64Array(x.length);
  for (const group of members) {
    const mean = center ? group.reduce((s, i) => s + x[i]!, 0) / group.length : 0;
    const variance = group.reduce((s, i) => s + (x[i]! - mean) ** 2, 0) / group.length;
    for (const i of group) out[i] = (x[i]! - mean) / Math.sqrt(variance + eps);
  }
  return out;
}
const rowsOf = (rows: number, width: number): number[][] => Array.from({ length: rows }, (_, r) => Array.from({ length: width }, (_, c) => r * width + c));

test('LayerNorm, RMSNorm and GroupNorm of values of 1e20 to 3e37 agree with float64 (the plain formulas give 0 or NaN)', () => {
  const ln = fx.nn.LayerNorm({ useScale: false, useBias: false });
  const rms = fx.nn.RMSNorm({ useScale: false });
  const gn = fx.nn.GroupNorm(2, { useScale: false, useBias: false });
  const lnVars = ln.init(fx.random.key(0), [1, 8]);
  const rmsVars = rms.init(fx.random.key(0), [1, 8]);
  const gnVars = gn.init(fx.random.key(0), [1, 2, 8]);
  let seed = 200;
  for (const scale of [1e20, 1e30, 1e37]) {
    for (const shift of [0, 3]) {
      tf.tidy(() => {
        const x = ordinary(seed++, [4, 8], scale, shift);
        const xs = x.dataSync();
        const what = `scale ${scale}, shift ${shift}`;
        // The plain formula overflows here: that is what this test is about.
        assert.ok(values(plainLayerNorm(x, 1e-6)).every((v) => v === 0 || Number.isNaN(v)), `plain LayerNorm overflows, ${what}`);
        assertClose(values(ln.apply(lnVars, x)), reference(xs, rowsOf(4, 8), 1e-6, true), 1e-5, 1e-5, `LayerNorm, ${what}`);
        assertClose(values(rms.apply(rmsVars, x)), reference(xs, rowsOf(4, 8), 1e-6, false), 1e-5, 1e-5, `RMSNorm, ${what}`);
        // GroupNorm over [2, 2, 8] with 2 groups of 4 channels: example n, group g holds
        // elements n·16 + p·8 + g·4 + c for positions p and channels c.
        const groups = [0, 1].flatMap((n) => [0, 1].map((g) => [0, 1].flatMap((p) => [0, 1, 2, 3].map((c) => n * 16 + p * 8 + g * 4 + c))));
        assertClose(values(gn.apply(gnVars, tf.reshape(x, [2, 2, 8]))), reference(xs, groups, 1e-6, true), 1e-5, 1e-5, `GroupNorm, ${what}`);
        const w = tf.reshape(tf.range(0, 8), [1, 8]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(ln.apply(lnVars, t), w)))(x);
        assert.ok(values(g).every(Number.isFinite), `LayerNorm gradient finite, ${what}`);
      });
    }
  }
  fx.tree.dispose([lnVars, rmsVars, gnVars]);
});

test('a constant row of 1e20, 3e37 or 3e38 normalizes to 0, not NaN (eps / s² underflowed to 0) nor ±1 (the float32 mean of six 3e37 is not 3e37)', () => {
  const ln = fx.nn.LayerNorm({ useScale: false, useBias: false });
  const gn = fx.nn.GroupNorm(1, { useScale: false, useBias: false });
  const lnVars = ln.init(fx.random.key(0), [1, 6]);
  const gnVars = gn.init(fx.random.key(0), [1, 1, 6]);
  tf.tidy(() => {
    const x = tf.tensor([1e20, -3e38, 3e37, 2].flatMap((v) => new Array(6).fill(v)), [4, 6]);
    assert.equal(values(ln.apply(lnVars, x)), new Array(24).fill(0));
    assert.equal(values(gn.apply(gnVars, tf.reshape(x, [4, 1, 6]))), new Array(24).fill(0));
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(ln.apply(lnVars, t), tf.tensor([1, 2, 3, 4, 5, 6]))))(x);
    assert.ok(values(g).every(Number.isFinite), `finite gradients: ${values(g)}`);
  });
  fx.tree.dispose([lnVars, gnVars]);
});

test('clipByGlobalNorm of gradients of 1e30 and 3e38 clips to the hand-derived values; globalNorm past float32 is Infinity', () => {
  tf.tidy(() => {
    // ‖[1e30, −1e30, 1e30, 1e30]‖ = 2e30; clipped to 4 each is ±2.
    const big = { a: tf.tensor([1e30, -1e30]), b: { c: tf.tensor([[1e30, 1e30]]) } };
    assertClose(values(fx.optim.globalNorm(big)), [2e30], 0, 1e-6);
    const clip4 = fx.optim.clipByGlobalNorm(4);
    const [u] = clip4.update(big, clip4.init({}));
    assertClose(values(u.a), [2, -2], 0, 1e-6);
    assertClose(values(u.b.c), [2, 2], 0, 1e-6);
    // ‖[3e38, 3e38, −3e38]‖ = sqrt(3)·3e38 ≈ 5.2e38 is past float32 (3.4e38): its norm is
    // Infinity, but the clipped gradients are ±1/sqrt(3) (before: 0).
    const huge = { a: tf.tensor([3e38]), b: tf.tensor([3e38, -3e38]) };
    assert.is(values(fx.optim.globalNorm(huge))[0], Infinity);
    const clip1 = fx.optim.clipByGlobalNorm(1);
    const [v] = clip1.update(huge, clip1.init({}));
    const third = 1 / Math.sqrt(3);
    assertClose([...values(v.a), ...values(v.b)], [third, third, -third], 0, 1e-6);
  });
});

test('chain(clipByGlobalNorm(1), sgd(0.1)) on gradients of 3e38 takes a finite, correct step', () => {
  tf.tidy(() => {
    // Four gradients of 3e38: norm 6e38 (past float32); clipped to norm 1 each is 0.5, and
    // sgd(0.1) moves every parameter by −0.05.
    const params = { w: tf.tensor([1, 2, 3, 4]) };
    const grads = { w: tf.fill([4], 3e38) };
    const tx = fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.sgd(0.1));
    const [updates, state] = tx.update(grads, tx.init(params), params);
    const next = fx.optim.applyUpdates(params, updates);
    assertClose(values(next.w), [0.95, 1.95, 2.95, 3.95], 0, 1e-6);
    fx.tree.dispose(state);
  });
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
