// Inputs that are arrays of numbers as data, not shapes: RNN's and Bidirectional's positional
// `seqLengths` (`apply(variables, x, carry?, seqLengths?)`, typed `readonly number[] | tf.Tensor`)
// work as a plain array, exactly as the int32 tensor and the RNN option do. A module declares
// such positions (ModuleSpec.numberInputs); everywhere else an array of numbers given to apply
// is still refused as a shape.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';

const seq = (): tf.Tensor => fx.random.normal(fx.random.key(5), [2, 5, 3]);

/** The bits of every tensor in a nested array or record of tensors, in order. */
function bits(value: unknown): number[][] {
  if (value instanceof tf.Tensor) return [Array.from(new Uint32Array(value.dataSync().slice().buffer))];
  const parts = Array.isArray(value) ? value : Object.keys(value as object).sort().map((k) => (value as Record<string, unknown>)[k]);
  return parts.flatMap(bits);
}

test('RNN: seqLengths as a number array, an int32 tensor or the RNN option give the same bits', () => {
  const x = seq();
  const rnn = fx.nn.RNN(fx.nn.LSTMCell(4), { returnCarry: true });
  const vars = rnn.init(fx.random.key(0), x);
  const lengths = tf.tensor1d([5, 2], 'int32');
  const fromTensor = rnn.apply(vars, x, undefined, lengths);
  const fromArray = rnn.apply(vars, x, undefined, [5, 2]);
  const withOptions = rnn.apply(vars, x, undefined, [5, 2], { train: false });
  const asOption = fx.nn.RNN(fx.nn.LSTMCell(4), { returnCarry: true, seqLengths: [5, 2] }).apply(vars, x);
  const full = rnn.apply(vars, x);
  assert.equal(bits(fromArray), bits(fromTensor));
  assert.equal(bits(withOptions), bits(fromTensor));
  assert.equal(bits(asOption), bits(fromTensor));
  assert.not.equal(bits(fromArray), bits(full), 'the lengths were used');
  // past its length (2), sequence 1's outputs are 0
  const padded = tf.tidy(() => tf.sum(tf.abs(tf.slice(fromArray[1] as tf.Tensor, [1, 2, 0], [1, 3, 4]))));
  assert.is(padded.dataSync()[0], 0);
  tf.dispose([x, lengths, fromTensor, fromArray, withOptions, asOption, full, padded] as tf.TensorContainer[]);
  fx.tree.dispose(vars);
});

test('RNN: init takes seqLengths as an array too, and a bad array is the RNN error naming the length', () => {
  const x = seq();
  const rnn = fx.nn.RNN(fx.nn.GRUCell(3));
  const withLengths = rnn.init(fx.random.key(1), x, undefined, [5, 2]);
  const without = rnn.init(fx.random.key(1), x);
  assert.equal(bits(withLengths), bits(without));
  assertThrows(() => rnn.apply(without, x, undefined, [5, 6]), fx.FlaxenError, 'seqLengths[1] must be an integer in 0 … 5', '6');
  assertThrows(() => rnn.apply(without, x, undefined, [5]), fx.ShapeError, 'seqLengths must hold 2 lengths');
  fx.tree.dispose([withLengths, without]);
  x.dispose();
});

test('Bidirectional: seqLengths as a number array equals the int32 tensor', () => {
  const x = seq();
  const bi = fx.nn.Bidirectional(fx.nn.RNN(fx.nn.SimpleCell(3)), fx.nn.RNN(fx.nn.SimpleCell(3)));
  const vars = bi.init(fx.random.key(2), x);
  const lengths = tf.tensor1d([3, 5], 'int32');
  const a = bi.apply(vars, x, undefined, [3, 5]);
  const b = bi.apply(vars, x, undefined, lengths);
  assert.equal(bits(a), bits(b));
  tf.dispose([x, lengths, a, b] as tf.TensorContainer[]);
  fx.tree.dispose(vars);
});

test('an array of numbers elsewhere is still refused by apply as a shape (the input, the carry)', () => {
  const x = seq();
  const rnn = fx.nn.RNN(fx.nn.SimpleCell(3));
  const vars = rnn.init(fx.random.key(3), x);
  assertThrows(() => rnn.apply(vars, [2, 5, 3] as never), fx.FlaxenError, 'apply: input 0 is a shape [2, 5, 3]');
  assertThrows(() => rnn.apply(vars, x, [2, 3] as never), fx.FlaxenError, 'apply: input 1 is a shape [2, 3]');
  const dense = fx.nn.Dense(2);
  const dv = dense.init(fx.random.key(4), [1, 3]);
  assertThrows(() => dense.apply(dv, [1, 3] as never), fx.FlaxenError, 'apply: input 0 is a shape [1, 3]');
  fx.tree.dispose([vars, dv]);
  x.dispose();
});

test.run();
