/**
 * `scaleByRss`: Adagrad's rescaling by the root of the sum of all squared gradients.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from '../base.js';
import { checkOptions, type OptionKinds } from '../../check-options.js';
import { checkNumber } from '../util.js';
import { bufferedTransform } from './buffered.js';

/**
 * Options of {@link scaleByRss} (Optax's names and defaults).
 *
 * @example
 * ```ts
 * const opts: fx.optim.ScaleByRssOptions = { initialAccumulatorValue: 0.1, eps: 1e-7 };
 * ```
 */
export interface ScaleByRssOptions {
  /** The starting sum of squares (>= 0); default 0.1. */
  readonly initialAccumulatorValue?: number;
  /** Added inside the square root; default 1e-7. */
  readonly eps?: number;
}

/** @internal The options of {@link scaleByRss} (numbers: ranges are checked below). */
export const RSS_OPTIONS: OptionKinds<ScaleByRssOptions> = { initialAccumulatorValue: 'any', eps: 'any' };

/**
 * The state of {@link scaleByRss}: the running sum of squared gradients.
 *
 * @example
 * ```ts
 * const s: fx.optim.ScaleByRssState = fx.optim.scaleByRss().init({ w: tf.ones([2]) });
 * ```
 */
export interface ScaleByRssState {
  readonly [key: string]: unknown;
  /** Sums of squares, shaped like the parameters. */
  readonly sumOfSquares: unknown;
}

/**
 * Divides the updates by the root of the sum of all squared gradients so far (Optax's
 * `scale_by_rss`; Duchi et al., 2011): `s = s + g²`, `update = g / sqrt(s + eps)`, and 0 where
 * `s = 0`.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByRss(), fx.optim.scaleByLearningRate(0.1));
 * ```
 */
export function scaleByRss(opts: ScaleByRssOptions = {}): GradientTransformation<ScaleByRssState> {
  checkOptions<ScaleByRssOptions>('scaleByRss', opts, RSS_OPTIONS);
  const initial = checkNumber('scaleByRss', 'initialAccumulatorValue', opts.initialAccumulatorValue ?? 0.1, { min: 0 });
  const eps = checkNumber('scaleByRss', 'eps', opts.eps ?? 1e-7, { min: 0 });
  // The sum can only be 0 where initial = 0 and every gradient so far was 0; the update is then
  // 0/sqrt(eps) = 0 anyway, unless eps = 0 too (0/0): only that case needs the `where`.
  const needsWhere = initial === 0 && eps === 0;
  return bufferedTransform(
    'scaleByRss',
    'sumOfSquares',
    initial,
    () => tf.scalar(eps),
    (g, s, cEps) => {
      const s1 = tf.add(s, tf.square(g));
      // sqrt then div: on wasm, rsqrt costs more than the two together.
      const scaled = tf.div(g, tf.sqrt(tf.add(s1, cEps)));
      const u = needsWhere ? tf.where(tf.greater(s1, 0), scaled, tf.zerosLike(scaled)) : scaled;
      return [u, s1];
    },
  ) as GradientTransformation<ScaleByRssState>;
}
