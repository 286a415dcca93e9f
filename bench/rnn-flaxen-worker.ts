/**
 * The flaxen side of the recurrent benchmark, in its own process on the WASM backend: an LSTM
 * language-model training step (one-hot tokens → RNN(LSTM) → Dense → softmax cross-entropy,
 * Adam) and a causal Transformer block's training step.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { matMulPeak } from './common-tf.js';
import { serve, timeEach, type Task } from './protocol.js';
import { BLOCK_SIZES, LSTM_SIZES, blockStepFlops, tokenBatches, type RnnTask } from './rnn-protocol.js';

await fx.ready('wasm');

const { batch, time, hidden, vocab } = LSTM_SIZES;

type Batch = { x: tf.Tensor; y: tf.Tensor };
const lossFn = (params: unknown, data: Batch, state: fx.train.TrainState) => {
  const logits = state.apply({ params }, data.x) as tf.Tensor;
  return tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(tf.reshape(logits, [-1, vocab]), data.y));
};

const lstmModel = (cell: 'LSTMCell' | 'OptimizedLSTMCell') => () => fx.nn.Sequential([fx.nn.RNN(fx.nn[cell](hidden)), fx.nn.Dense(vocab)]);

/** A pre-norm causal Transformer block (self-attention and an MLP, each with a residual) between an embedding and the output layer. */
const { width, heads, mlp } = BLOCK_SIZES;
const block = fx.nn.module('Block', (scope, x: tf.Tensor) => {
  const mask = fx.nn.causalMask(x.shape[1]!);
  const a = scope.call(fx.nn.SelfAttention({ numHeads: heads }), scope.call(fx.nn.LayerNorm(), x), mask);
  const h = tf.add(x, a);
  const m = scope.call(fx.nn.Dense(width), scope.call(fx.nn.Dense(mlp, { activation: fx.nn.relu }), scope.call(fx.nn.LayerNorm(), h)));
  return tf.add(h, m);
});
const blockModel = fx.nn.Sequential([fx.nn.Embed(vocab, width), block, fx.nn.LayerNorm(), fx.nn.Dense(vocab)]);

const pool = tokenBatches(4);
interface Trainer {
  state: fx.train.TrainState;
  next: number;
}
const trainers = new Map<string, Trainer>();

function trainSteps(name: string, model: () => fx.Module<any>, oneHot: boolean, steps: number, firstWarmup: number | 'first' = 'first') {
  let trainer = trainers.get(name);
  const fresh = !trainer;
  if (!trainer) {
    const variables = model().init(fx.random.key(0), oneHot ? [batch, time, vocab] : [batch, time]);
    trainer = { state: fx.train.TrainState.create({ apply: model(), params: variables.params, tx: fx.optim.adam(1e-3) }), next: 0 };
    trainers.set(name, trainer);
  }
  const t = trainer;
  return timeEach(() => {
    const { tokens, targets } = pool[t.next++ % pool.length]!;
    const x = tf.tidy(() => {
      const ids = tf.tensor2d(tokens, [batch, time], 'int32');
      return oneHot ? tf.cast(tf.oneHot(ids, vocab), 'float32') : ids;
    });
    const y = tf.tensor1d(targets, 'int32');
    t.state = fx.train.trainStep(t.state, lossFn, { x, y }).state;
    tf.dispose([x, y]);
  }, steps, fresh ? firstWarmup : 1);
}

function handle(task: RnnTask): Record<string, number | string> {
  switch (task.kind) {
    case 'peak':
      return matMulPeak();
    case 'lstm':
      // LSTMCell's reference scan takes seconds a step: one warm-up step, not 1.5 s of them.
      return { ...trainSteps(`lstm ${task.cell ?? 'LSTMCell'}`, lstmModel(task.cell ?? 'LSTMCell'), true, task.steps, task.cell === 'OptimizedLSTMCell' ? 'first' : 1) };
    case 'block': {
      const { ms, cpuMs } = trainSteps('block', () => blockModel, false, task.steps);
      return { ms, cpuMs, cpuGflops: blockStepFlops() / cpuMs / 1e6 };
    }
    default:
      throw new Error(`the flaxen recurrent worker has no task ${task.kind}`);
  }
}

serve((task: Task) => handle(task as unknown as RnnTask));
