/**
 * The flaxen side of the benchmark, in its own process: training steps (TrainState + trainStep
 * + Adam), inference, parameter drawing, initShapes and memory, on the WASM backend.
 *
 * `--no-own-kernels` turns flaxen's own WebAssembly kernels off (tfjs's kernels do the work).
 * `--threads=N` starts the backend with `fx.ready('wasm', { threads: N })` instead of
 * `fx.ready('wasm', { threads: 1 })`; the `info` task reports the thread count actually in use (1 after
 * a fallback, which this process also reports on stderr).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { truncatedNormalTensor } from '../lib/random/samplers.js';
import { matMulPeak } from './common-tf.js';
import { setOwnGemm } from '../lib/ops/gemm.js';
import { wrapOwnKernels } from '../lib/ops/kernel-hook.js';
import { makeBatches, matMulFlops, median, mlpStepFlops, serve, timeEach, type OptimizerName, type Task, type Timing } from './protocol.js';

// --no-own-kernels: flaxen on tfjs's kernels only (its own products, convolutions and pooling
// gradient off), to show in the same run what they contribute.
if (process.argv.includes('--no-own-kernels')) setOwnGemm(false);

/** Milliseconds spent in flaxen's own WebAssembly kernels (tf.profile cannot see them): every call is timed. */
const ownKernelTime = { ms: 0 };
wrapOwnKernels((_name, fn) => (...args) => {
  const start = performance.now();
  try {
    return fn(...args);
  } finally {
    ownKernelTime.ms += performance.now() - start;
  }
});
const threadsArg = process.argv.find((a) => a.startsWith('--threads='));
const askedThreads = threadsArg === undefined ? undefined : Number(threadsArg.slice('--threads='.length));
// Without --threads: one thread, as tfjs-layers runs (fx.ready() would choose threads from the cores).
await fx.ready('wasm', { threads: askedThreads ?? 1 });
/** The threads the backend computes on (1 when none were asked for, or after a fallback). */
const threads = fx.backendInfo().threads ?? 1;
if (askedThreads !== undefined && threads !== askedThreads) {
  process.stderr.write(`bench flaxen worker: asked for ${askedThreads} threads, fx.backendInfo().threads is ${threads}: this process runs on ${threads} thread(s)\n`);
}

const mlp = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);

type Batch = { x: tf.Tensor; y: tf.Tensor };
const lossFn = (params: unknown, batch: Batch, state: fx.train.TrainState) =>
  tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(state.apply({ params }, batch.x) as tf.Tensor, batch.y));

/** A fresh train state for `model` on inputs of `inputShape`. */
function newState(model: fx.Module<any>, inputShape: number[], optimizer: OptimizerName = 'adam'): fx.train.TrainState {
  const variables = model.init(fx.random.key(0), inputShape);
  // The clipped chain keeps adam's fused update-and-apply (chain forwards it).
  const tx = optimizer === 'adam' ? fx.optim.adam(1e-3) : fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.adam(1e-3));
  return fx.train.TrainState.create({ apply: model, params: variables.params, tx });
}

/** Per-step timing of training (medians over `steps` steps). */
interface Trainer {
  state: fx.train.TrainState;
  next: number;
  readonly pool: Array<{ x: Float32Array; labels: Int32Array }>;
}
// One trainer per model and input shape, kept across rounds: a round measures a few more steps
// of the same training run (warmed up once), so rounds can be short and finely interleaved.
const trainers = new Map<string, Trainer>();

function trainSteps(name: string, model: fx.Module<any>, inputShape: number[], steps: number, optimizer: OptimizerName = 'adam'): Timing {
  const id = `${name}:${inputShape.join('x')}:${optimizer}`;
  let trainer = trainers.get(id);
  const fresh = trainer === undefined;
  if (!trainer) {
    trainer = { state: newState(model, inputShape, optimizer), next: 0, pool: makeBatches(inputShape[0]!, 8, inputShape.slice(1).reduce((a, b) => a * b, 1)) };
    trainers.set(id, trainer);
  }
  const t = trainer;
  return timeEach(() => {
    const { x, labels } = t.pool[t.next++ % t.pool.length]!;
    const data = { x: tf.tensor(x, inputShape), y: tf.tensor1d(labels, 'int32') };
    t.state = fx.train.trainStep(t.state, lossFn, data).state;
    tf.dispose([data.x, data.y]);
  }, steps, fresh ? 'first' : 1);
}

const lenet = fx.nn.Sequential([
  fx.nn.Conv(6, [5, 5], { padding: 'SAME' }), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
  fx.nn.Conv(16, [5, 5], { padding: 'VALID' }), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
  fx.nn.Flatten(), fx.nn.Dense(120), fx.nn.relu, fx.nn.Dense(84), fx.nn.relu, fx.nn.Dense(10),
]);

/** FLOPs of a LeNet-5 step: forward, every kernel gradient, input gradients of all but the first layer. */
function lenetStepFlops(batch: number): number {
  const conv1 = 2 * batch * 28 * 28 * 6 * 5 * 5 * 1;
  const conv2 = 2 * batch * 10 * 10 * 16 * 5 * 5 * 6;
  const dense = matMulFlops(batch, 400, 120) + matMulFlops(batch, 120, 84) + matMulFlops(batch, 84, 10);
  return (conv1 + conv2 + dense) * 2 + conv2 + dense;
}

/** A description of about 1.07e9 parameters: 16 dense layers of 8192 × 8192. */
const billion = fx.nn.Sequential(Array.from({ length: 16 }, () => fx.nn.Dense(8192)));
/** A model of about 50.3M parameters: 3 dense layers of 4096 × 4096. */
const fiftyMillion = fx.nn.Sequential(Array.from({ length: 3 }, () => fx.nn.Dense(4096)));
/**
 * LeCun normal drawn straight into the backend (`truncatedNormalTensor`): the same bits as
 * `fx.initializers.lecunNormal()`, which today draws into a JS array and copies it.
 */
const TRUNCATED_STD = 0.87962566103423978;
const directLecun: fx.Initializer = (key, shape) => truncatedNormalTensor(key, shape, -2, 2, Math.sqrt(1 / shape[0]!) / TRUNCATED_STD);
const fiftyMillionDirect = fx.nn.Sequential(Array.from({ length: 3 }, () => fx.nn.Dense(4096, { kernelInit: directLecun })));

let inference: { variables: ReturnType<typeof mlp.init>; input: tf.Tensor } | undefined;

async function handle(task: Task): Promise<Record<string, number | string>> {
  switch (task.kind) {
    case 'peak':
      return matMulPeak();
    case 'info':
      return { threads, asked: askedThreads ?? 1, backend: fx.backendInfo().name };
    case 'mlp': {
      const { ms, cpuMs } = trainSteps('mlp', mlp, [task.batch, 784], task.steps, task.tx);
      return { ms, cpuMs, gflops: mlpStepFlops(task.batch) / ms / 1e6, cpuGflops: mlpStepFlops(task.batch) / cpuMs / 1e6 };
    }
    case 'lenet': {
      const { ms, cpuMs } = trainSteps('lenet', lenet, [task.batch, 28, 28, 1], task.steps);
      return { ms, cpuMs, gflops: lenetStepFlops(task.batch) / ms / 1e6, cpuGflops: lenetStepFlops(task.batch) / cpuMs / 1e6 };
    }
    case 'infer': {
      const first = !inference;
      if (!inference) {
        const [{ x }] = makeBatches(task.batch, 1);
        inference = { variables: mlp.init(fx.random.key(0), [task.batch, 784]), input: tf.tensor(x!, [task.batch, 784]) };
      }
      const { variables, input } = inference;
      const { ms, cpuMs } = timeEach(() => (mlp.apply(variables, input) as tf.Tensor).dispose(), task.steps, first ? 'first' : 2);
      return { ms, cpuMs };
    }
    case 'draw': {
      // flaxen: init of a 50M-parameter model (LeCun-normal kernels); tfjs: one randomNormal of the same size.
      const count = 3 * (4096 * 4096 + 4096);
      let t = performance.now();
      const variables = fiftyMillion.init(fx.random.key(1), [1, 4096]);
      const initMs = performance.now() - t;
      fx.tree.dispose(variables);
      t = performance.now();
      const direct = fiftyMillionDirect.init(fx.random.key(1), [1, 4096]);
      const directMs = performance.now() - t;
      fx.tree.dispose(direct);
      t = performance.now();
      const raw = fx.random.normal(fx.random.key(2), [count]);
      const normalMs = performance.now() - t;
      raw.dispose();
      t = performance.now();
      const stock = tf.randomNormal([count], 0, 1, 'float32', 1);
      const stockMs = performance.now() - t;
      stock.dispose();
      return { count, initMs, directMs, normalMs, stockMs };
    }
    case 'initShapes': {
      const times: number[] = [];
      let count = 0;
      for (let i = 0; i < 21; i++) {
        const t = performance.now();
        const shapes = billion.initShapes(fx.random.key(0), [1, 8192]);
        times.push(performance.now() - t);
        count = fx.tree.leaves<{ shape: number[] }>(shapes).reduce((a, l) => a + l.shape.reduce((p, d) => p * d, 1), 0);
      }
      return { ms: median(times), count };
    }
    case 'memory': {
      // MLP batch 64: live tensors and bytes after each checkpoint in `steps` (cumulative), after
      // releasing what earlier tasks kept for their rounds.
      for (const t of trainers.values()) {
        fx.tree.dispose(t.state.params);
        fx.tree.dispose(t.state.optState);
      }
      trainers.clear();
      if (inference) {
        fx.tree.dispose(inference.variables);
        inference.input.dispose();
        inference = undefined;
      }
      const pool = makeBatches(64, 8);
      let state = newState(mlp, [64, 784]);
      const out: Record<string, number> = {};
      let done = 0;
      for (const target of task.steps) {
        for (; done < target; done++) {
          const { x, labels } = pool[done % pool.length]!;
          const data = { x: tf.tensor(x, [64, 784]), y: tf.tensor1d(labels, 'int32') };
          state = fx.train.trainStep(state, lossFn, data).state;
          tf.dispose([data.x, data.y]);
        }
        out[`tensors${target}`] = tf.memory().numTensors;
        out[`bytes${target}`] = tf.memory().numBytes;
      }
      fx.tree.dispose(state.params);
      fx.tree.dispose(state.optState);
      return out;
    }
    case 'profile': {
      // Where the time of one step goes: kernel time by kernel name, and the rest (JS).
      const model = task.model === 'lenet' ? lenet : mlp;
      const shape = task.model === 'lenet' ? [task.batch, 28, 28, 1] : [task.batch, 784];
      const pool = makeBatches(task.batch, 2);
      let state = newState(model, shape);
      const step = () => {
        const { x, labels } = pool[0]!;
        const data = { x: tf.tensor(x, shape), y: tf.tensor1d(labels, 'int32') };
        state = fx.train.trainStep(state, lossFn, data).state;
        tf.dispose([data.x, data.y]);
      };
      for (let i = 0; i < 5; i++) step();
      const out: Record<string, number> = {};
      const ownBefore = ownKernelTime.ms;
      const rounds = 5;
      let total = 0;
      for (let r = 0; r < rounds; r++) {
        const t = performance.now();
        const info = await tf.profile(() => { step(); return tf.scalar(0); });
        total += performance.now() - t;
        for (const k of info.kernels) {
          // only real kernels: tf.profile also lists op scopes (custom-gradient ops) that contain them
          if (!tf.getKernel(k.name, tf.getBackend())) continue;
          const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
          out[`kernel:${k.name}`] = (out[`kernel:${k.name}`] ?? 0) + ms / rounds;
          out[`count:${k.name}`] = (out[`count:${k.name}`] ?? 0) + 1 / rounds;
          // the same by kernel and input shapes (which convolution, which transpose)
          const shaped = `${k.name} ${JSON.stringify(k.inputShapes).replace(/,null/g, '')}`;
          out[`shaped:${shaped}`] = (out[`shaped:${shaped}`] ?? 0) + ms / rounds;
        }
      }
      out['stepMs'] = total / rounds;
      out['ownMs'] = (ownKernelTime.ms - ownBefore) / rounds;
      fx.tree.dispose(state.params);
      fx.tree.dispose(state.optState);
      return out;
    }
    default:
      throw new Error(`unknown task ${(task as Task).kind}`);
  }
}

serve(handle);
