import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, backend, tensorDelta, values } from '../setup.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]) => {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
};

test('each sampler is deterministic per key and differs between keys', () => {
  const k = fx.random.key(5);
  const other = fx.random.key(6);
  const draws: Array<(key: fx.random.Key) => tf.Tensor> = [
    (key) => fx.random.normal(key, [64]),
    (key) => fx.random.uniform(key, [64]),
    (key) => fx.random.truncatedNormal(key, [64], -2, 2),
    (key) => fx.random.bernoulli(key, 0.5, [64]),
    (key) => fx.random.permutation(key, 64),
  ];
  for (const draw of draws) {
    const [a, b, c] = [draw(k), draw(k), draw(other)];
    assert.equal(values(a), values(b));
    assert.not.equal(values(a), values(c));
    tf.dispose([a, b, c]);
  }
});

test('the bits do not depend on the backend (wasm and cpu agree exactly)', async () => {
  const k = fx.random.key(11);
  const draw = () => [fx.random.normal(k, [257]), fx.random.uniform(k, [33], { minval: -3, maxval: 5 }), fx.random.truncatedNormal(k, [99])];
  const onFirst = draw().map((t) => {
    const v = values(t);
    t.dispose();
    return v;
  });
  const otherBackend = backend === 'wasm' ? 'cpu' : 'wasm';
  await fx.ready(otherBackend);
  const onSecond = draw().map((t) => {
    const v = values(t);
    t.dispose();
    return v;
  });
  await fx.ready(backend);
  assert.equal(onSecond, onFirst);
});

test('normal samples have mean 0 and variance 1', () => {
  const t = fx.random.normal(fx.random.key(1), [200000]);
  const xs = values(t);
  t.dispose();
  assert.ok(Math.abs(mean(xs)) < 0.01, `mean ${mean(xs)}`);
  assert.ok(Math.abs(variance(xs) - 1) < 0.01, `variance ${variance(xs)}`);
  // Tail mass beyond 2σ of a standard normal is 4.55%.
  const tail = xs.filter((x) => Math.abs(x) > 2).length / xs.length;
  assert.ok(Math.abs(tail - 0.0455) < 0.003, `tail ${tail}`);
});

test('uniform samples lie in [minval, maxval) with the right mean', () => {
  const t = fx.random.uniform(fx.random.key(2), [100000], { minval: -1, maxval: 3 });
  const xs = values(t);
  t.dispose();
  assert.ok(xs.every((x) => x >= -1 && x < 3));
  assert.ok(Math.abs(mean(xs) - 1) < 0.02);
  assert.ok(Math.abs(variance(xs) - 16 / 12) < 0.02);
});

test('truncated normal samples stay in bounds, with the truncated variance', () => {
  const t = fx.random.truncatedNormal(fx.random.key(3), [100000], -2, 2);
  const xs = values(t);
  t.dispose();
  assert.ok(xs.every((x) => x >= -2 && x <= 2));
  // Variance of N(0,1) truncated to [-2, 2]: 1 - 2·2·φ(2)/(2Φ(2)-1) = 0.7737413.
  assert.ok(Math.abs(variance(xs) - 0.7737413) < 0.01, `variance ${variance(xs)}`);
});

test('bernoulli is boolean with frequency p; permutation is a permutation', () => {
  const b = fx.random.bernoulli(fx.random.key(4), 0.3, [50000]);
  assert.is(b.dtype, 'bool');
  const freq = mean(values(b));
  b.dispose();
  assert.ok(Math.abs(freq - 0.3) < 0.01, `frequency ${freq}`);
  const p = fx.random.permutation(fx.random.key(4), 1000);
  assert.is(p.dtype, 'int32');
  const sorted = values(p).sort((x, y) => x - y);
  p.dispose();
  assert.equal(sorted, Array.from({ length: 1000 }, (_, i) => i));
});

test('samplers leave only their output alive', () => {
  const { result, delta } = tensorDelta(() => fx.random.normal(fx.random.key(0), [10, 10]));
  assert.is(delta, 1);
  result.dispose();
});

test('uniform over the widest ranges gives finite, correct float32 samples; beyond float32 it is a FlaxenError', () => {
  // Before: ±1e308 gave NaN samples (the width overflows to Infinity). float32 cannot hold such
  // samples, so those bounds are refused; the whole float32 range works.
  assertThrows(() => fx.random.uniform(fx.random.key(0), [4], { minval: -1e308, maxval: 1e308 }), fx.FlaxenError, 'float32', '3.4028234663852886e+38', 'number -1e+308');
  const max = 3.4028234663852886e38;
  const t = fx.random.uniform(fx.random.key(1), [20_000], { minval: -max, maxval: max });
  const u = values(t);
  t.dispose();
  assert.ok(u.every((v) => Number.isFinite(v) && v >= -max && v <= max), 'finite and in range');
  const mean = u.reduce((a, b) => a + b / max, 0) / u.length; // in units of max
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}·max, expected 0 (sd of the mean 0.004)`);
  assert.ok(u.filter((v) => v > max / 2).length / u.length > 0.23, 'a quarter of the samples above max/2');
});

test('every sampler refuses a shape too large for memory at once, with an OutOfMemoryError', () => {
  // Before: uniform, truncatedNormal, bernoulli and permutation made the JS array first (a
  // RangeError for 2^40 numbers; minutes of drawing for 2^31 on cpu).
  const k = fx.random.key(0);
  const start = Date.now();
  for (const draw of [
    () => fx.random.normal(k, [2 ** 20, 2 ** 20]),
    () => fx.random.uniform(k, [2 ** 20, 2 ** 20]),
    () => fx.random.truncatedNormal(k, [2 ** 40]),
    () => fx.random.bernoulli(k, 0.5, [2 ** 40]),
    () => fx.random.permutation(k, 2 ** 40),
  ]) {
    assertThrows(draw, fx.OutOfMemoryError, '4.4 TB');
  }
  assert.ok(Date.now() - start < 1000, 'refused before drawing');
});

test('bad arguments raise FlaxenError', () => {
  assertThrows(() => fx.random.normal(fx.random.key(0), [2, -1]), fx.FlaxenError, 'shape');
  assertThrows(() => fx.random.normal(3 as unknown as fx.random.Key, [2]), fx.FlaxenError, 'random key');
  assertThrows(() => fx.random.uniform(fx.random.key(0), [2], { minval: 2, maxval: 1 }), fx.FlaxenError, 'minval < maxval');
  assertThrows(() => fx.random.uniform(fx.random.key(0), [2], { minval: Number.NaN, maxval: 1 }), fx.FlaxenError, 'minval < maxval');
  assertThrows(() => fx.random.bernoulli(fx.random.key(0), 1.5, [2]), fx.FlaxenError, 'probability');
  assertThrows(() => fx.random.permutation(fx.random.key(0), -1), fx.FlaxenError, 'non-negative integer');
  assertThrows(() => fx.random.truncatedNormal(fx.random.key(0), [2], 1, -1), fx.FlaxenError, 'lower < upper');
});

test.run();
