/**
 * Cross-entropy losses for classification, per example, with Optax's definitions. Each is
 * computed from log-probabilities (`logSoftmax`, `logSigmoid`), so very large logits (1e4 and
 * beyond) give finite losses and finite gradients. Masked logits (`-Infinity`, from attention
 * masks or beam search) are classes of probability 0: with a label of 0 there they add nothing
 * (`0 · log 0 = 0`, as Optax), so `[[1, 2, -Infinity]]` with label 0 gives 1.3133, and the
 * gradients stay finite; a label on a masked class gives a loss of `+Infinity`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, formatShape } from '../errors.js';
import { LabelsLike, checkFloat, integerLabels } from './util.js';
import { logSoftmax, weightedLogProbSum } from '../ops/softmax.js';
import { fusedSoftmaxCrossEntropy } from '../ops/softmax-ce.js';

// -sum(labels · logSoftmax(logits)) over the last axis, with a hand-written gradient (fewer
// dispatches than differentiating logSoftmax, mul and sum one by one):
//   d/dlogits = dy · (softmax · sum(labels) − labels),   d/dlabels = −dy · logSoftmax.
// Masked logits (-Infinity) follow 0 · log 0 = 0: a class with label 0 there adds nothing to the
// value (the plain product is NaN) and passes no gradient to its label (−log 0 is +∞).
const crossEntropy = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [logits, labels, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const logProbs = logSoftmax(logits);
  save([logProbs, labels]);
  const value = tf.neg(weightedLogProbSum(labels, logProbs));
  const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [lp, lab] = saved as [tf.Tensor, tf.Tensor];
    const dyCol = tf.expandDims(dy as tf.Tensor, -1);
    const probs = tf.exp(lp);
    const dLogits = tf.mul(tf.sub(tf.mul(probs, tf.sum(lab, -1, true)), lab), dyCol);
    const finiteLp = tf.where(tf.equal(lp, -Infinity), tf.zerosLike(lp), lp);
    const dLabels = tf.mul(finiteLp, tf.neg(dyCol));
    return [dLogits, dLabels];
  };
  return { value, gradFunc };
}) as (logits: tf.Tensor, labels: tf.Tensor) => tf.Tensor;

// The same with integer labels (constants: only the logits get a gradient), which makes the
// backward pass a single (softmax − onehot)·dy. On the wasm backend one own kernel per direction
// does it (`ops/softmax-ce.ts`: not bit-identical to these tfjs ops, a few ulps apart, and
// deterministic); elsewhere these tfjs ops.
function integerCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, classes: number): tf.Tensor {
  const fused = fusedSoftmaxCrossEntropy(logits, labels);
  if (fused) return fused;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // tf.oneHot(..., 'float32') writes int32 bits on wasm (tfjs 4.22), hence the cast.
    // tf.oneHot refuses a depth of 1; one class means every (checked) label is 0: all ones.
    const oneHot = classes === 1 ? tf.ones([...labels.shape, 1]) : tf.cast(tf.oneHot(labels, classes), 'float32');
    const logProbs = logSoftmax(x);
    save([logProbs, oneHot]);
    const value = tf.neg(weightedLogProbSum(oneHot, logProbs));
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [lp, hot] = saved as [tf.Tensor, tf.Tensor];
      return tf.mul(tf.sub(tf.exp(lp), hot), tf.expandDims(dy as tf.Tensor, -1));
    };
    return { value, gradFunc };
  }) as (x: tf.Tensor) => tf.Tensor;
  return op(logits);
}

/**
 * Softmax cross-entropy between `logits` `[..., C]` and a probability distribution `labels`
 * of the same shape (typically one-hot): `−Σ_c labels·log softmax(logits)`, one value per
 * example (shape `[...]`, no mean). Gradients flow to both arguments, as in Optax.
 *
 * @example
 * ```ts
 * const logits = tf.tensor([[2, 0, 0], [0, 0, 0]]);
 * const labels = tf.tensor([[1, 0, 0], [0, 1, 0]]);
 * fx.losses.softmaxCrossEntropy(logits, labels); // [0.2395, 1.0986]
 * const loss = tf.mean(fx.losses.softmaxCrossEntropy(logits, labels)); // the usual batch loss
 * ```
 */
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  const fnName = 'softmaxCrossEntropy(logits, labels)';
  checkFloat(logits, 'logits', fnName, 1);
  checkFloat(labels, 'labels', fnName);
  if (labels.rank !== logits.rank || labels.shape.some((d, i) => d !== logits.shape[i])) {
    const hint = labels.rank === logits.rank - 1 ? '; for integer class labels use softmaxCrossEntropyWithIntegerLabels' : '';
    throw new ShapeError('', `${fnName}: labels must have the shape of the logits ${formatShape(logits.shape)}, found ${formatShape(labels.shape)}${hint}`);
  }
  return crossEntropy(logits, labels);
}

/**
 * Softmax cross-entropy with integer class labels: `logits` `[..., C]`, `labels` `[...]`
 * (an int32 tensor, or JS integers for `[B, C]` logits); returns `−log softmax(logits)[label]`
 * per example (shape `[...]`, no mean). Every label must be an integer in `[0, C)` (float32
 * tensors holding integers are accepted): anything else (7 of 3 classes, -1, 2.5) is a
 * `FlaxenError` naming the label, since tfjs's one-hot would silently give a loss of 0 and
 * truncate fractions. Checking tensor labels reads them back, a copy of a few bytes per example
 * on the wasm and cpu backends.
 *
 * @example
 * ```ts
 * const logits = tf.tensor([[2, 0, 0], [0, 0, 0]]);
 * fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, tf.tensor([0, 1], [2], 'int32')); // [0.2395, 1.0986]
 * fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, [0, 1]);                           // the same
 * ```
 */
export function softmaxCrossEntropyWithIntegerLabels(logits: tf.Tensor, labels: LabelsLike): tf.Tensor {
  const fnName = 'softmaxCrossEntropyWithIntegerLabels(logits, labels)';
  checkFloat(logits, 'logits', fnName, 1);
  const checked = integerLabels(logits, labels, fnName);
  try {
    return integerCrossEntropy(logits, checked.labels, logits.shape[logits.rank - 1]!);
  } finally {
    if (checked.owned) checked.labels.dispose();
  }
}

/**
 * Sigmoid binary cross-entropy, elementwise (the shape of `logits`, no mean), with labels in
 * `[0, 1]` of the same shape: `−labels·log σ(x) − (1 − labels)·log(1 − σ(x))`, computed as
 * `softplus(x) − labels·x` so that it stays finite for any logit (gradient `σ(x) − labels`).
 *
 * @example
 * ```ts
 * const logits = tf.tensor([0, 2, -3]);
 * fx.losses.sigmoidBinaryCrossEntropy(logits, tf.tensor([1, 0, 0])); // [0.6931, 2.1269, 0.0486]
 * ```
 */
export function sigmoidBinaryCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
  const fnName = 'sigmoidBinaryCrossEntropy(logits, labels)';
  checkFloat(logits, 'logits', fnName);
  checkFloat(labels, 'labels', fnName);
  if (labels.rank !== logits.rank || labels.shape.some((d, i) => d !== logits.shape[i])) {
    throw new ShapeError('', `${fnName}: labels must have the shape of the logits ${formatShape(logits.shape)}, found ${formatShape(labels.shape)}`);
  }
  // Not tf.logSigmoid: its gradient reads its input after a tidy may have disposed it.
  return tf.tidy(() => tf.sub(tf.softplus(logits), tf.mul(labels, logits)));
}
