/**
 * `lion` and `lamb`: two modern optimizers (sign momentum; layer-wise trust ratio).
 *
 * @module
 */
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { addDecayedWeights } from './decay.js';
import type { Mask } from './masked.js';
import { scaleByLearningRate } from './scale.js';
import { ADAM_OPTIONS, adamOptions, scaleByAdam, type ScaleByAdamOptions } from './transforms/scale-by-adam.js';
import { scaleByLion, type ScaleByLionOptions } from './transforms/scale-by-lion.js';
import { scaleByTrustRatio } from './transforms/scale-by-trust-ratio.js';
import { checkNumber, checkOptions, checkScalarOrSchedule } from './util.js';

/**
 * Options of {@link lion}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.LionOptions = { b1: 0.9, b2: 0.99, weightDecay: 1e-2 };
 * ```
 */
export interface LionOptions extends ScaleByLionOptions {
  /** Decoupled weight decay (>= 0); default 1e-3, as Optax. */
  readonly weightDecay?: number;
  /** Decay only the leaves this mask selects; default all. */
  readonly mask?: Mask;
}

/**
 * Lion (Optax's `lion`; Chen et al., 2023): `chain(scaleByLion({b1, b2}),
 * addDecayedWeights(weightDecay, {mask}), scaleByLearningRate(lr))`:
 * `update = −lr · (sign((1−b1)·g + b1·mu) + weightDecay · param)`, `mu = b2·mu + (1−b2)·g`.
 * Its steps have size lr per coordinate: use a learning rate 3–10× smaller than Adam's.
 * Needs the parameters as `update`'s third argument (for the weight decay).
 *
 * Ownership: `update` disposes nothing it is given; the caller owns and disposes the updates,
 * the new state, and (after the step) the old state and the grads.
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.lion(1e-4, { weightDecay: 1e-2 });
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function lion(learningRate: ScalarOrSchedule, opts: LionOptions = {}): GradientTransformation<ChainState> {
  checkOptions('lion', opts, ['b1', 'b2', 'weightDecay', 'mask']);
  checkScalarOrSchedule('lion', 'learningRate', learningRate);
  const { weightDecay = 1e-3, mask, ...lionOpts } = opts;
  checkNumber('lion', 'weightDecay', weightDecay, { min: 0 });
  return chain(scaleByLion(lionOpts), addDecayedWeights(weightDecay, mask === undefined ? {} : { mask }), scaleByLearningRate(learningRate));
}

/**
 * Options of {@link lamb} (Optax's defaults: `eps = 1e-6`, no weight decay).
 *
 * @example
 * ```ts
 * const opts: fx.optim.LambOptions = { weightDecay: 0.01 };
 * ```
 */
export interface LambOptions extends ScaleByAdamOptions {
  /** Decoupled weight decay (>= 0); default 0. */
  readonly weightDecay?: number;
  /** Decay only the leaves this mask selects; default all. */
  readonly mask?: Mask;
}

/**
 * LAMB (Optax's `lamb`; You et al., 2019): `chain(scaleByAdam({b1, b2, eps = 1e-6, epsRoot}),
 * addDecayedWeights(weightDecay, {mask}), scaleByTrustRatio(), scaleByLearningRate(lr))`: Adam's
 * update plus decay, rescaled per leaf by `‖param‖ / ‖update‖`. Needs the parameters as
 * `update`'s third argument.
 *
 * Ownership: `update` disposes nothing it is given; the caller owns and disposes the updates,
 * the new state, and (after the step) the old state and the grads.
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.lamb(1e-3, { weightDecay: 0.01 });
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function lamb(learningRate: ScalarOrSchedule, opts: LambOptions = {}): GradientTransformation<ChainState> {
  checkOptions('lamb', opts, [...ADAM_OPTIONS, 'weightDecay', 'mask']);
  checkScalarOrSchedule('lamb', 'learningRate', learningRate);
  const { weightDecay = 0, mask, eps = 1e-6, ...rest } = opts;
  const adamOpts = { ...rest, eps };
  adamOptions('lamb', adamOpts);
  checkNumber('lamb', 'weightDecay', weightDecay, { min: 0 });
  return chain(scaleByAdam(adamOpts), addDecayedWeights(weightDecay, mask === undefined ? {} : { mask }), scaleByTrustRatio(), scaleByLearningRate(learningRate));
}
