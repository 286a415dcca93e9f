// Compiled by `tsc --noEmit` in `npm test`: a custom module's variables, declared once in
// fx.nn.module(name, decl, body), type both init's tree and the names scope.param accepts.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

const Block = fx.nn.module('Block', { params: { scale: 'tensor', proj: fx.nn.Dense(4), head: fx.nn.Dense(2, { useBias: false }) } }, (scope, x: tf.Tensor) => {
  const scale = scope.param('scale', fx.initializers.ones, [x.shape[x.rank - 1]!]);
  // @ts-expect-error 'scal' is not a declared parameter
  scope.param('scal', fx.initializers.ones, [1]);
  const h = scope.call(fx.nn.Dense(4), fx.isAbstract(x) ? x : tf.mul(x, scale), { name: 'proj' });
  return scope.call(fx.nn.Dense(2, { useBias: false }), h, { name: 'head' });
});
const vars = Block.init(fx.random.key(0), [1, 3]);
const scale: tf.Tensor = vars.params.scale;
const kernel: tf.Tensor = vars.params.proj.kernel;
const bias: tf.Tensor = vars.params.proj.bias;
// @ts-expect-error the head has no bias
vars.params.head.bias;
// @ts-expect-error no parameter 'w' was declared
vars.params.w;
// @ts-expect-error no batch_stats collection was declared
vars.batch_stats;
// @ts-expect-error the tree is read-only
vars.params.scale = scale;

// A module with batch statistics declares both collections.
const Normed = fx.nn.module('Normed', { params: { bn: fx.nn.BatchNorm() }, batch_stats: { bn: fx.nn.BatchNorm() } }, (scope, x: tf.Tensor) =>
  scope.call(fx.nn.BatchNorm(), x, { name: 'bn' }),
);
const nv = Normed.init(fx.random.key(0), [2, 3]);
const mean: tf.Tensor = nv.batch_stats.bn.mean;
const bnScale: tf.Tensor = nv.params.bn.scale;

// A module declaring no parameters of its own cannot call scope.param at all.
fx.nn.module('NoOwn', { params: { Dense_0: fx.nn.Dense(2) } }, (scope, x: tf.Tensor) => {
  // @ts-expect-error no own parameters were declared
  scope.param('w', fx.initializers.ones, [1]);
  return scope.call(fx.nn.Dense(2), x);
});

// Untyped modules keep any name.
fx.nn.module('Free', (scope, x: tf.Tensor) => tf.mul(x, scope.param('anything', fx.initializers.ones, [1])));

void [kernel, bias, mean, bnScale];
