// The two interop examples run (shortened) and do what docs/interop.md says they do.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import '../setup.js';
import { fineTune } from '../../examples/torch-finetune.js';
import { trainAndServe } from '../../examples/onnx-serve.js';

test('examples/torch-finetune: the PyTorch MLP fine-tunes in flaxen (the loss falls) and goes back under PyTorch names', async () => {
  const before = tf.memory().numTensors;
  const { lossBefore, lossAfter, stateDict } = await fineTune(25);
  assert.ok(lossAfter < lossBefore * 0.7, `loss ${lossBefore} -> ${lossAfter}`);
  assert.equal(Object.keys(stateDict), ['0.bias', '0.weight', '2.bias', '2.weight']);
  assert.equal(stateDict['0.weight']!.shape, [16, 6]);
  fx.tree.dispose(stateDict);
  assert.is(tf.memory().numTensors, before);
});

test('examples/onnx-serve: a CNN trained in flaxen runs in ONNX Runtime with flaxen’s outputs', async () => {
  const before = tf.memory().numTensors;
  const { onnx, losses, maxDifference } = await trainAndServe(8);
  assert.ok(losses[1] < losses[0], `loss ${losses[0]} -> ${losses[1]}`);
  assert.ok(onnx.length > 1000);
  assert.ok(maxDifference < 1e-5, `largest difference ${maxDifference}`);
  assert.is(tf.memory().numTensors, before);
});

test.run();
