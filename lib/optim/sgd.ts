/**
 * `sgd`: stochastic gradient descent, optionally with (Nesterov) momentum.
 *
 * @module
 */
import { FlaxenError } from '../errors.js';
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { identity } from './identity.js';
import { scaleByLearningRate } from './scale.js';
import { trace } from './transforms/trace.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkNumber, checkScalarOrSchedule } from './util.js';

/**
 * Options of {@link sgd}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.SgdOptions = { momentum: 0.9, nesterov: true };
 * ```
 */
export interface SgdOptions {
  /** Momentum coefficient (>= 0); without it, plain SGD with no state. */
  readonly momentum?: number;
  /** Nesterov momentum (needs `momentum`); default false. */
  readonly nesterov?: boolean;
}

const SGD_OPTIONS: OptionKinds<SgdOptions> = { momentum: 'any', nesterov: 'boolean' };

/**
 * Stochastic gradient descent (Optax's `sgd`): `chain(trace({decay: momentum, nesterov}),
 * scaleByLearningRate(lr))`, or `chain(identity(), scaleByLearningRate(lr))` without momentum.
 * Plain: `update = −lr·g`. Momentum: `trace = g + momentum·trace`, `update = −lr·trace`.
 * Nesterov: `update = −lr·(g + momentum·trace)` with the new trace.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.sgd(0.1, { momentum: 0.9 });
 * const params = { w: tf.tensor([1, 2]) };
 * let state = tx.init(params);
 * const grads = { w: tf.tensor([1, 1]) };
 * const [updates, next] = tx.update(grads, state, params);   // { w: [-0.1, -0.1] }
 * const newParams = fx.optim.applyUpdates(params, updates);
 * ```
 */
export function sgd(learningRate: ScalarOrSchedule, opts: SgdOptions = {}): GradientTransformation<ChainState> {
  checkOptions<SgdOptions>('sgd', opts, SGD_OPTIONS);
  checkScalarOrSchedule('sgd', 'learningRate', learningRate);
  if (opts.momentum !== undefined) checkNumber('sgd', 'momentum', opts.momentum, { min: 0 });
  const lrStage = scaleByLearningRate(learningRate);
  if (opts.momentum === undefined) {
    if (opts.nesterov) throw new FlaxenError('', 'sgd: nesterov needs a momentum, found none');
    return chain(identity(), lrStage);
  }
  return chain(trace({ decay: opts.momentum, nesterov: opts.nesterov ?? false }), lrStage);
}
