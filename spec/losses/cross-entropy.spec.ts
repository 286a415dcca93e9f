import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, values } from '../setup.js';

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

test('bad arguments are FlaxenErrors naming the function and the shapes', () => {
  const logits = tf.zeros([2, 3]);
  assertThrows(() => fx.losses.softmaxCrossEntropy(logits, tf.zeros([2, 4])), fx.ShapeError, 'softmaxCrossEntropy', '[2, 3]', '[2, 4]');
  assertThrows(() => fx.losses.softmaxCrossEntropy(logits, tf.zeros([2])), fx.ShapeError, 'softmaxCrossEntropyWithIntegerLabels');
  assertThrows(() => fx.losses.softmaxCrossEntropy([1, 2] as never, logits), fx.FlaxenError, 'logits must be a tensor');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, tf.zeros([3], 'int32')), fx.ShapeError, '[2]', '[3]');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0, 3]), fx.FlaxenError, 'label 1', '[0, 3)');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0]), fx.ShapeError, '1 JS numbers');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, tf.zeros([2], 'bool')), fx.FlaxenError, 'int32', 'bool');
  assertThrows(() => fx.losses.softmaxCrossEntropyWithIntegerLabels(tf.zeros([2, 3], 'int32'), [0, 1]), fx.FlaxenError, 'float32', 'int32');
  assertThrows(() => fx.losses.sigmoidBinaryCrossEntropy(logits, tf.zeros([3, 2])), fx.ShapeError, '[2, 3]', '[3, 2]');
  logits.dispose();
});

test.run();
