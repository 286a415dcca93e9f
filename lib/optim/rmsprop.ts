/**
 * `rmsprop`: RMSProp, plain or centered, optionally with momentum.
 *
 * @module
 */
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { FlaxenError } from '../errors.js';
import { identity } from './identity.js';
import { scaleByLearningRate } from './scale.js';
import { RMS_OPTIONS, scaleByRms, scaleByStddev, type ScaleByRmsOptions } from './transforms/scale-by-rms.js';
import { trace } from './transforms/trace.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkNumber, checkScalarOrSchedule } from './util.js';

/**
 * Options of {@link rmsprop} (Optax's names and defaults).
 *
 * @example
 * ```ts
 * const opts: fx.optim.RmspropOptions = { decay: 0.9, eps: 1e-8, centered: true, momentum: 0.9 };
 * ```
 */
export interface RmspropOptions extends ScaleByRmsOptions {
  /** Subtract the squared mean gradient from the mean square (default false). */
  readonly centered?: boolean;
  /** Momentum applied after the learning rate (default none). */
  readonly momentum?: number;
  /** Nesterov momentum (needs `momentum`). */
  readonly nesterov?: boolean;
}

const RMSPROP_OPTIONS: OptionKinds<RmspropOptions> = { ...RMS_OPTIONS, centered: 'boolean', momentum: 'any', nesterov: 'boolean' };

/**
 * RMSProp (Optax's `rmsprop`; Tieleman & Hinton, 2012): `chain(scaleByRms(...) or
 * scaleByStddev(...) when centered, scaleByLearningRate(lr), trace({decay: momentum, nesterov})
 * or identity())`. Plain: `nu = decay·nu + (1−decay)·g²`, `update = −lr · g / sqrt(nu + eps)`.
 * Defaults `decay = 0.9`, `eps = 1e-8` (inside the square root), no momentum.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.rmsprop(1e-3, { decay: 0.9 });
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function rmsprop(learningRate: ScalarOrSchedule, opts: RmspropOptions = {}): GradientTransformation<ChainState> {
  checkOptions<RmspropOptions>('rmsprop', opts, RMSPROP_OPTIONS);
  checkScalarOrSchedule('rmsprop', 'learningRate', learningRate);
  const { centered = false, momentum, nesterov = false, ...rmsOpts } = opts;
  if (momentum !== undefined) checkNumber('rmsprop', 'momentum', momentum, { min: 0 });
  else if (nesterov) throw new FlaxenError('', 'rmsprop: nesterov needs a momentum, found none');
  return chain(
    centered ? scaleByStddev(rmsOpts) : scaleByRms(rmsOpts),
    scaleByLearningRate(learningRate),
    momentum === undefined ? identity() : trace({ decay: momentum, nesterov }),
  );
}
