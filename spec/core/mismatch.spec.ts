// Variables that do not fit the model: the error says so, shows the expected and the given
// subtree, and for a tree of the wrong level (variables.params, { param }) the fix.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';

const { Dense, Sequential, relu } = fx.nn;

test("another model's variables: the message blames the variables and shows both subtrees", () => {
  const a = Sequential([Dense(32), relu, Dense(10)]);
  const b = Sequential([Dense(32), relu, Dense(10)]);
  const va = a.init(fx.random.key(0), [1, 20]);
  const vb = b.init(fx.random.key(0), [1, 4]); // the same layers, made for 4 features
  const x = tf.ones([2, 20]);
  const before = tf.memory().numTensors;
  const e = assertThrows(
    () => a.apply(vb, x),
    fx.ShapeError,
    'layers_0: the variables do not match the model',
    "'params/layers_0/kernel' has shape [4, 32] in the variables, but the model needs [20, 32]",
    'the model expects params/layers_0: { bias: float32[32], kernel: float32[20, 32] }',
    'the variables hold params/layers_0: { bias: float32[32], kernel: float32[4, 32] }',
    "1 of the model's 4 entries are missing or shaped otherwise (params/layers_0/kernel)",
  ) as fx.ShapeError;
  assert.not.ok(e.message.includes('this input needs'));
  assert.is(e.treePath, 'params/layers_0/kernel');
  assert.is(tf.memory().numTensors, before);
  tf.dispose(x);
  fx.tree.dispose([va, vb]);
});

test('a model of another structure: every difference is counted, extra entries listed', () => {
  const small = Sequential([Dense(8)]).init(fx.random.key(0), [1, 3]);
  const big = Sequential([Dense(8), relu, Dense(2)]);
  const x = tf.ones([1, 3]);
  assertThrows(
    () => big.apply(small as never, x),
    fx.MissingVariableError,
    'layers_2: the variables do not match the model',
    'the variables hold params/layers_2: nothing',
    "2 of the model's 4 entries are missing or shaped otherwise (params/layers_2/kernel, params/layers_2/bias)",
  );
  tf.dispose(x);
  fx.tree.dispose(small);
});

test('variables.params instead of variables: the top-level keys and the fix', () => {
  const net = Sequential([Dense(4), relu, Dense(2)]);
  const v = net.init(fx.random.key(0), [1, 3]);
  const x = tf.ones([1, 3]);
  const e = assertThrows(
    () => net.apply(v.params as never, x),
    fx.MissingVariableError,
    'with the collections [params] at its top level, but the given tree has [layers_0, layers_2]',
    'it looks like one collection was passed (e.g. variables.params)',
  );
  assert.not.ok(e.message.startsWith('<root>') || e.message.startsWith(':'), e.message);
  assertThrows(
    () => net.apply({ param: v.params } as never, x),
    fx.MissingVariableError,
    'the given tree has [param]',
    "did you mean 'params' for 'param'?",
  );
  tf.dispose(x);
  fx.tree.dispose(v);
});

test('an input of the wrong size with the right variables still names both shapes', () => {
  const net = Dense(3);
  const v = net.init(fx.random.key(0), [1, 5]);
  const x = tf.ones([1, 6]);
  assertThrows(() => net.apply(v, x), fx.ShapeError, '[5, 3] in the variables', '[6, 3] for this input', 'does the input have another size?');
  tf.dispose(x);
  fx.tree.dispose(v);
});

test.run();
