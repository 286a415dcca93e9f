/**
 * `scaleByLion`: the sign-of-interpolated-momentum update of Lion.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from '../base.js';
import { checkOptions, type OptionKinds } from '../../check-options.js';
import { checkNumber } from '../util.js';
import { bufferedTransform } from './buffered.js';

/**
 * Options of {@link scaleByLion} (Optax's names and defaults).
 *
 * @example
 * ```ts
 * const opts: fx.optim.ScaleByLionOptions = { b1: 0.95, b2: 0.98 };
 * ```
 */
export interface ScaleByLionOptions {
  /** Weight of the momentum in the interpolation, in [0, 1]; default 0.9. */
  readonly b1?: number;
  /** Decay of the momentum, in [0, 1); default 0.99. */
  readonly b2?: number;
}

/** @internal The options of {@link scaleByLion} (numbers: ranges are checked below). */
export const LION_OPTIONS: OptionKinds<ScaleByLionOptions> = { b1: 'any', b2: 'any' };

/**
 * The state of {@link scaleByLion}: the momentum.
 *
 * @example
 * ```ts
 * const s: fx.optim.ScaleByLionState = fx.optim.scaleByLion().init({ w: tf.ones([2]) });
 * ```
 */
export interface ScaleByLionState {
  readonly [key: string]: unknown;
  /** Momentum, shaped like the parameters. */
  readonly mu: unknown;
}

/**
 * Lion's rescaling (Optax's `scale_by_lion`; Chen et al., 2023, https://arxiv.org/abs/2302.06675):
 * `update = sign((1−b1)·g + b1·mu)`, then `mu = b2·mu + (1−b2)·g`.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByLion(), fx.optim.scaleByLearningRate(1e-4));
 * ```
 */
export function scaleByLion(opts: ScaleByLionOptions = {}): GradientTransformation<ScaleByLionState> {
  checkOptions<ScaleByLionOptions>('scaleByLion', opts, LION_OPTIONS);
  const b1 = checkNumber('scaleByLion', 'b1', opts.b1 ?? 0.9, { min: 0, max: 1 });
  const b2 = checkNumber('scaleByLion', 'b2', opts.b2 ?? 0.99, { min: 0, below: 1 });
  return bufferedTransform(
    'scaleByLion',
    'mu',
    0,
    () => ({ cB1: tf.scalar(b1), c1mB1: tf.scalar(1 - b1), cB2: tf.scalar(b2), c1mB2: tf.scalar(1 - b2) }),
    (g, m, { cB1, c1mB1, cB2, c1mB2 }) => [tf.sign(tf.add(tf.mul(g, c1mB1), tf.mul(m, cB1))), tf.add(tf.mul(m, cB2), tf.mul(g, c1mB2))],
  ) as GradientTransformation<ScaleByLionState>;
}
