/**
 * Datasets (`fx.data`): in-memory labelled data, key-shuffled batches, and the real MNIST
 * digits shipped by the `mnist` package.
 *
 * ```ts
 * const { train, test } = await fx.data.mnist.load();
 * for (const { images, labels } of fx.data.batches(train, 64, fx.random.key(0))) { ... }
 * // by training step, resumable: the batch of step s depends on (key, epoch, position) only
 * for (const { images, labels, step } of fx.data.stream(train, 64, fx.random.key(0), { start: 1200 })) { ... }
 * ```
 *
 * @module
 */
export { batches, batchCount } from './dataset.js';
export type { Dataset, Batch, BatchOptions } from './dataset.js';
export { stream, batchAt, stepsPerEpoch } from './stream.js';
export type { StepBatch, StreamOptions, BatchAtOptions } from './stream.js';
export * as mnist from './mnist.js';
