/**
 * Trains a multilayer perceptron on the real MNIST digits of the `mnist` package
 * (8,000 training / 2,000 test digits), with `fx.train.TrainState`, `fx.train.trainStep`
 * and Adam with a cosine learning-rate decay, and prints a progress bar per epoch and the test accuracy.
 *
 *     npm run build && node dist/examples/mnist-mlp.js --epochs 10 --batch-size 64 --seed 0 --lr 2e-3
 *
 * The same flags give the same loss curve bit for bit: every random number comes from the seed.
 * `trainMnist` (the loop) is shared with `mnist-cnn.ts`; `trainMlp` is what `npm start` runs.
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { ProgressBar } from './progress.js';

/** Options of a training run; every field has a default. */
export interface TrainOptions {
  /** Passes over the training digits. */
  readonly epochs?: number;
  /** Digits per step. */
  readonly batchSize?: number;
  /** Seeds the parameters and the batch order. */
  readonly seed?: number;
  /** Adam's initial learning rate (decayed along a cosine to 0 over the run). */
  readonly lr?: number;
  /** Training digits (default 8,000). */
  readonly trainSize?: number;
  /** Test digits (default 2,000). */
  readonly testSize?: number;
  /** Print progress (default true); false for silence, or a function that receives each line. */
  readonly log?: boolean | ((line: string) => void);
  /** Force the interactive progress bar on or off (default: on when stdout is a terminal). */
  readonly interactive?: boolean;
  /** The tfjs backend (default `'wasm'`). */
  readonly backend?: 'wasm' | 'cpu';
}

/** What a run reports. */
export interface TrainResult {
  /** Test accuracy after the last epoch, in [0, 1]. */
  readonly testAccuracy: number;
  /** Seconds spent in training steps (evaluation excluded). */
  readonly seconds: number;
  /** The loss of every step, in order. */
  readonly losses: number[];
  /** Per epoch: the test accuracy and the training seconds spent so far. */
  readonly epochs: Array<{ readonly epoch: number; readonly testAccuracy: number; readonly seconds: number; readonly meanLoss: number }>;
}

/** What differs between the MLP and the CNN. */
export interface ModelSpec {
  /** A short name for the log, e.g. `MLP 784-512-512-10`. */
  readonly name: string;
  /** The network: digits in, 10 logits out. */
  readonly model: fx.Module;
  /** The shape of one digit as the model wants it: `[784]` or `[28, 28, 1]`. */
  readonly inputShape: readonly number[];
  /** Defaults for this model. */
  readonly defaults: Required<Pick<TrainOptions, 'epochs' | 'batchSize' | 'seed' | 'lr'>>;
}

type Batch = { readonly images: tf.Tensor; readonly labels: tf.Tensor };

/** The test accuracy of `params` on `data`, in batches of 500. */
export function evaluate(model: fx.Module, params: unknown, data: fx.data.Dataset, inputShape: readonly number[]): number {
  let correct = 0;
  for (const batch of fx.data.batches(data, 500, undefined, { shape: inputShape })) {
    const logits = model.apply({ params } as never, batch.images);
    correct += fx.losses.accuracy(logits, batch.labels) * batch.size;
    tf.dispose([logits, batch.images, batch.labels]);
  }
  return correct / data.count;
}

/** Trains `spec.model` on the MNIST digits: the loop shared by the MLP and CNN examples. */
export async function trainMnist(spec: ModelSpec, opts: TrainOptions = {}): Promise<TrainResult> {
  const { epochs, batchSize, seed, lr } = { ...spec.defaults, ...definedOnly(opts) };
  const print = opts.log === false ? () => {} : typeof opts.log === 'function' ? opts.log : (line: string) => process.stdout.write(line + '\n');
  const stream = opts.log === false ? { write: () => true } : typeof opts.log === 'function' ? { write: (s: string) => print(s.replace(/\n$/, '')) } : process.stdout;

  await fx.ready(opts.backend ?? 'wasm');
  const { train, test } = await fx.data.mnist.load({ trainSize: opts.trainSize ?? 8000, testSize: opts.testSize ?? 2000 });
  const [initKey, shuffleKey] = fx.random.split(fx.random.key(seed));
  const variables = spec.model.init(initKey!, [1, ...spec.inputShape]);
  const steps = fx.data.batchCount(train, batchSize, { dropRemainder: true });
  // Adam with the learning rate decayed along a cosine to 0 over the run (Optax's cosine_decay).
  const tx = fx.optim.adam(fx.optim.schedules.cosineDecay(lr, Math.max(1, epochs * steps)));
  let state = fx.train.TrainState.create({ apply: spec.model, params: variables.params, tx });
  print(`${spec.name}: ${fx.tree.count(state.params).toLocaleString('en-US')} parameters; ${train.count} training / ${test.count} test digits; ` +
    `batch ${batchSize}, Adam lr ${lr} with cosine decay, seed ${seed}, backend ${fx.backendInfo().name}${fx.backendInfo().simd ? ' (SIMD)' : ''}`);

  const lossFn = (params: unknown, batch: Batch, s: fx.train.TrainState) =>
    tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply({ params }, batch.images), batch.labels));
  const losses: number[] = [];
  const history: Array<{ epoch: number; testAccuracy: number; seconds: number; meanLoss: number }> = [];
  let seconds = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const bar = new ProgressBar({ label: `epoch ${epoch}/${epochs}`, total: steps, batchSize, stream, interactive: opts.interactive });
    let step = 0;
    const started = performance.now();
    for (const batch of fx.data.batches(train, batchSize, fx.random.foldIn(shuffleKey!, epoch), { shape: spec.inputShape })) {
      const result = fx.train.trainStep(state, lossFn, batch);
      state = result.state;
      tf.dispose([batch.images, batch.labels]);
      losses.push(result.loss);
      bar.update(++step, result.loss);
    }
    seconds += (performance.now() - started) / 1000;
    const testAccuracy = evaluate(spec.model, state.params, test, spec.inputShape);
    history.push({ epoch, testAccuracy, seconds, meanLoss: bar.meanLoss });
    bar.finish(`test accuracy ${(testAccuracy * 100).toFixed(2)}%  (${seconds.toFixed(1)} s of training)`);
  }
  const testAccuracy = history.length ? history[history.length - 1]!.testAccuracy : evaluate(spec.model, state.params, test, spec.inputShape);
  state.dispose();
  return { testAccuracy, seconds, losses, epochs: history };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The MLP: 784 → 512 → 512 → 10 with ReLU. */
export const mlp: ModelSpec = {
  name: 'MLP 784-512-512-10',
  model: fx.nn.Sequential([fx.nn.Dense(512), fx.nn.relu, fx.nn.Dense(512), fx.nn.relu, fx.nn.Dense(10)]),
  inputShape: [784],
  defaults: { epochs: 10, batchSize: 64, seed: 0, lr: 2e-3 },
};

/**
 * Trains the MLP; what `npm start` calls. The default run is short (3 epochs, well under a
 * minute here) and prints a progress bar per epoch and the test accuracy.
 */
export async function trainMlp(opts: TrainOptions = {}): Promise<TrainResult> {
  return trainMnist(mlp, { epochs: 3, ...definedOnly(opts) });
}

/** Parses `--epochs 5 --batch-size=64 --seed 1 --lr 3e-4` style flags. */
export function parseFlags(argv: readonly string[], usage: string): TrainOptions {
  const names: Record<string, keyof TrainOptions> = {
    '--epochs': 'epochs', '--batch-size': 'batchSize', '--seed': 'seed', '--lr': 'lr', '--train-size': 'trainSize', '--test-size': 'testSize',
  };
  const out: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(usage);
      process.exit(0);
    }
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    const name = names[flag];
    if (!name) fail(`unknown flag ${arg}`, usage);
    const text = inline ?? argv[++i];
    const value = Number(text);
    const integer = name !== 'lr';
    if (text === undefined || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < 0 || (name !== 'seed' && value === 0)) {
      fail(`${flag} needs a ${integer ? 'positive integer' : 'positive number'}, found ${text ?? 'nothing'}`, usage);
    }
    out[name] = value;
  }
  return out as TrainOptions;
}

function fail(message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

const USAGE = `usage: node dist/examples/mnist-mlp.js [--epochs 10] [--batch-size 64] [--seed 0] [--lr 0.002] [--train-size 8000] [--test-size 2000]`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = parseFlags(process.argv.slice(2), USAGE);
  const result = await trainMnist(mlp, opts);
  console.log(`final test accuracy ${(result.testAccuracy * 100).toFixed(2)}% after ${result.seconds.toFixed(1)} s of training`);
}
