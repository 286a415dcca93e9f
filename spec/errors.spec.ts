import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { assertThrows } from './setup.js';

test('an error about no module has no path prefix; a module error starts with its path', () => {
  const free = new fx.FlaxenError('', 'adam: lr must be a number');
  assert.is(free.message, 'adam: lr must be a number');
  assert.is(free.path, '');
  assert.is(free.treePath, undefined);
  const inModule = new fx.ShapeError('layers_2', 'expected [2], found [3]');
  assert.is(inModule.message, 'layers_2: expected [2], found [3]');
  assert.is(inModule.name, 'ShapeError');
});

test('the tree path is a separate field from the module path', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(3), fx.nn.Dense(2)]);
  const v = net.init(fx.random.key(0), [1, 4]);
  const x = tf.ones([1, 5]);
  const e = assertThrows(() => net.apply(v, x), fx.ShapeError) as fx.ShapeError;
  assert.is(e.path, 'layers_0');
  assert.is(e.treePath, 'params/layers_0/kernel');
  tf.dispose(x);
  fx.tree.dispose(v);
});

test('errors raised outside modules print no <root> prefix', () => {
  const e1 = assertThrows(() => fx.nn.Dense(0), fx.FlaxenError);
  const e2 = assertThrows(() => fx.nn.Dense(2).init(7 as unknown as fx.random.Key, [1, 2]), fx.FlaxenError);
  for (const e of [e1, e2]) assert.not.ok(e.message.includes('<root>'), e.message);
});

test.run();
