import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';
import { idsOf, synthetic } from './synthetic.js';

/** The ids of each batch of one epoch. */
function epoch(data: fx.data.Dataset, batchSize: number, key?: fx.random.Key, opts?: fx.data.BatchOptions): number[][] {
  return Array.from(fx.data.batches(data, batchSize, key, opts), idsOf);
}

test('without a key, batches come in order, flat, the last one smaller', () => {
  const data = synthetic(10);
  const first = fx.data.batches(data, 4).next();
  assert.ok(!first.done);
  if (!first.done) {
    assert.equal(first.value.images.shape, [4, 6]);
    assert.equal(first.value.labels.shape, [4]);
    assert.is(first.value.labels.dtype, 'int32');
    tf.dispose([first.value.images, first.value.labels]);
  }
  assert.equal(epoch(data, 4), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.is(fx.data.batchCount(data, 4), 3);
});

test('with a key, every example appears once per epoch in an order set by the key alone', () => {
  const data = synthetic(23);
  const k = fx.random.key(5);
  const a = epoch(data, 5, k);
  const b = epoch(data, 5, k);
  assert.equal(a, b);
  assert.is(a.length, 4); // 23 = 4·5 + 3: the remainder is dropped when shuffling
  assert.ok(a.every((row) => row.length === 5));
  const seen = a.flat();
  assert.is(new Set(seen).size, 20);
  assert.not.equal(seen, [...seen].sort((x, y) => x - y), 'shuffled');
  const c = epoch(data, 5, fx.random.foldIn(k, 1));
  assert.not.equal(c, a);
  const all = epoch(data, 5, k, { dropRemainder: false }).flat();
  assert.equal([...all].sort((x, y) => x - y), Array.from({ length: 23 }, (_, i) => i));
  assert.is(fx.data.batchCount(data, 5, { dropRemainder: true }), 4);
});

test('the shape option gives image batches, e.g. NHWC for a convolution', () => {
  const data = synthetic(4);
  for (const batch of fx.data.batches(data, 2, undefined, { shape: [2, 3, 1] })) {
    assert.equal(batch.images.shape, [2, 2, 3, 1]);
    tf.dispose([batch.images, batch.labels]);
  }
});

test('breaking out early leaks nothing: a batch is made only when asked for', () => {
  const data = synthetic(100);
  const before = tf.memory().numTensors;
  for (const batch of fx.data.batches(data, 10, fx.random.key(0))) {
    tf.dispose([batch.images, batch.labels]);
    break;
  }
  assert.is(tf.memory().numTensors, before);
});

test('bad arguments are FlaxenErrors', () => {
  const data = synthetic(4);
  const run = (...args: unknown[]) => () => (fx.data.batches as any)(...args).next();
  assertThrows(run(data, 0), fx.FlaxenError, 'batchSize', 'positive integer');
  assertThrows(run(data, 2, 7), fx.FlaxenError, 'key');
  assertThrows(run({ images: [1] }, 2), fx.FlaxenError, 'dataset');
  assertThrows(run(data, 2, undefined, { shape: [5] }), fx.FlaxenError, '[5]', '[2, 3]');
  assertThrows(run(data, 2, undefined, { shuffle: true }), fx.FlaxenError, "'shuffle'");
  assertThrows(run({ ...data, count: 5 }, 2), fx.FlaxenError, 'expected 5');
});

test.run();
