/**
 * `scaleByTrustRatio`: LARS/LAMB's layer-wise rescaling by ‖param‖ / ‖update‖.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError } from '../../errors.js';
import type { GradientTransformation } from '../base.js';
import type { EmptyState } from '../identity.js';
import { checkOptions, type OptionKinds } from '../../check-options.js';
import { checkNumber, tidy, zipLeaves } from '../util.js';

const EMPTY: EmptyState = Object.freeze({});

/**
 * Options of {@link scaleByTrustRatio} (Optax's names and defaults).
 *
 * @example
 * ```ts
 * const opts: fx.optim.ScaleByTrustRatioOptions = { trustCoefficient: 0.001 };
 * ```
 */
export interface ScaleByTrustRatioOptions {
  /** Norms below this count as this value (default 0). */
  readonly minNorm?: number;
  /** Multiplies the ratio (default 1). */
  readonly trustCoefficient?: number;
  /** Added to the update norm (default 0). */
  readonly eps?: number;
}

const TRUST_RATIO_OPTIONS: OptionKinds<ScaleByTrustRatioOptions> = { minNorm: 'any', trustCoefficient: 'any', eps: 'any' };

/**
 * Multiplies each leaf's update by `trustCoefficient · ‖param‖ / (‖update‖ + eps)` (norms over
 * the leaf; the ratio is 1 when either norm is 0), as Optax's `scale_by_trust_ratio` (You et al.,
 * LAMB, https://arxiv.org/abs/1904.00962). Needs the parameters as `update`'s third argument.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByAdam(), fx.optim.scaleByTrustRatio(), fx.optim.scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByTrustRatio(opts: ScaleByTrustRatioOptions = {}): GradientTransformation<EmptyState> {
  checkOptions<ScaleByTrustRatioOptions>('scaleByTrustRatio', opts, TRUST_RATIO_OPTIONS);
  const minNorm = checkNumber('scaleByTrustRatio', 'minNorm', opts.minNorm ?? 0, { min: 0 });
  const trust = checkNumber('scaleByTrustRatio', 'trustCoefficient', opts.trustCoefficient ?? 1, { min: 0 });
  const eps = checkNumber('scaleByTrustRatio', 'eps', opts.eps ?? 0, { min: 0 });
  return Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState, params?: unknown): readonly [G, EmptyState] => {
      if (params === undefined) throw new FlaxenError('', 'scaleByTrustRatio: update needs the parameters; pass them as the third argument, update(grads, state, params)');
      return Object.freeze([
        tidy(() => {
          const cMin = tf.scalar(minNorm);
          const cTrust = tf.scalar(trust);
          const cEps = tf.scalar(eps);
          const one = tf.scalar(1);
          return zipLeaves(
            'scaleByTrustRatio',
            [
              { name: 'grads', tree: grads },
              { name: 'params', tree: params },
            ],
            1,
            ([u, p]) => {
              // sqrt(sum(x²)): three kernels, where tf.norm takes seven (abs, pow, casts).
              const pNorm = tf.maximum(tf.sqrt(tf.sum(tf.square(p!))), cMin);
              const uNorm = tf.maximum(tf.sqrt(tf.sum(tf.square(u!))), cMin);
              const ratio = tf.div(tf.mul(pNorm, cTrust), tf.add(uNorm, cEps));
              const zero = tf.logicalOr(tf.equal(pNorm, 0), tf.equal(uNorm, 0));
              return [tf.mul(u!, tf.where(zero, one, ratio))];
            },
          )[0] as G;
        }),
        state,
      ] as const);
    },
  });
}
