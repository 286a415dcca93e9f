// fx.data.stream / batchAt / stepsPerEpoch: the batch of a training step depends on
// (key, epoch, position) only, so a run resumed at step s sees the batches of the run that
// never stopped.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';
import { idsOf, synthetic } from './synthetic.js';

const data = synthetic(23); // 5 full batches of 4 per epoch, 3 examples left over
const key = fx.random.key(11);

test('stepsPerEpoch counts full batches only', () => {
  assert.is(fx.data.stepsPerEpoch(data, 4), 5);
  assert.is(fx.data.stepsPerEpoch(data, 23), 1);
  assertThrows(() => fx.data.stepsPerEpoch(data, 24), fx.FlaxenError, 'the dataset has 23 examples, fewer than one batch of 24');
});

test('the batch of step s is batch (s mod stepsPerEpoch) of batches(data, size, foldIn(key, ⌊s / stepsPerEpoch⌋))', () => {
  const before = tf.memory().numTensors;
  const byEpoch = [0, 1, 2, 3].map((e) => [...fx.data.batches(data, 4, fx.random.foldIn(key, e))].map(idsOf));
  for (const batches of byEpoch) assert.is(batches.length, 5);
  const streamed = [...fx.data.stream(data, 4, key, { end: 20 })];
  assert.equal(streamed.map((b) => [b.step, b.epoch, b.position]), Array.from({ length: 20 }, (_, s) => [s, Math.floor(s / 5), s % 5]));
  assert.equal(streamed.map(idsOf), byEpoch.flat());
  for (const s of [0, 4, 5, 13, 19]) {
    const single = fx.data.batchAt(data, 4, key, s);
    assert.equal([single.step, single.epoch, single.position], [s, Math.floor(s / 5), s % 5]);
    assert.equal(idsOf(single), byEpoch[Math.floor(s / 5)]![s % 5]);
  }
  assert.is(tf.memory().numTensors, before);
});

test('a stream started at step s yields what the stream from 0 yields from step s on, bit for bit', () => {
  const all = [...fx.data.stream(data, 4, key, { end: 17, shape: [6] })];
  const whole = all.slice(7);
  const resumed = [...fx.data.stream(data, 4, key, { start: 7, end: 17, shape: [6] })];
  assert.is(resumed.length, 10);
  resumed.forEach((b, i) => {
    const a = whole[i]!;
    assert.is(b.step, a.step);
    assert.equal(b.images.shape, [4, 6]);
    assert.equal(Array.from(new Uint8Array(b.images.dataSync().buffer)), Array.from(new Uint8Array(a.images.dataSync().buffer)));
    assert.equal(Array.from(b.labels.dataSync()), Array.from(a.labels.dataSync()));
  });
  tf.dispose([...all, ...resumed].flatMap((b) => [b.images, b.labels]));
});

test('each epoch draws distinct examples in a new order; other keys give other orders', () => {
  const epochs = [0, 1, 2].map((e) => [...fx.data.stream(data, 4, key, { start: e * 5, end: (e + 1) * 5 })].flatMap(idsOf));
  for (const ids of epochs) {
    assert.is(ids.length, 20);
    assert.is(new Set(ids).size, 20, 'no example twice within an epoch');
  }
  assert.not.equal(epochs[0], epochs[1]);
  assert.not.equal(epochs[1], epochs[2]);
  const other = [...fx.data.stream(data, 4, fx.random.key(12), { end: 5 })].flatMap(idsOf);
  assert.not.equal(other, epochs[0]);
});

test('an endless stream makes a batch only when asked: breaking out leaks nothing', () => {
  const before = tf.memory().numTensors;
  let seen = 0;
  for (const batch of fx.data.stream(data, 4, key, { start: 1000, shape: [2, 3, 1] })) {
    assert.equal(batch.images.shape, [4, 2, 3, 1]);
    tf.dispose([batch.images, batch.labels]);
    if (++seen === 12) break;
  }
  assert.is(seen, 12);
  assert.is(tf.memory().numTensors, before);
});

test('bad arguments are refused at the call with FlaxenErrors naming what was expected and found', () => {
  const before = tf.memory().numTensors;
  assertThrows(() => fx.data.stream(data, 4, key, { start: -1 }), fx.FlaxenError, "stream(data, batchSize, key): option 'start' must be a non-negative integer, found number -1");
  assertThrows(() => fx.data.stream(data, 4, key, { end: 2.5 }), fx.FlaxenError, "option 'end' must be a non-negative integer, found number 2.5");
  assertThrows(() => fx.data.stream(data, 4, key, { from: 3 } as any), fx.FlaxenError, "unknown option 'from'", 'start, end, shape');
  assertThrows(() => fx.data.stream(data, 4, undefined as any), fx.FlaxenError, 'key must be a random key');
  assertThrows(() => fx.data.stream(data, 0, key), fx.FlaxenError, 'batchSize must be a positive integer');
  assertThrows(() => fx.data.stream(data, 30, key), fx.FlaxenError, 'fewer than one batch of 30');
  assertThrows(() => fx.data.stream(data, 4, key, { shape: [5] }), fx.FlaxenError, 'shape [5] does not hold one example of shape [2, 3]');
  assertThrows(() => fx.data.stream({ images: new Float32Array(3) } as any, 4, key), fx.FlaxenError, 'expected a dataset');
  assertThrows(() => fx.data.batchAt(data, 4, key, -2), fx.FlaxenError, 'step must be a non-negative integer, found number -2');
  assertThrows(() => fx.data.batchAt(data, 4, key, 1, { shape: [7] }), fx.FlaxenError, 'does not hold one example');
  assert.is(tf.memory().numTensors, before);
});

test.run();
