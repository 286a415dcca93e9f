/**
 * Log-softmax and softmax over the last axis that stay exact for masked logits: attention masks
 * and beam search write `-Infinity` for the classes (or keys) a row must not pick. Those get
 * probability 0 and log-probability `-Infinity`, the others the usual values; a row masked
 * entirely gets probability 0 everywhere (log-probability `-Infinity`) rather than NaN, and its
 * gradients are zeros. Gradients are finite everywhere.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** The most negative finite float32. */
const LOWEST = -3.4028234663852886e38;

/**
 * @internal
 * `log softmax(logits)` over the last axis, shifted by the row's maximum so that no exp
 * overflows. For a row with a finite maximum the numbers are those of the textbook
 * `x − max − log Σ exp(x − max)`; a `-Infinity` logit gives `-Infinity`. A row of only
 * `-Infinity` gives `-Infinity` everywhere: its maximum is replaced by the lowest float (so
 * `x − max` is not `−∞ + ∞`), and its sum of exponentials, 0, by 1 (every other row sums to at
 * least 1, its maximum contributing `exp(0)`, so the `maximum` changes nothing there).
 *
 * @example
 * ```ts
 * logSoftmax(tf.tensor([[1, 2, -Infinity]])); // [[-1.3133, -0.3133, -Infinity]]
 * ```
 */
export function logSoftmax(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const shifted = tf.sub(logits, tf.maximum(tf.max(logits, -1, true), LOWEST));
    return tf.sub(shifted, tf.log(tf.maximum(tf.sum(tf.exp(shifted), -1, true), 1)));
  });
}

/**
 * @internal
 * `softmax(logits)` over the last axis, `exp` of {@link logSoftmax}: masked (`-Infinity`)
 * entries get 0, and a row masked entirely gets zeros (it attends to nothing) instead of NaN.
 * Differentiable with tfjs's own gradients, which are finite here too.
 *
 * @example
 * ```ts
 * softmax(tf.tensor([[0, -Infinity], [-Infinity, -Infinity]])); // [[1, 0], [0, 0]]
 * ```
 */
export function softmax(logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.exp(logSoftmax(logits)));
}

/**
 * @internal
 * `Σ weights · logProbs` over the last axis with `0 · log 0 = 0`: a weight of 0 on a masked
 * (`-Infinity`) log-probability adds nothing, where the plain product would give NaN. A
 * positive weight on a masked entry still gives `-Infinity` (that outcome has probability 0).
 *
 * @example
 * ```ts
 * weightedLogProbSum(tf.tensor([[1, 0]]), tf.tensor([[0, -Infinity]])); // [0]
 * ```
 */
export function weightedLogProbSum(weights: tf.Tensor, logProbs: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(tf.where(tf.equal(weights, 0), tf.zerosLike(logProbs), tf.mul(weights, logProbs)), -1));
}
