// Dense (lib/nn/dense.ts): y = x·kernel + bias over the last axis, checked against a float64 loop;
// its options, its shape errors and its description. (The activation option: spec/nn/fusion.spec.ts.)
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, collectLeaks, tensorDelta } from '../setup.js';
import { numbers, t32 } from './layer-helpers.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

const { Dense } = fx.nn;

/** x·kernel + bias in float64, row by row. */
function reference(x: Float64Array, rows: number, inF: number, kernel: Float32Array, outF: number, bias?: Float32Array): number[] {
  const y: number[] = [];
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias[o]! : 0;
      for (let i = 0; i < inF; i++) s += Math.fround(x[r * inF + i]!) * kernel[i * outF + o]!;
      y.push(s);
    }
  return y;
}

test('Dense computes x·kernel + bias (a float64 loop agrees), with the kernel sized from the input', () => {
  const layer = Dense(4);
  const xs = numbers(1, 3 * 5);
  const x = t32(xs, [3, 5]);
  const variables = layer.init(fx.random.key(0), x);
  assert.equal(variables.params.kernel.shape, [5, 4]);
  assert.equal(variables.params.bias.shape, [4]);
  const biased = { params: { kernel: variables.params.kernel, bias: tf.tensor([0.5, -1, 2, 0]) } };
  const { result: y, delta } = tensorDelta(() => layer.apply(biased, x));
  assert.is(delta, 1, 'only the output is left');
  assertClose(y.dataSync(), reference(xs, 3, 5, variables.params.kernel.dataSync() as Float32Array, 4, Float32Array.from([0.5, -1, 2, 0])), 1e-5, 1e-5);
  tf.dispose([x, y, biased.params.bias]);
  fx.tree.dispose(variables);
});

test('useBias: false has no bias; kernelInit and biasInit are used', () => {
  const noBias = Dense(2, { useBias: false, kernelInit: fx.initializers.ones });
  const variables = noBias.init(fx.random.key(0), [1, 3]);
  assert.equal(Object.keys(variables.params), ['kernel']);
  const x = tf.tensor2d([[1, 2, 3]]);
  const y = noBias.apply(variables, x);
  assert.equal(Array.from(y.dataSync()), [6, 6]);
  const withBias = Dense(2, { biasInit: fx.initializers.ones });
  const v2 = withBias.init(fx.random.key(0), [1, 3]);
  assert.equal(Array.from(v2.params.bias.dataSync()), [1, 1]);
  fx.tree.dispose([x, y, variables, v2]);
});

test('an input of rank 3 is multiplied over its last axis', () => {
  const layer = Dense(3);
  const x = t32(numbers(2, 2 * 4 * 5), [2, 4, 5]);
  const variables = layer.init(fx.random.key(1), x);
  const y = layer.apply(variables, x);
  assert.equal(y.shape, [2, 4, 3]);
  const x2 = tf.reshape(x, [8, 5]) as tf.Tensor2D;
  const flat = layer.apply(variables, x2);
  assert.equal(Array.from(y.dataSync()), Array.from(flat.dataSync()));
  tf.dispose([x, x2, y, flat]);
  fx.tree.dispose(variables);
});

test('inFeatures fixes the input size: another size is a ShapeError naming the sizes', () => {
  const layer = Dense(2, { inFeatures: 3 });
  assertThrows(() => layer.init(fx.random.key(0), [1, 4]), fx.ShapeError, 'inFeatures 3', '4 features');
  const variables = layer.init(fx.random.key(0), [1, 3]);
  const wrong = tf.zeros([1, 5]);
  assertThrows(() => layer.apply(variables, wrong), fx.FlaxenError);
  fx.tree.dispose([variables, wrong]);
});

test('bad arguments are FlaxenErrors; describe shows the sizes', () => {
  assertThrows(() => Dense(0), fx.FlaxenError, 'Dense');
  assertThrows(() => Dense(2.5), fx.FlaxenError, 'Dense');
  assertThrows(() => Dense(2, { bias: true } as never), fx.FlaxenError, 'bias');
  assert.is(Dense(7).describe(), 'Dense(-1 -> 7)');
  const layer = Dense(7, { useBias: false });
  const variables = layer.init(fx.random.key(0), [1, 3]);
  assert.is(layer.describe(variables), 'Dense(3 -> 7, no bias)');
  fx.tree.dispose(variables);
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
