// PyTorch state_dicts to and from flaxen: the fixtures in spec/fixtures/torch_twins/ were written
// by spec/fixtures/torch_twins.py (PyTorch's own models, weights and eval-mode outputs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, transient } from '../setup.js';
import { TWINS } from './twins.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../spec/fixtures/torch_twins/${name}`, import.meta.url));
const NAMES = ['mlp', 'cnn', 'embed_norm', 'lstm', 'gru', 'rnn', 'deconv', 'deconv1d'] as const;

async function loadTwin(name: (typeof NAMES)[number]) {
  const stateDict = await fx.checkpoint.loadTensors(fixture(`${name}.safetensors`));
  const io = await fx.checkpoint.loadTensors(fixture(`${name}.io.safetensors`));
  return { stateDict, input: io['input']!, output: io['output']!, twin: TWINS[name] };
}

for (const name of NAMES) {
  test(`the PyTorch ${name} loads into its flaxen twin, which gives PyTorch's outputs`, async () => {
    const { stateDict, input, output, twin } = await loadTwin(name);
    const target = twin.model.initShapes(fx.random.key(0), twin.initShape);
    const before = tf.memory().numTensors;
    const variables = fx.interop.fromTorch(stateDict, target, twin.opts);
    assert.is(tf.memory().numTensors - before, fx.tree.leaves(variables).length, 'one new tensor per leaf');
    assert.ok(Object.isFrozen(variables));
    const y = twin.model.apply(variables, input) as tf.Tensor;
    assert.equal(y.shape, output.shape);
    assertClose(y.dataSync(), output.dataSync(), 1e-5, 1e-5, name);
    y.dispose();
    fx.tree.dispose(variables);
    fx.tree.dispose(stateDict);
    input.dispose();
    output.dispose();
  });
}

test('toTorch gives exactly the names, shapes and dtypes of the PyTorch state_dict', async () => {
  for (const name of NAMES) {
    const { stateDict, input, output, twin } = await loadTwin(name);
    const variables = twin.model.init(fx.random.key(1), twin.initShape);
    const { result: exported, delta } = tensorDelta(() => fx.interop.toTorch(variables, twin.opts));
    assert.is(delta, Object.keys(exported).length);
    assert.equal(Object.keys(exported).sort(), Object.keys(stateDict).sort(), name);
    for (const key of Object.keys(stateDict)) {
      assert.equal(exported[key]!.shape, stateDict[key]!.shape, `${name} ${key}`);
      assert.is(exported[key]!.dtype, stateDict[key]!.dtype, `${name} ${key}`);
    }
    for (const t of [input, output, ...fx.tree.leaves(variables), ...Object.values(exported), ...Object.values(stateDict)]) t.dispose();
  }
});

test('fromTorch(toTorch(variables)) gives the same variables bit for bit', () => {
  for (const name of NAMES) {
    const twin = TWINS[name];
    const variables = twin.model.init(fx.random.key(2), twin.initShape);
    const exported = fx.interop.toTorch(variables, twin.opts);
    const back = fx.interop.fromTorch(exported, variables, twin.opts);
    const a = fx.tree.flatten<tf.Tensor>(variables);
    const b = fx.tree.flatten<tf.Tensor>(back);
    assert.equal(b.map(([p]) => p), a.map(([p]) => p));
    a.forEach(([path, t], i) => assert.equal(Array.from(b[i]![1].dataSync()), Array.from(t.dataSync()), `${name} ${path}`));
    for (const t of [...fx.tree.leaves(variables), ...fx.tree.leaves(back), ...Object.values(exported)]) t.dispose();
  }
});

test('a Dense after a flatten needs flattenedFrom: without it the channel order is PyTorch’s, and the outputs differ', async () => {
  const { stateDict, input, output, twin } = await loadTwin('cnn');
  const target = twin.model.initShapes(fx.random.key(0), twin.initShape);
  const plain = fx.interop.fromTorch(stateDict, target);
  const y = twin.model.apply(plain, input) as tf.Tensor;
  const gap = Math.max(...Array.from(transient(tf.tidy(() => tf.abs(tf.sub(y, output)))).dataSync()));
  assert.ok(gap > 1e-2, `outputs should differ without flattenedFrom, max gap ${gap}`);
  // The kernel rows are the same numbers, permuted from CHW to HWC order.
  const fixed = fx.interop.fromTorch(stateDict, target, twin.opts);
  const rows = (v: unknown) => (v as any).params.layers_7.kernel as tf.Tensor;
  assert.equal([...rows(fixed).dataSync()].sort(), [...rows(plain).dataSync()].sort());
  // flaxen row (h, w, c) is PyTorch column (c, h, w): row 1 is (0, 0, 1), PyTorch column 4.
  assert.equal(Array.from(transient(tf.slice(rows(fixed), [1, 0], [1, 5])).dataSync()), Array.from(transient(tf.slice(rows(plain), [4, 0], [1, 5])).dataSync()));
  for (const t of [y, input, output, ...fx.tree.leaves(plain), ...fx.tree.leaves(fixed), ...Object.values(stateDict)]) t.dispose();
});

test('every mismatch is reported at once, by PyTorch name and flaxen path, with both shapes', async () => {
  const { stateDict, input, output, twin } = await loadTwin('cnn');
  const target = twin.model.initShapes(fx.random.key(0), twin.initShape);
  const broken: Record<string, tf.Tensor> = { ...stateDict, '0.weight': tf.zeros([8, 3, 5, 5]), '9.weight': tf.zeros([2]) };
  delete broken['7.bias'];
  const before = tf.memory().numTensors;
  const error = assertThrows(
    () => fx.interop.fromTorch(broken, target, twin.opts),
    fx.interop.TorchMismatchError,
    'shape of 0.weight (for params/layers_0/kernel): the target expects [8, 3, 3, 3], the state_dict has [8, 3, 5, 5]',
    'missing 7.bias (for params/layers_7/bias: the target expects float32[5])',
    'unexpected 9.weight (float32[2]',
  ) as fx.interop.TorchMismatchError;
  assert.is(error.problems.length, 3);
  assert.is(tf.memory().numTensors, before, 'nothing allocated');
  for (const t of [input, output, broken['0.weight']!, broken['9.weight']!, ...Object.values(stateDict)]) t.dispose();
});

test('toTorch adds num_batches_tracked, which saveTensors writes as I64 and fromTorch ignores', async () => {
  const twin = TWINS.cnn;
  const variables = twin.model.init(fx.random.key(3), twin.initShape);
  const exported = fx.interop.toTorch(variables, twin.opts);
  const count = exported['1.num_batches_tracked']!;
  assert.is(count.dtype, 'int32');
  assert.equal(count.shape, []);
  const info = fx.checkpoint.readInfo(fx.checkpoint.tensorsToBytes(exported));
  const dtypes = Object.fromEntries(info.tensors.map((t) => [t.path, t.dtype]));
  assert.is(dtypes['1.num_batches_tracked'], 'I64');
  assert.is(dtypes['1.running_mean'], 'F32');
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-torch-'));
  try {
    await fx.checkpoint.saveTensors(join(dir, 'cnn.safetensors'), exported);
    const back = await fx.checkpoint.loadTensors(join(dir, 'cnn.safetensors'));
    assert.equal(Object.keys(back).sort(), Object.keys(exported).sort());
    assert.is(back['1.num_batches_tracked']!.dtype, 'int32');
    const restored = fx.interop.fromTorch(back, variables, twin.opts);
    assert.equal(Array.from((restored as any).batch_stats.layers_1.var.dataSync()), Array.from((variables.batch_stats as any).layers_1.var.dataSync()));
    for (const t of [...Object.values(back), ...fx.tree.leaves(restored)]) t.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const t of [...Object.values(exported), ...fx.tree.leaves(variables)]) t.dispose();
});

test('two flaxen paths that would get one PyTorch name are refused', () => {
  const vars = { params: { layers_0: { kernel: tf.zeros([2, 3]) }, '0': { weight: tf.zeros([3, 2]) } } };
  assertThrows(() => fx.interop.toTorch(vars), fx.FlaxenError, "the PyTorch name '0.weight' would be given to both");
  fx.tree.dispose(vars);
});

test('flattenedFrom must name a Dense kernel of the right size', () => {
  const twin = TWINS.cnn;
  const variables = twin.model.init(fx.random.key(4), twin.initShape);
  assertThrows(() => fx.interop.toTorch(variables, { flattenedFrom: { layers_7: [3, 3, 12] } }), fx.FlaxenError, 'layers_7', '[3, 3, 12] (108 inputs), but the kernel is [48, 5]');
  assertThrows(() => fx.interop.toTorch(variables, { flattenedFrom: { layers_2: [2, 2, 12] } }), fx.FlaxenError, "no Dense kernel (rank 2) at params/layers_2/kernel");
  fx.tree.dispose(variables);
});

test('recurrent biases: summed on import; on export flaxen’s bias is bias_ih_l0 and bias_hh_l0 is zeros, except GRU’s n block', async () => {
  const { stateDict, input, output } = await loadTwin('lstm');
  const variables = fx.interop.fromTorch(stateDict, TWINS.lstm.model.initShapes(fx.random.key(0), TWINS.lstm.initShape));
  const cell = (variables as any).params.rnn.cell;
  const bih = Array.from(stateDict['rnn.bias_ih_l0']!.dataSync());
  const bhh = Array.from(stateDict['rnn.bias_hh_l0']!.dataSync());
  ['hi', 'hf', 'hg', 'ho'].forEach((gate, g) => assertClose(cell[gate].bias.dataSync(), bih.slice(7 * g, 7 * g + 7).map((v, i) => v + bhh[7 * g + i]!), 1e-7, 1e-7, gate));
  const lstmOut = fx.interop.toTorch(variables);
  assert.equal(Array.from(lstmOut['rnn.bias_hh_l0']!.dataSync()), new Array(28).fill(0));
  assert.equal(Array.from(lstmOut['rnn.bias_ih_l0']!.dataSync()), ['hi', 'hf', 'hg', 'ho'].flatMap((gate) => Array.from(cell[gate].bias.dataSync() as Float32Array)));

  const gru = TWINS.gru.model.init(fx.random.key(9), TWINS.gru.initShape);
  const gcell = (gru.params as any).rnn.cell;
  const gruOut = fx.interop.toTorch(gru);
  const biases = (gate: string) => Array.from(gcell[gate].bias.dataSync() as Float32Array);
  assert.equal(Array.from(gruOut['rnn.bias_ih_l0']!.dataSync()), [...biases('ir'), ...biases('iz'), ...biases('in')]);
  assert.equal(Array.from(gruOut['rnn.bias_hh_l0']!.dataSync()), [...new Array(12).fill(0), ...biases('hn')]);
  for (const t of [input, output, ...Object.values(stateDict), ...fx.tree.leaves(variables), ...Object.values(lstmOut), ...fx.tree.leaves(gru), ...Object.values(gruOut)]) t.dispose();
});

test('attention projections are Linear layers: kernel [features, heads, headDim] is weight [heads·headDim, features]', () => {
  const attention = fx.nn.SelfAttention({ numHeads: 2, qkvFeatures: 6 });
  const variables = attention.init(fx.random.key(5), [1, 3, 4]);
  const exported = fx.interop.toTorch(variables);
  assert.equal(Object.keys(exported), ['key.bias', 'key.weight', 'out.bias', 'out.weight', 'query.bias', 'query.weight', 'value.bias', 'value.weight']);
  assert.equal(exported['query.weight']!.shape, [6, 4]);
  assert.equal(exported['query.bias']!.shape, [6]);
  assert.equal(exported['out.weight']!.shape, [4, 6]);
  // Hand-derived: weight[h·3 + d][f] = kernel[f][h][d]; out weight[f][h·3 + d] = kernel[h][d][f].
  const q = (variables.params as any).query.kernel.arraySync() as number[][][];
  const o = (variables.params as any).out.kernel.arraySync() as number[][][];
  const qw = exported['query.weight']!.arraySync() as number[][];
  const ow = exported['out.weight']!.arraySync() as number[][];
  for (let f = 0; f < 4; f++) for (let h = 0; h < 2; h++) for (let d = 0; d < 3; d++) {
    assert.is(qw[h * 3 + d]![f], q[f]![h]![d]);
    assert.is(ow[f]![h * 3 + d], o[h]![d]![f]);
  }
  const back = new Map(fx.tree.flatten<tf.Tensor>(fx.interop.fromTorch(exported, variables)));
  fx.tree.flatten<tf.Tensor>(variables).forEach(([path, t]) => assert.equal(Array.from(back.get(path)!.dataSync()), Array.from(t.dataSync()), path));
  for (const t of [...fx.tree.leaves(variables), ...back.values(), ...Object.values(exported)]) t.dispose();
});

test('kernels with no PyTorch layout are refused by name, not exported in a wrong one', () => {
  const odd = { params: { block: { kernel: tf.zeros([1, 2, 2, 2, 2]) } } };
  assertThrows(() => fx.interop.toTorch(odd), fx.FlaxenError, 'block: a kernel of rank 5 has no PyTorch layout here');
  fx.tree.dispose(odd);
});

test('a ConvTranspose named ConvTranspose_<k> is refused without the model, and converted with it', () => {
  const up = fx.nn.module('Up', (scope, x: tf.Tensor) => scope.call(fx.nn.ConvTranspose(2, [3, 3]), x));
  const variables = up.init(fx.random.key(6), [1, 4, 4, 3]);
  assertThrows(() => fx.interop.toTorch(variables), fx.FlaxenError, 'ConvTranspose_0: this looks like a ConvTranspose kernel', '{ model, inputShapes }');
  const target = up.initShapes(fx.random.key(0), [1, 4, 4, 3]);
  const sd = { 'ConvTranspose_0.weight': tf.zeros([3, 2, 3, 3]), 'ConvTranspose_0.bias': tf.zeros([2]) };
  assertThrows(() => fx.interop.fromTorch(sd, target), fx.FlaxenError, 'ConvTranspose_0: this looks like a ConvTranspose kernel');
  const before = tf.memory().numTensors;
  const exported = fx.interop.toTorch(variables, { model: up, inputShapes: [[1, 4, 4, 3]] });
  assert.is(tf.memory().numTensors - before, 2, 'only the two exported tensors are left');
  assert.equal(exported['ConvTranspose_0.weight']!.shape, [3, 2, 3, 3]);
  // Hand-derived: PyTorch's weight[i][o][a][b] is flaxen's kernel[2 - a][2 - b][i][o] (flipped).
  const k = (variables.params as any).ConvTranspose_0.kernel.arraySync() as number[][][][];
  const w = exported['ConvTranspose_0.weight']!.arraySync() as number[][][][];
  for (let i = 0; i < 3; i++) for (let o = 0; o < 2; o++) for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) assert.is(w[i]![o]![a]![b], k[2 - a]![2 - b]![i]![o]);
  const back = fx.interop.fromTorch(exported, target, { model: up, inputShapes: [[1, 4, 4, 3]] });
  assert.equal(Array.from((back as any).params.ConvTranspose_0.kernel.dataSync()), Array.from((variables.params as any).ConvTranspose_0.kernel.dataSync()));
  for (const t of [...fx.tree.leaves(variables), ...fx.tree.leaves(back), ...Object.values(exported), ...Object.values(sd)]) t.dispose();
});

test('transposeKernel: the stored [kh, kw, out, in] kernel is PyTorch’s weight with its axes moved, not flipped', () => {
  const up = fx.nn.Sequential([fx.nn.ConvTranspose(2, [2, 3], { transposeKernel: true })]);
  const variables = up.init(fx.random.key(7), [1, 4, 4, 5]);
  const exported = fx.interop.toTorch(variables, { model: up, inputShapes: [[1, 4, 4, 5]] });
  const k = (variables.params as any).layers_0.kernel.arraySync() as number[][][][];
  const w = exported['0.weight']!.arraySync() as number[][][][];
  assert.equal(exported['0.weight']!.shape, [5, 2, 2, 3]);
  for (let i = 0; i < 5; i++) for (let o = 0; o < 2; o++) for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) assert.is(w[i]![o]![a]![b], k[a]![b]![o]![i]);
  for (const t of [...fx.tree.leaves(variables), ...Object.values(exported)]) t.dispose();
});

test('without the model, a ConvTranspose in a Sequential is read as a Conv: PyTorch’s shapes refuse it', async () => {
  const { stateDict, input, output, twin } = await loadTwin('deconv');
  const target = twin.model.initShapes(fx.random.key(0), twin.initShape);
  // [in, out, kh, kw] read as a Conv2d weight [out, in, kh, kw]: 0.weight and 4.weight differ in shape.
  const error = assertThrows(() => fx.interop.fromTorch(stateDict, target), fx.interop.TorchMismatchError, 'shape of 0.weight (for params/layers_0/kernel): the target expects [6, 3, 4, 4], the state_dict has [3, 6, 4, 4]') as fx.interop.TorchMismatchError;
  assert.equal(error.problems.map((p) => p.torchName), ['0.weight', '4.weight']);
  assertThrows(() => fx.interop.fromTorch(stateDict, target, { inputShapes: [twin.initShape] }), fx.FlaxenError, 'inputShapes were given without the model');
  assertThrows(() => fx.interop.fromTorch(stateDict, target, { model: twin.model }), fx.FlaxenError, 'the model option needs inputShapes');
  // Input shapes the model refuses: its own error, by path, and nothing left allocated.
  const before = tf.memory().numTensors;
  assertThrows(() => fx.interop.fromTorch(stateDict, target, { model: twin.model, inputShapes: [[1, 4, 4]] }), fx.FlaxenError, 'layers_0');
  assert.is(tf.memory().numTensors, before);
  for (const t of [input, output, ...Object.values(stateDict)]) t.dispose();
});

test.run();
