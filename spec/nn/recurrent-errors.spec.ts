// Bad input to the recurrent layers (issue 13): each is a FlaxenError naming the module path and
// the shapes expected and found, with no tensor left behind; and empty sequences or batches
// follow the empty-batch rule of the other layers (empty outputs, the carry passed through,
// gradients of zeros).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, tensorDelta, values } from '../setup.js';

const k = fx.random.key(0);
const cells = { LSTMCell: fx.nn.LSTMCell, OptimizedLSTMCell: fx.nn.OptimizedLSTMCell, GRUCell: fx.nn.GRUCell, SimpleCell: fx.nn.SimpleCell };

for (const [name, make] of Object.entries(cells)) {
  test(`${name}: a rank-2 input, a carry of the wrong shape, lengths out of range name the path and shapes, and leave nothing behind`, () => {
    const net = fx.nn.Sequential([fx.nn.Dense(5), fx.nn.RNN(make(4))]);
    const vars = net.init(k, [2, 3, 6]);
    // The RNN inside a module, as 'rnn': its errors name that path.
    const rnn = fx.nn.module('Net', (scope, x: tf.Tensor, carry?: fx.nn.Carry, lengths?: tf.Tensor) => scope.call(fx.nn.RNN(make(4)), x, carry, lengths, { name: 'rnn' }) as tf.Tensor);
    const rvars = rnn.init(k, [2, 3, 5]);
    const x = tf.ones([2, 3, 5]);
    const flat = tf.ones([2, 5]);
    const flat6 = tf.ones([2, 6]);
    const lstm = name.includes('LSTM');
    const wrong = lstm ? [tf.zeros([2, 4]), tf.zeros([2, 3])] as const : tf.zeros([2, 3]);
    // Lengths given to apply are tensors (an array of numbers there would be a shape).
    const [negative, fractional, short] = [tf.tensor1d([3, -1], 'int32'), tf.tensor1d([1.5, 2]), tf.tensor1d([1], 'int32')];
    const { delta } = tensorDelta(() => {
      assertThrows(() => net.apply(vars, flat6), fx.ShapeError, 'layers_1', '[batch, time, features]', '[2, 5]');
      assertThrows(() => rnn.apply(rvars, flat), fx.ShapeError, 'rnn', '[batch, time, features]', '[2, 5]', 'rank 2');
      assertThrows(() => rnn.apply(rvars, x, wrong as any), fx.ShapeError, 'rnn/cell', '[2, 4]', '[2, 3]');
      assertThrows(() => rnn.apply(rvars, x, undefined, negative), fx.FlaxenError, 'rnn', 'seqLengths[1]', '0 … 3', '-1');
      assertThrows(() => rnn.apply(rvars, x, undefined, fractional), fx.FlaxenError, 'rnn', 'seqLengths[0]', '1.5');
      assertThrows(() => rnn.apply(rvars, x, undefined, short), fx.ShapeError, 'rnn', 'seqLengths', '[2]', '[1]');
    });
    assert.is(delta, 0, 'no tensor left behind by the errors');
    tf.dispose([x, flat, flat6, negative, fractional, short, ...(Array.isArray(wrong) ? wrong : [wrong])]);
    fx.tree.dispose(vars);
    fx.tree.dispose(rvars);
  });
}

test('a cell that is not a cell: RNN and Bidirectional say what they need and what they found', () => {
  assertThrows(() => fx.nn.RNN(fx.nn.Dense(4) as any), fx.FlaxenError, 'RNN(cell)', 'a recurrent cell', 'a Dense module');
  assertThrows(() => fx.nn.RNN(undefined as any), fx.FlaxenError, 'RNN(cell)', 'undefined');
  assertThrows(() => fx.nn.RNN({ features: 4 } as any), fx.FlaxenError, 'RNN(cell)', 'a recurrent cell');
  assertThrows(() => fx.nn.Bidirectional(fx.nn.RNN(fx.nn.LSTMCell(2)), fx.nn.OptimizedLSTMCell(2) as any), fx.FlaxenError, 'fx.nn.RNN');
});

for (const [name, make] of Object.entries(cells)) {
  test(`${name}: a time length of 0 and a batch of 0 follow the empty-batch rule`, () => {
    const rnn = fx.nn.RNN(make(3), { returnCarry: true });
    const vars = rnn.init(k, [2, 1, 5]); // init needs a non-empty input to infer sizes
    const lstm = name.includes('LSTM');
    const carry = lstm ? [tf.fill([2, 3], 0.5), tf.fill([2, 3], -0.25)] : tf.fill([2, 3], -0.25);
    const before = tf.memory().numTensors;
    for (const shape of [[2, 0, 5], [0, 4, 5], [0, 0, 5]] as const) {
      const x = tf.zeros([...shape]);
      const B = shape[0];
      const start = B === 2 ? carry : undefined;
      const [c, ys] = (rnn.apply as any)(vars, x, start) as [any, tf.Tensor];
      assert.equal(ys.shape, [B, shape[1], 3], `outputs of ${JSON.stringify(shape)}`);
      const h: tf.Tensor = lstm ? c[1] : c;
      assert.equal(h.shape, [B, 3]);
      if (B === 2) assert.equal(values(h), Array(6).fill(-0.25), 'the initial carry passes through');
      // The parameters' gradients are sums over no step (or no example): zeros of their shapes.
      const [loss, grads] = fx.valueAndGrad((p: any) => {
        const [cc, yy] = (rnn.apply as any)({ params: p }, x, start) as [any, tf.Tensor];
        const hh: tf.Tensor = lstm ? cc[1] : cc;
        return tf.add(tf.sum(yy), tf.sum(hh));
      })(vars.params);
      for (const [path, g] of fx.tree.flatten(grads as Record<string, unknown>)) {
        assert.ok(values(g as tf.Tensor).every((v) => v === 0), `gradient ${path} is zeros`);
      }
      tf.dispose([x, ys, ...(lstm ? c : [c]), loss]);
      fx.tree.dispose(grads);
    }
    assert.is(tf.memory().numTensors, before, 'no tensor left behind');
    tf.dispose(carry as tf.Tensor[]);
    fx.tree.dispose(vars);
  });
}

test.run();
