// A CommonJS program, as `npm init -y` makes them: flaxen is an ES module, loaded by require()
// (Node >= 20.19 loads ES modules without top-level await synchronously).
const tf = require('@tensorflow/tfjs-core');
const fx = require('flaxen');

fx.ready().then(() => {
  const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(3)]);
  const variables = net.init(fx.random.key(0), [2, 5]);
  const y = net.apply(variables, tf.ones([2, 5]));
  console.log(JSON.stringify({
    program: 'require.cjs',
    backend: fx.backendInfo().name,
    tree: fx.tree.format(variables),
    kernelHead: Array.from(variables.params.layers_0.kernel.dataSync().slice(0, 4)),
    output: Array.from(y.dataSync()),
  }));
});
