// Interop with the Python world: spec/fixtures/torch_mixed.safetensors was written by
// spec/fixtures/make_safetensors.py (PyTorch values, the reference layout), and
// torch_mixed.reference.json holds what PyTorch itself converts each tensor to in float32/int32.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { tensorDelta } from '../setup.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../spec/fixtures/${name}`, import.meta.url));
const FILE = fixture('torch_mixed.safetensors');
interface Reference {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; bits?: number[]; values?: number[] }>;
}
const reference = JSON.parse(readFileSync(fixture('torch_mixed.reference.json'), 'utf8')) as Reference;

test('a file written from PyTorch loads, every value equal to PyTorch’s own float32/int32 conversion', async () => {
  const { result: loaded, delta } = tensorDelta(() => fx.checkpoint.fromBytes(readFileSync(FILE)));
  const flat = fx.tree.flatten<tf.Tensor>(loaded);
  assert.is(delta, flat.length);
  assert.equal(flat.map(([p]) => p), Object.keys(reference.tensors).sort());
  for (const [path, tensor] of flat) {
    const want = reference.tensors[path]!;
    assert.is(tensor.dtype, want.dtype, `${path} dtype`);
    assert.equal(tensor.shape, want.shape, `${path} shape`);
    if (want.bits) {
      const bits = Array.from(new Uint32Array((tensor.dataSync() as Float32Array).slice().buffer));
      assert.equal(bits, want.bits, `${path} bits`);
    } else {
      assert.equal(Array.from(tensor.dataSync()), want.values, `${path} values`);
    }
  }
  fx.tree.dispose(loaded);
});

test('its metadata and dtypes are listed by loadInfo', async () => {
  const info = await fx.checkpoint.loadInfo(FILE);
  assert.equal(info.metadata, reference.metadata);
  const dtypes = Object.fromEntries(info.tensors.map((t) => [t.path, t.dtype]));
  assert.equal(dtypes, {
    'model/dense/bias': 'F16', 'model/dense/kernel': 'F32', 'model/emb/scale': 'BF16', 'model/emb/table': 'BF16', 'model/norm/scale': 'F64',
    'model/special/bf16': 'BF16', 'model/special/half': 'F16', 'stats/bytes': 'U8', 'stats/count': 'I64', 'stats/empty': 'F32',
    'stats/mask': 'BOOL', 'stats/small': 'I8', 'stats/step': 'I32',
  });
});

test('one of its subtrees restores into a flaxen layer with a target', async () => {
  const dense = fx.nn.Dense(4);
  const wrong = await fx.checkpoint.loadTask(FILE, fx.nn.Dense(5).initShapes(fx.random.key(0), [1, 3]).params, { prefix: 'model/dense' })();
  assert.ok(wrong._tag === 'Left' && wrong.left.message.includes('kernel: the target expects float32[3, 5], the checkpoint has float32[3, 4]'));
  const params = await fx.checkpoint.load(FILE, dense.initShapes(fx.random.key(0), [1, 3]).params, { prefix: 'model/dense' });
  const x = tf.tensor2d([[1, 0, 0]]);
  const y = dense.apply({ params }, x);
  // y = first row of the kernel + bias, computed from the reference bits.
  const f32 = (bits: number[]) => Array.from(new Float32Array(new Uint32Array(bits).buffer));
  const kernel = f32(reference.tensors['model/dense/kernel']!.bits!);
  const bias = f32(reference.tensors['model/dense/bias']!.bits!).slice(0, 4);
  const want = [0, 1, 2, 3].map((j) => Math.fround(kernel[j]! + bias[j]!));
  assert.equal(Array.from(y.dataSync()), want);
  fx.tree.dispose([params, x, y]);
});

test.run();
