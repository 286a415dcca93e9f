// The training process of the resume test (spec/checkpoint/resume-kill.spec.ts). It trains a
// small convolutional network with BatchNorm and Dropout, Adam with a warmup-cosine schedule,
// on synthetic data, with a CheckpointManager in <dir>: it resumes from the latest step there,
// if any. The whole state is a plain record { step, params, batch_stats, opt } (numbers in the
// optimizer state included); the data order comes from fx.data.stream and the dropout key of
// step s is foldIn(dropoutKey, s), so nothing depends on the process.
//
//   node resume-kill-child.js <dir> <steps> <final-file>
//
// Prints `start <step>`, then `loss <step> <float32 bits as hex>` after each step (and its
// save), and writes the final params and batch_stats (toBytes) to <final-file> at the end.
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

const [dir, stepsText, finalFile] = process.argv.slice(2);
if (!dir || !stepsText || !finalFile) throw new Error('usage: resume-kill-child <dir> <steps> <final-file>');
const STEPS = Number(stepsText);
await fx.ready((process.env['FLAXEN_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');

// Synthetic data: 96 images 6×6×1, labels from the images (so the loss can fall).
const COUNT = 96;
const images = tf.tidy(() => fx.random.normal(fx.random.key(100), [COUNT, 6, 6, 1]));
const imageValues = images.dataSync() as Float32Array;
const labels = new Int32Array(COUNT);
for (let i = 0; i < COUNT; i++) labels[i] = Math.min(9, Math.floor(Math.abs(imageValues[i * 36]!) * 4));
const data: fx.data.Dataset = { images: new Float32Array(imageValues), labels, count: COUNT, shape: [6, 6, 1], numClasses: 10 };
images.dispose();

const model = fx.nn.Sequential([
  fx.nn.Conv(4, [3, 3]),
  fx.nn.BatchNorm({ momentum: 0.9 }),
  fx.nn.relu,
  fx.nn.Flatten(),
  fx.nn.Dropout(0.25),
  fx.nn.Dense(10),
]);
const tx = fx.optim.adam(fx.optim.schedules.warmupCosineDecay(0, 0.02, 5, STEPS));
const dataKey = fx.random.key(7);
const dropoutKey = fx.random.key(8);

function fresh() {
  const variables = model.init({ params: fx.random.key(1), dropout: fx.random.key(2) }, [1, 6, 6, 1]);
  return { step: 0, params: variables.params, batch_stats: variables['batch_stats']!, opt: tx.init(variables.params) };
}
type State = ReturnType<typeof fresh>;

const tensorsOf = (tree: unknown) => fx.tree.leaves<unknown>(tree).filter((l): l is tf.Tensor => l instanceof tf.Tensor);

function trainStep(state: State, batch: fx.data.StepBatch): { next: State; loss: number } {
  const rng = fx.random.foldIn(dropoutKey, batch.step);
  const lossFn = (params: State['params']) => {
    const [logits, updated] = model.apply({ params, batch_stats: state.batch_stats }, batch.images, { train: true, rngs: { dropout: rng }, mutable: ['batch_stats'] });
    return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, batch.labels)), updated['batch_stats']] as const;
  };
  const [[loss, batchStats], grads] = fx.valueAndGrad(lossFn, { hasAux: true })(state.params);
  const [updates, opt] = tx.update(grads, state.opt, state.params);
  const params = fx.optim.applyUpdates(state.params, updates);
  const next: State = { step: state.step + 1, params, batch_stats: batchStats as State['batch_stats'], opt: opt as State['opt'] };
  const lossValue = loss.dataSync()[0]!;
  const keep = new Set(tensorsOf(next));
  for (const t of [loss, ...tensorsOf(grads), ...tensorsOf(updates), ...tensorsOf(state)]) if (!keep.has(t)) t.dispose();
  return { next, loss: lossValue };
}

const manager = new fx.checkpoint.CheckpointManager(dir, { maxToKeep: 2, saveIntervalSteps: 3 });
let state = fresh();
if (manager.latestStep() !== undefined) {
  const restored = await manager.restore(state);
  fx.tree.dispose(state);
  state = restored as State;
}
process.stdout.write(`start ${state.step}\n`);
const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);
// Negative control (not run in the suite): FLAXEN_RESUME_NAIVE=1 restarts the data order with
// the process, as a plain `for (const batch of batches(...))` loop would; the test then fails.
const naive = process.env['FLAXEN_RESUME_NAIVE'] === '1';
const first = state.step;
const stream = fx.data.stream(data, 8, dataKey, { start: naive ? 0 : first, end: naive ? STEPS - first : STEPS, shape: [6, 6, 1] });
for (const streamed of stream) {
  const batch = naive ? { ...streamed, step: streamed.step + first } : streamed;
  const { next, loss } = trainStep(state, batch);
  tf.dispose([batch.images, batch.labels]);
  state = next;
  await manager.save(state.step, state, { metrics: { loss } });
  asFloat[0] = loss;
  process.stdout.write(`loss ${batch.step} ${bits[0]!.toString(16)}\n`);
}
await writeFile(finalFile, fx.checkpoint.toBytes({ params: state.params, batch_stats: state.batch_stats }));
fx.tree.dispose(state);
process.stdout.write(`done ${tf.memory().numTensors}\n`);
