// The recurrent layers' API: parameter trees as in Flax, default initializers, the options of
// RNN, empty sequences, memory and the errors for bad input. Numerics against PyTorch are in
// recurrent.spec.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, values } from '../setup.js';

const shapes = (tree: unknown) => fx.tree.map(tree as any, (t: tf.Tensor) => t.shape);
const k = fx.random.key(0);

test('the parameter trees have Flax linen names and shapes, under cell, sized from the input', () => {
  const net = fx.nn.Sequential([fx.nn.RNN(fx.nn.LSTMCell(6)), fx.nn.Dense(2)]);
  const lstm = net.initShapes(k, [2, 5, 3]) as any;
  const gate = (rows: number, bias: boolean) => (bias ? { kernel: [rows, 6], bias: [6] } : { kernel: [rows, 6] });
  assert.equal(fx.tree.map(lstm.params.layers_0.cell, (leaf: { shape: readonly number[] }) => [...leaf.shape]), {
    ii: gate(3, false), if: gate(3, false), ig: gate(3, false), io: gate(3, false),
    hi: gate(6, true), hf: gate(6, true), hg: gate(6, true), ho: gate(6, true),
  });
  const gru = fx.nn.RNN(fx.nn.GRUCell(4)).init(k, [1, 2, 3]);
  assert.equal(shapes(gru.params.cell), {
    ir: { kernel: [3, 4], bias: [4] }, iz: { kernel: [3, 4], bias: [4] }, in: { kernel: [3, 4], bias: [4] },
    hr: { kernel: [4, 4] }, hz: { kernel: [4, 4] }, hn: { kernel: [4, 4], bias: [4] },
  });
  const simple = fx.nn.RNN(fx.nn.SimpleCell(4)).init(k, [1, 2, 3]);
  assert.equal(shapes(simple.params.cell), { i: { kernel: [3, 4], bias: [4] }, h: { kernel: [4, 4] } });
  fx.tree.dispose(gru);
  fx.tree.dispose(simple);
});

test('default initializers: orthogonal hidden kernels, LeCun-normal input kernels, zero biases', () => {
  const vars = fx.nn.RNN(fx.nn.LSTMCell(32)).init(k, [1, 2, 400]) as any;
  const hf = values(vars.params.cell.hf.kernel);
  for (let i = 0; i < 32; i += 7) {
    for (let j = 0; j < 32; j += 5) {
      let dot = 0;
      for (let r = 0; r < 32; r++) dot += hf[r * 32 + i]! * hf[r * 32 + j]!;
      assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-5, `hf columns ${i}, ${j}: ${dot}`);
    }
  }
  const ii = values(vars.params.cell.ii.kernel);
  const variance = ii.reduce((a, b) => a + b * b, 0) / ii.length;
  assert.ok(Math.abs(variance * 400 - 1) < 0.1, `input kernel variance ${variance} vs 1/400`);
  assert.ok(values(vars.params.cell.hi.bias).every((v) => v === 0));
  // Each gate has its own key: the four hidden kernels differ.
  assert.not.equal(values(vars.params.cell.hi.kernel), hf);
  fx.tree.dispose(vars);
});

test('a cell applied to one step equals the RNN over a sequence of one step', () => {
  const cell = fx.nn.LSTMCell(5);
  const x = tf.randomNormal([3, 4], 0, 1, 'float32', 1);
  const carry = cell.initializeCarry([3, 4]) as [tf.Tensor, tf.Tensor];
  const cellVars = cell.init(k, carry, [3, 4]);
  const [[c, h], y] = cell.apply(cellVars, carry, x) as [[tf.Tensor, tf.Tensor], tf.Tensor];
  const rnn = fx.nn.RNN(fx.nn.LSTMCell(5), { returnCarry: true });
  const sequence = tf.reshape(x, [3, 1, 4]);
  const [[c2, h2], ys] = rnn.apply({ params: { cell: cellVars.params } } as any, sequence) as any;
  assert.equal(values(c), values(c2));
  assert.equal(values(h), values(h2));
  assert.equal(values(y), values(ys));
  assert.equal(values(y), values(h));
  tf.dispose([x, sequence, c, h, y, c2, h2, ys, ...carry]);
  fx.tree.dispose(cellVars);
});

test('reverse returns the outputs in processing order; keepOrder puts them back in input order', () => {
  const x = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 2);
  const vars = fx.nn.RNN(fx.nn.GRUCell(4)).init(k, x);
  const kept = fx.nn.RNN(fx.nn.GRUCell(4), { reverse: true, keepOrder: true }).apply(vars, x) as tf.Tensor;
  const processed = fx.nn.RNN(fx.nn.GRUCell(4), { reverse: true }).apply(vars, x) as tf.Tensor;
  const flipped = tf.reverse(kept, 1);
  assert.equal(values(processed), values(flipped));
  // Reversing the input and running forwards is the same computation.
  const xFlipped = tf.reverse(x, 1);
  const forwardOnFlipped = fx.nn.RNN(fx.nn.GRUCell(4)).apply(vars, xFlipped) as tf.Tensor;
  assertClose(values(forwardOnFlipped), values(processed), 1e-6, 0);
  tf.dispose([x, kept, processed, flipped, xFlipped, forwardOnFlipped]);
  fx.tree.dispose(vars);
});

test('seqLengths freezes each carry at its sequence end and zeroes the outputs past it', () => {
  const x = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 3);
  const rnn = fx.nn.RNN(fx.nn.SimpleCell(4), { returnCarry: true, seqLengths: [2, 4] });
  const vars = rnn.init(k, x);
  const [h, ys] = rnn.apply(vars, x) as [tf.Tensor, tf.Tensor];
  const xShort = tf.slice(x, [0, 0, 0], [1, 2, 3]);
  const [hShort, ysShort] = fx.nn.RNN(fx.nn.SimpleCell(4), { returnCarry: true }).apply(vars, xShort) as [tf.Tensor, tf.Tensor];
  assertClose(values(h).slice(0, 4), values(hShort), 1e-6, 0, 'carry of the short sequence');
  const y = ys.arraySync() as number[][][];
  assert.ok(y[0]![2]!.every((v) => v === 0) && y[0]![3]!.every((v) => v === 0), 'outputs past the end are 0');
  assert.ok(y[1]![3]!.some((v) => v !== 0));
  // A third input overrides the option per call.
  const lengths = tf.tensor1d([4, 4], 'int32');
  const [hAll, ysAll] = rnn.apply(vars, x, undefined, lengths) as [tf.Tensor, tf.Tensor];
  assert.not.equal(values(hAll).slice(0, 4), values(h).slice(0, 4));
  tf.dispose([x, h, ys, xShort, hShort, ysShort, lengths, hAll, ysAll]);
  fx.tree.dispose(vars);
});

test('an empty time axis gives empty outputs and the initial carry back', () => {
  const rnn = fx.nn.RNN(fx.nn.LSTMCell(3), { returnCarry: true });
  const vars = rnn.init(k, [2, 4, 5]);
  const c0 = tf.ones([2, 3]);
  const h0 = tf.fill([2, 3], 2);
  const empty = tf.zeros([2, 0, 5]);
  const before = tf.memory().numTensors;
  const [[c, h], ys] = rnn.apply(vars, empty, [c0, h0]) as any;
  assert.equal(ys.shape, [2, 0, 3]);
  assert.equal(values(c), values(c0));
  assert.equal(values(h), values(h0));
  tf.dispose([c, h, ys]);
  assert.is(tf.memory().numTensors, before, 'the returned carry is a copy the caller owns');
  tf.dispose([c0, h0, empty]);
  fx.tree.dispose(vars);
});

test('apply and training leave no tensor behind', () => {
  const model = fx.nn.Sequential([fx.nn.RNN(fx.nn.LSTMCell(4), { reverse: true, seqLengths: [3, 1] }), fx.nn.Dense(2)]);
  const vars = model.init(k, [2, 3, 2]);
  const x = tf.ones([2, 3, 2]);
  const before = tf.memory().numTensors;
  tf.dispose(model.apply(vars, x) as tf.Tensor);
  const [loss, grads] = fx.valueAndGrad((p: any) => tf.sum(model.apply({ params: p }, x) as tf.Tensor))(vars.params);
  tf.dispose(loss);
  fx.tree.dispose(grads);
  assert.is(tf.memory().numTensors, before);
  x.dispose();
  fx.tree.dispose(vars);
});

test('describe shows the cell and its sizes', () => {
  const rnn = fx.nn.RNN(fx.nn.GRUCell(8), { reverse: true });
  assert.is(rnn.describe(), 'RNN(GRUCell(-1 -> 8), reverse)');
  const vars = rnn.init(k, [1, 2, 3]);
  assert.is(rnn.describe(vars), 'RNN(GRUCell(3 -> 8), reverse)');
  fx.tree.dispose(vars);
});

test('bad input: rank-2 input, wrong carry, lengths out of range, not a cell', () => {
  const rnn = fx.nn.Sequential([fx.nn.RNN(fx.nn.LSTMCell(4))]);
  assertThrows(() => rnn.init(k, [2, 3]), fx.ShapeError, 'layers_0', '[batch, time, features]', '[2, 3]');
  const lstm = fx.nn.RNN(fx.nn.LSTMCell(4));
  const vars = lstm.init(k, [2, 3, 5]);
  const x = tf.ones([2, 3, 5]);
  const single = tf.zeros([2, 4]);
  assertThrows(() => lstm.apply(vars, x, single), fx.FlaxenError, 'pair [c, h]', '[2, 4]');
  const bad = [tf.zeros([2, 4]), tf.zeros([3, 4])] as const;
  assertThrows(() => lstm.apply(vars, x, bad), fx.ShapeError, 'cell', 'carry h', '[2, 4]', '[3, 4]');
  const tooLong = tf.tensor1d([1, 4], 'int32'), tooMany = tf.tensor1d([1, 2, 3], 'int32');
  assertThrows(() => lstm.apply(vars, x, undefined, tooLong), fx.FlaxenError, 'seqLengths[1]', '0 … 3', '4');
  assertThrows(() => lstm.apply(vars, x, undefined, tooMany), fx.ShapeError, 'seqLengths', '[2]', '[3]');
  assertThrows(() => fx.nn.RNN(fx.nn.Dense(4) as any), fx.FlaxenError, 'a recurrent cell', 'LSTMCell, OptimizedLSTMCell, GRUCell or SimpleCell', 'Dense');
  assertThrows(() => fx.nn.RNN(fx.nn.LSTMCell(4), { reverse: 'yes' } as any), fx.FlaxenError, 'reverse', 'true or false');
  assertThrows(() => fx.nn.LSTMCell(0), fx.FlaxenError, 'positive integer');
  assertThrows(() => fx.nn.Bidirectional(fx.nn.LSTMCell(2) as any, fx.nn.RNN(fx.nn.LSTMCell(2))), fx.FlaxenError, 'fx.nn.RNN');
  tf.dispose([x, single, ...bad, tooLong, tooMany]);
  fx.tree.dispose(vars);
});

test.run();
