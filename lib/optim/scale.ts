/**
 * Scaling transformations: `scale` (a fixed factor), `scaleBySchedule` (a factor that depends on
 * the step) and `scaleByLearningRate` (the last stage of every optimizer: multiply by `-lr`).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import type { GradientTransformation, ScalarOrSchedule, Scaling, Schedule } from './base.js';
import type { EmptyState } from './identity.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkNumber, checkScalarOrSchedule, checkState, evalSchedule, mapTensors, tidy } from './util.js';

const EMPTY: EmptyState = Object.freeze({});

/** @internal Multiplies every leaf by `factor` (one scalar tensor per call, one op per leaf). */
export function scaleTree<G>(what: string, grads: G, factor: number): G {
  return tidy(() => {
    const s = tf.scalar(factor);
    return mapTensors(what, 'grads', grads, (g) => tf.mul(g, s)) as G;
  });
}

/**
 * Multiplies the updates by a fixed `factor` (Optax's `scale`). Stateless.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param factor - any finite number (negative flips the direction).
 * @example
 * ```ts
 * const tx = fx.optim.scale(0.5);
 * const [u] = tx.update({ w: tf.tensor([2, 4]) }, tx.init({}));   // { w: [1, 2] }
 * ```
 */
export function scale(factor: number): GradientTransformation<EmptyState> {
  checkNumber('scale', 'factor', factor);
  return Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState): readonly [G, EmptyState] => Object.freeze([scaleTree('scale', grads, factor), checkState('scale', state, []) as EmptyState] as const),
    scaling: (state: EmptyState): readonly [Scaling, EmptyState] => [{ scale: factor }, checkState('scale', state, []) as EmptyState],
  });
}

/**
 * The state of {@link scaleBySchedule}: the number of updates done so far.
 *
 * @example
 * ```ts
 * const s: fx.optim.ScaleByScheduleState = fx.optim.scaleBySchedule((t) => 1 / (t + 1)).init({});   // { count: 0 }
 * ```
 */
export interface ScaleByScheduleState {
  readonly [key: string]: unknown;
  /** Updates done so far; the next update uses `schedule(count)`. */
  readonly count: number;
}

/**
 * Multiplies the updates by `schedule(count)`, where `count` is the number of earlier updates
 * (Optax's `scale_by_schedule`: the first update uses `schedule(0)`). The count is a JS number.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param schedule - step → factor.
 * @example
 * ```ts
 * const tx = fx.optim.scaleBySchedule((step) => 0.5 ** step);
 * let state = tx.init({});
 * const [u1, s1] = tx.update({ w: tf.tensor([4]) }, state);   // { w: [4] }, factor 1
 * const [u2] = tx.update({ w: tf.tensor([4]) }, s1);          // { w: [2] }, factor 0.5
 * ```
 */
export function scaleBySchedule(schedule: Schedule): GradientTransformation<ScaleByScheduleState> {
  if (typeof schedule !== 'function') throw new FlaxenError('', `scaleBySchedule: schedule must be a function (step) => number, found ${describeValue(schedule)}`);
  // The one place that reads the count, evaluates the schedule and advances the count.
  const scaling = (state: ScaleByScheduleState): readonly [Scaling, ScaleByScheduleState] => {
    const { count } = checkState('scaleBySchedule', state, ['count']) as { count: number };
    return [{ scale: evalSchedule('scaleBySchedule', schedule, count) }, Object.freeze({ count: count + 1 })];
  };
  return Object.freeze({
    init: (): ScaleByScheduleState => Object.freeze({ count: 0 }),
    update: <G>(grads: G, state: ScaleByScheduleState): readonly [G, ScaleByScheduleState] => {
      const [{ scale: factor }, next] = scaling(state);
      return Object.freeze([scaleTree('scaleBySchedule', grads, factor), next] as const);
    },
    scaling,
  });
}

/**
 * Options of {@link scaleByLearningRate}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.ScaleByLearningRateOptions = { flipSign: false };   // gradient ascent
 * ```
 */
export interface ScaleByLearningRateOptions {
  /** Multiply by `-lr` (default true: descent, with `applyUpdates` adding the updates). */
  readonly flipSign?: boolean;
}

const LEARNING_RATE_OPTIONS: OptionKinds<ScaleByLearningRateOptions> = { flipSign: 'boolean' };

/**
 * Multiplies the updates by `-learningRate` (Optax's `scale_by_learning_rate`): with
 * {@link applyUpdates} adding the updates, this makes a descent step. A number gives a stateless
 * `scale(-lr)`; a schedule gives `scaleBySchedule((step) => -lr(step))`, whose state counts steps.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.scaleByLearningRate(0.1);
 * const [u] = tx.update({ w: tf.tensor([2]) }, tx.init({}));   // { w: [-0.2] }
 * ```
 */
export function scaleByLearningRate(learningRate: ScalarOrSchedule, opts: ScaleByLearningRateOptions = {}): GradientTransformation<EmptyState | ScaleByScheduleState> {
  checkOptions<ScaleByLearningRateOptions>('scaleByLearningRate', opts, LEARNING_RATE_OPTIONS);
  const lr = checkScalarOrSchedule('scaleByLearningRate', 'learningRate', learningRate);
  const sign = opts.flipSign === false ? 1 : -1;
  if (typeof lr === 'number') return scale(sign * lr) as GradientTransformation<EmptyState | ScaleByScheduleState>;
  return scaleBySchedule((step) => sign * lr(step)) as GradientTransformation<EmptyState | ScaleByScheduleState>;
}
