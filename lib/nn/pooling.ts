/**
 * Pooling layers (`MaxPool`, `AvgPool`, `GlobalAvgPool`) and `Flatten`. They have no parameters;
 * their output sizes follow the input, so the layers after them are sized by the image.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../errors.js';
import { isAbstract } from '../core/shapes.js';
import { Module } from '../core/module.js';
import { PadPair, convOutputSize, dilateSpatial, padForType } from '../ops/conv.js';
import { withLazyGradients } from '../ops/lazy-grad.js';
import { maxPoolGradByKernel } from '../ops/max-pool-grad.js';
import { asShape, reshape } from '../ops/reshape.js';
import { keepForBackward } from '../autodiff/grad.js';
import { Input, Padding, abstractOr, checkInput, checkPadding, toTuple } from './layer-util.js';
import { checkOptions } from './util.js';
import type { OptionKinds } from '../check-options.js';

/**
 * Options of {@link MaxPool} and {@link AvgPool}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.PoolOptions = { strides: [2, 2], padding: 'SAME' };
 * ```
 */
export interface PoolOptions {
  /** Window strides (default 1 on every axis, as Flax's `max_pool`/`avg_pool`; give `strides: window` for the usual non-overlapping pooling). */
  readonly strides?: number | readonly number[];
  /** `'VALID'` (default, as in Flax), `'SAME'`, an integer, or `[before, after]` pairs per spatial axis. */
  readonly padding?: Padding;
  /** A fixed name inside a parent module. */
  readonly name?: string;
}

/**
 * Options of {@link AvgPool}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.AvgPoolOptions = { strides: 2, padding: 'SAME', countIncludePad: false };
 * ```
 */
export interface AvgPoolOptions extends PoolOptions {
  /**
   * Whether padded positions count in the average (default true, as Flax's `avg_pool`
   * `count_include_pad=True`): an edge window of a 3×3 pool that covers 4 real pixels and 5
   * padded zeros divides their sum by 9. With false it divides by 4 (TensorFlow's and tfjs's
   * `'same'` rule).
   */
  readonly countIncludePad?: boolean;
}

const POOL_OPTIONS: OptionKinds<PoolOptions> = { strides: 'any', padding: 'any', name: 'string' };
const AVG_POOL_OPTIONS: OptionKinds<AvgPoolOptions> = { ...POOL_OPTIONS, countIncludePad: 'boolean' };
const NAME_ONLY: OptionKinds<{ readonly name?: string }> = { name: 'string' };

type PoolKind = 'max' | 'avg';

/** float32's largest finite value. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The max-pool gradient when windows tile the input (stride = window, the common case), from
 * cheap kernels. The input is rearranged once into `K = kh·kw` contiguous rows `[K, P]`,
 * `P = n·oh·ow·c` (row `k` holds window element `k`, row-major, of every window), by a rank-3 and
 * a rank-4 transpose, which the wasm kernel does fast. Then, elementwise over `[K, P]`:
 * `eq = 1 − step(y − x)` is 1 where an element equals its window's maximum; `w = eq · (K − k)`
 * ranks the maxima, the earliest highest; `first = max_k w` (a max pool over the rows, with `P`
 * channels); `hit = step(w − first + ½)` is 1 exactly at the first maximum (the values are small
 * integers, so every step is exact). `hit · dy` routes the output gradient to the first maximum
 * in row-major window order, as tfjs's cpu kernel and TensorFlow do, and the inverse transposes
 * put it in place.
 *
 * Comparisons use values clipped to ±float32 max, so that `y − x` is never `∞ − ∞` (NaN) for
 * infinite inputs or `-Infinity` padding; only a window holding both an infinity and float32's
 * largest finite value of the same sign could then route to the wrong one of the two.
 *
 * This avoids what wasm does slowly: `ArgMax` over a non-last axis, one-hot products that
 * broadcast over the last axis, rank-6 transposes, bool-valued kernels (`Equal`, `Select`: about
 * 10× slower than arithmetic), and `Slice`/`Split` (which copy their whole input on every call).
 */
function tiledMaxPoolGrad(x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, window: readonly [number, number]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [kh, kw] = window;
  const [, oh, ow] = dy.shape;
  const k = kh * kw;
  const rows = n * oh;
  const count = rows * ow * c;
  const used = oh * kh === h && ow * kw === w ? x : tf.slice(x, [0, 0, 0, 0], [n, oh * kh, ow * kw, c]);
  // [rows, kh, ow·kw·c] → [kh, rows, ow·kw·c] = [kh, rows·ow, kw, c] → [kh, kw, rows·ow, c] = [K, P]
  const byRow = tf.transpose(tf.reshape(tf.clipByValue(used, -FLOAT32_MAX, FLOAT32_MAX), [rows, kh, ow * kw * c]), [1, 0, 2]);
  const elements = tf.reshape(tf.transpose(tf.reshape(byRow, [kh, rows * ow, kw, c]), [0, 2, 1, 3]), [k, count]);
  const max = tf.reshape(tf.clipByValue(y, -FLOAT32_MAX, FLOAT32_MAX), [count]);
  const rank = tf.tensor2d(Array.from({ length: k }, (_, i) => k - i), [k, 1]);
  const ranked = tf.mul(tf.sub(1, tf.step(tf.sub(max, elements))), rank); // K − k at maxima, else 0
  const first = tf.reshape(tf.maxPool(tf.reshape(ranked, [1, k, 1, count]) as tf.Tensor4D, [k, 1], [k, 1], 'valid'), [count]);
  const hit = tf.step(tf.add(ranked, tf.sub(0.5, first)));
  const routed = tf.mul(hit, tf.reshape(dy, [count]));
  // The inverse rearrangement: [kh, kw, rows·ow, c] → [kh, rows·ow, kw, c] = [kh, rows, ow·kw·c] → [rows, kh, ow·kw·c].
  const back = tf.transpose(tf.reshape(routed, [kh, kw, rows * ow, c]), [0, 2, 1, 3]);
  const placed = tf.reshape(tf.transpose(tf.reshape(back, [kh, rows, ow * kw * c]), [1, 0, 2]), [n, oh * kh, ow * kw, c]) as tf.Tensor4D;
  return placed.shape[1] === h && placed.shape[2] === w ? placed : tf.pad(placed, [[0, 0], [0, h - oh * kh], [0, w - ow * kw], [0, 0]]);
}

/**
 * `tf.maxPool` (VALID) with a gradient computed from ops every backend has: tfjs-backend-wasm
 * 4.22's `MaxPoolGrad` (and `MaxPoolWithArgmax`) start the running maximum at `FLT_MIN`
 * (≈1.2e-38) instead of `-FLT_MAX`, so in a window of negative values the gradient goes to the
 * wrong element. Here, for each window offset `(a, e)`, the strided view of the input that
 * offset sees is compared with the output; the first offset (row-major, as tfjs's cpu kernel
 * and TensorFlow) that equals the maximum gets the output gradient, which is put back in place
 * by zero insertion and padding.
 * @internal
 */
export function maxPoolValid(x: tf.Tensor4D, window: readonly [number, number], strides: readonly [number, number]): tf.Tensor4D {
  const tiled = window[0] === strides[0] && window[1] === strides[1];
  // Inside fx.valueAndGrad the input is kept for the backward pass as an alias (no copy);
  // elsewhere tfjs's save copies it. The output is saved (copied) either way.
  const kept = keepForBackward([x]);
  return withLazyGradients(
    [x],
    (save) => {
      const y = tf.maxPool(x, [window[0], window[1]], [strides[0], strides[1]], 'valid');
      save(kept ? [y] : [x, y]);
      return y;
    },
    (dyIn, saved) => [
      () =>
        tf.tidy(() => {
          const dy = dyIn as tf.Tensor4D;
          const [xs, ys] = (kept ? [kept[0], saved[0]] : saved) as [tf.Tensor4D, tf.Tensor4D];
          const byKernel = maxPoolGradByKernel(xs, ys, dy, window, strides);
          if (byKernel) return byKernel;
          if (tiled) return tiledMaxPoolGrad(xs, ys, dy, window);
          const [n, h, w, c] = xs.shape;
          const [, oh, ow] = ys.shape;
          let taken: tf.Tensor = tf.zeros(ys.shape, 'bool');
          let dx: tf.Tensor | undefined;
          for (let a = 0; a < window[0]; a++) {
            for (let e = 0; e < window[1]; e++) {
              const view = tf.stridedSlice(xs, [0, a, e, 0], [n, a + (oh - 1) * strides[0] + 1, e + (ow - 1) * strides[1] + 1, c], [1, strides[0], strides[1], 1]);
              const hit = tf.logicalAnd(tf.equal(view, ys), tf.logicalNot(taken));
              taken = tf.logicalOr(taken, hit);
              const routed = tf.where(hit, dy, tf.zerosLike(dy)) as tf.Tensor4D;
              const spread = dilateSpatial(routed, strides);
              const placed = tf.pad(spread, [[0, 0], [a, h - a - spread.shape[1]], [e, w - e - spread.shape[2]], [0, 0]]);
              dx = dx ? tf.add(dx, placed) : placed;
            }
          }
          return dx!;
        }),
    ],
  ) as tf.Tensor4D;
}

function checkWindow(window: unknown, layer: string): number[] {
  const dims = typeof window === 'number' ? [window] : window;
  if (!Array.isArray(dims) || (dims.length !== 1 && dims.length !== 2) || dims.some((k) => !Number.isSafeInteger(k) || k < 1)) {
    throw new FlaxenError('', `${layer}: window must be a positive integer (1-D) or an array of 1 or 2 positive integers, found ${JSON.stringify(window)}`);
  }
  return [...dims] as number[];
}

function pool(kind: PoolKind, layer: string, windowIn: number | readonly number[], opts: AvgPoolOptions): Module<{}> {
  const window = checkWindow(windowIn, layer);
  checkOptions(opts, kind === 'avg' ? AVG_POOL_OPTIONS : POOL_OPTIONS, layer);
  const n = window.length;
  const strides = toTuple(opts.strides ?? 1, n, `${layer}: strides`);
  const padding = checkPadding(opts.padding ?? 'VALID', n, layer);
  const countIncludePad = opts.countIncludePad ?? true;
  return new Module({
    type: layer,
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, layer, scope.path, n + 1, `a ${n}-D input ([batch..., ${n === 2 ? 'height, width' : 'length'}, channels])`);
      const batch = shape.slice(0, shape.length - n - 1);
      const spatial = shape.slice(shape.length - n - 1, -1);
      const channels = shape[shape.length - 1]!;
      const pads: PadPair[] = spatial.map((size, i) => {
        if (padding === 'SAME' || padding === 'VALID') return padForType(padding, size, window[i]!, strides[i]!);
        if (typeof padding === 'number') return [padding, padding] as PadPair;
        return [padding[i]![0], padding[i]![1]] as PadPair;
      });
      pads.forEach((p, i) => {
        if (p[0] >= window[i]! || p[1] >= window[i]!) {
          throw new FlaxenError(scope.path, `${layer}: padding ${JSON.stringify(p)} on axis ${i} must be smaller than the window ${window[i]} (a window of padding only has no value)`);
        }
      });
      const outSpatial = spatial.map((size, i) => convOutputSize(size, window[i]!, { stride: strides[i]!, pad: pads[i]!, inputDilation: 1, kernelDilation: 1 }));
      if (outSpatial.some((d) => d < 1)) {
        throw new ShapeError(scope.path, `${layer}: the input's spatial size ${formatShape(spatial)} is smaller than the window ${formatShape(window)} (padding ${JSON.stringify(pads)})`);
      }
      const outShape = [...batch, ...outSpatial, channels];
      return abstractOr(x, outShape, () => {
        const merged = batch.reduce((a, b) => a * b, 1);
        const x4 = asShape(x as tf.Tensor, [merged, ...(n === 1 ? [1] : []), ...spatial, channels]) as tf.Tensor4D;
        const win: [number, number] = n === 2 ? [window[0]!, window[1]!] : [1, window[0]!];
        const str: [number, number] = n === 2 ? [strides[0]!, strides[1]!] : [1, strides[0]!];
        const p4: Array<[number, number]> = [[0, 0], ...(n === 1 ? [[0, 0] as [number, number]] : []), ...pads.map((p) => [p[0], p[1]] as [number, number]), [0, 0]];
        const padded = pads.some((p) => p[0] > 0 || p[1] > 0);
        let y: tf.Tensor;
        if (kind === 'max') {
          y = maxPoolValid((padded ? tf.pad(x4, p4, -Infinity) : x4) as tf.Tensor4D, win, str);
        } else {
          y = tf.avgPool((padded ? tf.pad(x4, p4) : x4) as tf.Tensor4D, win, str, 'valid');
          if (padded && !countIncludePad) {
            // The fraction of each window that is real input (no gradient needed: it is a constant).
            const share = tf.avgPool(tf.pad(tf.ones([1, x4.shape[1], x4.shape[2], 1]), p4) as tf.Tensor4D, win, str, 'valid');
            y = tf.div(y, share);
          }
        }
        return asShape(y, outShape); // y is new
      });
    },
    summarize: () => {
      const extras =
        (strides.every((s) => s === 1) ? '' : `, strides ${formatShape(strides)}`) +
        (padding === 'VALID' ? '' : `, padding ${typeof padding === 'string' ? padding : JSON.stringify(padding)}`) +
        (kind === 'avg' && !countIncludePad ? ', countIncludePad false' : '');
      return { header: `${layer}(${formatShape(window)}${extras})` };
    },
  });
}

/**
 * Max pooling over 1 or 2 spatial axes (NHWC), as Flax's `nn.max_pool`: defaults are strides 1
 * and `'VALID'` padding, as there. Padded positions count as `-Infinity`, so they never win.
 *
 * @param window - `[wh, ww]` for 2-D, `[w]` or `w` for 1-D.
 * @example
 * ```ts
 * const pool = fx.nn.MaxPool([2, 2], { strides: [2, 2] });
 * pool.apply({}, tf.zeros([1, 28, 28, 6])).shape; // [1, 14, 14, 6]
 * ```
 */
export function MaxPool(window: number | readonly number[], opts: PoolOptions = {}): Module<{}> {
  return pool('max', 'MaxPool', window, opts);
}

/**
 * Average pooling over 1 or 2 spatial axes (NHWC), as Flax's `nn.avg_pool`: defaults are
 * strides 1 and `'VALID'` padding. **At padded edges** the average counts the padding as zeros
 * and divides by the full window size (`countIncludePad: true`, Flax's default); pass
 * `countIncludePad: false` to divide by the number of real pixels in the window instead.
 *
 * @param window - `[wh, ww]` for 2-D, `[w]` or `w` for 1-D.
 * @example
 * ```ts
 * const pool = fx.nn.AvgPool([2, 2], { strides: [2, 2] });
 * pool.apply({}, tf.ones([1, 4, 4, 1])).shape; // [1, 2, 2, 1]
 * ```
 */
export function AvgPool(window: number | readonly number[], opts: AvgPoolOptions = {}): Module<{}> {
  return pool('avg', 'AvgPool', window, opts);
}

/**
 * Global average pooling: the mean over every axis between the first (batch) and the last
 * (channels), e.g. `[n, h, w, c] -> [n, c]` (as `x.mean(axis=(1, 2))` in Flax code).
 *
 * @example
 * ```ts
 * const gap = fx.nn.GlobalAvgPool();
 * gap.apply({}, tf.ones([2, 7, 7, 64])).shape; // [2, 64]
 * ```
 */
export function GlobalAvgPool(opts: { readonly name?: string } = {}): Module<{}> {
  checkOptions(opts, NAME_ONLY, 'GlobalAvgPool');
  return new Module({
    type: 'GlobalAvgPool',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, 'GlobalAvgPool', scope.path, 3, 'an input [batch, ...spatial, channels]');
      const axes = shape.slice(1, -1).map((_, i) => i + 1);
      return abstractOr(x, [shape[0]!, shape[shape.length - 1]!], () => tf.mean(x as tf.Tensor, axes));
    },
    summarize: () => ({ header: 'GlobalAvgPool' }),
  });
}

/**
 * Flattens every axis but the first: `[n, h, w, c] -> [n, h*w*c]` (Flax code writes
 * `x.reshape((x.shape[0], -1))`). The `Dense` after it is then sized by the image resolution.
 *
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Flatten(), fx.nn.Dense(10)]);
 * net.init(fx.random.key(0), [1, 28, 28, 1]).params.layers_1.kernel.shape; // [784, 10]
 * ```
 */
export function Flatten(opts: { readonly name?: string } = {}): Module<{}> {
  checkOptions(opts, NAME_ONLY, 'Flatten');
  return new Module({
    type: 'Flatten',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      if (!(x instanceof tf.Tensor) && !isAbstract(x)) throw new FlaxenError(scope.path, `Flatten needs a tensor input, found ${describeValue(x)}`);
      const shape = x.shape;
      if (shape.length < 1) throw new ShapeError(scope.path, `Flatten needs an input with a batch axis (rank 1 or more), found a scalar`);
      const outShape = [shape[0]!, shape.slice(1).reduce((a, b) => a * b, 1)];
      return abstractOr(x, outShape, () => reshape(x as tf.Tensor, outShape), x.dtype);
    },
    summarize: () => ({ header: 'Flatten' }),
  });
}
