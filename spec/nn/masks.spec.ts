// Flax's mask helpers (make_causal_mask, make_attention_mask, combine_masks) against masks
// written out by hand, their use in attention (finite with rows that see nothing), and their errors.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, transient, values } from '../setup.js';
import { numbers, t32 } from './layer-helpers.js';

const abstract = (shape: number[], dtype: 'int32' | 'float32' | 'bool' = 'int32') => new fx.ShapeDtype(shape, dtype) as unknown as tf.Tensor;

/** Asserts that `fn` throws `cls` with every fragment and leaves no tensor behind. */
function throwsWithoutLeak(fn: () => unknown, cls: abstract new (...args: any[]) => Error, ...fragments: string[]): void {
  const before = tf.memory().numTensors;
  assertThrows(fn, cls, ...fragments);
  assert.is(tf.memory().numTensors, before, `tensors left after ${fragments.join(' ')}`);
}

test('makeCausalMask: [batch..., length] gives [batch..., 1, length, length], 1 where key <= query', () => {
  const x = tf.zeros([2, 3], 'int32');
  const mask = fx.nn.makeCausalMask(x);
  assert.equal(mask.shape, [2, 1, 3, 3]);
  assert.is(mask.dtype, 'float32');
  const lower = [1, 0, 0, /**/ 1, 1, 0, /**/ 1, 1, 1];
  assert.equal(values(mask), [...lower, ...lower]);
  const extra = fx.nn.makeCausalMask(transient(tf.zeros([4])), { extraBatchDims: 2, dtype: 'bool' });
  assert.equal(extra.shape, [1, 1, 1, 4, 4]);
  assert.is(extra.dtype, 'bool');
  assert.equal(values(extra), [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]);
  const one = fx.nn.makeCausalMask(transient(tf.zeros([1, 1])), { dtype: 'int32' });
  assert.equal([one.shape, one.dtype, values(one)], [[1, 1, 1, 1], 'int32', [1]]);
  tf.dispose([x, mask, extra, one]);
});

test('makeAttentionMask: the product of a padding mask with itself hides every pair with padding', () => {
  const tokens = tf.tensor2d([[4, 9, 0], [3, 0, 0]], [2, 3], 'int32');
  const valid = tf.greater(tokens, 0);
  const mask = fx.nn.makeAttentionMask(valid, valid);
  assert.equal(mask.shape, [2, 1, 3, 3]);
  assert.is(mask.dtype, 'float32');
  // row i, column j: tokens i and j are both real
  assert.equal(values(mask), [1, 1, 0, 1, 1, 0, 0, 0, 0, /**/ 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  // float inputs multiply as numbers: only the non-zero products allow
  const q = tf.tensor2d([[2, 0]]);
  const k = tf.tensor2d([[0.5, 3, 0]]);
  const qk = fx.nn.makeAttentionMask(q, k, { dtype: 'bool', extraBatchDims: 1 });
  assert.equal([qk.shape, qk.dtype], [[1, 1, 1, 2, 3], 'bool']);
  assert.equal(values(qk), [1, 1, 0, 0, 0, 0]);
  tf.dispose([tokens, valid, mask, q, k, qk]);
});

test('makeAttentionMask: a pairwise function (segment ids with tf.equal), query and key of different lengths, batch axes broadcast', () => {
  const qSegments = tf.tensor2d([[1, 1, 2], [1, 2, 2]], [2, 3], 'int32');
  const kSegments = tf.tensor2d([[1, 2]], [1, 2], 'int32'); // batch 1 broadcasts to 2
  const mask = fx.nn.makeAttentionMask(qSegments, kSegments, { pairwiseFn: tf.equal });
  assert.equal(mask.shape, [2, 1, 3, 2]);
  assert.equal(values(mask), [1, 0, 1, 0, 0, 1, /**/ 1, 0, 0, 1, 0, 1]);
  // greaterEqual on positions is the causal mask
  const positions = tf.tensor1d([0, 1, 2], 'int32');
  const causal = fx.nn.makeAttentionMask(positions, positions, { pairwiseFn: tf.greaterEqual });
  const expected = fx.nn.makeCausalMask(positions);
  assert.equal([causal.shape, values(causal)], [expected.shape, values(expected)]);
  tf.dispose([qSegments, kSegments, mask, positions, causal, expected]);
});

test('combineMasks: logical and of the given masks, skipping undefined; none gives undefined', () => {
  const tokens = tf.tensor2d([[4, 9, 0]], [1, 3], 'int32');
  const valid = tf.greater(tokens, 0);
  const causal = fx.nn.makeCausalMask(tokens);
  const padding = fx.nn.makeAttentionMask(valid, valid);
  const both = fx.nn.combineMasks([undefined, causal, null, padding])!;
  assert.equal([both.shape, both.dtype], [[1, 1, 3, 3], 'float32']);
  assert.equal(values(both), [1, 0, 0, 1, 1, 0, 0, 0, 0]);
  // bool and float masks mix, shapes broadcast ([1, 1, 3, 3] with [2, 1, 1, 3])
  const keys = tf.tensor4d([1, 1, 0, 0, 1, 1], [2, 1, 1, 3]);
  const mixed = tf.tidy(() => fx.nn.combineMasks([tf.reshape(fx.nn.causalMask(3), [1, 1, 3, 3]), keys], { dtype: 'bool' })!);
  assert.equal([mixed.shape, mixed.dtype], [[2, 1, 3, 3], 'bool']);
  assert.equal(values(mixed), [1, 0, 0, 1, 1, 0, 1, 1, 0, /**/ 0, 0, 0, 0, 1, 0, 0, 1, 1]);
  assert.is(fx.nn.combineMasks([undefined, null]), undefined);
  assert.is(fx.nn.combineMasks([]), undefined);
  // one mask alone: a new float32 tensor the caller owns, the input untouched
  const alone = fx.nn.combineMasks([valid])!;
  assert.equal([alone.dtype, values(alone)], ['float32', [1, 1, 0]]);
  alone.dispose();
  assert.equal(values(valid), [1, 1, 0]);
  tf.dispose([tokens, valid, causal, padding, both, keys, mixed]);
});

test('the helpers take abstract inputs and give abstract masks, so a model body can make them during init', () => {
  const causal = fx.nn.makeCausalMask(abstract([2, 5]), { extraBatchDims: 1 });
  assert.ok(causal instanceof fx.ShapeDtype);
  assert.equal([causal.shape, causal.dtype], [[1, 2, 1, 5, 5], 'float32']);
  const pad = fx.nn.makeAttentionMask(abstract([2, 5], 'bool'), abstract([2, 7], 'bool'), { dtype: 'bool' });
  assert.ok(pad instanceof fx.ShapeDtype);
  assert.equal([pad.shape, pad.dtype], [[2, 1, 5, 7], 'bool']);
  const real = tf.ones([1, 1, 5, 5]);
  const combined = fx.nn.combineMasks([real, fx.nn.makeCausalMask(abstract([2, 5]))]);
  assert.ok(combined instanceof fx.ShapeDtype);
  assert.equal(combined.shape, [2, 1, 5, 5]);

  // A decoder body that masks padding and the future: init and apply leave only their results.
  const net = fx.nn.module('Decoder', (scope, tokens: tf.Tensor) => {
    const valid = tf.greater(tokens, 0);
    const mask = fx.nn.combineMasks([fx.nn.makeCausalMask(tokens), fx.nn.makeAttentionMask(valid, valid)]);
    const h = scope.call(fx.nn.Embed(10, 8), tokens);
    return scope.call(fx.nn.SelfAttention({ numHeads: 2 }), h, mask);
  });
  const tokens = tf.tensor2d([[3, 5, 0, 0]], [1, 4], 'int32');
  const before = tf.memory().numTensors;
  const vars = net.init(fx.random.key(0), tokens);
  const y = tf.tidy(() => net.apply(vars, tokens));
  assert.equal(y.shape, [1, 4, 8]);
  assert.ok(values(y).every(Number.isFinite), 'rows 2 and 3 see nothing, yet stay finite');
  tf.dispose([vars, y]);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([real, tokens]);
});

test('masked attention stays finite: a query that sees nothing averages the values; others softmax over what they see', () => {
  // q, k, v [batch 1, length 3, heads 1, depth 2]; the mask hides row 0 entirely and is causal below.
  const qv = numbers(1, 6);
  const kv = numbers(2, 6);
  const vv = numbers(3, 6);
  const q = t32(qv, [1, 3, 1, 2]);
  const k = t32(kv, [1, 3, 1, 2]);
  const v = t32(vv, [1, 3, 1, 2]);
  const allowed = [[false, false, false], [true, true, false], [true, true, true]];
  const mask = tf.tensor4d(allowed.flat().map(Number), [1, 1, 3, 3]);
  const y = fx.nn.dotProductAttention(q, k, v, { mask });
  // by hand, in float64
  const expected: number[] = [];
  for (let i = 0; i < 3; i++) {
    const seen = [0, 1, 2].filter((j) => allowed[i]![j]);
    // nothing seen: every logit is -1e10, so the weights are uniform over all keys
    const keys = seen.length === 0 ? [0, 1, 2] : seen;
    const logits = keys.map((j) => (seen.length === 0 ? 0 : (qv[2 * i]! * kv[2 * j]! + qv[2 * i + 1]! * kv[2 * j + 1]!) / Math.SQRT2));
    const top = Math.max(...logits);
    const w = logits.map((z) => Math.exp(z - top));
    const total = w.reduce((a, b) => a + b, 0);
    for (const e of [0, 1]) expected.push(keys.reduce((s, j, n) => s + (w[n]! / total) * vv[2 * j + e]!, 0));
  }
  assertClose(values(y), expected, 1e-6, 1e-5);

  // and gradients through the masked logits are finite (no -Infinity · 0)
  const grads = fx.grad((qkv: { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor }) => tf.sum(fx.nn.dotProductAttention(qkv.q, qkv.k, qkv.v, { mask })))({ q, k, v });
  for (const g of fx.tree.leaves(grads)) assert.ok(values(g as tf.Tensor).every(Number.isFinite));
  // the fully masked row does not depend on its query
  assert.equal(values(grads.q).slice(0, 2), [0, 0]);
  tf.dispose([q, k, v, mask, y, grads]);
});

test('bad input is a FlaxenError naming the argument, shapes and expectation, and leaves no tensor', () => {
  const x = tf.zeros([2, 3]);
  const scalar = tf.scalar(0);
  throwsWithoutLeak(() => fx.nn.makeCausalMask(scalar), fx.ShapeError, 'makeCausalMask: x', '[batch..., length]', 'found shape []');
  throwsWithoutLeak(() => fx.nn.makeCausalMask([1, 2, 3] as unknown as tf.Tensor), fx.FlaxenError, 'makeCausalMask: x must be a tensor', 'array of length 3');
  throwsWithoutLeak(() => fx.nn.makeCausalMask(x, { extraBatchDims: -1 }), fx.FlaxenError, 'extraBatchDims', '-1');
  throwsWithoutLeak(() => fx.nn.makeCausalMask(x, { dtype: 'float16' as fx.nn.MaskDtype }), fx.FlaxenError, 'dtype', 'float16');
  throwsWithoutLeak(() => fx.nn.makeCausalMask(x, { causal: true } as fx.nn.MaskOptions), fx.FlaxenError, "unknown option 'causal'");
  const gone = tf.zeros([2, 3]);
  gone.dispose();
  throwsWithoutLeak(() => fx.nn.makeCausalMask(gone), fx.FlaxenError, 'disposed');

  const y = tf.zeros([3, 4]);
  throwsWithoutLeak(() => fx.nn.makeAttentionMask(x, y), fx.ShapeError, 'makeAttentionMask', 'queryInput [2, 3]', 'keyInput [3, 4]', 'broadcast');
  throwsWithoutLeak(() => fx.nn.makeAttentionMask(x, scalar), fx.ShapeError, 'keyInput', 'found shape []');
  throwsWithoutLeak(() => fx.nn.makeAttentionMask(x, x, { pairwiseFn: 'equal' as unknown as fx.nn.PairwiseFn }), fx.FlaxenError, 'pairwiseFn must be a function');
  // a comparison that returns the wrong shape: its intermediate tensors are freed
  throwsWithoutLeak(() => fx.nn.makeAttentionMask(x, x, { pairwiseFn: (q) => tf.add(q, 1) }), fx.ShapeError, 'pairwiseFn must return', '[2, 3, 3]', 'found Tensor of shape [2, 3, 1]');

  const m3 = tf.ones([1, 3, 3]);
  const m4 = tf.ones([1, 1, 3, 3]);
  const m4b = tf.ones([1, 1, 3, 4]);
  throwsWithoutLeak(() => fx.nn.combineMasks([m4, undefined, m3]), fx.ShapeError, 'one rank', 'masks[0] [1, 1, 3, 3] (rank 4)', 'masks[2] [1, 3, 3] (rank 3)');
  throwsWithoutLeak(() => fx.nn.combineMasks([m4, m4b]), fx.ShapeError, 'masks[1] [1, 1, 3, 4]', 'broadcast');
  throwsWithoutLeak(() => fx.nn.combineMasks([m4, 1 as unknown as tf.Tensor]), fx.FlaxenError, 'masks[1] must be a tensor', 'number 1');
  throwsWithoutLeak(() => fx.nn.combineMasks(m4 as unknown as tf.Tensor[]), fx.FlaxenError, 'needs an array');

  // attention: a mask that does not broadcast is refused before any kernel runs
  const q = tf.ones([1, 3, 2, 4]);
  throwsWithoutLeak(() => fx.nn.dotProductAttention(q, q, q, { mask: m4b }), fx.ShapeError, 'dotProductAttention', 'mask [1, 1, 3, 4]', '[1, 2, 3, 3]');
  throwsWithoutLeak(() => fx.nn.dotProductAttention(q, q, q, { mask: [[1]] as unknown as tf.Tensor }), fx.FlaxenError, 'mask must be a tensor');
  // inside a model, the error names the module path
  const tooLong = fx.nn.makeCausalMask(abstract([1, 5]));
  const tooLongReal = tf.ones([1, 1, 5, 5]);
  const block = fx.nn.module('Block', (scope, h: tf.Tensor) => scope.call(fx.nn.SelfAttention({ numHeads: 2 }), h, tooLong));
  throwsWithoutLeak(() => block.init(fx.random.key(0), [1, 3, 4]), fx.ShapeError, 'SelfAttention_0', 'mask [1, 1, 5, 5]', '[1, 2, 3, 3]');
  const vars = fx.nn.SelfAttention({ numHeads: 2 }).init(fx.random.key(0), [1, 3, 4]);
  const realBlock = fx.nn.module('Block', (scope, h: tf.Tensor) => scope.call(fx.nn.SelfAttention({ numHeads: 2 }), h, tooLongReal));
  const h = tf.ones([1, 3, 4]);
  throwsWithoutLeak(() => realBlock.apply({ params: { SelfAttention_0: vars.params } }, h), fx.ShapeError, 'SelfAttention_0', 'mask [1, 1, 5, 5]');
  tf.dispose([x, scalar, y, m3, m4, m4b, q, tooLongReal, vars, h]);
});

test.run();
