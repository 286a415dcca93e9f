// The relu after a Dense or Conv in a Sequential is fused into that layer (nn/fusion.ts,
// ops/fused-relu.ts): the same outputs and gradient bits as the layers run one by one, the relu
// layer's kernel and its saved copy gone, and a module that does not take the request keeps its relu.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertSameBits, backend, countKernel, stockGradients, tensorDelta, withOwnKernels } from '../setup.js';
import { numbers, t32 } from './layer-helpers.js';

const { Sequential, Dense, Conv, relu, MaxPool, Flatten } = fx.nn;

/** Runs the layers of `net` one by one (no fusion) on `x`, with `net`'s parameters. */
function layerByLayer(layers: readonly fx.nn.Layer[], params: Record<string, unknown>, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    layers.reduce<tf.Tensor>((value, layer, i) => {
      const own = params[`layers_${i}`];
      if (layer instanceof fx.Module) return layer.apply((own === undefined ? {} : { params: own }) as never, value) as tf.Tensor;
      return (layer as (t: tf.Tensor) => tf.Tensor)(value);
    }, x),
  );
}

const models: Array<{ name: string; layers: fx.nn.Layer[]; input: number[] }> = [
  { name: 'MLP', layers: [Dense(16), relu, Dense(8), relu, Dense(3)], input: [6, 10] },
  { name: 'CNN', layers: [Conv(4, [3, 3], { padding: 'SAME' }), relu, MaxPool([2, 2], { strides: 2 }), Conv(5, [3, 3]), relu, Flatten(), Dense(3)], input: [2, 8, 8, 2] },
  { name: 'Dense without bias, then relu', layers: [Dense(7, { useBias: false }), relu, Dense(2)], input: [4, 5] },
];

for (const own of [true, false]) for (const m of models) {
  const path = own ? 'own kernels' : 'tfjs kernels';
  test(`fused relu (${path}): ${m.name} gives the outputs and gradient bits of its layers run one by one`, () => withOwnKernels(own, () => {
    const net = Sequential(m.layers);
    const variables = net.init(fx.random.key(1), m.input);
    const x = t32(numbers(3, m.input.reduce((a, b) => a * b, 1), -1, 1), m.input);
    // inference (no tape): fused; layer by layer: not
    const { result: fused, delta } = tensorDelta(() => net.apply(variables, x) as tf.Tensor);
    assert.is(delta, 1, 'only the output is left');
    const plain = layerByLayer(m.layers, variables.params as Record<string, unknown>, x);
    assert.equal(Array.from(fused.dataSync()), Array.from(plain.dataSync()));
    tf.dispose([fused, plain]);
    // training: fx.valueAndGrad fuses, tf.grads (stock relu gradient) does not
    const loss = (p: typeof variables.params) => tf.sum(tf.square(net.apply({ params: p }, x) as tf.Tensor));
    const before = tf.memory().numTensors;
    const [value, grads] = fx.valueAndGrad(loss)(variables.params);
    const { stock, paths } = stockGradients(loss, variables.params);
    assertSameBits(grads, stock, paths);
    tf.dispose([value, ...stock]);
    fx.tree.dispose(grads);
    assert.is(tf.memory().numTensors, before, 'nothing leaks');
    tf.dispose(x);
    fx.tree.dispose(variables);
  }));
}

test('a fused relu runs no Relu kernel, in inference and in training', () => {
  const net = Sequential([Dense(8), relu, Dense(2)]);
  const variables = net.init(fx.random.key(2), [3, 4]);
  const x = tf.ones([3, 4]);
  const [y, relus] = countKernel('Relu', () => net.apply(variables, x) as tf.Tensor);
  assert.is(relus, 0, 'inference');
  const [[value, grads], trainingRelus] = countKernel('Relu', () => fx.valueAndGrad((p: typeof variables.params) => tf.sum(net.apply({ params: p }, x) as tf.Tensor))(variables.params));
  // (tfjs's fused matMul declines to fuse while a gradient is being taken, so off the own kernels
  // the forward product runs a Relu kernel of its own, untaped)
  if (backend === 'wasm') assert.is(trainingRelus, 0, 'training');
  // a relu that follows anything else (here a function layer) still runs as tfjs's Relu
  const unfused = Sequential([Dense(8), (t: tf.Tensor) => tf.mul(t, 2), relu]);
  const [z, count] = countKernel('Relu', () => unfused.apply(unfused.init(fx.random.key(3), [3, 4]) as never, x) as tf.Tensor);
  assert.is(count, 1);
  tf.dispose([x, y, value, z]);
  fx.tree.dispose([variables, grads]);
});

test("a custom module named like a fusing layer that ignores the request keeps its relu", () => {
  // type 'Dense', but its body never takes the fused-relu request: Sequential applies the relu
  const impostor = fx.nn.module('Dense', (scope, x: tf.Tensor) => {
    const w = scope.param('w', fx.initializers.ones, [x.shape[1]!]);
    return tf.mul(x, w);
  });
  const net = Sequential([impostor, relu]);
  const x = tf.tensor2d([[-1, 2], [3, -4]]);
  const variables = net.init(fx.random.key(0), x);
  const y = net.apply(variables, x) as tf.Tensor;
  assert.equal(Array.from(y.dataSync()), [0, 2, 3, 0]);
  tf.dispose([x, y]);
  fx.tree.dispose(variables);
});

test.run();
