/**
 * The stock side of the recurrent benchmark: tfjs-layers' `lstm` trained with `trainOnBatch` on
 * tfjs-core + WASM, in a process that never loads flaxen.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { matMulPeak } from './common-tf.js';
import { serve, timeEachAsync, type Task } from './protocol.js';
import { LSTM_SIZES, tokenBatches, type RnnTask } from './rnn-protocol.js';

// tfjs-layers' lstm calls chained tensor methods (rMat.flatten(), ...), which the full tfjs
// bundle registers and tfjs-core's Node entry does not (its ESM files cannot be loaded from
// Node): each becomes the op of the same name, applied to the tensor.
const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
const ops = tf as unknown as Record<string, unknown>;
for (const name of Object.keys(ops)) {
  const op = ops[name];
  if (typeof op === 'function' && /^[a-z]/.test(name) && !(name in proto)) proto[name] = function (this: tf.Tensor, ...args: unknown[]) { return (op as (...a: unknown[]) => unknown)(this, ...args); };
}
proto['flatten'] = function (this: tf.Tensor) { return tf.reshape(this, [this.size]); };

await tf.setBackend('wasm');
await tf.ready();

const { batch, time, hidden, vocab } = LSTM_SIZES;

/** One-hot tokens → lstm(128, all steps) → dense(64, softmax) on every step; Adam, categorical cross-entropy. */
function lstmModel(): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.lstm({ units: hidden, returnSequences: true, inputShape: [time, vocab] }),
      tfl.layers.dense({ units: vocab, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

const pool = tokenBatches(4);
let model: tfl.Sequential | undefined;
let next = 0;

async function handle(task: RnnTask): Promise<Record<string, number | string>> {
  switch (task.kind) {
    case 'peak':
      return matMulPeak();
    case 'lstm': {
      const first = !model;
      model ??= lstmModel();
      const m = model;
      return {
        ...(await timeEachAsync(async () => {
          const { tokens, targets } = pool[next++ % pool.length]!;
          const xs = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor2d(tokens, [batch, time], 'int32'), vocab), 'float32'));
          const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor2d(targets, [batch, time], 'int32'), vocab), 'float32'));
          await m.trainOnBatch(xs, ys);
          tf.dispose([xs, ys]);
        }, task.steps, first ? 'first' : 1)),
      };
    }
    default:
      throw new Error(`the tfjs-layers recurrent worker has no task ${task.kind}`);
  }
}

serve((task: Task) => handle(task as unknown as RnnTask));
