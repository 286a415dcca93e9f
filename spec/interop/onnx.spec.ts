// fx.interop.toOnnx, checked in ONNX Runtime itself (onnxruntime-web's wasm backend, in this
// process): for each model, one session, run at batch sizes 1, 3 and 8, whose outputs must be
// flaxen's within 1e-5. Variables are drawn at random (scales, biases and running statistics
// included), so no part of a layer is checked on ones and zeros only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-web';
import * as fx from '../../lib/index.js';
import { decodeModel } from '../../lib/interop/onnx-proto.js';
import { assertClose, assertThrows } from '../setup.js';

ort.env.wasm.numThreads = 1;

type Spec = fx.interop.OnnxInput;
const BATCHES = [1, 3, 8];

/**
 * Every leaf moved by random amounts (init's scale kept; variances positive), so that scales,
 * biases and running statistics are not ones and zeros.
 */
function randomize(variables: fx.Variables, seed: number): fx.Variables {
  let n = 0;
  const entries = fx.tree.flatten<tf.Tensor>(variables).map(([path, t]) => {
    const key = fx.random.key(seed * 1000 + n++);
    const value = tf.tidy(() => {
      const drawn = fx.random.normal(key, [...t.shape]);
      return path.endsWith('/var') ? tf.add(tf.mul(tf.abs(drawn), 0.5), 0.5) : tf.add(t, tf.mul(drawn, 0.1));
    });
    return [path, value] as [string, tf.Tensor];
  });
  fx.tree.dispose(variables);
  return fx.tree.unflatten(entries) as fx.Variables;
}

function shapeOf(spec: Spec): readonly number[] {
  return Array.isArray(spec) ? spec : (spec as { shape: readonly number[] }).shape;
}

/** An input at batch `batch`: normal floats, token ids below `vocab`, or a causal bool mask. */
function makeInput(spec: Spec, batch: number, seed: number, vocab: number): tf.Tensor {
  const shape = [batch, ...shapeOf(spec).slice(1)];
  const dtype = Array.isArray(spec) ? 'float32' : (spec as { dtype: string }).dtype;
  if (dtype === 'int32') return tf.tidy(() => tf.cast(tf.floor(tf.mul(fx.random.uniform(fx.random.key(seed), shape), vocab)), 'int32'));
  if (dtype === 'bool') return tf.tidy(() => tf.greater(fx.random.uniform(fx.random.key(seed), shape), 0.3));
  return fx.random.normal(fx.random.key(seed), shape);
}

function toOrt(t: tf.Tensor): ort.Tensor {
  if (t.dtype === 'int32') return new ort.Tensor('int32', t.dataSync() as Int32Array, t.shape);
  if (t.dtype === 'bool') return new ort.Tensor('bool', Uint8Array.from(t.dataSync()), t.shape);
  return new ort.Tensor('float32', t.dataSync() as Float32Array, t.shape);
}

/** Exports `model`, opens one ORT session, and compares outputs at every batch size. */
async function agreeInOrt(name: string, model: fx.Module<any, any, any>, specs: Spec[], opts: { vocab?: number; seed?: number } = {}): Promise<Uint8Array> {
  const seed = opts.seed ?? 1;
  const examples = specs.map((s) => (Array.isArray(s) ? [...s] : new fx.ShapeDtype([...shapeOf(s)], (s as { dtype: tf.DataType }).dtype)));
  const variables = randomize((model.init as (k: fx.random.Key, ...a: unknown[]) => fx.Variables)(fx.random.key(seed), ...examples), seed);
  const before = tf.memory().numTensors;
  const bytes = fx.interop.toOnnx(model, variables, ...specs);
  assert.is(tf.memory().numTensors, before, `${name}: toOnnx left tensors behind`);
  const session = await ort.InferenceSession.create(bytes);
  try {
    for (const batch of BATCHES) {
      const inputs = specs.map((s, i) => makeInput(s, batch, seed * 100 + batch * 10 + i, opts.vocab ?? 1));
      const feeds: Record<string, ort.Tensor> = {};
      inputs.forEach((t, i) => (feeds[specs.length === 1 ? 'input' : `input_${i}`] = toOrt(t)));
      const out = await session.run(feeds);
      const y = (model.apply as (v: unknown, ...a: unknown[]) => tf.Tensor)(variables, ...inputs);
      const got = out['output']!;
      assert.equal([...got.dims], y.shape, `${name} at batch ${batch}: shape`);
      assertClose(got.data as Float32Array, y.dataSync(), 1e-5, 1e-5, `${name} at batch ${batch}`);
      y.dispose();
      for (const t of inputs) t.dispose();
    }
  } finally {
    await session.release();
    fx.tree.dispose(variables);
  }
  return bytes;
}

const nn = fx.nn;

test('Dense, with and without bias, and a Dense with a fused activation', async () => {
  await agreeInOrt('Dense', nn.Dense(5), [[1, 7]]);
  await agreeInOrt('Dense no bias, gelu', nn.Dense(4, { useBias: false, activation: nn.gelu }), [[1, 6]]);
  await agreeInOrt('Dense on [batch, length, features]', nn.Dense(3, { activation: nn.relu }), [[1, 4, 6]]);
});

test('an MLP with every activation, in a Sequential (relu fused into the Dense before it)', async () => {
  const mlp = nn.Sequential([nn.Dense(16), nn.relu, nn.Dense(16), nn.gelu, nn.Dense(12), nn.sigmoid, nn.Dense(12), nn.tanh, nn.Dense(10), nn.silu, nn.Dense(8), nn.softmax, nn.Dense(6), nn.logSoftmax]);
  await agreeInOrt('MLP', mlp, [[1, 9]]);
});

test('Conv: SAME, VALID and explicit padding, strides, kernel dilation, groups, depthwise, 1-D', async () => {
  await agreeInOrt('Conv SAME', nn.Conv(6, [3, 3]), [[1, 7, 7, 3]]);
  await agreeInOrt('Conv VALID stride 2', nn.Conv(4, [3, 3], { padding: 'VALID', strides: 2 }), [[1, 9, 8, 3]]);
  await agreeInOrt('Conv SAME stride 2 (odd pixel after)', nn.Conv(4, [4, 3], { strides: [2, 3] }), [[1, 8, 10, 2]]);
  await agreeInOrt('Conv explicit padding, dilation', nn.Conv(5, [3, 3], { padding: [[2, 1], [0, 3]], kernelDilation: 2, useBias: false }), [[1, 8, 8, 2]]);
  await agreeInOrt('Conv groups', nn.Conv(8, [3, 3], { featureGroupCount: 2, activation: nn.relu }), [[1, 6, 6, 4]]);
  await agreeInOrt('Conv depthwise', nn.Conv(8, [3, 3], { featureGroupCount: 4 }), [[1, 6, 6, 4]]);
  await agreeInOrt('Conv 1-D causal', nn.Conv(3, 3, { padding: 'CAUSAL' }), [[1, 10, 2]]);
});

test('pools: MaxPool and AvgPool (VALID, SAME, strides, countIncludePad), GlobalAvgPool, Flatten', async () => {
  await agreeInOrt('MaxPool VALID', nn.MaxPool([2, 2], { strides: [2, 2] }), [[1, 6, 6, 3]]);
  await agreeInOrt('MaxPool SAME', nn.MaxPool([3, 3], { strides: 2, padding: 'SAME' }), [[1, 7, 6, 2]]);
  await agreeInOrt('AvgPool VALID', nn.AvgPool([2, 3], { strides: [1, 2] }), [[1, 6, 7, 3]]);
  await agreeInOrt('AvgPool SAME, countIncludePad false', nn.AvgPool([3, 3], { padding: 'SAME', countIncludePad: false }), [[1, 5, 5, 2]]);
  await agreeInOrt('AvgPool SAME, countIncludePad true', nn.AvgPool([3, 3], { padding: 'SAME' }), [[1, 5, 5, 2]]);
  await agreeInOrt('GlobalAvgPool', nn.GlobalAvgPool(), [[1, 5, 4, 3]]);
  await agreeInOrt('Flatten then Dense', nn.Sequential([nn.Flatten(), nn.Dense(4)]), [[1, 3, 4, 2]]);
});

test('normalization: BatchNorm in eval mode, LayerNorm, GroupNorm, RMSNorm', async () => {
  await agreeInOrt('BatchNorm', nn.BatchNorm(), [[1, 4, 4, 6]]);
  await agreeInOrt('BatchNorm on features', nn.BatchNorm({ epsilon: 1e-3 }), [[1, 5]]);
  await agreeInOrt('LayerNorm', nn.LayerNorm(), [[1, 6, 10]]);
  await agreeInOrt('GroupNorm', nn.GroupNorm(4), [[1, 3, 3, 8]]);
  await agreeInOrt('RMSNorm', nn.RMSNorm({ epsilon: 1e-5 }), [[1, 4, 12]]);
});

test('Embed on int32 token ids, and Dropout (off in inference)', async () => {
  await agreeInOrt('Embed', nn.Sequential([nn.Embed(11, 6), nn.Dropout(0.5), nn.LayerNorm()]), [{ shape: [1, 7], dtype: 'int32' }], { vocab: 11 });
});

test('attention: SelfAttention, and MultiHeadDotProductAttention on queries, keys and a bool mask', async () => {
  await agreeInOrt('SelfAttention', nn.SelfAttention({ numHeads: 2 }), [[1, 5, 8]]);
  await agreeInOrt('MultiHeadDotProductAttention', nn.MultiHeadDotProductAttention({ numHeads: 3, qkvFeatures: 6 }), [[1, 4, 5], [1, 6, 5], { shape: [1, 1, 4, 6], dtype: 'bool' }]);
});

test('a CNN: Conv, BatchNorm, relu, MaxPool, grouped Conv, Flatten, Dense', async () => {
  const cnn = nn.Sequential([
    nn.Conv(8, [3, 3]),
    nn.BatchNorm(),
    nn.relu,
    nn.MaxPool([2, 2], { strides: [2, 2] }),
    nn.Conv(12, [3, 3], { strides: 2, padding: [[1, 1], [1, 1]], featureGroupCount: 4 }),
    nn.relu,
    nn.Flatten(),
    nn.Dense(10),
    nn.logSoftmax,
  ]);
  const bytes = await agreeInOrt('CNN', cnn, [[1, 12, 12, 3]]);
  const model = decodeModel(bytes) as any;
  assert.equal(model.opsetImport, [{ version: 13 }]);
  assert.equal(model.graph.input[0].type.tensorType.shape.dim, [{ dimParam: 'batch' }, { dimValue: 12 }, { dimValue: 12 }, { dimValue: 3 }]);
  assert.equal(model.graph.output[0].type.tensorType.shape.dim, [{ dimParam: 'batch' }, { dimValue: 10 }]);
  const names = model.graph.initializer.map((t: { name: string }) => t.name);
  for (const name of ['params/layers_0/kernel', 'params/layers_0/bias', 'batch_stats/layers_1/mean', 'params/layers_7/kernel']) assert.ok(names.includes(name), `initializer ${name} in ${names}`);
  const ops = new Set(model.graph.node.map((n: { opType: string }) => n.opType));
  for (const op of ['Conv', 'MaxPool', 'Relu', 'MatMul', 'Reshape']) assert.ok(ops.has(op), `an ${op} node`);
});

test('a transformer-ish custom module: LayerNorm, causal SelfAttention, residuals, a gelu MLP', async () => {
  const block = nn.module('Block', (scope, x: tf.Tensor) => {
    const attended = scope.call(nn.SelfAttention({ numHeads: 2 }), scope.call(nn.LayerNorm(), x), nn.causalMask(x.shape[1]!));
    const h = tf.add(x, attended);
    const hidden = nn.gelu(scope.call(nn.Dense(32), scope.call(nn.LayerNorm(), h)));
    return tf.add(h, scope.call(nn.Dense(8), hidden));
  });
  await agreeInOrt('Block', nn.Sequential([block, block, nn.Dense(5)]), [[1, 6, 8]]);
});

test('ConvTranspose, and recurrent layers (LSTM, GRU, simple cell) unrolled over their fixed length', async () => {
  await agreeInOrt('ConvTranspose', nn.ConvTranspose(3, [3, 3], { strides: 2 }), [[1, 4, 5, 2]]);
  await agreeInOrt('LSTM', nn.Sequential([nn.Dense(4), nn.RNN(nn.LSTMCell(3))]), [[1, 5, 2]]);
  await agreeInOrt('GRU', nn.RNN(nn.GRUCell(4)), [[1, 3, 2]]);
  await agreeInOrt('SimpleCell', nn.RNN(nn.SimpleCell(4)), [[1, 4, 3]]);
});

test('a custom module that makes zeros of the batch size exports them expanded to the input’s batch size', async () => {
  const padded = nn.module('Padded', (scope, x: tf.Tensor) => tf.concat([scope.call(nn.Dense(3), x), tf.zeros([x.shape[0]!, 2])], 1));
  const bytes = await agreeInOrt('Padded', padded, [[1, 4]]);
  const ops = (decodeModel(bytes) as any).graph.node.map((n: { opType: string }) => n.opType);
  assert.ok(ops.includes('Expand'), `ops ${ops}`);
});

test('what cannot be exported is refused with an OnnxExportError naming the module', () => {
  const refused = (layer: fx.Module<any, any, any>, ...fragments: string[]) => {
    const net = nn.Sequential([nn.Dense(2), layer]);
    const variables = net.init(fx.random.key(0), [1, 3]);
    const before = tf.memory().numTensors;
    assertThrows(() => fx.interop.toOnnx(net, variables, [1, 3]), fx.interop.OnnxExportError, ...fragments);
    assert.is(tf.memory().numTensors, before, 'nothing left behind');
    fx.tree.dispose(variables);
  };
  // A constant that follows the batch size with different values in each row.
  refused(nn.module('Counter', (scope, x: tf.Tensor) => tf.concat([x, tf.reshape(tf.range(0, x.shape[0]!), [-1, 1])], 1)), 'layers_1: ', 'depends on the batch size');
  // A value read out of tfjs (dataSync) is a constant to ONNX, which cannot follow it.
  refused(nn.module('Peek', (scope, x: tf.Tensor) => tf.mul(x, tf.scalar(x.dataSync()[0]!))), 'layers_1: ', "from the input's values");
  // A kernel with no translation.
  refused(nn.module('Top', (scope, x: tf.Tensor) => tf.topk(x, 1).values), "layers_1: toOnnx cannot export the tfjs kernel 'TopK'");
});

test('bad arguments are FlaxenErrors that say what was expected', () => {
  const net = nn.Dense(2);
  const vars = net.init(fx.random.key(0), [1, 3]);
  assertThrows(() => fx.interop.toOnnx(net, vars), fx.FlaxenError, 'needs the shape of each input');
  assertThrows(() => fx.interop.toOnnx(net, vars, [0, 3]), fx.FlaxenError, 'input 0 must be a shape of positive integers');
  assertThrows(() => fx.interop.toOnnx(net, vars, { shape: [1, 3], dtype: 'float16' } as never), fx.FlaxenError, 'dtype float32, int32 or bool');
  assertThrows(() => fx.interop.toOnnx({} as never, vars, [1, 3]), fx.FlaxenError, 'model must be a flaxen module');
  fx.tree.dispose(vars);
});

test.run();
