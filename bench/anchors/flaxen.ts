/**
 * flaxen's column of the anchors table, measured exactly as the anchors measure theirs
 * (bench/anchors/pytorch.py, bench/anchors/timing.ts): the same four figures, medians over rounds of
 * a round's mean step time, wall clock. Usage: node dist/bench/anchors/flaxen.js [threads];
 * prints one JSON line.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { labels, record, timed } from './timing.js';

const threads = Number(process.argv[2] ?? 1);
await fx.ready('wasm', { threads });

const mlp = () => fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
const lenet = () =>
  fx.nn.Sequential([
    fx.nn.Conv(6, [5, 5], { padding: 'SAME' }), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
    fx.nn.Conv(16, [5, 5], { padding: 'VALID' }), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
    fx.nn.Flatten(), fx.nn.Dense(120), fx.nn.relu, fx.nn.Dense(84), fx.nn.relu, fx.nn.Dense(10),
  ]);
type Batch = { x: tf.Tensor; y: tf.Tensor };
const lossFn = (params: unknown, batch: Batch, state: fx.train.TrainState) =>
  tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(state.apply({ params }, batch.x) as tf.Tensor, batch.y));

function trainStep(model: fx.Module<any>, shape: number[]): () => void {
  let state = fx.train.TrainState.create({ apply: model, params: model.init(fx.random.key(0), shape).params, tx: fx.optim.adam(1e-3) });
  const data = { x: fx.random.normal(fx.random.key(1), shape), y: tf.tensor1d(labels(shape[0]!), 'int32') };
  return () => {
    state = fx.train.trainStep(state, lossFn, data).state;
  };
}

const out: Record<string, number | string> = { engine: 'flaxen (tfjs 4.22 wasm SIMD)', threads: fx.backendInfo().threads ?? 1 };
for (const batch of [64, 256]) record(out, `mlpStep${batch}`, timed(trainStep(mlp(), [batch, 784]), batch === 64 ? 12 : 6));
record(out, 'lenetStep64', timed(trainStep(lenet(), [64, 28, 28, 1]), 5));
const model = mlp();
const params = model.init(fx.random.key(0), [256, 784]).params;
const x = fx.random.normal(fx.random.key(2), [256, 784]);
const infer = (): void => {
  const y = model.apply({ params }, x) as tf.Tensor;
  y.dataSync();
  y.dispose();
};
record(out, 'mlpInfer256', timed(infer, 10));
console.log(JSON.stringify(out));
