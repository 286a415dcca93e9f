/**
 * Softmax cross-entropy with integer labels as one op on the wasm backend: one pass of flaxen's
 * own kernel (`softmax_ce` in `lib/ops/gemm.c`) per direction, in place of the ~25 tfjs kernels
 * of the composed form (one-hot, cast, max, subtract, exp, sum, log, where, ...; about a sixth
 * of an MLP training step at batch 64 was their dispatch).
 *
 * Numbers: per row, `max`, `s = Σ e^(x − max)` (SIMD, e^x by Cephes' polynomial, about 1 ulp)
 * and `log s` (float64, rounded once), then `loss = −((x[label] − max) − log s)`; the gradient is
 * `(e^(x − max) / s − onehot) · dy`, recomputed from the logits. These are NOT bit-identical to
 * the composed tfjs path (`logSoftmax` then a weighted sum: tfjs's exp and log round
 * differently), but agree with it to a few float32 ulps, and they are deterministic: the same
 * bits in every process, at every thread count (the kernel always runs on the calling thread),
 * before and after a resume. The masked-logit rules are those of `ops/softmax.ts`: a `-Infinity`
 * logit off the label adds nothing, a label on one gives `+Infinity`, a row of only `-Infinity`
 * has probabilities 0 (its gradient is `−dy` at the label, 0 elsewhere); a NaN or `+Infinity`
 * logit makes the row's loss NaN.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { keepForBackward } from '../autodiff/grad.js';
import { ownKernelsOnCallingThread } from './gemm.js';
import { withLazyGradients } from './lazy-grad.js';
import { softmax } from './softmax.js';

/** The functions of gemm.c's softmax cross-entropy section (offsets are byte offsets). */
interface SoftmaxCeExports {
  softmax_ce(x: number, labels: number, loss: number, rows: number, classes: number): void;
  softmax_ce_grad(x: number, labels: number, dy: number, dx: number, rows: number, classes: number): void;
}

/** The heap and the kernels when they can run on these tensors (`labels` int32, held by the backend); otherwise undefined. */
function kernelsFor(logits: tf.Tensor, labels: tf.Tensor, dy?: tf.Tensor) {
  if (logits.size === 0 || labels.dtype !== 'int32' || labels.isDisposed) return undefined;
  const own = ownKernelsOnCallingThread(logits, dy);
  if (!own) return undefined;
  const kernels = own.kernels as unknown as Partial<SoftmaxCeExports>;
  const labelsAt = own.heap.offsetOf(labels);
  if (labelsAt === undefined || typeof kernels.softmax_ce !== 'function' || typeof kernels.softmax_ce_grad !== 'function') return undefined;
  return { heap: own.heap, kernels: kernels as SoftmaxCeExports, labelsAt };
}

/** `dlogits = (softmax(logits) − onehot(labels)) · dy`, by the own kernel, or by tfjs ops where it cannot run. */
function crossEntropyGrad(logits: tf.Tensor, labels: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const classes = logits.shape[logits.rank - 1]!;
  const own = kernelsFor(logits, labels, dy);
  if (!own) {
    return tf.tidy(() => {
      const hot = classes === 1 ? tf.onesLike(logits) : tf.cast(tf.oneHot(labels, classes), 'float32');
      return tf.mul(tf.sub(softmax(logits), hot), tf.expandDims(dy, -1));
    });
  }
  const { heap, kernels, labelsAt } = own;
  const dx = heap.alloc([...logits.shape]);
  kernels.softmax_ce_grad(heap.offsetOf(logits)!, labelsAt, heap.offsetOf(dy)!, heap.offsetOf(dx)!, logits.size / classes, classes);
  return dx;
}

/**
 * @internal
 * `−log softmax(logits)[label]` per example for `logits` `[..., C]` and checked int32 `labels`
 * `[...]` (every label in `[0, C)`), as one op whose gradient with respect to the logits is one
 * more pass of the kernel; undefined when the own kernel cannot run here (another backend, the
 * own kernels off, empty logits), and the caller uses tfjs ops. The labels get no gradient.
 *
 * @example
 * ```ts
 * import { fusedSoftmaxCrossEntropy } from './softmax-ce.js';
 * const loss = fusedSoftmaxCrossEntropy(tf.tensor([[1, 2, -Infinity]]), tf.tensor1d([0], 'int32')); // [1.3133] on wasm
 * ```
 */
export function fusedSoftmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor | undefined {
  const own = kernelsFor(logits, labels);
  if (!own) return undefined;
  const { heap, kernels, labelsAt } = own;
  const classes = logits.shape[logits.rank - 1]!;
  // Inside fx.valueAndGrad the logits and labels are kept for the backward pass as aliases (no
  // copy); elsewhere tfjs's save copies them.
  const kept = keepForBackward([logits, labels]);
  return withLazyGradients(
    [logits, labels],
    (save) => {
      if (!kept) save([logits, labels]);
      const loss = heap.alloc(logits.shape.slice(0, -1));
      kernels.softmax_ce(heap.offsetOf(logits)!, labelsAt, heap.offsetOf(loss)!, logits.size / classes, classes);
      return loss;
    },
    (dy, saved) => {
      const [x, lab] = (kept ?? saved) as [tf.Tensor, tf.Tensor];
      return [() => crossEntropyGrad(x, lab, dy), () => tf.zerosLike(lab)];
    },
  );
}
