// Run by spec/leak-check.spec.ts under uvu's CLI: one test that leaves a tensor behind, one that
// gives a call an inline input marked transient, and one that is clean.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { transient } from './setup.js';

test('leaves one tensor behind', () => {
  assert.equal(tf.ones([3]).shape, [3]);
});

test('passes an inline input marked transient', () => {
  const sum = tf.sum(transient(tf.ones([2])));
  assert.equal(Array.from(sum.dataSync()), [2]);
  sum.dispose();
});

test('disposes what it makes', () => {
  tf.ones([4]).dispose();
});

test.run();
