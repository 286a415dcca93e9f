/**
 * `lamb`: Adam with a layer-wise trust ratio.
 *
 * @module
 */
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { DECOUPLED_DECAY_OPTIONS, decoupledDecay, type DecoupledDecayOptions } from './decay.js';
import { scaleByLearningRate } from './scale.js';
import { ADAM_OPTIONS, adamOptions, scaleByAdam, type ScaleByAdamOptions } from './transforms/scale-by-adam.js';
import { scaleByTrustRatio } from './transforms/scale-by-trust-ratio.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkScalarOrSchedule } from './util.js';

/**
 * Options of {@link lamb} (Optax's defaults: `eps = 1e-6`, no weight decay).
 *
 * @example
 * ```ts
 * const opts: fx.optim.LambOptions = { weightDecay: 0.01 };
 * ```
 */
export type LambOptions = ScaleByAdamOptions & DecoupledDecayOptions;

const LAMB_OPTIONS: OptionKinds<LambOptions> = { ...ADAM_OPTIONS, ...DECOUPLED_DECAY_OPTIONS };

/**
 * LAMB (Optax's `lamb`; You et al., 2019): `chain(scaleByAdam({b1, b2, eps = 1e-6, epsRoot}),
 * addDecayedWeights(weightDecay, {mask}), scaleByTrustRatio(), scaleByLearningRate(lr))`: Adam's
 * update plus decay, rescaled per leaf by `‖param‖ / ‖update‖`. Needs the parameters as
 * `update`'s third argument.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.lamb(1e-3, { weightDecay: 0.01 });
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function lamb(learningRate: ScalarOrSchedule, opts: LambOptions = {}): GradientTransformation<ChainState> {
  checkOptions<LambOptions>('lamb', opts, LAMB_OPTIONS);
  checkScalarOrSchedule('lamb', 'learningRate', learningRate);
  const { weightDecay, mask, eps = 1e-6, ...rest } = opts;
  const adamOpts = { ...rest, eps };
  adamOptions('lamb', adamOpts);
  return chain(scaleByAdam(adamOpts), decoupledDecay('lamb', { weightDecay, mask }, 0), scaleByTrustRatio(), scaleByLearningRate(learningRate));
}
