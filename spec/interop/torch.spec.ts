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
import { assertClose, assertThrows, tensorDelta } from '../setup.js';
import { TWINS } from './twins.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../spec/fixtures/torch_twins/${name}`, import.meta.url));
const NAMES = ['mlp', 'cnn', 'embed_norm'] as const;

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
  const gap = Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(y, output))).dataSync()));
  assert.ok(gap > 1e-2, `outputs should differ without flattenedFrom, max gap ${gap}`);
  // The kernel rows are the same numbers, permuted from CHW to HWC order.
  const fixed = fx.interop.fromTorch(stateDict, target, twin.opts);
  const rows = (v: unknown) => (v as any).params.layers_7.kernel as tf.Tensor;
  assert.equal([...rows(fixed).dataSync()].sort(), [...rows(plain).dataSync()].sort());
  // flaxen row (h, w, c) is PyTorch column (c, h, w): row 1 is (0, 0, 1), PyTorch column 4.
  assert.equal(Array.from(tf.tidy(() => tf.slice(rows(fixed), [1, 0], [1, 5])).dataSync()), Array.from(tf.tidy(() => tf.slice(rows(plain), [4, 0], [1, 5])).dataSync()));
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

test.run();
