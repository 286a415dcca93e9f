/**
 * Losses and metrics (`fx.losses`), per example (no mean: reduce with `tf.mean` yourself),
 * numerically stable, with Optax's definitions.
 *
 * @example
 * ```ts
 * const logits = tf.tensor2d([[2, 1], [0, 0]]);
 * const labels = [0, 1];
 * const loss = tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, labels)); // 0.5032
 * ```
 *
 * @module
 */
export { softmaxCrossEntropy, softmaxCrossEntropyWithIntegerLabels, sigmoidBinaryCrossEntropy } from './cross-entropy.js';
export { l2Loss, huberLoss } from './regression.js';
export { accuracy } from './accuracy.js';
export type { LabelsLike } from './util.js';
