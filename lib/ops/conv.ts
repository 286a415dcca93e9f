/**
 * The general 2-D convolution behind `Conv` and `ConvTranspose`: strides, explicit padding,
 * input (lhs) dilation, kernel (rhs) dilation and feature groups, as in `lax.conv_general_dilated`
 * with NHWC inputs and HWIO kernels.
 *
 * Its gradients are written here with ops the WASM backend has: tfjs-backend-wasm 4.22 has no
 * `Conv2DBackpropFilter` kernel, so the stock gradient of a kernel fails there, and tfjs's stock
 * gradients reject dilated convolutions on every backend. The kernel gradient is itself a
 * convolution (of the input with the output gradient, batch and channel axes swapped), and
 * the input gradient a transposed convolution; no global kernel is registered.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, formatShape } from '../errors.js';
import { convByProduct, convInputGradByProduct, convKernelGradByProduct, im2colMatrix, type ConvWindow, type PadPair } from './conv-gemm.js';
import { withFusedRelu } from './fused-relu.js';
import { withLazyGradients } from './lazy-grad.js';
import { keepForBackward } from '../autodiff/grad.js';

export type { PadPair } from './conv-gemm.js';

/**
 * The geometry of a 2-D convolution, every field per spatial axis `[height, width]`.
 *
 * @example
 * ```ts
 * import type { ConvGeometry } from './conv.js';
 * const g: ConvGeometry = { strides: [2, 2], padding: [[1, 1], [1, 1]], inputDilation: [1, 1], kernelDilation: [1, 1], groups: 1 };
 * ```
 */
export interface ConvGeometry {
  /** Window strides. */
  readonly strides: readonly [number, number];
  /** Zero padding added to each side of the (input-dilated) input. */
  readonly padding: readonly [PadPair, PadPair];
  /** Input (lhs) dilation: `d - 1` zeros inserted between input pixels (transposed convolution). */
  readonly inputDilation: readonly [number, number];
  /** Kernel (rhs, atrous) dilation. */
  readonly kernelDilation: readonly [number, number];
  /** Feature groups: input channels and output features split into this many independent groups (equal to the channels: depthwise). */
  readonly groups: number;
}

/** The size of a dilated extent: `(n - 1) * d + 1` (0 stays 0). */
export function dilateSize(n: number, d: number): number {
  return n === 0 ? 0 : (n - 1) * d + 1;
}

/**
 * `lax.padtype_to_pads`: the padding pairs of `'SAME'` (output `ceil(in / stride)`, the extra
 * pixel after) or `'VALID'` (none), for one axis.
 *
 * @example
 * ```ts
 * import { padForType } from './conv.js';
 * padForType('SAME', 28, 5, 1); // [2, 2]
 * ```
 */
export function padForType(type: 'SAME' | 'VALID', inSize: number, effectiveKernel: number, stride: number): [number, number] {
  if (type === 'VALID') return [0, 0];
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + effectiveKernel - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * The spatial output size of a convolution along one axis, or a negative/zero number when the
 * window does not fit.
 *
 * @example
 * ```ts
 * import { convOutputSize } from './conv.js';
 * convOutputSize(28, 5, { stride: 1, pad: [0, 0], inputDilation: 1, kernelDilation: 1 }); // 24
 * ```
 */
export function convOutputSize(
  inSize: number,
  kernelSize: number,
  o: { stride: number; pad: PadPair; inputDilation: number; kernelDilation: number },
): number {
  const padded = dilateSize(inSize, o.inputDilation) + o.pad[0] + o.pad[1];
  const window = dilateSize(kernelSize, o.kernelDilation);
  if (padded < window) return 0;
  return Math.floor((padded - window) / o.stride) + 1;
}

/** Pads (positive entries) or crops (negative entries) the two spatial axes of an NHWC tensor. */
function padOrCrop(t: tf.Tensor4D, pads: readonly [PadPair, PadPair]): tf.Tensor4D {
  const [[t0, b0], [l0, r0]] = pads;
  let out = t;
  if (t0 < 0 || b0 < 0 || l0 < 0 || r0 < 0) {
    const [n, h, w, c] = out.shape;
    const top = Math.max(-t0, 0);
    const left = Math.max(-l0, 0);
    out = tf.slice(out, [0, top, left, 0], [n, h - top - Math.max(-b0, 0), w - left - Math.max(-r0, 0), c]);
  }
  if (t0 > 0 || b0 > 0 || l0 > 0 || r0 > 0) {
    out = tf.pad(out, [[0, 0], [Math.max(t0, 0), Math.max(b0, 0)], [Math.max(l0, 0), Math.max(r0, 0)], [0, 0]]);
  }
  return out;
}

/**
 * Inserts `d - 1` zeros between neighbouring pixels of an NHWC tensor (input dilation),
 * with reshape/pad/slice, whose gradients every backend has.
 */
export function dilateSpatial(x: tf.Tensor4D, dilation: readonly [number, number]): tf.Tensor4D {
  const [dh, dw] = dilation;
  if (dh === 1 && dw === 1) return x;
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const spread = tf.pad(tf.reshape(x, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0]]);
    const flat = tf.reshape(spread, [n, h * dh, w * dw, c]) as tf.Tensor4D;
    return tf.slice(flat, [0, 0, 0, 0], [n, dilateSize(h, dh), dilateSize(w, dw), c]);
  });
}

/** Every `s`-th pixel along the spatial axes (a strided convolution from a stride-1 one). */
function subsample(t: tf.Tensor4D, s: readonly [number, number]): tf.Tensor4D {
  if (s[0] === 1 && s[1] === 1) return t;
  const [n, h, w, c] = t.shape;
  return tf.stridedSlice(t, [0, 0, 0, 0], [n, h, w, c], [1, s[0], s[1], 1]) as tf.Tensor4D;
}

function explicit(pads: readonly [PadPair, PadPair]): tf.backend_util.ExplicitPadding {
  return [[0, 0], [pads[0][0], pads[0][1]], [pads[1][0], pads[1][1]], [0, 0]];
}

const isOne = (p: readonly [number, number]) => p[0] === 1 && p[1] === 1;

/**
 * A plain `tf.conv2d` that also accepts strides and dilations both above 1 (tfjs refuses that
 * pair: it then runs at stride 1 and keeps every `s`-th output). With a `bias`, the bias is
 * fused into the convolution (`tf.fused.conv2d`, one XNNPACK operator on wasm instead of a
 * convolution and a broadcasting `Add`, which alone cost 0.8 ms on a [64, 28, 28, 6] output).
 * The padding goes to the kernel as explicit padding: XNNPACK pads implicitly, with no copy.
 */
function rawConv(x: tf.Tensor4D, w: tf.Tensor4D, strides: readonly [number, number], pads: readonly [PadPair, PadPair], dilation: readonly [number, number], bias?: tf.Tensor1D): tf.Tensor4D {
  if (x.shape[3] === 1 && isOne(strides) && isOne(dilation)) {
    const paired = widthPairConv(x, w, pads, bias);
    if (paired) return paired;
  }
  const both = !(isOne(strides) || isOne(dilation));
  const s: [number, number] = both ? [1, 1] : [strides[0], strides[1]];
  const conv = () =>
    bias
      ? tf.fused.conv2d({ x, filter: w, strides: s, pad: explicit(pads), dataFormat: 'NHWC', dilations: [dilation[0], dilation[1]], bias })
      : tf.conv2d(x, w, s, explicit(pads), 'NHWC', [dilation[0], dilation[1]]);
  if (!both) return conv();
  return tf.tidy(() => subsample(conv(), strides));
}

/**
 * A stride-1 convolution of a one-channel input computed on pixel pairs: the input viewed as
 * `[n, h, w/2, 2]` (two neighbouring pixels as two channels, a free reshape) is convolved with a
 * kernel `[kh, kb, 2, 2·features]` whose output channel `(r, f)` is feature `f` at the even
 * (`r = 0`) or odd (`r = 1`) output column, so the output `[n, oh, ow/2, 2·features]` is the
 * result `[n, oh, ow, features]` as laid out in memory (another free reshape). Each pair kernel
 * entry is one entry of the original kernel or zero, so every output is the same sum of the same
 * products plus exact zeros. XNNPACK runs a one-channel, 6-feature convolution badly: LeNet's
 * first layer, `[64, 28, 28, 1]` by `[5, 5, 1, 6]` with a bias, measured 1.06 against 1.27 CPU ms
 * (1.90 against 2.12 in a more loaded run), building the pair kernel (`Pad`, `Gather`) included.
 * It does 2.4 times the multiplications (zeros in the pair kernel), at a better rate. Returns undefined (use the plain convolution) when the input
 * or output width is odd or the padding does not fit in whole pairs.
 */
function widthPairConv(x: tf.Tensor4D, w: tf.Tensor4D, pads: readonly [PadPair, PadPair], bias?: tf.Tensor1D): tf.Tensor4D | undefined {
  const [n, , width] = x.shape;
  const [kh, kw, , features] = w.shape;
  const [pl, pr] = pads[1];
  const outWidth = pl + width + pr - kw + 1;
  if (width % 2 !== 0 || outWidth % 2 !== 0 || outWidth < 2 || pl < 0 || pr < 0) return undefined;
  // Output column q = 2q' + r reads padded column q + e = input column 2q' + r + e - pl, which is
  // sub-pixel (r + e - pl) mod 2 of pair q' + floor((r + e - pl) / 2).
  const first = Math.floor(-pl / 2);
  const last = Math.floor((1 + kw - 1 - pl) / 2);
  const kb = last - first + 1;
  const padBefore = -first;
  const padAfter = outWidth / 2 - 1 + kb - width / 2 - padBefore;
  if (padAfter < 0) return undefined;
  const zero = kh * kw * features; // index of an appended zero
  const index = new Int32Array(kh * kb * 2 * 2 * features);
  let i = 0;
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kb; b++)
      for (let s = 0; s < 2; s++)
        for (let r = 0; r < 2; r++)
          for (let f = 0; f < features; f++) {
            const e = 2 * (b + first) + s - r + pl;
            index[i++] = e >= 0 && e < kw ? (a * kw + e) * features + f : zero;
          }
  return tf.tidy(() => {
    const source = tf.pad(tf.reshape(w, [zero]), [[0, 1]]);
    const kernel = tf.reshape(tf.gather(source, tf.tensor1d(index, 'int32')), [kh, kb, 2, 2 * features]) as tf.Tensor4D;
    const pairs = tf.reshape(x, [n, x.shape[1], width / 2, 2]) as tf.Tensor4D;
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], [pads[0][0], pads[0][1]], [padBefore, padAfter], [0, 0]];
    const y = bias
      ? tf.fused.conv2d({ x: pairs, filter: kernel, strides: 1, pad, dataFormat: 'NHWC', bias: tf.concat([bias, bias]) })
      : tf.conv2d(pairs, kernel, 1, pad, 'NHWC');
    return tf.reshape(y, [n, y.shape[1], outWidth, features]) as tf.Tensor4D;
  });
}

/**
 * The gradient of a per-channel bias, the sum of `dy` over every axis but the last: each image's
 * mean by an average pool over its whole extent (channels last, as the data lies), times the
 * pixel count, summed over the batch. The same sums as `tf.sum(dy, [0, 1, 2])` up to float32
 * rounding, without the transpose that a reduction over leading axes costs on wasm: 0.08 ms
 * against 0.35 ms for a [64, 28, 28, 6] gradient.
 */
function biasGrad(dy: tf.Tensor4D): tf.Tensor1D {
  const [n, h, w, c] = dy.shape;
  return tf.tidy(() => {
    const means = tf.reshape(tf.avgPool(dy, [h, w], [h, w], 'valid'), [n, c]);
    return tf.mul(tf.sum(means, 0), h * w);
  });
}

/**
 * Pads (positive entries) or crops (negative entries) the spatial axes and convolves at stride
 * 1 with `valid` padding; the non-negative part of the padding is handed to the convolution as
 * explicit padding (no `PadV2` copy).
 */
function padCropConv(t: tf.Tensor4D, w: tf.Tensor4D, pads: readonly [PadPair, PadPair], dilation: readonly [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const crop: [PadPair, PadPair] = [[Math.min(pads[0][0], 0), Math.min(pads[0][1], 0)], [Math.min(pads[1][0], 0), Math.min(pads[1][1], 0)]];
    const pad: [PadPair, PadPair] = [[Math.max(pads[0][0], 0), Math.max(pads[0][1], 0)], [Math.max(pads[1][0], 0), Math.max(pads[1][1], 0)]];
    return tf.conv2d(padOrCrop(t, crop), w, 1, explicit(pad), 'NHWC', [dilation[0], dilation[1]]);
  });
}

/**
 * The gradient of `rawConv` with respect to its input: a correlation of the zero-stuffed output
 * gradient with the flipped, transposed kernel (`[kh, kw, features, in]`). In one dimension, with `x_p` the padded input,
 * `dx_p[j] = Σ_k dy_s[j - k·d] · w[k]`, where `dy_s` is `dy` with `s - 1` zeros between samples.
 */
function convInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: readonly number[], strides: readonly [number, number], pads: readonly [PadPair, PadPair], dilation: readonly [number, number]): tf.Tensor4D {
  const [, h, wd] = xShape as [number, number, number, number];
  // A forward convolution (XNNPACK on wasm) rather than tfjs's transposed convolution: wasm's
  // Conv2DBackpropInput is a plain loop, about half of a LeNet training step's time.
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    const [, oh, ow] = dy.shape;
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const stuffed = dilateSpatial(dy, strides);
    const side = (k: number, d: number, pad: PadPair, size: number, out: number, s: number): PadPair => [
      (k - 1) * d - pad[0],
      pad[0] + size - 1 - (out - 1) * s,
    ];
    return padCropConv(stuffed, flipped, [side(kh, dilation[0], pads[0], h, oh, strides[0]), side(kw, dilation[1], pads[1], wd, ow, strides[1])], dilation);
  });
}

/**
 * The gradient of `rawConv` with respect to its kernel,
 * `dW[kh,kw,ci,co] = Σ_{n,oh,ow} x_p[n, oh·s + kh·d, ow·s + kw·d, ci] · dy[n,oh,ow,co]`:
 * a convolution of the input (channels as batch, batch as channels) with the output gradient
 * as kernel, where the forward stride becomes the dilation and the dilation the stride.
 */
function convKernelGrad(x: tf.Tensor4D, dy: tf.Tensor4D, kernelShape: readonly number[], strides: readonly [number, number], pads: readonly [PadPair, PadPair], dilation: readonly [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = kernelShape as [number, number, number, number];
    // Rank-3 permutations of the same data (the rank-4 ones cost more on wasm: 0.36 against
    // 0.27 ms for LeNet's [64, 28, 28, 6] output gradient).
    const [n, h, w] = x.shape;
    const [, oh, ow] = dy.shape;
    const xT = tf.reshape(tf.transpose(tf.reshape(x, [n, h * w, ci]), [2, 1, 0]), [ci, h, w, n]) as tf.Tensor4D;
    const dyT = tf.reshape(tf.transpose(tf.reshape(dy, [n, oh * ow, co]), [1, 0, 2]), [oh, ow, n, co]) as tf.Tensor4D;
    const full = rawConv(xT, dyT, dilation, pads, strides); // [ci, >=kh, >=kw, co]
    const cropped = full.shape[1] === kh && full.shape[2] === kw ? full : tf.slice(full, [0, 0, 0, 0], [ci, kh, kw, co]);
    return (ci === 1 ? tf.reshape(cropped, [kh, kw, 1, co]) : tf.transpose(cropped, [1, 2, 0, 3])) as tf.Tensor4D;
  });
}

/**
 * `rawConv` (plus an optional bias) with gradients for every argument that work on every
 * backend, each computed only when tfjs's backpropagation asks for it (`withLazyGradients`): the
 * input gradient of a network's first convolution, whose input is the data, is never computed.
 */
function convWithGrads(x: tf.Tensor4D, w: tf.Tensor4D, strides: readonly [number, number], pads: readonly [PadPair, PadPair], dilation: readonly [number, number], bias?: tf.Tensor1D, relu = false): tf.Tensor4D {
  // Inside fx.valueAndGrad, x and w are kept for the backward pass as aliases (no copy);
  // elsewhere tfjs's save copies them.
  const kept = keepForBackward([x, w]);
  // On the one-thread wasm backend, the convolution and both gradients as matrix products on
  // flaxen's own kernel (conv-gemm.ts); tfjs's convolutions wherever that declines. Inside
  // fx.valueAndGrad the im2col matrix of the forward product is kept for the kernel gradient.
  const win: ConvWindow = { strides, padding: pads, dilation };
  let keptCols: tf.Tensor2D | undefined;
  if (kept) {
    const cols = im2colMatrix(x, w.shape, win);
    if (cols) {
      keptCols = keepForBackward([cols])?.[0] as tf.Tensor2D | undefined;
      cols.dispose();
    }
  }
  // A relu fused into the product (ops/fused-relu.ts).
  return withFusedRelu(relu, kept, (fuse, mask) =>
    withLazyGradients(
      bias ? [x, w, bias] : [x, w],
      (save) => {
        if (!kept) save([x, w]);
        const own = convByProduct(x, w, win, bias, keptCols, fuse);
        if (own) return own;
        return fuse ? tf.tidy(() => tf.relu(rawConv(x, w, strides, pads, dilation, bias))) : rawConv(x, w, strides, pads, dilation, bias);
      },
      (dy, saved) => {
        const [xs, ws] = (kept ?? saved) as [tf.Tensor4D, tf.Tensor4D];
        // Masked once, here (in the backward pass's scope), for the thunks below.
        const g = mask(dy) as tf.Tensor4D;
        const thunks = [
          () => convInputGradByProduct(g, ws, xs.shape, win) ?? convInputGrad(g, ws, xs.shape, strides, pads, dilation),
          () => convKernelGradByProduct(xs, g, ws.shape, win, keptCols) ?? convKernelGrad(xs, g, ws.shape, strides, pads, dilation),
        ];
        return bias ? [...thunks, () => biasGrad(g)] : thunks;
      },
    ) as tf.Tensor4D,
  );
}

/** `tf.depthwiseConv2d` that also accepts strides and dilations both above 1 (see {@link rawConv}). */
function rawDepthwise(x: tf.Tensor4D, w: tf.Tensor4D, strides: readonly [number, number], pads: readonly [PadPair, PadPair], dilation: readonly [number, number]): tf.Tensor4D {
  if (isOne(strides) || isOne(dilation)) {
    return tf.depthwiseConv2d(x, w, [strides[0], strides[1]], explicit(pads), 'NHWC', [dilation[0], dilation[1]]);
  }
  return tf.tidy(() => subsample(tf.depthwiseConv2d(x, w, 1, explicit(pads), 'NHWC', [dilation[0], dilation[1]]), strides));
}

/**
 * A depthwise convolution (kernel `[kh, kw, channels, multiplier]`, output channel
 * `c·multiplier + m`) with gradients from forward depthwise convolutions, since wasm has no
 * depthwise backprop kernels. Kernel gradient: the input with batch folded into channels
 * (`[1, h, w, n·c]`), convolved with the output gradient as a `[oh, ow, n·c, m]` kernel (stride
 * and dilation swapped), summed over the batch. Input gradient: the zero-stuffed output gradient
 * convolved with the flipped kernel per output channel, summed over the multiplier.
 */
function depthwiseWithGrads(x: tf.Tensor4D, w: tf.Tensor4D, strides: readonly [number, number], pads: readonly [PadPair, PadPair], dilation: readonly [number, number], bias?: tf.Tensor1D): tf.Tensor4D {
  const kept = keepForBackward([x, w]);
  return withLazyGradients(
    bias ? [x, w, bias] : [x, w],
    (save) => {
      if (!kept) save([x, w]);
      if (!bias) return rawDepthwise(x, w, strides, pads, dilation);
      return tf.tidy(() => tf.add(rawDepthwise(x, w, strides, pads, dilation), bias));
    },
    (dyIn, saved) => {
      const [xs, ws] = (kept ?? saved) as [tf.Tensor4D, tf.Tensor4D];
      const dy = dyIn as tf.Tensor4D;
      const [n, h, wd, c] = xs.shape;
      const [kh, kw, , m] = ws.shape;
      const [, oh, ow] = dy.shape;
      const inputGrad = () =>
        tf.tidy(() => {
          const flipped = tf.reshape(tf.reverse(ws, [0, 1]), [kh, kw, c * m, 1]) as tf.Tensor4D;
          const stuffed = dilateSpatial(dy, strides);
          const side = (k: number, d: number, pad: PadPair, size: number, out: number, s: number): PadPair => [(k - 1) * d - pad[0], pad[0] + size - 1 - (out - 1) * s];
          const padded = padOrCrop(stuffed, [side(kh, dilation[0], pads[0], h, oh, strides[0]), side(kw, dilation[1], pads[1], wd, ow, strides[1])]);
          const perChannel = tf.depthwiseConv2d(padded, flipped, 1, 'valid', 'NHWC', [dilation[0], dilation[1]]); // [n, h, w, c*m]
          return tf.sum(tf.reshape(perChannel, [n, h, wd, c, m]), 4);
        });
      const kernelGrad = () =>
        tf.tidy(() => {
          const xFolded = tf.reshape(tf.transpose(xs, [1, 2, 0, 3]), [1, h, wd, n * c]) as tf.Tensor4D;
          const dyKernel = tf.reshape(tf.transpose(tf.reshape(dy, [n, oh, ow, c, m]), [1, 2, 0, 3, 4]), [oh, ow, n * c, m]) as tf.Tensor4D;
          const full = rawDepthwise(xFolded, dyKernel, dilation, pads, strides); // [1, >=kh, >=kw, n*c*m]
          const cropped = tf.slice(full, [0, 0, 0, 0], [1, kh, kw, n * c * m]);
          return tf.sum(tf.reshape(cropped, [kh, kw, n, c, m]), 2);
        });
      return bias ? [inputGrad, kernelGrad, () => biasGrad(dy)] : [inputGrad, kernelGrad];
    },
  ) as tf.Tensor4D;
}

/**
 * A grouped kernel `[kh, kw, in/groups, features]` as the block-diagonal full kernel
 * `[kh, kw, in, features]` (zeros between groups), so one ordinary convolution computes every
 * group. It costs `groups` times the multiplications of separate convolutions; made of
 * pad/concat, whose gradients every backend has.
 */
function blockDiagonal(w: tf.Tensor4D, groups: number): tf.Tensor4D {
  if (groups === 1) return w;
  return tf.tidy(() => {
    const perGroupIn = w.shape[2];
    const inChannels = perGroupIn * groups;
    const blocks = tf.split(w, groups, 3).map((block, g) =>
      tf.pad(block, [[0, 0], [0, 0], [g * perGroupIn, inChannels - (g + 1) * perGroupIn], [0, 0]]),
    );
    return tf.concat(blocks, 3) as tf.Tensor4D;
  });
}

/**
 * `lax.conv_general_dilated` for NHWC inputs and HWIO kernels: input `[n, h, w, in]`, kernel
 * `[kh, kw, in / groups, features]`, optional `bias` `[features]` (fused into the convolution
 * when it is not depthwise), output `[n, oh, ow, features]`. Differentiable in every argument
 * on every backend, including wasm; each gradient is computed only when it is needed (the
 * first layer's input gradient, with respect to the data, never is).
 * With `relu: true`, the relu of that, fused into the product where it can be (the relu of a
 * depthwise convolution runs after it).
 *
 * @example
 * ```ts
 * import { convGeneral } from './conv.js';
 * const y = convGeneral(tf.ones([1, 5, 5, 1]), tf.ones([3, 3, 1, 1]),
 *   { strides: [1, 1], padding: [[1, 1], [1, 1]], inputDilation: [1, 1], kernelDilation: [1, 1], groups: 1 });
 * y.shape; // [1, 5, 5, 1]
 * ```
 */
export function convGeneral(x: tf.Tensor4D, w: tf.Tensor4D, g: ConvGeometry, bias?: tf.Tensor1D, opts: { readonly relu?: boolean } = {}): tf.Tensor4D {
  if (x.rank !== 4 || w.rank !== 4) throw new FlaxenError('', `convGeneral needs a rank-4 input and kernel, found ${formatShape(x.shape)} and ${formatShape(w.shape)}`);
  if (x.shape[3] !== w.shape[2] * g.groups) {
    throw new FlaxenError('', `convGeneral: the input has ${x.shape[3]} channels, the kernel ${formatShape(w.shape)} with ${g.groups} group(s) needs ${w.shape[2] * g.groups}`);
  }
  if (bias !== undefined && (bias.rank !== 1 || bias.shape[0] !== w.shape[3])) {
    throw new FlaxenError('', `convGeneral: the bias must be [${w.shape[3]}] for the kernel ${formatShape(w.shape)}, found ${formatShape(bias.shape)}`);
  }
  return tf.tidy(() => {
    const dilated = dilateSpatial(x, g.inputDilation);
    if (g.groups > 1 && g.groups === x.shape[3]) {
      // Depthwise: output feature c·multiplier + m reads channel c only, as tfjs's depthwise kernel.
      const [kh, kw, , features] = w.shape;
      const depthwiseKernel = tf.reshape(w, [kh, kw, g.groups, features / g.groups]) as tf.Tensor4D;
      const y = depthwiseWithGrads(dilated, depthwiseKernel, g.strides, g.padding, g.kernelDilation, bias);
      return opts.relu ? tf.relu(y) : y;
    }
    return convWithGrads(dilated, blockDiagonal(w, g.groups), g.strides, g.padding, g.kernelDilation, bias, opts.relu === true);
  });
}
