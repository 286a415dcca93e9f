/**
 * A LeNet-style CNN described once, without any size: the image resolution given to `init`
 * decides the size of every later layer. At 28×28 the `Dense` after `Flatten` gets 4·4·16 = 256
 * inputs, at 32×32 it gets 5·5·16 = 400. Then a few training steps on the wasm backend, whose
 * convolution kernel gradients come from flaxen's own conv op.
 *
 *     npm run build && node dist/examples/lenet.js
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';

/**
 * LeNet-5 as LeCun et al. (1998) drew it, in NHWC: conv 5×5×6 (VALID) → average pool 2 →
 * conv 5×5×16 → average pool 2 → flatten → 120 → 84 → `numClasses`, with ReLU.
 *
 * @example
 * ```ts
 * const net = LeNet();
 * const vars = net.init(fx.random.key(0), [1, 32, 32, 1]);
 * vars.params.layers_7.kernel.shape; // [400, 120]
 * ```
 */
export function LeNet(numClasses = 10) {
  const { Conv, AvgPool, Flatten, Dense, relu, Sequential } = fx.nn;
  return Sequential([
    Conv(6, [5, 5], { padding: 'VALID' }),
    relu,
    AvgPool([2, 2], { strides: [2, 2] }),
    Conv(16, [5, 5], { padding: 'VALID' }),
    relu,
    AvgPool([2, 2], { strides: [2, 2] }),
    Flatten(),
    Dense(120),
    relu,
    Dense(84),
    relu,
    Dense(numClasses),
  ]);
}

/** Prints the description before init, and after init at 28×28 and at 32×32. */
export async function demo(): Promise<void> {
  await fx.ready();
  const net = LeNet();
  console.log('Before init (sizes unknown: -1):\n' + net.describe());
  for (const size of [28, 32]) {
    const shapes = net.initShapes(fx.random.key(0), [1, size, size, 1]);
    console.log(`\nAfter init at ${size}x${size}:\n` + net.describe(shapes));
    console.log(`Dense after Flatten: kernel [${shapes.params.layers_7.kernel.shape.join(', ')}]; ${fx.tree.count(shapes).toLocaleString('en-US')} parameters`);
  }

  // A few SGD steps on one fixed random batch: the loss must fall, which needs conv kernel gradients on wasm.
  const variables = net.init(fx.random.key(0), [1, 28, 28, 1]);
  const images = fx.random.uniform(fx.random.key(1), [32, 28, 28, 1]);
  const labels = tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), 'int32');
  const loss = (params: typeof variables.params) =>
    tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(net.apply({ params }, images), labels));
  let params = variables.params;
  const start = performance.now();
  for (let step = 0; step < 5; step++) {
    const [value, grads] = fx.valueAndGrad(loss)(params);
    const next = fx.tree.mapN([params, grads], ([p, g]: tf.Tensor[]) => tf.sub(p!, tf.mul(0.05, g!)));
    if (step > 0) fx.tree.dispose(params);
    fx.tree.dispose(grads);
    params = next as typeof params;
    console.log(`step ${step}: loss ${value.dataSync()[0]!.toFixed(4)}`);
    value.dispose();
  }
  console.log(`5 steps at batch 32 on ${tf.getBackend()}: ${((performance.now() - start) / 5).toFixed(1)} ms/step`);
  fx.tree.dispose([variables, params, images, labels]);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await demo();
}
