/**
 * Classification accuracy.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, formatShape } from '../errors.js';
import { LabelsLike, checkFloat, integerLabels } from './util.js';

/**
 * The fraction of examples whose largest logit is the label, as a JS number in `[0, 1]`.
 * `labels` are integer class labels (an int32 tensor `[...]` or JS integers) or one-hot /
 * probability labels of the logits' shape (their argmax is the class). It reads the result
 * back from the backend (one `dataSync`), so call it for evaluation, not inside a gradient.
 * Ties go to the lowest index, as in `argMax`. Creates no lasting tensor.
 *
 * @example
 * ```ts
 * const logits = tf.tensor([[2, 1, 0], [0, 3, 1], [1, 0, 2]]);
 * fx.losses.accuracy(logits, [0, 1, 1]); // 0.6666…
 * ```
 */
export function accuracy(logits: tf.Tensor, labels: LabelsLike): number {
  const fnName = 'accuracy(logits, labels)';
  checkFloat(logits, 'logits', fnName, 1);
  const examples = logits.size / logits.shape[logits.rank - 1]!;
  if (examples === 0) throw new FlaxenError('', `${fnName}: there are no examples (logits of shape ${formatShape(logits.shape)})`);
  if (labels instanceof tf.Tensor && labels.dtype === 'float32' && labels.rank === logits.rank) {
    if (labels.shape.some((d, i) => d !== logits.shape[i])) {
      throw new ShapeError('', `${fnName}: one-hot labels must have the shape of the logits ${formatShape(logits.shape)}, found ${formatShape(labels.shape)}`);
    }
    const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.argMax(labels, -1)), 'int32')));
    const n = correct.dataSync()[0]!;
    correct.dispose();
    return n / examples;
  }
  const checked = integerLabels(logits, labels, fnName);
  try {
    const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), checked.labels), 'int32')));
    const n = correct.dataSync()[0]!;
    correct.dispose();
    return n / examples;
  } finally {
    if (checked.owned) checked.labels.dispose();
  }
}
