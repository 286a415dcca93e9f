// flaxen claims that its variables are Flax linen's, tree, names and layouts, so that a flaxen
// checkpoint is a Flax checkpoint (docs/interop.md). JAX cannot be installed here, so the claims
// are checked against what Flax's own source says, quoted below with file and line (google/flax
// at commit 18f8f311c275d57f46d95e41b15aa97b454754c0): the shapes its docstrings print for a
// given input, and the contractions its code computes, reproduced by hand here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose, transient } from '../setup.js';

const shapes = (variables: unknown): unknown => fx.tree.map(variables, (t: tf.Tensor) => t.shape);

test('Dense: kernel [in, out], contracted over its first axis (flax/linen/linear.py:225, :266, :290)', () => {
  // linear.py:222-225:  layer = nn.Dense(features=4); params = layer.init(key, jnp.ones((1, 3)))
  //                     {'params': {'bias': (4,), 'kernel': (3, 4)}}
  // linear.py:264-266:  self.param('kernel', ..., (jnp.shape(inputs)[-1], self.features), ...)
  const layer = fx.nn.Dense(4);
  const variables = layer.init(fx.random.key(0), [1, 3]);
  assert.equal(shapes(variables), { params: { bias: [4], kernel: [3, 4] } });
  // linear.py:288-290: dot_general(inputs, kernel, (((inputs.ndim - 1,), (0,)), ((), ()))):
  // y[j] = sum_i x[i] kernel[i][j] + bias[j].
  const x = [0.5, -1, 2];
  const k = variables.params.kernel.arraySync() as number[][];
  const b = variables.params.bias.arraySync() as number[];
  const expected = [0, 1, 2, 3].map((j) => x.reduce((s, xi, i) => s + xi * k[i]![j]!, b[j]!));
  const y = layer.apply(variables, transient(tf.tensor2d([x])));
  assertClose(y.dataSync(), expected, 1e-6, 1e-6);
  tf.dispose([y, ...fx.tree.leaves(variables)]);
});

test('Conv: kernel HWIO [kh, kw, in / groups, out] (flax/linen/linear.py:622-625, :434-440, :746, :753)', () => {
  // linear.py:743-746: nn.Conv(features=4, kernel_size=(3,), padding='VALID') on (1, 8, 3)
  //                    {'params': {'bias': (4,), 'kernel': (3, 3, 4)}}
  const conv1d = fx.nn.Conv(4, [3], { padding: 'VALID' });
  const v1 = conv1d.init(fx.random.key(0), [1, 8, 3]);
  assert.equal(shapes(v1), { params: { bias: [4], kernel: [3, 3, 4] } });
  // linear.py:749-753: kernel_size=(3, 3) on 3 input features gives 'kernel': (3, 3, 3, 4);
  // linear.py:622-625: kernel_shape = kernel_size + (in_features // self.feature_group_count, self.features)
  const conv = fx.nn.Conv(4, [3, 3], { padding: 'VALID' });
  const v2 = conv.init(fx.random.key(1), [1, 8, 8, 3]);
  assert.equal(shapes(v2), { params: { bias: [4], kernel: [3, 3, 3, 4] } });
  const grouped = fx.nn.Conv(6, [3, 3], { featureGroupCount: 3 }).init(fx.random.key(2), [1, 5, 5, 9]);
  assert.equal(shapes(grouped), { params: { bias: [6], kernel: [3, 3, 3, 6] } });
  // linear.py:437-438: lhs_spec (0, ndim-1, 1, ...) and rhs_spec (ndim-1, ndim-2, 0, ...): the
  // input is NHWC and the kernel's last axis is the output feature, the one before it the input
  // feature, the first ones spatial. By hand: y[0, i, j, o] = b[o] + sum k[p, q, c, o] x[0, i+p, j+q, c].
  const xs = fx.random.normal(fx.random.key(3), [1, 4, 5, 3]);
  const y = conv.apply(v2, xs);
  const x = (xs.arraySync() as number[][][][])[0]!;
  const k = v2.params.kernel.arraySync() as number[][][][];
  const b = v2.params.bias.arraySync() as number[];
  const expected: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let o = 0; o < 4; o++) {
    let s = b[o]!;
    for (let p = 0; p < 3; p++) for (let q = 0; q < 3; q++) for (let c = 0; c < 3; c++) s += k[p]![q]![c]![o]! * x[i + p]![j + q]![c]!;
    expected.push(s);
  }
  assert.equal(y.shape, [1, 2, 3, 4]);
  assertClose(y.dataSync(), expected, 1e-5, 1e-5);
  tf.dispose([xs, y, ...fx.tree.leaves(v1), ...fx.tree.leaves(v2), ...fx.tree.leaves(grouped)]);
});

test("BatchNorm: running statistics in 'batch_stats' as mean and var (flax/linen/normalization.py:264, :358-372, :203-206)", () => {
  // normalization.py:262-264: BN.init on (5, 6) gives
  //   {'batch_stats': {'mean': (6,), 'var': (6,)}, 'params': {'bias': (6,), 'scale': (6,)}}
  // normalization.py:358-372: self.variable('batch_stats', 'mean', zeros ...), self.variable('batch_stats', 'var', ones ...)
  const bn = fx.nn.BatchNorm({ epsilon: 1e-5 });
  const variables = bn.init(fx.random.key(0), [5, 6]);
  assert.equal(shapes(variables), { batch_stats: { mean: [6], var: [6] }, params: { bias: [6], scale: [6] } });
  assert.equal(Array.from(variables.batch_stats.mean.dataSync()), [0, 0, 0, 0, 0, 0], 'mean starts at zeros');
  assert.equal(Array.from(variables.batch_stats.var.dataSync()), [1, 1, 1, 1, 1, 1], 'var starts at ones');
  // normalization.py:203-206 (and scale, bias after): y = (x - mean) * rsqrt(var + epsilon) * scale + bias,
  // with the running mean and var in inference.
  const mean = [0.5, -1, 0, 2, 1, -0.5];
  const variance = [1, 4, 0.25, 2, 0.5, 9];
  const scale = [1, 2, 0.5, -1, 1.5, 3];
  const bias = [0, 1, -1, 0.5, 0, 2];
  const fixed = { batch_stats: { mean: tf.tensor1d(mean), var: tf.tensor1d(variance) }, params: { scale: tf.tensor1d(scale), bias: tf.tensor1d(bias) } };
  const x = [1, 2, 3, 4, 5, 6];
  const y = bn.apply(fixed, transient(tf.tensor2d([x])));
  assertClose(y.dataSync(), x.map((v, i) => ((v - mean[i]!) / Math.sqrt(variance[i]! + 1e-5)) * scale[i]! + bias[i]!), 1e-5, 1e-5);
  tf.dispose([y, ...fx.tree.leaves(variables), ...fx.tree.leaves(fixed)]);
});

test("Embed: 'embedding' [numEmbeddings, features] (flax/linen/linear.py:1166-1169)", () => {
  // linear.py:1166-1169: self.param('embedding', self.embedding_init, (self.num_embeddings, self.features), ...)
  const embed = fx.nn.Embed(5, 3);
  const variables = embed.init(fx.random.key(0), transient(tf.zeros([1, 2], 'int32')));
  assert.equal(shapes(variables), { params: { embedding: [5, 3] } });
  const ids = tf.tensor2d([[4, 1]], [1, 2], 'int32');
  const y = embed.apply(variables, ids);
  const table = variables.params.embedding.arraySync() as number[][];
  assert.equal(Array.from(y.dataSync()), [...table[4]!, ...table[1]!], 'row i is the vector of id i');
  tf.dispose([y, ids, ...fx.tree.leaves(variables)]);
});

test.run();
