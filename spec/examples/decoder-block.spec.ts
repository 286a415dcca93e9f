// The decoder example: its causal LM keeps what the masks promise (a later token never changes an
// earlier position's logits, padding rows stay finite) and leaks nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import { assertThrows, transient } from '../setup.js';
import * as fx from '../../lib/index.js';
import { CausalLM, DecoderBlock, demo } from '../../examples/decoder-block.js';

test('the decoder demo: causal bit for bit, the padded mask by hand, finite logits, no leaks', async () => {
  const lines: string[] = [];
  const result = await demo((line) => lines.push(line));
  assert.ok(result.causal, 'positions before the changed token are unchanged');
  assert.ok(result.lastChanged, 'the changed position does change');
  // [3, 5, 7, pad, pad]: row i sees keys j <= i that are not padding; the pads' rows see nothing
  assert.equal(result.paddedMask, [
    [1, 0, 0, 0, 0],
    [1, 1, 0, 0, 0],
    [1, 1, 1, 0, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
  ]);
  assert.ok(result.paddedFinite);
  assert.is(result.leaked, 0);
  assert.ok(lines.some((l) => l.includes('pos_embedding') && l.includes('[8, 32]')), lines.join('\n'));
});

test('DecoderBlock is pre-norm with residuals: zero attention and MLP output kernels make it the identity', () => {
  const block = DecoderBlock({ numHeads: 2 });
  const x = fx.random.uniform(fx.random.key(1), [2, 4, 8], { minval: -1, maxval: 1 });
  const mask = fx.nn.makeCausalMask(transient(tf.zeros([2, 4])));
  const vars = block.init(fx.random.key(0), x, mask);
  const params = {
    ...vars.params,
    SelfAttention_0: { ...vars.params.SelfAttention_0, out: { kernel: tf.zerosLike(vars.params.SelfAttention_0.out.kernel), bias: tf.zerosLike(vars.params.SelfAttention_0.out.bias) } },
    Dense_1: { kernel: tf.zerosLike(vars.params.Dense_1.kernel), bias: tf.zerosLike(vars.params.Dense_1.bias) },
  };
  const y = block.apply({ params }, x, mask);
  assert.equal(Array.from(y.dataSync()), Array.from(x.dataSync()));
  tf.dispose([x, mask, y, params.SelfAttention_0.out.kernel, params.SelfAttention_0.out.bias, params.Dense_1.kernel, params.Dense_1.bias]);
  fx.tree.dispose(vars);
});

test('CausalLM sizes its tables from the options and refuses a sequence longer than maxLength', () => {
  const lm = CausalLM({ vocab: 11, width: 8, depth: 1, maxLength: 4, numHeads: 2 });
  const tokens = tf.zeros([1, 4], 'int32');
  const tooLong = tf.zeros([1, 5], 'int32');
  const before = tf.memory().numTensors;
  const shapes = lm.initShapes(fx.random.key(0), tokens);
  assert.equal((shapes.params as any).pos_embedding.shape, [4, 8]);
  assert.equal((shapes.params as any).Embed_0.embedding.shape, [11, 8]);
  assert.equal((shapes.params as any).Dense_0.kernel.shape, [8, 11]);
  const vars = lm.init(fx.random.key(0), tokens);
  assertThrows(() => lm.apply(vars, tooLong), fx.ShapeError, 'CausalLM', 'length 5', 'maxLength 4');
  fx.tree.dispose(vars);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([tokens, tooLong]);
});

test.run();
