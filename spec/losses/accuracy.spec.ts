import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows, tensorDelta, transient } from '../setup.js';

test('accuracy counts rows whose largest logit is the label', () => {
  const logits = tf.tensor([[2, 1, 0], [0, 3, 1], [1, 0, 2], [0, 0, 5]]);
  const { result, delta } = tensorDelta(() => fx.losses.accuracy(logits, [0, 1, 1, 2]));
  assert.is(delta, 0);
  assert.is(result, 0.75);
  const labels = tf.tensor([0, 0, 2, 2], [4], 'int32');
  assert.is(fx.losses.accuracy(logits, labels), 0.75);
  const oneHot = tf.tidy(() => tf.cast(tf.oneHot(labels, 3), 'float32'));
  assert.is(fx.losses.accuracy(logits, oneHot), 0.75);
  tf.dispose([logits, labels, oneHot]);
});

test('accuracy with extra batch axes and ties (ties go to the lowest index)', () => {
  const logits = tf.tensor([[[1, 1], [0, 2]], [[3, 3], [5, 4]]]);
  assert.is(fx.losses.accuracy(logits, transient(tf.tensor([[0, 1], [1, 0]], [2, 2], 'int32'))), 0.75);
  logits.dispose();
});

test('accuracy rejects mismatched labels', () => {
  const logits = tf.zeros([2, 3]);
  assertThrows(() => fx.losses.accuracy(logits, [0, 1, 2]), fx.ShapeError, 'accuracy', '[2]');
  assertThrows(() => fx.losses.accuracy(logits, transient(tf.zeros([2, 4]))), fx.ShapeError, '[2, 3]', '[2, 4]');
  assertThrows(() => fx.losses.accuracy(transient(tf.zeros([0, 3])), []), fx.FlaxenError, 'no examples');
  logits.dispose();
});

test.run();
