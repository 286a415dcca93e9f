// Compiled by `tsc --noEmit` in `npm test`: each `@ts-expect-error` must be an error, so this
// file fails to compile if the types stop following the model.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

const net = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
const variables = net.init(fx.random.key(0), [2, 20]);

const kernel: tf.Tensor = variables.params.layers_0.kernel;
const bias: tf.Tensor = variables.params.layers_2.bias;
// @ts-expect-error layers_1 is relu: it has no parameters
variables.params.layers_1;
// @ts-expect-error Dense has kernel and bias only
variables.params.layers_0.weight;
// @ts-expect-error this model has no batch_stats collection
variables.batch_stats;
// @ts-expect-error the tree is read-only
variables.params.layers_0 = variables.params.layers_2;

const noBias = fx.nn.Sequential([fx.nn.Dense(4, { useBias: false })]).init(fx.random.key(0), [1, 3]);
noBias.params.layers_0.kernel;
// @ts-expect-error useBias: false has no bias
noBias.params.layers_0.bias;

const shapes = net.initShapes(fx.random.key(0), [2, 20]);
const kernelShape: readonly number[] = shapes.params.layers_0.kernel.shape;
// @ts-expect-error initShapes leaves are ShapeDtype, not tensors
shapes.params.layers_0.kernel.dataSync();

const y: tf.Tensor = net.apply(variables, tf.ones([1, 20]));
const [y2, updated] = net.apply(variables, tf.ones([1, 20]), { mutable: ['batch_stats'] });
// @ts-expect-error apply with mutable returns a pair, not a tensor
const wrong: tf.Tensor = net.apply(variables, tf.ones([1, 20]), { mutable: true });

// A model inside a model: the tree nests.
const outer = fx.nn.Sequential([net, fx.nn.Dense(3)]);
const nested = outer.init(fx.random.key(0), [1, 20]);
nested.params.layers_0.layers_2.kernel;
// @ts-expect-error the inner Sequential has no layers_1 parameters
nested.params.layers_0.layers_1;

void [kernel, bias, kernelShape, y, y2, updated, wrong];
