/**
 * `trace`: momentum (heavy ball or Nesterov), the first stage of `sgd` with momentum.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from '../base.js';
import { checkOptions, type OptionKinds } from '../../check-options.js';
import { alias, checkNumber } from '../util.js';
import { bufferedTransform } from './buffered.js';

/**
 * Options of {@link trace}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.TraceOptions = { decay: 0.9, nesterov: true };
 * ```
 */
export interface TraceOptions {
  /** The momentum coefficient, a number >= 0 (usually 0.9). */
  readonly decay: number;
  /** Use Nesterov's form (default false). */
  readonly nesterov?: boolean;
}

const TRACE_OPTIONS: OptionKinds<TraceOptions> = { decay: 'any', nesterov: 'boolean' };

/**
 * The state of {@link trace}: the momentum buffer.
 *
 * @example
 * ```ts
 * const s: fx.optim.TraceState = fx.optim.trace({ decay: 0.9 }).init({ w: tf.ones([2]) });
 * ```
 */
export interface TraceState {
  readonly [key: string]: unknown;
  /** The momentum (trace) of past updates, shaped like the parameters. */
  readonly trace: unknown;
}

/**
 * Momentum, as Optax's `trace`: `trace = g + decay·trace`; the update is `trace`, or with
 * Nesterov `g + decay·trace` (using the new trace). No learning rate here: `sgd` chains it with
 * {@link scaleByLearningRate}.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}); without Nesterov
 * the updates share the new trace's memory but are separate tensor objects.
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.trace({ decay: 0.9, nesterov: true }), fx.optim.scaleByLearningRate(0.01));
 * ```
 */
export function trace(opts: TraceOptions): GradientTransformation<TraceState> {
  checkOptions<TraceOptions>('trace', opts, TRACE_OPTIONS);
  const decay = checkNumber('trace', 'decay', opts?.decay, { min: 0 });
  const nesterov = opts.nesterov === true;
  return bufferedTransform('trace', 'trace', 0, () => tf.scalar(decay), (g, t, cDecay) => {
    const t1 = tf.add(g, tf.mul(t, cDecay));
    return [nesterov ? tf.add(g, tf.mul(t1, cDecay)) : alias(t1), t1];
  }) as GradientTransformation<TraceState>;
}
