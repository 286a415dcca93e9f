/**
 * The stock side of the benchmark: `@tensorflow/tfjs-layers` on tfjs-core + WASM, in a process
 * that never loads flaxen (tfjs-layers registers its own gradients; flaxen registers tfjs-core's).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { matMulPeak } from './common-tf.js';
import { makeBatches, serve, timeEach, timeEachAsync, type Task, type Timing } from './protocol.js';

await tf.setBackend('wasm');
await tf.ready();

function mlp(): tfl.Sequential {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ units: 256, activation: 'relu', inputShape: [784] }), tfl.layers.dense({ units: 10, activation: 'softmax' })],
  });
  // Integer labels, the usual tfjs-layers way (softmax output + sparse categorical cross-entropy).
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy' });
  return model;
}

const pools = new Map<number, Array<{ x: Float32Array; labels: Int32Array }>>();
const warmed = new Set<number>();
let next = 0;

/** Per-step timing of `trainOnBatch` (medians over `steps` steps); the model persists across rounds. */
async function trainSteps(model: tfl.Sequential, inputShape: number[], steps: number): Promise<Timing> {
  const batch = inputShape[0]!;
  const pool = pools.get(batch) ?? makeBatches(batch, 8, inputShape.slice(1).reduce((a, b) => a * b, 1));
  pools.set(batch, pool);
  const warmup = warmed.has(batch) ? 1 : 'first';
  warmed.add(batch);
  return timeEachAsync(async () => {
    const { x, labels } = pool[next++ % pool.length]!;
    const xs = tf.tensor(x, inputShape);
    const ys = tf.tensor2d(Float32Array.from(labels), [labels.length, 1]);
    await model.trainOnBatch(xs, ys);
    tf.dispose([xs, ys]);
  }, steps, warmup);
}

const models = new Map<number, tfl.Sequential>();
let inferenceInput: tf.Tensor | undefined;

async function handle(task: Task): Promise<Record<string, number | string>> {
  switch (task.kind) {
    case 'peak':
      return matMulPeak();
    case 'mlp': {
      const model = models.get(task.batch) ?? mlp();
      models.set(task.batch, model);
      return { ...(await trainSteps(model, [task.batch, 784], task.steps)) };
    }
    case 'infer': {
      const model = models.get(-1) ?? mlp();
      models.set(-1, model);
      const first = !inferenceInput;
      if (!inferenceInput) {
        const [{ x }] = makeBatches(task.batch, 1);
        inferenceInput = tf.tensor(x!, [task.batch, 784]);
      }
      const input = inferenceInput;
      // predict's default batchSize (32) would split the batch; one call on the whole batch, like flaxen's apply.
      const timing = timeEach(() => (model.predict(input, { batchSize: task.batch }) as tf.Tensor).dispose(), task.steps, first ? 'first' : 2);
      return { ...timing };
    }
    case 'lenet': {
      // LeNet-5 cannot train on wasm with tfjs-layers: there is no Conv2DBackpropFilter kernel.
      const model = tfl.sequential({
        layers: [
          tfl.layers.conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
          tfl.layers.maxPooling2d({ poolSize: 2 }),
          tfl.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu' }),
          tfl.layers.maxPooling2d({ poolSize: 2 }),
          tfl.layers.flatten(),
          tfl.layers.dense({ units: 120, activation: 'relu' }),
          tfl.layers.dense({ units: 84, activation: 'relu' }),
          tfl.layers.dense({ units: 10, activation: 'softmax' }),
        ],
      });
      model.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy' });
      const [{ x, labels }] = makeBatches(task.batch, 1, 784);
      const xs = tf.tensor(x!, [task.batch, 28, 28, 1]);
      const ys = tf.tensor2d(Float32Array.from(labels!), [task.batch, 1]);
      try {
        await model.trainOnBatch(xs, ys);
        return { status: 'trained' };
      } catch (error) {
        return { status: 'failed', error: (error as Error).message.split('\n')[0]! };
      } finally {
        tf.dispose([xs, ys]);
      }
    }
    default:
      throw new Error(`the tfjs-layers worker has no task ${task.kind}`);
  }
}

serve(handle);
