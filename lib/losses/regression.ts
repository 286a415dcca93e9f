/**
 * Regression losses, elementwise as in Optax (the shape of the predictions, no mean).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { checkFloat, checkSameShape } from './util.js';

/**
 * Half the squared error, elementwise: `0.5·(predictions − targets)²` (Optax's `l2_loss`;
 * without `targets`, `0.5·predictions²`). Shapes must match exactly: no broadcasting, so a
 * `[B, 1]` versus `[B]` slip is an error rather than a `[B, B]` loss.
 *
 * @example
 * ```ts
 * fx.losses.l2Loss(tf.tensor([1, 2]), tf.tensor([0, 4])); // [0.5, 2]
 * ```
 */
export function l2Loss(predictions: tf.Tensor, targets?: tf.Tensor): tf.Tensor {
  const fnName = 'l2Loss(predictions, targets)';
  checkFloat(predictions, 'predictions', fnName);
  if (targets !== undefined) {
    checkFloat(targets, 'targets', fnName);
    checkSameShape(predictions, targets, 'targets', fnName);
  }
  return tf.tidy(() => tf.mul(0.5, tf.square(targets === undefined ? predictions : tf.sub(predictions, targets))));
}

/**
 * The Huber loss, elementwise: `0.5·e²` where `|e| ≤ delta`, `delta·(|e| − 0.5·delta)`
 * beyond, with `e = predictions − targets` (Optax's `huber_loss`; `targets` default 0).
 *
 * @example
 * ```ts
 * fx.losses.huberLoss(tf.tensor([0.5, 3]), tf.tensor([0, 0])); // [0.125, 2.5]
 * fx.losses.huberLoss(tf.tensor([3]), undefined, 2);          // [4]
 * ```
 */
export function huberLoss(predictions: tf.Tensor, targets?: tf.Tensor, delta = 1): tf.Tensor {
  const fnName = 'huberLoss(predictions, targets, delta)';
  checkFloat(predictions, 'predictions', fnName);
  if (targets !== undefined) {
    checkFloat(targets, 'targets', fnName);
    checkSameShape(predictions, targets, 'targets', fnName);
  }
  if (typeof delta !== 'number' || !(delta > 0) || !Number.isFinite(delta)) {
    throw new FlaxenError('', `${fnName}: delta must be a positive number, found ${describeValue(delta)}`);
  }
  return tf.tidy(() => {
    const errors = targets === undefined ? predictions : tf.sub(predictions, targets);
    const absErrors = tf.abs(errors);
    const quadratic = tf.minimum(absErrors, delta);
    const linear = tf.sub(absErrors, quadratic);
    return tf.add(tf.mul(0.5, tf.square(quadratic)), tf.mul(delta, linear));
  });
}
