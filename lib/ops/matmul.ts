/**
 * Dense matrix products whose gradients run on the fast matMul kernel of the WASM backend.
 *
 * tfjs-backend-wasm 4.22 hands a matMul to XNNPACK only when neither operand is transposed;
 * `transposeA`/`transposeB` fall to a scalar loop that is 10–30× slower. tfjs-core's stock
 * gradient of `matMul` uses exactly those transposed products (`dA = dY·Bᵀ`, `dB = Aᵀ·dY`).
 * The ops here compute the same numbers with an explicit `tf.transpose` followed by a plain
 * `tf.matMul`, and they compute a gradient only for the inputs that need one (the data input of
 * a network's first layer needs none). Nothing is registered globally: only flaxen's own ops
 * take this path; users' `tf.matMul` keeps tfjs's stock gradient.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, formatShape } from '../errors.js';
import { withFusedRelu } from './fused-relu.js';
import { gemm, ownKernelsOnCallingThread } from './gemm.js';
import { withLazyGradients } from './lazy-grad.js';
import { keepForBackward } from '../autodiff/grad.js';

/**
 * The transpose of a matrix, the same numbers as `tf.transpose(x)`. The wasm `Transpose` kernel
 * writes with a stride of the row count, which thrashes the cache when that count is a multiple
 * of 256 (a batch of 256, a layer of 1024): [256, 784] takes 0.69 ms, [1024, 1024] 9.5 ms
 * against 0.6 ms for [1000, 1000]. For those, two transposes with short strides do the same
 * permutation: rows in blocks of 8, `[r/8, 8, c] → [r/8, c, 8] → [c, r/8, 8]`, measured 3–9×
 * faster (0.20 ms and 1.0 ms). Other shapes use `tf.transpose` directly.
 * @internal
 */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  // An empty matrix has nothing to move (and the wasm Transpose kernel can trap on one).
  if (rows === 0 || cols === 0) return tf.zeros([cols, rows]);
  if (rows % 256 !== 0) return tf.transpose(x);
  return tf.tidy(() => {
    const blocks = tf.transpose(tf.reshape(x, [rows / 8, 8, cols]), [0, 2, 1]);
    return tf.reshape(tf.transpose(blocks, [1, 0, 2]), [cols, rows]);
  });
}

/**
 * `dy · transpose(b)` on the plain kernel. Two exact forms: `dy · bᵀ` (packs `bᵀ`, `[k, m]`, as
 * XNNPACK weights) or `(b · dyᵀ)ᵀ` (packs `dyᵀ`, `[k, n]`, and transposes two small matrices).
 * XNNPACK packs its right operand again for every new tensor, and that costs more than the
 * product when the operand is big, so the second form wins when `dy` has fewer rows than `b`:
 * measured 2.5× faster for dy [64, 256], b [784, 256] and 5× for [64, 1024]·[1024, 1024]ᵀ, while
 * the first wins for dy [1024, 512], b [512, 512].
 */
function timesTransposed(dy: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const empty = emptyProduct(dy.shape[0], b.shape[0], dy.shape[1]);
  if (empty) return empty;
  const own = gemm(dy, b, { transposeB: true });
  if (own) return own;
  if (dy.shape[0] < b.shape[0]) return transpose2d(tf.matMul(b, transpose2d(dy)));
  return tf.matMul(dy, transpose2d(b));
}

/** The column-sum function of gemm.c's last section (offsets are byte offsets). */
interface ColumnSumExports {
  col_sums(x: number, out: number, rows: number, cols: number): void;
}

/**
 * `tf.sum(x, 0)` for a matrix, the same numbers: each column summed from 0 in row order, one
 * float32 add per row, which is what tfjs's `Sum` kernel does after transposing `x` (it reduces
 * the last axis). On wasm one pass of flaxen's own kernel (`col_sums` in `lib/ops/gemm.c`, on the
 * calling thread) reads `x` where it lies: no transpose, no kernel dispatch (the bias gradients
 * of the MLP step took about 3% of it through tfjs). Elsewhere: tfjs's `Transpose` writes with a
 * stride of the row count, which thrashes the cache when that count is a multiple of 256 (0.28 ms
 * for [256, 256], 1.1 ms for [256, 1024]), so the blocked {@link transpose2d} followed by a
 * last-axis sum gives the kernel the very same layout, so the same sums in the same order: 0.15
 * and 0.46 ms. Narrow matrices keep `tf.sum(x, 0)`.
 * @internal
 */
export function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  const [rows, cols] = x.shape;
  // The sum of no rows is 0 (the wasm Sum kernel leaves its output unwritten when rows is 0).
  if (rows === 0 || cols === 0) return tf.zeros([cols]);
  const own = ownKernelsOnCallingThread(x);
  const kernels = own?.kernels as Partial<ColumnSumExports> | undefined;
  if (own && typeof kernels?.col_sums === 'function') {
    const out = own.heap.alloc([cols]) as tf.Tensor1D;
    kernels.col_sums(own.heap.offsetOf(x)!, own.heap.offsetOf(out)!, rows, cols);
    return out;
  }
  if (rows % 256 !== 0 || cols < 32) return tf.sum(x, 0);
  return tf.tidy(() => tf.sum(transpose2d(x), -1));
}

/** `transpose(a) · dy`: flaxen's own product reads `a` transposed in place; else an explicit transpose. */
function transposedTimes(a: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  return emptyProduct(a.shape[1], dy.shape[1], a.shape[0]) ?? gemm(a, dy, { transposeA: true }) ?? tf.matMul(transpose2d(a), dy);
}

/**
 * The product `[m, k]·[k, n]` when it involves no multiplication: zeros of shape `[m, n]` when
 * any size is 0 (for k = 0 the sum of no terms), else undefined. tfjs-backend-wasm 4.22 returns
 * an unwritten output for `k = 0` (left-over memory) and its blocked paths divide by a zero size;
 * an empty batch (m = 0) reaches here as the `k = 0` of a kernel's gradient, `xᵀ·dy`.
 */
function emptyProduct(m: number, n: number, k: number): tf.Tensor2D | undefined {
  return m === 0 || n === 0 || k === 0 ? tf.zeros([m, n]) : undefined;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new FlaxenError('', what);
}

/**
 * The matrix product `a · b` of two rank-2 float32 tensors, with a gradient that uses only
 * plain (untransposed) matMuls: `da = dy · transpose(b)` (or `transpose(b · transpose(dy))`, whichever
 * packs less), `db = transpose(a) · dy`.
 * Same numbers as `tf.matMul(a, b)` and its gradient.
 *
 * @example
 * ```ts
 * import { matMul } from './matmul.js';
 * const y = matMul(tf.ones([2, 3]), tf.ones([3, 4])); // [2, 4], every entry 3
 * ```
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  check(a instanceof tf.Tensor && b instanceof tf.Tensor && a.rank === 2 && b.rank === 2, `matMul needs two rank-2 tensors, found shapes ${formatShape(a?.shape ?? [])} and ${formatShape(b?.shape ?? [])}`);
  check(a.shape[1] === b.shape[0], `matMul: inner sizes differ: ${formatShape(a.shape)} · ${formatShape(b.shape)}`);
  return withLazyGradients(
    [a, b],
    (save) => {
      save([a, b]);
      return emptyProduct(a.shape[0], b.shape[1], a.shape[1]) ?? gemm(a, b) ?? tf.matMul(a, b);
    },
    (dy, [sa, sb]) => [
      () => timesTransposed(dy as tf.Tensor2D, sb as tf.Tensor2D),
      () => transposedTimes(sa as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  ) as tf.Tensor2D;
}

/**
 * The affine map of a dense layer, `x · kernel + bias`, for `x` of shape `[n, in]`, `kernel`
 * `[in, out]` and an optional `bias` `[out]`, and with `relu: true` the relu of it. Forward: one
 * matrix product, the bias (and the relu) fused into it. Backward: `dx = dy · transpose(kernel)`,
 * `dkernel = transpose(x) · dy`, `dbias = sum(dy, 0)`, each computed only when needed (after a
 * fused relu, `dy` is first masked by `y > 0`). The numbers are those of
 * `tf.add(tf.matMul(x, kernel), bias)` (then `tf.relu`) and its stock gradient, up to float32
 * rounding (the bias is added before the products rather than after).
 *
 * @example
 * ```ts
 * import { dense } from './matmul.js';
 * const y = dense(tf.ones([2, 3]), tf.ones([3, 4]), tf.zeros([4])); // [2, 4], every entry 3
 * ```
 */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias?: tf.Tensor1D, opts: { readonly relu?: boolean } = {}): tf.Tensor2D {
  const relu = opts.relu === true;
  if (bias === undefined && !relu) return matMul(x, kernel);
  check(x instanceof tf.Tensor && kernel instanceof tf.Tensor && (bias === undefined || bias instanceof tf.Tensor), 'dense(x, kernel, bias) needs tensors');
  check(x.rank === 2 && kernel.rank === 2 && (bias === undefined || bias.rank === 1), `dense needs x [n, in], kernel [in, out] and bias [out], found ${formatShape(x.shape)}, ${formatShape(kernel.shape)} and ${formatShape(bias?.shape ?? [])}`);
  check(x.shape[1] === kernel.shape[0] && (bias === undefined || bias.shape[0] === kernel.shape[1]), `dense: sizes do not fit: x ${formatShape(x.shape)}, kernel ${formatShape(kernel.shape)}, bias ${formatShape(bias?.shape ?? [])}`);
  // Inside fx.valueAndGrad, x and kernel are kept for the backward pass as aliases (no copy);
  // elsewhere tfjs's save copies them.
  const kept = keepForBackward([x, kernel]);
  return withFusedRelu(relu, kept, (fuse, mask) =>
    withLazyGradients(
      bias ? [x, kernel, bias] : [x, kernel],
      (save) => {
        if (!kept) save([x, kernel]);
        const [m, k] = x.shape;
        const n = kernel.shape[1];
        if (m === 0 || n === 0 || k === 0) {
          // No product to compute: each output is the bias (or 0), then the relu.
          return tf.tidy(() => {
            const rows = bias && m * n > 0 ? tf.tile(tf.reshape(bias, [1, n]), [m, 1]) : tf.zeros([m, n]);
            return fuse ? tf.relu(rows) : rows;
          });
        }
        return gemm(x, kernel, { bias, relu: fuse }) ?? tf.fused.matMul({ a: x, b: kernel, bias, activation: fuse ? 'relu' : 'linear' });
      },
      (dyIn, saved) => {
        const [sx, sk] = kept ?? saved;
        // Masked once, here (in the backward pass's scope), for the two or three thunks below.
        const dy = mask(dyIn) as tf.Tensor2D;
        const thunks = [() => timesTransposed(dy, sk as tf.Tensor2D), () => transposedTimes(sx as tf.Tensor2D, dy)];
        return bias ? [...thunks, () => columnSums(dy)] : thunks;
      },
    ) as tf.Tensor2D,
  );
}
