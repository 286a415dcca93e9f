/**
 * Schedules (`fx.optim.schedules`): functions `step -> value` for learning rates and other
 * hyperparameters, with Optax's definitions. `step` counts updates from 0, so the first update
 * uses `schedule(0)`. They are plain JS functions (no tensors).
 *
 * ```ts
 * const lr = fx.optim.schedules.warmupCosineDecay(0, 1e-3, 100, 10_000);
 * const tx = fx.optim.adam(lr);
 * ```
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import type { Schedule } from './base.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkNumber } from './util.js';

/**
 * The same value at every step (Optax's `constant_schedule`).
 *
 * @example
 * ```ts
 * fx.optim.schedules.constant(0.1)(1000);   // 0.1
 * ```
 */
export function constant(value: number): Schedule {
  checkNumber('constant', 'value', value);
  return () => value;
}

/**
 * Options of {@link polynomial} and {@link linear}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.schedules.TransitionOptions = { transitionBegin: 100 };
 * ```
 */
export interface TransitionOptions {
  /** Steps to hold `initValue` before the transition starts (default 0). */
  readonly transitionBegin?: number;
}

// numbers are 'any' here: their ranges are checked with checkNumber, whose message says more.
const TRANSITION_OPTIONS: OptionKinds<TransitionOptions> = { transitionBegin: 'any' };

/**
 * From `initValue` to `endValue` along `(init − end)·(1 − s/transitionSteps)^power + end` with
 * `s = clip(step − transitionBegin, 0, transitionSteps)`, then `endValue` (Optax's
 * `polynomial_schedule`). `transitionSteps = 0` gives the constant `initValue`.
 *
 * @example
 * ```ts
 * const s = fx.optim.schedules.polynomial(1, 0, 2, 10);
 * s(5);   // 0.25
 * ```
 */
export function polynomial(initValue: number, endValue: number, power: number, transitionSteps: number, opts: TransitionOptions = {}): Schedule {
  checkOptions<TransitionOptions>('polynomial', opts, TRANSITION_OPTIONS);
  checkNumber('polynomial', 'initValue', initValue);
  checkNumber('polynomial', 'endValue', endValue);
  checkNumber('polynomial', 'power', power);
  checkNumber('polynomial', 'transitionSteps', transitionSteps, { min: 0, integer: true });
  const begin = checkNumber('polynomial', 'transitionBegin', opts.transitionBegin ?? 0, { min: 0, integer: true });
  if (transitionSteps === 0) return () => initValue;
  return (step) => {
    const s = Math.min(Math.max(step - begin, 0), transitionSteps);
    return (initValue - endValue) * (1 - s / transitionSteps) ** power + endValue;
  };
}

/**
 * A straight line from `initValue` to `endValue` over `transitionSteps`, then `endValue`
 * (Optax's `linear_schedule`).
 *
 * @example
 * ```ts
 * const warmup = fx.optim.schedules.linear(0, 1e-3, 1000);
 * warmup(500);   // 5e-4
 * ```
 */
export function linear(initValue: number, endValue: number, transitionSteps: number, opts: TransitionOptions = {}): Schedule {
  checkOptions<TransitionOptions>('linear', opts, TRANSITION_OPTIONS);
  return polynomial(initValue, endValue, 1, transitionSteps, opts);
}

/**
 * Options of {@link cosineDecay}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.schedules.CosineDecayOptions = { alpha: 0.1 };
 * ```
 */
export interface CosineDecayOptions {
  /** The final value as a fraction of `initValue` (default 0). */
  readonly alpha?: number;
  /** Power applied to the cosine factor (default 1). */
  readonly exponent?: number;
}

const COSINE_OPTIONS: OptionKinds<CosineDecayOptions> = { alpha: 'any', exponent: 'any' };

/**
 * Cosine decay (Loshchilov & Hutter, SGDR; Optax's `cosine_decay_schedule`):
 * `init·((1 − alpha)·(½(1 + cos(π·s/decaySteps)))^exponent + alpha)` with `s = min(step, decaySteps)`.
 *
 * @example
 * ```ts
 * const s = fx.optim.schedules.cosineDecay(1, 100);
 * s(50);    // 0.5
 * s(200);   // 0
 * ```
 */
export function cosineDecay(initValue: number, decaySteps: number, opts: CosineDecayOptions = {}): Schedule {
  checkOptions<CosineDecayOptions>('cosineDecay', opts, COSINE_OPTIONS);
  checkNumber('cosineDecay', 'initValue', initValue);
  checkNumber('cosineDecay', 'decaySteps', decaySteps, { min: 1, integer: true });
  const alpha = checkNumber('cosineDecay', 'alpha', opts.alpha ?? 0);
  const exponent = checkNumber('cosineDecay', 'exponent', opts.exponent ?? 1);
  return (step) => {
    const s = Math.min(Math.max(step, 0), decaySteps);
    const cosine = 0.5 * (1 + Math.cos((Math.PI * s) / decaySteps));
    return initValue * ((1 - alpha) * cosine ** exponent + alpha);
  };
}

/**
 * Options of {@link warmupCosineDecay}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.schedules.WarmupCosineDecayOptions = { endValue: 1e-5 };
 * ```
 */
export interface WarmupCosineDecayOptions {
  /** The value at `decaySteps` and after (default 0). */
  readonly endValue?: number;
  /** Power applied to the cosine factor (default 1). */
  readonly exponent?: number;
}

const WARMUP_COSINE_OPTIONS: OptionKinds<WarmupCosineDecayOptions> = { endValue: 'any', exponent: 'any' };

/**
 * A linear warmup from `initValue` to `peakValue` over `warmupSteps`, then a cosine decay to
 * `endValue` reached at step `decaySteps` (which counts the warmup, as in Optax's
 * `warmup_cosine_decay_schedule`).
 *
 * @example
 * ```ts
 * const s = fx.optim.schedules.warmupCosineDecay(0, 1, 10, 110);
 * s(5);     // 0.5  (warming up)
 * s(60);    // 0.5  (half-way down the cosine)
 * s(110);   // 0
 * ```
 */
export function warmupCosineDecay(initValue: number, peakValue: number, warmupSteps: number, decaySteps: number, opts: WarmupCosineDecayOptions = {}): Schedule {
  checkOptions<WarmupCosineDecayOptions>('warmupCosineDecay', opts, WARMUP_COSINE_OPTIONS);
  checkNumber('warmupCosineDecay', 'peakValue', peakValue);
  checkNumber('warmupCosineDecay', 'warmupSteps', warmupSteps, { min: 0, integer: true });
  checkNumber('warmupCosineDecay', 'decaySteps', decaySteps, { above: warmupSteps, integer: true });
  const endValue = checkNumber('warmupCosineDecay', 'endValue', opts.endValue ?? 0);
  const alpha = peakValue === 0 ? 0 : endValue / peakValue;
  return joinSchedules(
    [linear(initValue, peakValue, warmupSteps), cosineDecay(peakValue, decaySteps - warmupSteps, { alpha, exponent: opts.exponent ?? 1 })],
    [warmupSteps],
  );
}

/**
 * Options of {@link exponentialDecay}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.schedules.ExponentialDecayOptions = { staircase: true, endValue: 1e-5 };
 * ```
 */
export interface ExponentialDecayOptions {
  /** Steps to hold `initValue` before decaying (default 0). */
  readonly transitionBegin?: number;
  /** Decay in whole periods of `transitionSteps` (default false). */
  readonly staircase?: boolean;
  /** A bound the value never crosses (a floor when `decayRate < 1`, a ceiling otherwise). */
  readonly endValue?: number;
}

const EXPONENTIAL_OPTIONS: OptionKinds<ExponentialDecayOptions> = { transitionBegin: 'any', staircase: 'boolean', endValue: 'any' };

/**
 * `init · decayRate^(s / transitionSteps)` with `s = step − transitionBegin` (`init` while
 * `s <= 0`; the exponent floored when `staircase`), bounded by `endValue` (Optax's
 * `exponential_decay`).
 *
 * @example
 * ```ts
 * const s = fx.optim.schedules.exponentialDecay(1, 10, 0.5);
 * s(10);   // 0.5
 * s(20);   // 0.25
 * ```
 */
export function exponentialDecay(initValue: number, transitionSteps: number, decayRate: number, opts: ExponentialDecayOptions = {}): Schedule {
  checkOptions<ExponentialDecayOptions>('exponentialDecay', opts, EXPONENTIAL_OPTIONS);
  checkNumber('exponentialDecay', 'initValue', initValue);
  checkNumber('exponentialDecay', 'transitionSteps', transitionSteps, { above: 0 });
  checkNumber('exponentialDecay', 'decayRate', decayRate, { above: 0 });
  const begin = checkNumber('exponentialDecay', 'transitionBegin', opts.transitionBegin ?? 0, { min: 0, integer: true });
  const endValue = opts.endValue === undefined ? undefined : checkNumber('exponentialDecay', 'endValue', opts.endValue);
  const staircase = opts.staircase === true;
  return (step) => {
    const s = step - begin;
    let p = s / transitionSteps;
    if (staircase) p = Math.floor(p);
    let value = s <= 0 ? initValue : initValue * decayRate ** p;
    if (endValue !== undefined) value = decayRate < 1 ? Math.max(value, endValue) : Math.min(value, endValue);
    return value;
  };
}

/**
 * `initValue` multiplied by each scale whose boundary has been reached (`step >= boundary`),
 * as Optax's `piecewise_constant_schedule`.
 *
 * @param boundariesAndScales - `{ [boundaryStep]: scale }` or `[boundaryStep, scale]` pairs; scales >= 0.
 * @example
 * ```ts
 * const s = fx.optim.schedules.piecewiseConstant(0.1, { 1000: 0.1, 2000: 0.5 });
 * s(999);    // 0.1
 * s(1000);   // 0.01
 * s(2500);   // 0.005
 * ```
 */
export function piecewiseConstant(initValue: number, boundariesAndScales: Readonly<Record<number, number>> | ReadonlyArray<readonly [number, number]> = {}): Schedule {
  checkNumber('piecewiseConstant', 'initValue', initValue);
  if (boundariesAndScales === null || typeof boundariesAndScales !== 'object') {
    throw new FlaxenError('', `piecewiseConstant: boundariesAndScales must be an object {step: scale} or [step, scale] pairs, found ${describeValue(boundariesAndScales)}`);
  }
  const pairs = (Array.isArray(boundariesAndScales) ? boundariesAndScales : Object.entries(boundariesAndScales).map(([k, v]) => [Number(k), v] as const)) as ReadonlyArray<readonly [number, number]>;
  const sorted = pairs
    .map(([b, s]) => [checkNumber('piecewiseConstant', 'a boundary', b, { min: 0, integer: true }), checkNumber('piecewiseConstant', `the scale at boundary ${b}`, s, { min: 0 })] as const)
    .sort((x, y) => x[0] - y[0]);
  return (step) => {
    let value = initValue;
    for (const [boundary, s] of sorted) if (step >= boundary) value *= s;
    return value;
  };
}

/**
 * Runs `schedules[0]` until `boundaries[0]`, then `schedules[1]` restarted from 0, and so on
 * (Optax's `join_schedules`): at step `t >= boundaries[i-1]` the value is
 * `schedules[i](t − boundaries[i-1])` for the last boundary reached.
 *
 * @param schedules - `n` schedules.
 * @param boundaries - `n − 1` increasing steps.
 * @example
 * ```ts
 * const s = fx.optim.schedules.joinSchedules([fx.optim.schedules.constant(1), fx.optim.schedules.linear(1, 0, 10)], [5]);
 * s(4);   // 1
 * s(10);  // 0.5
 * ```
 */
export function joinSchedules(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  if (!Array.isArray(schedules) || schedules.length === 0 || schedules.some((s) => typeof s !== 'function')) {
    throw new FlaxenError('', `joinSchedules: schedules must be a non-empty array of functions, found ${describeValue(schedules)}`);
  }
  if (!Array.isArray(boundaries) || boundaries.length !== schedules.length - 1) {
    throw new FlaxenError('', `joinSchedules: ${schedules.length} schedules need ${schedules.length - 1} boundaries, found ${describeValue(boundaries)}`);
  }
  boundaries.forEach((b, i) => {
    checkNumber('joinSchedules', `boundaries[${i}]`, b, { min: i === 0 ? 0 : boundaries[i - 1]!, integer: true });
  });
  return (step) => {
    let i = 0;
    while (i < boundaries.length && step >= boundaries[i]!) i++;
    return i === 0 ? schedules[0]!(step) : schedules[i]!(step - boundaries[i - 1]!);
  };
}
