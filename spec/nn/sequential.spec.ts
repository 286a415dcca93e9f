// Sequential (lib/nn/sequential.ts): layers applied in order, named layers_<index> (function
// layers keep their index), the composition of its layers, and the errors it gives.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows, collectLeaks } from '../setup.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

const { Sequential, Dense, relu } = fx.nn;

test('children are named layers_<index>; a function layer keeps its index and has no parameters', () => {
  const net = Sequential([Dense(4), relu, Dense(2)]);
  const variables = net.init(fx.random.key(0), [3, 5]);
  assert.equal(Object.keys(variables.params).sort(), ['layers_0', 'layers_2']);
  assert.equal(variables.params.layers_2.kernel.shape, [4, 2]);
  fx.tree.dispose(variables);
});

test('apply is the composition of the layers, each with its own parameters', () => {
  const scale = (t: tf.Tensor) => tf.mul(t, 3);
  const net = Sequential([Dense(4), scale, Dense(2), tf.tanh]);
  const x = tf.tensor2d([[0.5, -1, 2], [1, 0, -0.5]]);
  const variables = net.init(fx.random.key(1), x);
  const y = net.apply(variables, x) as tf.Tensor;
  const p = variables.params;
  const want = tf.tidy(() => tf.tanh(Dense(2).apply({ params: p.layers_2 }, scale(Dense(4).apply({ params: p.layers_0 }, x)))));
  assert.equal(Array.from(y.dataSync()), Array.from(want.dataSync()));
  tf.dispose([x, y, want]);
  fx.tree.dispose(variables);
});

test('a nested Sequential nests its parameters; describe lists the layers', () => {
  const net = Sequential([Sequential([Dense(3), relu]), Dense(1)]);
  const variables = net.init(fx.random.key(2), [2, 4]);
  assert.equal(variables.params.layers_0.layers_0.kernel.shape, [4, 3]);
  const text = net.describe(variables);
  assert.ok(text.includes('Dense(4 -> 3)') && text.includes('Dense(3 -> 1)') && text.includes('relu'), text);
  fx.tree.dispose(variables);
});

test('bad layers and options are FlaxenErrors naming the index', () => {
  assertThrows(() => Sequential([] as never), fx.FlaxenError, 'at least one layer');
  assertThrows(() => Sequential(Dense(2) as never), fx.FlaxenError, 'array of layers');
  assertThrows(() => Sequential([Dense(2), 3 as never]), fx.FlaxenError, 'layers_1', 'module or a function');
  assertThrows(() => Sequential([Dense(2)], { names: 'x' } as never), fx.FlaxenError, 'names');
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
