/**
 * `lion`: sign momentum with decoupled weight decay.
 *
 * @module
 */
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { DECOUPLED_DECAY_OPTIONS, decoupledDecay, type DecoupledDecayOptions } from './decay.js';
import { scaleByLearningRate } from './scale.js';
import { LION_OPTIONS, scaleByLion, type ScaleByLionOptions } from './transforms/scale-by-lion.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkScalarOrSchedule } from './util.js';

/**
 * Options of {@link lion}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.LionOptions = { b1: 0.9, b2: 0.99, weightDecay: 1e-2 };
 * ```
 */
export type LionOptions = ScaleByLionOptions & DecoupledDecayOptions;

const LION_AND_DECAY_OPTIONS: OptionKinds<LionOptions> = { ...LION_OPTIONS, ...DECOUPLED_DECAY_OPTIONS };

/**
 * Lion (Optax's `lion`; Chen et al., 2023): `chain(scaleByLion({b1, b2}),
 * addDecayedWeights(weightDecay, {mask}), scaleByLearningRate(lr))`:
 * `update = −lr · (sign((1−b1)·g + b1·mu) + weightDecay · param)`, `mu = b2·mu + (1−b2)·g`.
 * Its steps have size lr per coordinate: use a learning rate 3–10× smaller than Adam's.
 * Needs the parameters as `update`'s third argument (for the weight decay).
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.lion(1e-4, { weightDecay: 1e-2 });
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function lion(learningRate: ScalarOrSchedule, opts: LionOptions = {}): GradientTransformation<ChainState> {
  checkOptions<LionOptions>('lion', opts, LION_AND_DECAY_OPTIONS);
  checkScalarOrSchedule('lion', 'learningRate', learningRate);
  const { weightDecay, mask, ...lionOpts } = opts;
  return chain(scaleByLion(lionOpts), decoupledDecay('lion', { weightDecay, mask }, 1e-3), scaleByLearningRate(learningRate));
}
