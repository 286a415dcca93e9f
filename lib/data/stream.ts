/**
 * Data order that survives a restart: the batch of training step `s` is a function of
 * (key, epoch, position) alone, where `epoch = ⌊s / stepsPerEpoch⌋` and
 * `position = s mod stepsPerEpoch`. The examples of epoch `e` come in the order
 * `fx.random.permutation(fx.random.foldIn(key, e), count)`, exactly as
 * `fx.data.batches(data, batchSize, fx.random.foldIn(key, e))` yields them, so a run resumed at
 * step `s` sees the batches it would have seen had it never stopped.
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { checkOptions } from '../check-options.js';
import { Key, assertKey, foldIn } from '../random/key.js';
import { permutationArray } from '../random/samplers.js';
import { Batch, Dataset, checkBatchSize, checkDataset, exampleShape, gatherBatch } from './dataset.js';

/**
 * A batch of a {@link stream}: a {@link Batch} with the training step it belongs to, and where
 * it comes from (`epoch`, and `position`, its index within the epoch).
 *
 * @example
 * ```ts
 * const data: fx.data.Dataset = { images: new Float32Array(8 * 2), labels: new Int32Array(8), count: 8, shape: [2], numClasses: 2 };
 * const batch: fx.data.StepBatch = fx.data.batchAt(data, 4, fx.random.key(0), 5);
 * [batch.step, batch.epoch, batch.position];   // [5, 2, 1]
 * tf.dispose([batch.images, batch.labels]);
 * ```
 */
export interface StepBatch extends Batch {
  /** The training step this batch is for. */
  readonly step: number;
  /** `⌊step / stepsPerEpoch⌋`. */
  readonly epoch: number;
  /** `step mod stepsPerEpoch`: the batch's index within its epoch. */
  readonly position: number;
}

/**
 * Options of {@link stream}.
 *
 * @example
 * ```ts
 * const opts: fx.data.StreamOptions = { start: 1200, end: 2000, shape: [28, 28, 1] };
 * ```
 */
export interface StreamOptions {
  /** The first step (default 0): a resumed run passes the restored step. */
  readonly start?: number;
  /** The step to stop before (default: never stop; break out of the loop). */
  readonly end?: number;
  /** The shape of one example in the batch, as in `fx.data.batches` (default flat). */
  readonly shape?: readonly number[];
}

/**
 * Options of {@link batchAt}.
 *
 * @example
 * ```ts
 * const opts: fx.data.BatchAtOptions = { shape: [28, 28, 1] };
 * ```
 */
export interface BatchAtOptions {
  /** The shape of one example in the batch (default flat). */
  readonly shape?: readonly number[];
}

/**
 * The number of full batches in an epoch: the steps of one epoch of a {@link stream} (the
 * remainder of an epoch is never used, so every step sees a full batch).
 *
 * @example
 * ```ts
 * const { train } = await fx.data.mnist.load();   // train.count is 8000
 * fx.data.stepsPerEpoch(train, 64);              // 125
 * ```
 */
export function stepsPerEpoch(data: Dataset, batchSize: number): number {
  const fnName = 'stepsPerEpoch(data, batchSize)';
  checkDataset(data, fnName);
  checkBatchSize(batchSize, fnName);
  return perEpoch(data, batchSize, fnName);
}

function perEpoch(data: Dataset, batchSize: number, fnName: string): number {
  const steps = Math.floor(data.count / batchSize);
  if (steps === 0) throw new FlaxenError('', `${fnName}: the dataset has ${data.count} examples, fewer than one batch of ${batchSize}`);
  return steps;
}

function checkStep(value: unknown, what: string, fnName: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new FlaxenError('', `${fnName}: ${what} must be a non-negative integer, found ${describeValue(value)}`);
  return value;
}

/**
 * The batch of training step `step`, computed from (key, epoch, position) alone: the same in
 * every process, whatever ran before. The caller owns (and disposes) its tensors. For a
 * loop, {@link stream} is cheaper (it shuffles once per epoch; this shuffles on every call).
 *
 * @param data - the dataset.
 * @param batchSize - examples per batch.
 * @param key - the run's data key.
 * @param step - the training step.
 * @param opts - `{ shape }` of one example.
 * @example
 * ```ts
 * const { train } = await fx.data.mnist.load();
 * const batch = fx.data.batchAt(train, 64, fx.random.key(1), 300, { shape: [28, 28, 1] });
 * batch.images.shape;   // [64, 28, 28, 1]
 * batch.epoch;          // 2
 * tf.dispose([batch.images, batch.labels]);
 * ```
 */
export function batchAt(data: Dataset, batchSize: number, key: Key, step: number, opts?: BatchAtOptions): StepBatch {
  const fnName = 'batchAt(data, batchSize, key, step)';
  checkDataset(data, fnName);
  checkBatchSize(batchSize, fnName);
  assertKey(key, `${fnName}: key`);
  checkStep(step, 'step', fnName);
  const { shape } = checkOptions<BatchAtOptions>(fnName, opts, { shape: 'any' });
  const exShape = exampleShape(data, shape, fnName);
  const steps = perEpoch(data, batchSize, fnName);
  const epoch = Math.floor(step / steps);
  const position = step % steps;
  const order = permutationArray(foldIn(key, epoch), data.count);
  return { ...gatherBatch(data, order, position * batchSize, batchSize, exShape), step, epoch, position };
}

/**
 * Training batches by step, from `start` on, epoch after epoch: the batch of step `s` is
 * {@link batchAt}`(data, batchSize, key, s)`, so a run that restarts from a checkpoint of step
 * `s` and calls `stream(data, batchSize, key, { start: s })` sees exactly the batches of the
 * run that never stopped. Endless unless `end` is given. Each batch's tensors are the caller's;
 * a batch is only made when the loop asks for it.
 *
 * @param data - the dataset.
 * @param batchSize - examples per batch.
 * @param key - the run's data key (keep it apart from the parameter and dropout keys).
 * @param opts - `start`, `end`, `shape`; see {@link StreamOptions}.
 * @example
 * ```ts
 * const { train } = await fx.data.mnist.load();
 * const dataKey = fx.random.key(7);
 * const restoredStep = 250;                // e.g. manager.latestStep()
 * for (const batch of fx.data.stream(train, 64, dataKey, { start: restoredStep, end: 253 })) {
 *   // batch.step: 250, 251, 252; batch.epoch: 2; batch.position: 0, 1, 2
 *   tf.dispose([batch.images, batch.labels]);
 * }
 * ```
 */
export function stream(data: Dataset, batchSize: number, key: Key, opts?: StreamOptions): Generator<StepBatch, void, undefined> {
  // Checked at the call (a generator's body would only run at the first `next`).
  const fnName = 'stream(data, batchSize, key)';
  checkDataset(data, fnName);
  checkBatchSize(batchSize, fnName);
  assertKey(key, `${fnName}: key`);
  const { start = 0, end, shape } = checkOptions<StreamOptions>(fnName, opts, { start: 'number', end: 'number', shape: 'any' });
  checkStep(start, "option 'start'", fnName);
  if (end !== undefined) checkStep(end, "option 'end'", fnName);
  const exShape = exampleShape(data, shape, fnName);
  const steps = perEpoch(data, batchSize, fnName);
  return (function* () {
    let epoch = -1;
    let order: Int32Array | null = null;
    for (let step = start; end === undefined || step < end; step++) {
      const stepEpoch = Math.floor(step / steps);
      if (stepEpoch !== epoch) {
        epoch = stepEpoch;
        order = permutationArray(foldIn(key, epoch), data.count);
      }
      const position = step % steps;
      yield { ...gatherBatch(data, order, position * batchSize, batchSize, exShape), step, epoch, position };
    }
  })();
}
