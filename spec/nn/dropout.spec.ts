import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta } from '../setup.js';

const k0 = fx.random.key(0);

test('Dropout is the identity unless train: true (no rng needed then)', () => {
  const drop = fx.nn.Dropout(0.5);
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const y = drop.apply({}, x);
  assert.equal(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6]);
  tf.dispose([x, y]);
});

test('Dropout in training zeroes entries, scales the kept ones by 1/(1-rate); same key, same mask; other key, other mask', () => {
  const drop = fx.nn.Dropout(0.25);
  const x = tf.ones([50, 40]);
  const run = (seed: number) => drop.apply({}, x, { train: true, rngs: { dropout: fx.random.key(seed) } });
  const a = run(1);
  const b = run(1);
  const c = run(2);
  const av = a.dataSync();
  assert.ok(av.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6), 'values are 0 or 1/(1-rate)');
  assert.equal(Array.from(av), Array.from(b.dataSync()));
  assert.not.equal(Array.from(av), Array.from(c.dataSync()));
  const dropped = av.filter((v) => v === 0).length / av.length;
  // 2000 Bernoulli(0.25) draws: std of the fraction ≈ 0.0097; 5 std margin
  assert.ok(Math.abs(dropped - 0.25) < 0.05, `dropped fraction ${dropped}`);
  tf.dispose([x, a, b, c]);
});

test('Dropout mask follows the layer path: two Dropouts in one model get different masks from one key', () => {
  const net = fx.nn.Sequential([fx.nn.Dropout(0.5), fx.nn.Dropout(0.5, { name: 'second' })]);
  const M = fx.nn.module('Two', (scope, x: tf.Tensor) => tf.stack([scope.call(fx.nn.Dropout(0.5), x), scope.call(fx.nn.Dropout(0.5), x)]));
  const x = tf.ones([200]);
  const [y] = [M.apply({}, x, { train: true, rngs: { dropout: k0 } })];
  const [m1, m2] = tf.unstack(y);
  assert.not.equal(Array.from(m1!.dataSync()), Array.from(m2!.dataSync()));
  const z = net.apply({}, x, { train: true, rngs: { dropout: k0 } });
  assert.ok(z.dataSync().every((v) => v === 0 || v === 4));
  tf.dispose([x, y, m1!, m2!, z]);
});

test('Dropout gradient is the mask times 1/(1-rate)', () => {
  const drop = fx.nn.Dropout(0.5);
  const x = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]);
  const opts = { train: true, rngs: { dropout: fx.random.key(3) } };
  const y = drop.apply({}, x, opts);
  const g = tf.grad((t: tf.Tensor) => tf.sum(drop.apply({}, t, opts)))(x);
  const expected = Array.from(y.dataSync(), (v, i) => v / (i + 1));
  assertClose(g.dataSync(), expected);
  tf.dispose([x, y, g]);
});

test('Dropout broadcastDims shares the mask along the given axes; rate 0 and 1', () => {
  const x = tf.ones([4, 30]);
  const y = fx.nn.Dropout(0.5, { broadcastDims: [0] }).apply({}, x, { train: true, rngs: { dropout: k0 } });
  const rows = tf.unstack(y).map((r) => {
    const row = Array.from(r.dataSync());
    r.dispose();
    return row;
  });
  for (const r of rows) assert.equal(r, rows[0]);
  const zero = fx.nn.Dropout(1).apply({}, x, { train: true, rngs: { dropout: k0 } });
  assert.ok(zero.dataSync().every((v) => v === 0));
  const same = fx.nn.Dropout(0).apply({}, x, { train: true });
  assert.ok(same.dataSync().every((v) => v === 1));
  tf.dispose([x, y, zero, same]);
});

test('Dropout errors: a missing dropout stream names the layer and the stream; bad rate', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(3), fx.nn.Dropout(0.1)]);
  const vars = net.init(k0, [2, 2]);
  const x = tf.ones([2, 2]);
  assertThrows(() => net.apply(vars, x, { train: true }), fx.MissingRngError, 'layers_1', 'Dropout(0.1)', "'dropout'");
  assertThrows(() => net.apply(vars, x, { train: true, rngs: { params: k0 } }), fx.MissingRngError, "rngs: { dropout");
  assertThrows(() => fx.nn.Dropout(1.5), fx.FlaxenError, 'rate');
  assertThrows(() => fx.nn.Dropout(-0.1), fx.FlaxenError, 'rate');
  const x1 = tf.ones([2]);
  assertThrows(() => fx.nn.Dropout(0.1, { broadcastDims: [5] }).apply({}, x1, { train: true, rngs: { dropout: k0 } }), fx.ShapeError, 'axis 5');
  fx.tree.dispose(vars);
  tf.dispose([x, x1]);
});

test('Dropout: no parameters, initShapes and apply leave no tensors, describe', () => {
  const drop = fx.nn.Dropout(0.3);
  const { result, delta } = tensorDelta(() => drop.initShapes(k0, [2, 3]));
  assert.is(delta, 0);
  assert.equal(result, {});
  const x = tf.ones([3, 3]);
  const { result: y, delta: d } = tensorDelta(() => drop.apply({}, x, { train: true, rngs: { dropout: k0 } }));
  assert.is(d, 1);
  assert.is(fx.nn.Sequential([fx.nn.Dense(2), fx.nn.Dropout(0.3)]).describe(), 'Sequential(\n  (layers_0): Dense(-1 -> 2)\n  (layers_1): Dropout(0.3)\n)');
  tf.dispose([x, y]);
});

test.run();
