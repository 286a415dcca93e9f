// A relu given to Dense or Conv as their activation option, or following them in a Sequential,
// is fused into the layer (nn/fusion.ts, ops/fused-relu.ts): the same outputs and gradient bits as
// the layers run one by one, the relu layer's kernel and its saved copy gone, and a module that
// does not declare the option keeps its relu.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertSameBits, assertThrows, backend, collectLeaks, countKernel, stockGradients, tensorDelta, withOwnKernels } from '../setup.js';
import { numbers, t32 } from './layer-helpers.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

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
  const start = tf.memory().numTensors;
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
  const unfusedVariables = unfused.init(fx.random.key(3), [3, 4]);
  const [z, count] = countKernel('Relu', () => unfused.apply(unfusedVariables, x) as tf.Tensor);
  assert.is(count, 1);
  fx.tree.dispose([x, y, value, z, variables, grads, unfusedVariables]);
  assert.is(tf.memory().numTensors, start, 'nothing leaks');
});

test("a custom module named like a fusing layer that ignores the request keeps its relu", () => {
  // type 'Dense', but it declares no activation option: Sequential applies the relu
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

/** A custom module with two Dense layers, the first with the activation option. */
function twoLayers(activation: (x: tf.Tensor) => tf.Tensor) {
  return fx.nn.module('TwoLayers', (scope, x: tf.Tensor) => {
    const h = scope.call(Dense(6, { activation, name: 'hidden' }), x);
    return scope.call(Dense(2, { name: 'out' }), h);
  });
}

for (const own of [true, false]) {
  const path = own ? 'own kernels' : 'tfjs kernels';
  test(`Dense(n, { activation: relu }) fuses in a custom module (${path}): the bits of Dense then relu, no Relu kernel`, () => withOwnKernels(own, () => {
    const start = tf.memory().numTensors;
    const fusedNet = twoLayers(relu);
    const x = t32(numbers(4, 5 * 3, -1, 1), [5, 3]);
    const variables = fusedNet.init(fx.random.key(7), x);
    const p = variables.params as { hidden: { kernel: tf.Tensor; bias: tf.Tensor }; out: { kernel: tf.Tensor; bias: tf.Tensor } };
    // the reference: each Dense without the option, the relu as its own op
    const plain = (q: typeof p) => Dense(2).apply({ params: q.out }, relu(Dense(6).apply({ params: q.hidden }, x))) as tf.Tensor;
    const [y, relus] = countKernel('Relu', () => fusedNet.apply(variables, x) as tf.Tensor);
    if (own && backend === 'wasm') assert.is(relus, 0, 'the relu runs inside the product');
    const want = tf.tidy(() => plain(p));
    assert.equal(Array.from(y.dataSync()), Array.from(want.dataSync()));
    const loss = (q: typeof p) => tf.sum(tf.square(fusedNet.apply({ params: q }, x) as tf.Tensor));
    const before = tf.memory().numTensors;
    const [value, grads] = fx.valueAndGrad(loss)(p);
    const { stock, paths } = stockGradients((q: typeof p) => tf.sum(tf.square(plain(q))), p);
    assertSameBits(grads, stock, paths);
    tf.dispose([value, ...stock]);
    fx.tree.dispose(grads);
    assert.is(tf.memory().numTensors, before, 'nothing leaks');
    fx.tree.dispose([x, y, want, variables]);
    assert.is(tf.memory().numTensors, start, 'nothing leaks');
  }));
}

test('Conv(..., { activation: relu }) gives the bits of Conv then relu', () => {
  const start = tf.memory().numTensors;
  const x = t32(numbers(5, 2 * 6 * 6 * 2, -1, 1), [2, 6, 6, 2]);
  const conv = Conv(3, [3, 3], { activation: relu });
  const variables = conv.init(fx.random.key(8), x);
  const [y, relus] = countKernel('Relu', () => conv.apply(variables, x) as tf.Tensor);
  if (backend === 'wasm') assert.is(relus, 0);
  const want = tf.tidy(() => relu(Conv(3, [3, 3]).apply(variables, x)));
  assert.equal(Array.from(y.dataSync()), Array.from(want.dataSync()));
  fx.tree.dispose([x, y, want, variables]);
  assert.is(tf.memory().numTensors, start, 'nothing leaks');
});

test('another activation is applied after the layer, in inference and under shape inference', () => {
  const x = t32(numbers(6, 4 * 3, -2, 2), [4, 3]);
  for (const [layer, plain] of [[Dense(5, { activation: tf.tanh }), Dense(5)], [Conv(2, [2], { activation: fx.nn.sigmoid }), Conv(2, [2])]] as const) {
    const input = layer.type === 'Conv' ? tf.reshape(x, [4, 3, 1]) : x;
    const variables = layer.init(fx.random.key(9), input.shape);
    const before = tf.memory().numTensors;
    const y = layer.apply(variables, input) as tf.Tensor;
    assert.is(tf.memory().numTensors, before + 1, 'only the output is left');
    const base = plain.apply(variables, input) as tf.Tensor;
    const want = layer.type === 'Conv' ? tf.sigmoid(base) : tf.tanh(base);
    assert.equal(Array.from(y.dataSync()), Array.from(want.dataSync()), layer.type);
    assert.equal(layer.initShapes(fx.random.key(9), [...input.shape]).params, plain.initShapes(fx.random.key(9), [...input.shape]).params, 'the same parameters');
    tf.dispose([y, base, want]);
    if (input !== x) input.dispose();
    fx.tree.dispose(variables);
  }
  x.dispose();
});

test('a layer that has its activation already keeps the relu after it in a Sequential', () => {
  const net = Sequential([Dense(4, { activation: fx.nn.sigmoid }), relu, Dense(2)]);
  const x = t32(numbers(10, 3 * 3, -1, 1), [3, 3]);
  const variables = net.init(fx.random.key(11), x);
  const y = net.apply(variables, x) as tf.Tensor;
  const want = layerByLayer([Dense(4, { activation: fx.nn.sigmoid }), relu, Dense(2)], variables.params as Record<string, unknown>, x);
  assert.equal(Array.from(y.dataSync()), Array.from(want.dataSync()));
  tf.dispose([x, y, want]);
  fx.tree.dispose(variables);
});

test('the activation option: describe shows it; anything but a function is a FlaxenError', () => {
  assert.is(Dense(3, { activation: relu }).describe(), 'Dense(-1 -> 3, relu)');
  assert.is(Conv(3, [3, 3], { activation: relu }).describe(), 'Conv(-1 -> 3, kernel [3, 3], relu)');
  assert.is(Dense(3).describe(), 'Dense(-1 -> 3)');
  assertThrows(() => Dense(3, { activation: 'relu' as never }), fx.FlaxenError, 'Dense', "option 'activation' must be a function", 'the string "relu"');
  assertThrows(() => Conv(3, [3], { activation: 1 as never }), fx.FlaxenError, 'Conv', "option 'activation' must be a function");
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
