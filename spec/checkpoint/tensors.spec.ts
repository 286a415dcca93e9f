// Flat safetensors files with the names as they are (lib/checkpoint/tensors.ts). The fixtures
// were written from PyTorch by spec/fixtures/torch_twins.py.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, tensorDelta } from '../setup.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../spec/fixtures/torch_twins/${name}`, import.meta.url));

test('a PyTorch state_dict loads with its names as they are, F16 and BF16 as float32, I64 as int32', async () => {
  const half = await fx.checkpoint.loadTensors(fixture('mlp.safetensors'));
  assert.equal(Object.keys(half).sort(), ['0.bias', '0.weight', '2.bias', '2.weight']);
  assert.ok(Object.values(half).every((t) => t.dtype === 'float32'));
  assert.ok(fx.checkpoint.readInfo(readFileSync(fixture('mlp.safetensors'))).tensors.every((t) => t.dtype === 'F16'));
  assert.ok(fx.checkpoint.readInfo(readFileSync(fixture('embed_norm.safetensors'))).tensors.every((t) => t.dtype === 'BF16'));
  const cnn = await fx.checkpoint.loadTensors(fixture('cnn.safetensors'));
  assert.is(cnn['1.num_batches_tracked']!.dtype, 'int32');
  assert.equal(cnn['1.num_batches_tracked']!.shape, []);
  // Three training-mode passes in torch_twins.py.
  assert.equal(Array.from(cnn['1.num_batches_tracked']!.dataSync()), [3]);
  assert.ok(Object.isFrozen(cnn));
  for (const t of [...Object.values(half), ...Object.values(cnn)]) t.dispose();
});

test('saveTensors writes names as they are, integer scalars as I64, and the file reads back equal', async () => {
  const record = { 'features.0.weight': tf.tensor([[1, -2], [3.5, 4]]), 'bn.num_batches_tracked': tf.scalar(-7, 'int32'), 'ids': tf.tensor([1, 2], [2], 'int32'), 'mask': tf.tensor([1, 0], [2], 'bool') };
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-tensors-'));
  try {
    const file = join(dir, 'sd.safetensors');
    await fx.checkpoint.saveTensors(file, record, { format: 'pt' });
    const info = await fx.checkpoint.loadInfo(file);
    assert.equal(Object.fromEntries(info.tensors.map((t) => [t.path, t.dtype])), { 'bn.num_batches_tracked': 'I64', 'features.0.weight': 'F32', ids: 'I32', mask: 'BOOL' });
    assert.equal(info.metadata, { format: 'pt' });
    const raw = readFileSync(file);
    const headerLength = raw.readUInt32LE(0);
    const entry = JSON.parse(raw.subarray(8, 8 + headerLength).toString())['bn.num_batches_tracked'];
    // -7 as a little-endian int64: the sign extends into the high word.
    assert.equal(raw.readBigInt64LE(8 + headerLength + entry.data_offsets[0]), -7n);
    const { result: back, delta } = tensorDelta(() => fx.checkpoint.tensorsFromBytes(raw));
    assert.is(delta, 4);
    for (const [name, t] of Object.entries(record)) {
      assert.is(back[name]!.dtype, t.dtype, name);
      assert.equal(back[name]!.shape, t.shape, name);
      assert.equal(Array.from(back[name]!.dataSync()), Array.from(t.dataSync()), name);
    }
    for (const t of Object.values(back)) t.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const t of Object.values(record)) t.dispose();
  }
});

test('bad records, names and files are refused with a CheckpointError naming the entry', async () => {
  const s = tf.tensor(['x']);
  assertThrows(() => fx.checkpoint.tensorsToBytes({ 'a.b': s }), fx.CheckpointError, 'a.b', 'a string tensor cannot be stored');
  assertThrows(() => fx.checkpoint.tensorsToBytes({ 'a.b': 3 as never }), fx.CheckpointError, 'a.b', 'every value must be a tensor');
  assertThrows(() => fx.checkpoint.tensorsToBytes([] as never), fx.CheckpointError, 'a flat record of tensors');
  assertThrows(() => fx.checkpoint.tensorsFromBytes(new Uint8Array(3)), fx.CheckpointError, '3 bytes');
  s.dispose();
  const disposed = tf.ones([1]);
  disposed.dispose();
  assertThrows(() => fx.checkpoint.tensorsToBytes({ w: disposed }), fx.CheckpointError, 'w', 'disposed');
  await fx.checkpoint.loadTensors('/nonexistent/x.safetensors').then(
    () => assert.unreachable('should reject'),
    (e: Error) => assert.ok(e instanceof fx.CheckpointError && e.message.includes('no such file'), e.message),
  );
});

test.run();
