import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { computeFans } from '../../lib/initializers/index.js';
import { assertThrows, values } from '../setup.js';

const stats = (t: tf.Tensor) => {
  const xs = values(t);
  t.dispose();
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, variance, min: xs.reduce((a, b) => Math.min(a, b)), max: xs.reduce((a, b) => Math.max(a, b)) };
};
const k = fx.random.key(0);

test('fans follow JAX: in axis -2, out axis -1, the rest is the receptive field', () => {
  assert.equal(computeFans([20, 256]), { fanIn: 20, fanOut: 256 });
  assert.equal(computeFans([3, 3, 16, 32]), { fanIn: 144, fanOut: 288 });
  assert.equal(computeFans([7]), { fanIn: 7, fanOut: 7 });
  assert.equal(computeFans([10, 4], -1, -2), { fanIn: 4, fanOut: 10 });
});

test('lecunNormal has variance 1/fanIn after truncation at two (corrected) standard deviations', () => {
  const s = stats(fx.initializers.lecunNormal()(k, [1000, 400]));
  assert.ok(Math.abs(s.mean) < 1e-3);
  assert.ok(Math.abs(s.variance / (1 / 1000) - 1) < 0.02, `variance ratio ${s.variance * 1000}`);
  const bound = (2 * Math.sqrt(1 / 1000)) / 0.87962566103423978;
  assert.ok(s.max <= bound + 1e-6 && s.min >= -bound - 1e-6);
  assert.ok(s.max > 0.95 * bound, 'samples reach near the truncation bound');
});

test('heNormal has variance 2/fanIn; glorotUniform is uniform in ±sqrt(6/(fanIn+fanOut))', () => {
  const he = stats(fx.initializers.heNormal()(k, [3, 3, 64, 128]));
  assert.ok(Math.abs(he.variance / (2 / 576) - 1) < 0.02, `he ratio ${he.variance / (2 / 576)}`);
  const g = stats(fx.initializers.glorotUniform()(k, [300, 500]));
  const limit = Math.sqrt(6 / 800);
  assert.ok(g.max < limit && g.min >= -limit && g.max > 0.99 * limit);
  assert.ok(Math.abs(g.variance / (limit * limit / 3) - 1) < 0.02);
});

test('varianceScaling normal and fan_out / fan_avg modes', () => {
  const n = stats(fx.initializers.varianceScaling(3, 'fan_out', 'normal')(k, [100, 2000]));
  assert.ok(Math.abs(n.variance / (3 / 2000) - 1) < 0.02);
  const avg = stats(fx.initializers.varianceScaling(1, 'fan_avg', 'truncated_normal')(k, [500, 1500]));
  assert.ok(Math.abs(avg.variance / (1 / 1000) - 1) < 0.03);
});

test('normal(std), uniform(scale), zeros, ones and constant', () => {
  const n = stats(fx.initializers.normal(0.5)(k, [100000]));
  assert.ok(Math.abs(Math.sqrt(n.variance) - 0.5) < 0.01);
  const u = stats(fx.initializers.uniform(0.1)(k, [100000]));
  assert.ok(u.min >= 0 && u.max < 0.1 && Math.abs(u.mean - 0.05) < 0.001);
  for (const [init, expected] of [[fx.initializers.zeros, 0], [fx.initializers.ones, 1], [fx.initializers.constant(0.25), 0.25]] as const) {
    const t = init(k, [3, 2]);
    assert.equal(t.shape, [3, 2]);
    assert.equal(values(t), Array(6).fill(expected));
    t.dispose();
  }
});

test('initializers are deterministic per key', () => {
  const a = fx.initializers.lecunNormal()(k, [10, 10]);
  const b = fx.initializers.lecunNormal()(k, [10, 10]);
  assert.equal(values(a), values(b));
  tf.dispose([a, b]);
});

test('Dense uses Flax defaults: lecun-normal kernel [in, out], zero bias', () => {
  const v = fx.nn.Dense(300).init(fx.random.key(1), [1, 500]);
  assert.equal(v.params.kernel.shape, [500, 300]);
  assert.equal(values(v.params.bias), Array(300).fill(0));
  const s = stats(tf.clone(v.params.kernel));
  assert.ok(Math.abs(s.variance * 500 - 1) < 0.03, `kernel variance × fanIn = ${s.variance * 500}`);
  fx.tree.dispose(v);
});

test('bad arguments raise FlaxenError', () => {
  assertThrows(() => fx.initializers.varianceScaling(-1, 'fan_in', 'normal'), fx.FlaxenError, 'positive scale');
  assertThrows(() => fx.initializers.varianceScaling(1, 'fan' as 'fan_in', 'normal'), fx.FlaxenError, 'mode');
  assertThrows(() => fx.initializers.varianceScaling(1, 'fan_in', 'cauchy' as 'normal'), fx.FlaxenError, 'distribution');
  assertThrows(() => fx.initializers.constant('x' as unknown as number), fx.FlaxenError, 'number');
});

test.run();
