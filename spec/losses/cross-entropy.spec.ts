import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, transient, values } from '../setup.js';

const E2 = Math.exp(2);

// Plain-loop float64 reference: −Σ labels·log softmax(logits), row by row.
function referenceCrossEntropy(logits: number[][], labels: number[][]): number[] {
  return logits.map((row, r) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    return -row.reduce((s, v, c) => s + labels[r]![c]! * (v - lse), 0);
  });
}

test('softmaxCrossEntropy matches hand-derived values per example', () => {
  const logits = tf.tensor([[2, 0, 0], [0, 0, 0]]);
  const labels = tf.tensor([[1, 0, 0], [0, 1, 0]]);
  const { result, delta } = tensorDelta(() => fx.losses.softmaxCrossEntropy(logits, labels));
  assert.is(delta, 1);
  assert.equal(result.shape, [2]);
  assertClose(values(result), [Math.log(1 + 2 / E2), Math.log(3)], 1e-6);
  tf.dispose([logits, labels, result]);
});

test('softmaxCrossEntropy with soft labels and extra batch axes matches a float64 JS loop, gradients included', () => {
  const rows = [[0.5, -1, 2, 0.1], [3, 3, -2, 0], [-0.7, 0.2, 0.9, 1.4], [0, 0, 0, 5]];
  const soft = [[0.1, 0.2, 0.7, 0], [0.5, 0.5, 0, 0], [0, 0, 0, 1], [0.25, 0.25, 0.25, 0.25]];
  const logits = tf.tensor(rows.flat(), [2, 2, 4]);
  const labels = tf.tensor(soft.flat(), [2, 2, 4]);
  const loss = fx.losses.softmaxCrossEntropy(logits, labels);
  assert.equal(loss.shape, [2, 2]);
  assertClose(values(loss), referenceCrossEntropy(rows, soft), 1e-5);
  // d/dlogits of Σ loss = softmax·Σlabels − labels; d/dlabels = −log softmax.
  const [gLogits, gLabels] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(fx.losses.softmaxCrossEntropy(a, b)))([logits, labels]);
  const expectLogits: number[] = [];
  const expectLabels: number[] = [];
  rows.forEach((row, r) => {
    const m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    const total = soft[r]!.reduce((s, v) => s + v, 0);
    row.forEach((v, c) => {
      expectLogits.push((Math.exp(v - m) / z) * total - soft[r]![c]!);
      expectLabels.push(-(v - m - Math.log(z)));
    });
  });
  assertClose(values(gLogits!), expectLogits, 1e-5, 1e-4, 'dlogits');
  assertClose(values(gLabels!), expectLabels, 1e-5, 1e-4, 'dlabels');
  tf.dispose([logits, labels, loss, gLogits!, gLabels!]);
});

test('softmaxCrossEntropy gradient of the batch mean is (softmax − onehot) / B', () => {
  const logits = tf.tensor([[2, 0, 0], [0, 0, 0]]);
  const labels = tf.tensor([[1, 0, 0], [0, 1, 0]]);
  const g = fx.grad((l: tf.Tensor) => tf.mean(fx.losses.softmaxCrossEntropy(l, labels)))(logits);
  const p = E2 / (E2 + 2);
  const q = 1 / (E2 + 2);
  assertClose(values(g), [(p - 1) / 2, q / 2, q / 2, 1 / 6, (1 / 3 - 1) / 2, 1 / 6], 1e-6);
  tf.dispose([logits, labels, g]);
});

test('cross-entropies stay finite at logits of ±1e4, values and gradients', () => {
  const logits = tf.tensor([[1e4, 0, -1e4], [1e4, 0, -1e4], [-1e4, -1e4, 1e4]]);
  const oneHot = tf.tensor([[0, 0, 1], [1, 0, 0], [0, 0, 1]]);
  const [value, g] = fx.valueAndGrad((l: tf.Tensor) => tf.sum(fx.losses.softmaxCrossEntropy(l, oneHot)))(logits);
  assertClose(values(value), [2e4], 1e-3, 1e-6);
  assertClose(values(g), [1, 0, -1, 0, 0, 0, 0, 0, 0], 1e-6);
  const intLoss = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [2, 0, 2]);
  assertClose(values(intLoss), [2e4, 0, 0], 1e-3, 1e-6);
  const gInt = fx.grad((l: tf.Tensor) => tf.sum(fx.losses.softmaxCrossEntropyWithIntegerLabels(l, [2, 0, 2])))(logits);
  assertClose(values(gInt), [1, 0, -1, 0, 0, 0, 0, 0, 0], 1e-6);
  const x = tf.tensor([1e4, -1e4, 1e4, -1e4]);
  const z = tf.tensor([0, 0, 1, 1]);
  const [bce, gb] = fx.valueAndGrad((l: tf.Tensor) => tf.sum(fx.losses.sigmoidBinaryCrossEntropy(l, z)))(x);
  const perExample = fx.losses.sigmoidBinaryCrossEntropy(x, z);
  assertClose(values(perExample), [1e4, 0, 0, 1e4], 1e-3, 1e-6);
  assertClose(values(bce), [2e4], 1e-3, 1e-6);
  assertClose(values(gb), [1, 0, 0, -1], 1e-6); // σ(x) − z
  for (const t of [value, g, intLoss, gInt, bce, gb, perExample]) assert.ok(values(t).every(Number.isFinite));
  tf.dispose([logits, oneHot, value, g, intLoss, gInt, x, z, bce, gb, perExample]);
});

test('integer labels give the same losses and gradients as one-hot labels', () => {
  const rows = [[0.5, -1, 2], [3, 3, -2], [-0.7, 0.2, 0.9]];
  const logits = tf.tensor(rows);
  const intLabels = tf.tensor([2, 0, 1], [3], 'int32');
  const loss = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, intLabels);
  assertClose(values(loss), referenceCrossEntropy(rows, [[0, 0, 1], [1, 0, 0], [0, 1, 0]]), 1e-5);
  const fromJs = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, Int32Array.from([2, 0, 1]));
  assert.equal(values(fromJs), values(loss));
  const g = fx.grad((l: tf.Tensor) => tf.sum(fx.losses.softmaxCrossEntropyWithIntegerLabels(l, intLabels)))(logits);
  const expected: number[] = [];
  rows.forEach((row, r) => {
    const z = row.reduce((s, v) => s + Math.exp(v), 0);
    row.forEach((v, c) => expected.push(Math.exp(v) / z - (c === [2, 0, 1][r] ? 1 : 0)));
  });
  assertClose(values(g), expected, 1e-5);
  tf.dispose([logits, intLabels, loss, fromJs, g]);
});

test('integer labels work with extra batch axes', () => {
  const logits = tf.tensor([[[1, 2], [3, 0]], [[0, 0], [5, 5]]]);
  const labels = tf.tensor([[1, 0], [0, 1]], [2, 2], 'int32');
  const loss = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, labels);
  assert.equal(loss.shape, [2, 2]);
  assertClose(values(loss), [Math.log(1 + Math.exp(-1)), Math.log(1 + Math.exp(-3)), Math.log(2), Math.log(2)], 1e-6);
  tf.dispose([logits, labels, loss]);
});

test('sigmoidBinaryCrossEntropy matches hand-derived values and gradients σ(x) − z', () => {
  const x = tf.tensor([0, 2, -3, 0.5]);
  const z = tf.tensor([1, 0, 0, 0.25]);
  const loss = fx.losses.sigmoidBinaryCrossEntropy(x, z);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const soft = -(0.25 * Math.log(sig(0.5)) + 0.75 * Math.log(1 - sig(0.5)));
  assertClose(values(loss), [Math.log(2), Math.log(1 + E2), Math.log(1 + Math.exp(-3)), soft], 1e-6);
  const g = fx.grad((v: tf.Tensor) => tf.sum(fx.losses.sigmoidBinaryCrossEntropy(v, z)))(x);
  assertClose(values(g), [0.5 - 1, sig(2), sig(-3), sig(0.5) - 0.25], 1e-6);
  tf.dispose([x, z, loss, g]);
});

test('masked logits (-Infinity) give the finite losses of the unmasked classes, as Optax, with finite gradients', () => {
  // Hand-derived: log(e^1 + e^2) − 1 = log(1 + e) = 1.3132617; softmax over the two live classes
  // is [1, e] / (1 + e). A masked class with label 0 adds 0 (0 · log 0 = 0), so each masked row
  // equals the same row with the masked class left out.
  const LOG1PE = Math.log(1 + Math.E), P = 1 / (1 + Math.E);
  const masked = tf.tensor([[1, 2, -Infinity], [0, -Infinity, -Infinity], [-Infinity, 3, 3]]);
  const intLabels = tf.tensor([0, 0, 2], [3], 'int32');
  const oneHot = tf.tensor([[1, 0, 0], [1, 0, 0], [0, 0, 1]]);
  const expected = [LOG1PE, 0, Math.log(2)];
  const dExpected = [P - 1, 1 - P, 0, 0, 0, 0, 0, 0.5, -0.5];
  const mean = (v: tf.Tensor) => tf.sum(v);
  for (const [name, loss] of [
    ['integer labels', (x: tf.Tensor) => fx.losses.softmaxCrossEntropyWithIntegerLabels(x, intLabels)],
    ['one-hot labels', (x: tf.Tensor) => fx.losses.softmaxCrossEntropy(x, oneHot)],
  ] as const) {
    const value = loss(masked);
    assertClose(values(value), expected, 1e-6, 1e-6, name);
    const g = tf.grad((x: tf.Tensor) => mean(loss(x)))(masked);
    assertClose(values(g), dExpected, 1e-6, 1e-6, `${name} gradient`);
    assert.ok(values(g).every(Number.isFinite), `${name}: finite gradient`);
    // The same numbers as the rows without their masked classes.
    const dropped = fx.losses.softmaxCrossEntropyWithIntegerLabels(transient(tf.tensor([[1, 2]])), [0]);
    assert.is(values(value)[0], values(dropped)[0], `${name}: same bits as the row [1, 2]`);
    tf.dispose([value, g, dropped]);
  }
  // The one-hot labels get a finite gradient too (a masked class passes none to its label).
  const gLabels = tf.grad((z: tf.Tensor) => tf.sum(fx.losses.softmaxCrossEntropy(masked, z)))(oneHot);
  assert.ok(values(gLabels).every(Number.isFinite));
  assertClose(values(gLabels).slice(0, 3), [LOG1PE, LOG1PE - 1, 0], 1e-6); // −log softmax, 0 where masked
  // A label on a masked class has probability 0: an infinite loss, not NaN.
  const impossible = fx.losses.softmaxCrossEntropyWithIntegerLabels(transient(tf.tensor([[1, -Infinity]])), [1]);
  assert.equal(values(impossible), [Infinity]);
  tf.dispose([masked, intLabels, oneHot, gLabels, impossible]);
});

test('integer labels out of range or not integers are FlaxenErrors naming the label, for tensors and JS arrays', () => {
  // Before: 7 of 3 classes and -1 gave a loss of 0 (tfjs's one-hot of an out-of-range index is
  // all zeros) and 2.5 was truncated to 2.
  const logits = tf.tensor([[1, 2, 3], [0, 0, 0]]);
  const { delta } = tensorDelta(() => {
    for (const [bad, found] of [[7, 'number 7'], [-1, 'number -1'], [2.5, 'number 2.5']] as const) {
      const labels = tf.tensor([0, bad], [2], Number.isInteger(bad) ? 'int32' : 'float32');
      assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, labels), fx.FlaxenError, 'label 1 must be an integer in [0, 3)', found);
      assertThrows(() => fx.losses.accuracy(logits, labels), fx.FlaxenError, 'label 1');
      assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0, bad]), fx.FlaxenError, 'label 1', found);
      labels.dispose();
    }
  });
  assert.is(delta, 0, 'nothing leaks on the error paths');
  // Float32 labels holding integers are accepted, with the numbers of int32 labels.
  const a = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, transient(tf.tensor([2, 1])));
  const b = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [2, 1]);
  assert.equal(values(a), values(b));
  tf.dispose([logits, a, b]);
});

test('one class: the loss is 0 with a zero gradient (tf.oneHot refuses a depth of 1)', () => {
  const logits = tf.tensor([[3], [-2]]);
  const loss = fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0, 0]);
  assert.equal(values(loss), [0, 0]);
  const g = tf.grad((z: tf.Tensor) => tf.sum(fx.losses.softmaxCrossEntropyWithIntegerLabels(z, [0, 0])))(logits);
  assert.equal(values(g), [0, 0]);
  tf.dispose([logits, loss, g]);
});

test('bad arguments are FlaxenErrors naming the function and the shapes', () => {
  const logits = tf.zeros([2, 3]);
  assertThrows(() => fx.losses.softmaxCrossEntropy(logits, transient(tf.zeros([2, 4]))), fx.ShapeError, 'softmaxCrossEntropy', '[2, 3]', '[2, 4]');
  assertThrows(() => fx.losses.softmaxCrossEntropy(logits, transient(tf.zeros([2]))), fx.ShapeError, 'softmaxCrossEntropyWithIntegerLabels');
  assertThrows(() => fx.losses.softmaxCrossEntropy([1, 2] as never, logits), fx.FlaxenError, 'logits must be a tensor');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, transient(tf.zeros([3], 'int32'))), fx.ShapeError, '[2]', '[3]');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0, 3]), fx.FlaxenError, 'label 1', '[0, 3)');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0]), fx.ShapeError, '1 JS numbers');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, transient(tf.zeros([2], 'bool'))), fx.FlaxenError, 'int32', 'bool');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(transient(tf.zeros([2, 3], 'int32')), [0, 1]), fx.FlaxenError, 'float32', 'int32');
  assertThrows(() => fx.losses.sigmoidBinaryCrossEntropy(logits, transient(tf.zeros([3, 2]))), fx.ShapeError, '[2, 3]', '[3, 2]');
  logits.dispose();
});

test.run();
