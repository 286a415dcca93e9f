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
import { ONNX_CASES, OnnxCase, initCase } from './onnx-models.js';

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
  const variables = randomize(initCase({ name, model, inputs: specs }, seed), seed);
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
const run = async (cases: readonly OnnxCase[]) => {
  for (const c of cases) await agreeInOrt(c.name, c.model, c.inputs, { vocab: c.vocab });
};
const attributeOf = (node: any, name: string) => node.attribute.find((a: { name: string }) => a.name === name);

test('Dense, with and without bias, and a Dense with a fused activation', () => run(ONNX_CASES.dense));
test('an MLP with every activation, in a Sequential (relu fused into the Dense before it)', () => run(ONNX_CASES.mlp));
test('Conv: SAME, VALID and explicit padding, strides, kernel dilation, depthwise, 1-D', () => run(ONNX_CASES.conv));

test('grouped Conv: one ONNX Conv with group, whose weight is the kernel [kh, kw, in/groups, out] itself', async () => {
  for (const c of ONNX_CASES.grouped) {
    const bytes = await agreeInOrt(c.name, c.model, c.inputs);
    const graph = (decodeModel(bytes) as any).graph;
    const convs = graph.node.filter((n: { opType: string }) => n.opType === 'Conv');
    assert.is(convs.length, 1, `${c.name}: one Conv`);
    const kernel = graph.initializer.find((t: { name: string }) => t.name === 'params/kernel');
    const shape = (c.model.initShapes(fx.random.key(0), c.inputs[0] as number[]) as any).params.kernel.shape as number[];
    const inChannels = (c.inputs[0] as number[]).at(-1)!;
    assert.equal(kernel.dims.map(Number), shape, `${c.name}: the initializer is the kernel, not its block-diagonal spread`);
    assert.is(Number(attributeOf(convs[0], 'group').i), inChannels / shape.at(-2)!, `${c.name}: group`);
    // No block-diagonal copy: the only float initializers are the variables.
    const floats = graph.initializer.filter((t: { dataType: number }) => t.dataType === 1).map((t: { name: string }) => t.name);
    assert.equal(floats.sort(), Object.keys((c.model.initShapes(fx.random.key(0), c.inputs[0] as number[]) as any).params).map((k) => `params/${k}`).sort(), c.name);
  }
});

test('pools: MaxPool and AvgPool (VALID, SAME, strides, countIncludePad), GlobalAvgPool, Flatten', () => run(ONNX_CASES.pools));
test('normalization: BatchNorm in eval mode, LayerNorm, GroupNorm, RMSNorm', () => run(ONNX_CASES.norms));
test('Embed on int32 token ids, and Dropout (off in inference)', () => run(ONNX_CASES.embed));
test('attention: SelfAttention, and MultiHeadDotProductAttention on queries, keys and a bool mask', () => run(ONNX_CASES.attention));

test('a CNN: Conv, BatchNorm, relu, MaxPool, grouped Conv, Flatten, Dense', async () => {
  const [cnn] = ONNX_CASES.cnn;
  const bytes = await agreeInOrt(cnn.name, cnn.model, cnn.inputs);
  const model = decodeModel(bytes) as any;
  assert.equal(model.opsetImport, [{ version: 13 }]);
  assert.equal(model.graph.input[0].type.tensorType.shape.dim, [{ dimParam: 'batch' }, { dimValue: 12 }, { dimValue: 12 }, { dimValue: 3 }]);
  assert.equal(model.graph.output[0].type.tensorType.shape.dim, [{ dimParam: 'batch' }, { dimValue: 10 }]);
  const names = model.graph.initializer.map((t: { name: string }) => t.name);
  for (const name of ['params/layers_0/kernel', 'params/layers_0/bias', 'batch_stats/layers_1/mean', 'params/layers_4/kernel', 'params/layers_7/kernel']) assert.ok(names.includes(name), `initializer ${name} in ${names}`);
  const ops = new Set(model.graph.node.map((n: { opType: string }) => n.opType));
  for (const op of ['Conv', 'MaxPool', 'Relu', 'MatMul', 'Reshape']) assert.ok(ops.has(op), `an ${op} node`);
  const groups = model.graph.node.filter((n: { opType: string }) => n.opType === 'Conv').map((n: unknown) => Number(attributeOf(n, 'group').i));
  assert.equal(groups, [1, 4]);
});

test('a transformer-ish custom module: LayerNorm, causal SelfAttention, residuals, a gelu MLP', () => run(ONNX_CASES.transformer));
test('ConvTranspose, and recurrent layers (LSTM, GRU, simple cell) unrolled over their fixed length', () => run(ONNX_CASES.transposedAndRecurrent));

test('a custom module that makes zeros of the batch size exports them expanded to the input’s batch size', async () => {
  const [padded] = ONNX_CASES.expanded;
  const bytes = await agreeInOrt(padded.name, padded.model, padded.inputs);
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
