/**
 * `adagrad`: Adagrad, per-coordinate steps shrinking with the sum of past squared gradients.
 *
 * @module
 */
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { scaleByLearningRate } from './scale.js';
import { RSS_OPTIONS, scaleByRss, type ScaleByRssOptions } from './transforms/scale-by-rss.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkScalarOrSchedule } from './util.js';

/**
 * Options of {@link adagrad}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.AdagradOptions = { initialAccumulatorValue: 0.1, eps: 1e-7 };
 * ```
 */
export type AdagradOptions = ScaleByRssOptions;

/**
 * Adagrad (Optax's `adagrad`; Duchi et al., 2011): `chain(scaleByRss({initialAccumulatorValue,
 * eps}), scaleByLearningRate(lr))`: `s = s + g²`, `update = −lr · g / sqrt(s + eps)`.
 * Defaults `initialAccumulatorValue = 0.1`, `eps = 1e-7`.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.adagrad(0.1);
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function adagrad(learningRate: ScalarOrSchedule, opts: AdagradOptions = {}): GradientTransformation<ChainState> {
  checkOptions<AdagradOptions>('adagrad', opts, RSS_OPTIONS);
  checkScalarOrSchedule('adagrad', 'learningRate', learningRate);
  return chain(scaleByRss(opts), scaleByLearningRate(learningRate));
}
