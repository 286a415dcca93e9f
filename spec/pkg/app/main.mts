// Strict TypeScript, an ES module: `import`, top-level await, typed variables.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from 'flaxen';

await fx.ready();
const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(3)]);
const variables = net.init(fx.random.key(0), [2, 5]);
const kernel: tf.Tensor = variables.params.layers_0.kernel;
const y: tf.Tensor = net.apply(variables, tf.ones([2, 5]));
console.log(JSON.stringify({
  program: 'main.mts',
  backend: fx.backendInfo().name,
  tree: fx.tree.format(variables),
  kernelHead: Array.from(kernel.dataSync().slice(0, 4)),
  output: Array.from(y.dataSync()),
}));
