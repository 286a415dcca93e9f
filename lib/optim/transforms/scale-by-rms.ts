/**
 * `scaleByRms` and `scaleByStddev`: RMSProp's rescaling by a moving average of squared gradients
 * (uncentered or centered).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from '../base.js';
import { checkOptions, type OptionKinds } from '../../check-options.js';
import { checkNumber, checkRate, checkState, mapTensors, tidy, zipLeaves } from '../util.js';
import { bufferedTransform } from './buffered.js';

/**
 * Options of {@link scaleByRms} and {@link scaleByStddev} (Optax's names and defaults).
 *
 * @example
 * ```ts
 * const opts: fx.optim.ScaleByRmsOptions = { decay: 0.95, eps: 1e-6 };
 * ```
 */
export interface ScaleByRmsOptions {
  /** Decay of the moving averages, in [0, 1); default 0.9. */
  readonly decay?: number;
  /** Added to the mean square (inside the root by default); default 1e-8. */
  readonly eps?: number;
  /** The initial mean square (default 0). */
  readonly initialScale?: number;
  /** Add `eps` inside the square root (default true, as Optax) or outside. */
  readonly epsInSqrt?: boolean;
}

/**
 * The state of {@link scaleByRms}: the moving average of squared gradients.
 *
 * @example
 * ```ts
 * const s: fx.optim.ScaleByRmsState = fx.optim.scaleByRms().init({ w: tf.ones([2]) });
 * ```
 */
export interface ScaleByRmsState {
  readonly [key: string]: unknown;
  /** Mean squares, shaped like the parameters. */
  readonly nu: unknown;
}

/**
 * The state of {@link scaleByStddev}: moving averages of gradients and of their squares.
 *
 * @example
 * ```ts
 * const s: fx.optim.ScaleByStddevState = fx.optim.scaleByStddev().init({ w: tf.ones([2]) });
 * ```
 */
export interface ScaleByStddevState {
  readonly [key: string]: unknown;
  /** Mean gradients. */
  readonly mu: unknown;
  /** Mean squares. */
  readonly nu: unknown;
}

/** @internal The options of RMS-like transformations (numbers: ranges are checked below). */
export const RMS_OPTIONS: OptionKinds<ScaleByRmsOptions> = { decay: 'any', eps: 'any', initialScale: 'any', epsInSqrt: 'boolean' };

function rmsOptions(fn: string, opts: ScaleByRmsOptions): Required<ScaleByRmsOptions> {
  return {
    decay: checkRate(fn, 'decay', opts.decay ?? 0.9),
    eps: checkNumber(fn, 'eps', opts.eps ?? 1e-8, { min: 0 }),
    initialScale: checkNumber(fn, 'initialScale', opts.initialScale ?? 0, { min: 0 }),
    epsInSqrt: opts.epsInSqrt ?? true,
  };
}

/**
 * Divides the updates by the root of a moving average of their squares (Optax's
 * `scale_by_rms`; Tieleman & Hinton, 2012): `nu = decay·nu + (1−decay)·g²`,
 * `update = g / sqrt(nu + eps)` (or `g / (sqrt(nu) + eps)` with `epsInSqrt: false`).
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByRms({ decay: 0.9 }), fx.optim.scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByRms(opts: ScaleByRmsOptions = {}): GradientTransformation<ScaleByRmsState> {
  checkOptions<ScaleByRmsOptions>('scaleByRms', opts, RMS_OPTIONS);
  const { decay, eps, initialScale, epsInSqrt } = rmsOptions('scaleByRms', opts);
  return bufferedTransform(
    'scaleByRms',
    'nu',
    initialScale,
    () => ({ cDecay: tf.scalar(decay), c1mDecay: tf.scalar(1 - decay), cEps: tf.scalar(eps) }),
    (g, v, { cDecay, c1mDecay, cEps }) => {
      const v1 = tf.add(tf.mul(v, cDecay), tf.mul(tf.square(g), c1mDecay));
      // sqrt then div: on wasm, rsqrt costs more than the two together.
      const u = epsInSqrt ? tf.div(g, tf.sqrt(tf.add(v1, cEps))) : tf.div(g, tf.add(tf.sqrt(v1), cEps));
      return [u, v1];
    },
  ) as GradientTransformation<ScaleByRmsState>;
}

/**
 * Centered RMSProp's rescaling (Optax's `scale_by_stddev`; Graves, 2013):
 * `mu = decay·mu + (1−decay)·g`, `nu = decay·nu + (1−decay)·g²`,
 * `update = g / sqrt(nu − mu² + eps)` (or `g / (sqrt(nu − mu²) + eps)`).
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByStddev(), fx.optim.scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByStddev(opts: ScaleByRmsOptions = {}): GradientTransformation<ScaleByStddevState> {
  checkOptions<ScaleByRmsOptions>('scaleByStddev', opts, RMS_OPTIONS);
  const { decay, eps, initialScale, epsInSqrt } = rmsOptions('scaleByStddev', opts);
  return Object.freeze({
    init: (params: unknown): ScaleByStddevState =>
      tidy(() =>
        Object.freeze({
          mu: mapTensors('scaleByStddev.init', 'params', params, (p) => tf.zerosLike(p)),
          nu: mapTensors('scaleByStddev.init', 'params', params, (p) => tf.fill(p.shape, initialScale, p.dtype)),
        }),
      ),
    update: <G>(grads: G, state: ScaleByStddevState): readonly [G, ScaleByStddevState] => {
      const { mu, nu } = checkState('scaleByStddev', state, ['mu', 'nu']) as ScaleByStddevState;
      return tidy(() => {
        const cDecay = tf.scalar(decay);
        const c1mDecay = tf.scalar(1 - decay);
        const cEps = tf.scalar(eps);
        const [updates, newMu, newNu] = zipLeaves(
          'scaleByStddev',
          [
            { name: 'grads', tree: grads },
            { name: 'state.mu', tree: mu },
            { name: 'state.nu', tree: nu },
          ],
          3,
          ([g, m, v]) => {
            const m1 = tf.add(tf.mul(m!, cDecay), tf.mul(g!, c1mDecay));
            const v1 = tf.add(tf.mul(v!, cDecay), tf.mul(tf.square(g!), c1mDecay));
            const variance = tf.sub(v1, tf.square(m1));
            const u = epsInSqrt ? tf.div(g!, tf.sqrt(tf.add(variance, cEps))) : tf.div(g!, tf.add(tf.sqrt(variance), cEps));
            return [u, m1, v1];
          },
        );
        return Object.freeze([updates as G, Object.freeze({ mu: newMu, nu: newNu })] as const);
      });
    },
  });
}
