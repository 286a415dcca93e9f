/**
 * A 2-D convolution and its two gradients as matrix products on flaxen's own kernel
 * (`gemm.c`): the input windows are copied into the rows of a matrix (im2col), so that
 *
 *     forward        y      = cols · K            (K: the HWIO kernel as [kh·kw·ci, co])
 *     kernel grad    dK     = transpose(cols) · dy
 *     input grad     dx     = col2im(dy · transpose(K))
 *
 * On tfjs-backend-wasm 4.22 XNNPACK runs LeNet's convolutions at 5–10 GFLOPS (one input channel,
 * 6 or 16 features, and the kernel gradient as a convolution with the batch as channels); these
 * products run at the speed of the matrix product. Where the kernels run is decided in `gemm.ts`
 * (`ownKernels`); every function returns undefined when they cannot run, and the caller uses
 * tfjs's convolutions.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { gemm, ownKernels } from './gemm.js';

/** A pair of paddings `[before, after]` for one spatial axis. */
export type PadPair = readonly [number, number];

/** The window of a stride-`s`, kernel-dilation-`d` convolution with non-negative padding. */
export interface ConvWindow {
  readonly strides: readonly [number, number];
  readonly padding: readonly [PadPair, PadPair];
  readonly dilation: readonly [number, number];
}

/** im2col matrices above this many floats (64 MiB) are not built: tfjs's convolutions then run. */
const MAX_COLS = 16 * 1024 * 1024;

function outSize(size: number, k: number, s: number, d: number, pad: PadPair): number {
  const window = (k - 1) * d + 1;
  const padded = size + pad[0] + pad[1];
  return padded < window ? 0 : Math.floor((padded - window) / s) + 1;
}

/** The arguments of im2col/col2im after the two buffers, or undefined if the product path does not apply. */
function geometry(xShape: readonly number[], kShape: readonly number[], win: ConvWindow): number[] | undefined {
  const [n, h, w, ci] = xShape as [number, number, number, number];
  const [kh, kw] = kShape as [number, number];
  const [[pt, pb], [pl, pr]] = win.padding;
  if (pt < 0 || pb < 0 || pl < 0 || pr < 0) return undefined;
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilation;
  const oh = outSize(h, kh, sh, dh, win.padding[0]);
  const ow = outSize(w, kw, sw, dw, win.padding[1]);
  if (n * oh * ow === 0 || n * oh * ow * kh * kw * ci > MAX_COLS) return undefined;
  return [n, h, w, ci, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl];
}

/**
 * @internal
 * The im2col matrix of `x` for kernels of shape `kShape`, `[n·oh·ow, kh·kw·ci]`, or undefined
 * when the product path does not apply. The forward product and the kernel gradient read the
 * same matrix: an op that can keep it for its backward pass builds it once.
 */
export function im2colMatrix(x: tf.Tensor4D, kShape: readonly number[], win: ConvWindow): tf.Tensor2D | undefined {
  const own = ownKernels(x);
  const g = geometry(x.shape, kShape, win);
  if (!own || !g) return undefined;
  const [n, , , ci, oh, ow, kh, kw] = g as [number, number, number, number, number, number, number, number];
  const [sh, sw, dh, dw] = g.slice(8, 12) as [number, number, number, number];
  const cols = own.heap.alloc([n * oh * ow, kh * kw * ci]) as tf.Tensor2D;
  // scratch for the zero-padded input that im2col copies from
  const padded = own.heap.alloc([n * ((oh - 1) * sh + (kh - 1) * dh + 1) * ((ow - 1) * sw + (kw - 1) * dw + 1) * ci]);
  const args = g as [number, number, number, number, number, number, number, number, number, number, number, number, number, number];
  own.kernels.im2col(own.heap.offsetOf(x)!, own.heap.offsetOf(cols)!, ...args, own.heap.offsetOf(padded)!);
  padded.dispose();
  return cols;
}

/**
 * @internal
 * The convolution of `x` `[n, h, w, ci]` with the HWIO kernel `k` (plus `bias`): the numbers of
 * XNNPACK's convolution, same products summed in the same order. `keptCols`: the im2col matrix
 * of `x`, if the caller has it; `relu`: apply `max(0, ·)` as the product stores its output.
 */
export function convByProduct(x: tf.Tensor4D, k: tf.Tensor4D, win: ConvWindow, bias?: tf.Tensor1D, keptCols?: tf.Tensor2D, relu = false): tf.Tensor4D | undefined {
  if (!ownKernels(k, bias)) return undefined;
  const cols = keptCols ?? im2colMatrix(x, k.shape, win);
  if (!cols) return undefined;
  return tf.tidy(() => {
    const [kh, kw, ci, co] = k.shape;
    const [n, , , , oh, ow] = geometry(x.shape, k.shape, win)!;
    const y = gemm(cols, tf.reshape(k, [kh * kw * ci, co]), { bias, relu });
    if (cols !== keptCols) cols.dispose();
    return y ? tf.reshape(y, [n!, oh!, ow!, co]) : undefined;
  }) as tf.Tensor4D | undefined;
}

/** @internal The gradient of {@link convByProduct} with respect to its kernel, `[kh, kw, ci, co]`. */
export function convKernelGradByProduct(x: tf.Tensor4D, dy: tf.Tensor4D, kShape: readonly number[], win: ConvWindow, keptCols?: tf.Tensor2D): tf.Tensor4D | undefined {
  if (!ownKernels(dy)) return undefined;
  const cols = keptCols ?? im2colMatrix(x, kShape, win);
  if (!cols) return undefined;
  return tf.tidy(() => {
    const co = dy.shape[3];
    const dk = gemm(cols, tf.reshape(dy, [cols.shape[0], co]), { transposeA: true });
    if (cols !== keptCols) cols.dispose();
    return dk ? tf.reshape<tf.Rank.R4>(dk, kShape as [number, number, number, number]) : undefined;
  }) as tf.Tensor4D | undefined;
}

/** @internal The gradient of {@link convByProduct} with respect to its input, `[n, h, w, ci]`. */
export function convInputGradByProduct(dy: tf.Tensor4D, k: tf.Tensor4D, xShape: readonly number[], win: ConvWindow): tf.Tensor4D | undefined {
  const own = ownKernels(dy, k);
  const g = geometry(xShape, k.shape, win);
  if (!own || !g) return undefined;
  return tf.tidy(() => {
    const [kh, kw, ci, co] = k.shape;
    const dcols = gemm(tf.reshape(dy, [dy.size / co, co]), tf.reshape(k, [kh * kw * ci, co]), { transposeB: true });
    if (!dcols) return undefined;
    const dx = own.heap.alloc([...xShape]);
    const args = g as [number, number, number, number, number, number, number, number, number, number, number, number, number, number];
    own.kernels.col2im(own.heap.offsetOf(dcols)!, own.heap.offsetOf(dx)!, ...args);
    return dx;
  }) as tf.Tensor4D | undefined;
}
