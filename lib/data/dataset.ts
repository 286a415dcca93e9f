/**
 * In-memory datasets and their batches. A dataset is plain JS arrays (fast to slice and
 * shuffle); `batches` turns it into tensors one batch at a time, in an order given by a key.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { Key, assertKey } from '../random/key.js';
import { permutationArray } from '../random/samplers.js';

/**
 * A labelled dataset held in JS memory: `count` examples of `shape` (e.g. `[28, 28, 1]`),
 * their values back to back in `images`, and an integer class per example in `labels`.
 *
 * @example
 * ```ts
 * const { train } = await fx.data.mnist.load();
 * train.count;          // 8000
 * train.shape;          // [28, 28, 1]
 * train.images.length;  // 8000 * 784
 * train.labels[0];      // a digit 0–9
 * ```
 */
export interface Dataset {
  /** The example values, `count × size(shape)` floats, example after example. */
  readonly images: Float32Array;
  /** The class of each example. */
  readonly labels: Int32Array;
  /** The number of examples. */
  readonly count: number;
  /** The shape of one example, e.g. `[28, 28, 1]` (height, width, channels). */
  readonly shape: readonly number[];
  /** The number of classes. */
  readonly numClasses: number;
}

/**
 * One batch: `images` of shape `[size, ...exampleShape]` (float32) and `labels` `[size]`
 * (int32). The caller owns both tensors and disposes them.
 *
 * @example
 * ```ts
 * const data: fx.data.Dataset = { images: new Float32Array(10 * 4), labels: new Int32Array(10), count: 10, shape: [4], numClasses: 2 };
 * for (const batch of fx.data.batches(data, 4)) {
 *   const { images, labels, size }: fx.data.Batch = batch;   // images [4, 4], labels [4], size 4; the last batch 2
 *   tf.dispose([images, labels]);
 * }
 * ```
 */
export interface Batch {
  /** `[size, ...shape]`, float32. */
  readonly images: tf.Tensor;
  /** `[size]`, int32 class labels. */
  readonly labels: tf.Tensor1D;
  /** The number of examples in this batch. */
  readonly size: number;
}

/**
 * Options of {@link batches}.
 *
 * @example
 * ```ts
 * const opts: fx.data.BatchOptions = { shape: [28, 28, 1], dropRemainder: false };
 * ```
 */
export interface BatchOptions {
  /**
   * The shape of each example in the batch (default: flat, `[size of dataset.shape]`, e.g.
   * `[784]` for an MLP; pass `[28, 28, 1]` for a convolutional network).
   */
  readonly shape?: readonly number[];
  /**
   * Skip the last, smaller batch. Default: true when shuffling (training: every step sees a
   * full batch), false without a key (evaluation: every example is seen).
   */
  readonly dropRemainder?: boolean;
}

/** @internal Throws a `FlaxenError` unless `data` is a consistent {@link Dataset}. */
export function checkDataset(data: unknown, fnName: string): asserts data is Dataset {
  const d = data as Partial<Dataset> | null;
  if (d === null || typeof d !== 'object' || !(d.images instanceof Float32Array) || !(d.labels instanceof Int32Array) || typeof d.count !== 'number' || !Array.isArray(d.shape)) {
    throw new FlaxenError('', `${fnName}: expected a dataset { images: Float32Array, labels: Int32Array, count, shape }, found ${describeValue(data)}`);
  }
  const size = d.shape.reduce((a: number, b: number) => a * b, 1);
  if (d.images.length !== d.count * size || d.labels.length !== d.count) {
    throw new FlaxenError('', `${fnName}: the dataset holds ${d.images.length} values and ${d.labels.length} labels, expected ${d.count} × ${size} values and ${d.count} labels`);
  }
}

/** @internal */
export function checkBatchSize(batchSize: unknown, fnName: string): asserts batchSize is number {
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new FlaxenError('', `${fnName}: batchSize must be a positive integer, found ${describeValue(batchSize)}`);
  }
}

/**
 * The number of batches {@link batches} yields for these arguments (for progress bars).
 *
 * @example
 * ```ts
 * const { train } = await fx.data.mnist.load();            // train.count is 8000
 * fx.data.batchCount(train, 48);                          // 167
 * fx.data.batchCount(train, 48, { dropRemainder: true }); // 166
 * ```
 */
export function batchCount(data: Dataset, batchSize: number, opts: { readonly dropRemainder?: boolean } = {}): number {
  checkDataset(data, 'batchCount(data, batchSize)');
  checkBatchSize(batchSize, 'batchCount(data, batchSize)');
  return opts.dropRemainder ? Math.floor(data.count / batchSize) : Math.ceil(data.count / batchSize);
}

/**
 * Iterates over a dataset in batches of tensors. With a `key` the examples come in a random
 * order given by that key alone (use `fx.random.foldIn(key, epoch)` for a new order each
 * epoch); without one, in order. Batches are built from the JS arrays (no `tf.slice` of a
 * big tensor, which copies its whole input on wasm). Each batch's tensors are the caller's
 * to dispose; a batch is only made when the loop asks for it, so breaking early leaks nothing.
 *
 * @param data - a {@link Dataset}, e.g. `(await fx.data.mnist.load()).train`.
 * @param batchSize - examples per batch.
 * @param key - shuffles the order when given.
 * @example
 * ```ts
 * const { train } = await fx.data.mnist.load();
 * const epoch = 1;
 * for (const batch of fx.data.batches(train, 64, fx.random.foldIn(fx.random.key(0), epoch))) {
 *   // batch.images: [64, 28, 28, 1], batch.labels: [64]
 *   tf.dispose([batch.images, batch.labels]);
 * }
 * ```
 */
export function* batches(data: Dataset, batchSize: number, key?: Key, opts: BatchOptions = {}): Generator<Batch, void, undefined> {
  const fnName = 'batches(data, batchSize, key)';
  checkDataset(data, fnName);
  checkBatchSize(batchSize, fnName);
  if (key !== undefined) assertKey(key, `${fnName}: key`);
  const unknown = Object.keys(opts).filter((k) => k !== 'shape' && k !== 'dropRemainder');
  if (unknown.length) throw new FlaxenError('', `${fnName}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; options are shape, dropRemainder`);
  const shape = exampleShape(data, opts.shape, fnName);
  const dropRemainder = opts.dropRemainder ?? key !== undefined;
  const order = key === undefined ? null : permutationArray(key, data.count);
  const total = dropRemainder ? Math.floor(data.count / batchSize) * batchSize : data.count;
  for (let start = 0; start < total; start += batchSize) {
    yield gatherBatch(data, order, start, Math.min(batchSize, total - start), shape);
  }
}

/** @internal The shape of one example in a batch: `shape` checked against the dataset, or flat. */
export function exampleShape(data: Dataset, shape: readonly number[] | undefined, fnName: string): readonly number[] {
  const exampleSize = data.shape.reduce((a, b) => a * b, 1);
  const result = shape ?? [exampleSize];
  if (!Array.isArray(result) || result.some((d) => !Number.isSafeInteger(d) || d < 1) || result.reduce((a, b) => a * b, 1) !== exampleSize) {
    throw new FlaxenError('', `${fnName}: shape ${Array.isArray(result) ? formatShape(result) : describeValue(result)} does not hold one example of shape ${formatShape(data.shape)} (${exampleSize} values)`);
  }
  return result;
}

/**
 * @internal The batch of examples `order[start … start + size)` (or `start …` in dataset order
 * when `order` is null), built from the JS arrays.
 */
export function gatherBatch(data: Dataset, order: Int32Array | null, start: number, size: number, shape: readonly number[]): Batch {
  const exampleSize = data.shape.reduce((a, b) => a * b, 1);
  let images: Float32Array;
  let labels: Int32Array;
  if (order === null) {
    images = data.images.slice(start * exampleSize, (start + size) * exampleSize);
    labels = data.labels.slice(start, start + size);
  } else {
    images = new Float32Array(size * exampleSize);
    labels = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const index = order[start + i]!;
      images.set(data.images.subarray(index * exampleSize, (index + 1) * exampleSize), i * exampleSize);
      labels[i] = data.labels[index]!;
    }
  }
  return { images: tf.tensor(images, [size, ...shape], 'float32'), labels: tf.tensor1d(labels, 'int32'), size };
}
