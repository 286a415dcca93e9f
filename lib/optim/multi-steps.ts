/**
 * `multiSteps`: gradient accumulation, one inner update every `k` calls.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import type { GradientTransformation, OptState } from './base.js';
import { aliasTree, checkNumber, checkState, mapTensors, tidy, zipLeaves } from './util.js';

/**
 * The state of {@link multiSteps}.
 *
 * @example
 * ```ts
 * const s: fx.optim.MultiStepsState = fx.optim.multiSteps(fx.optim.adam(1e-3), 4).init({ w: tf.ones([2]) });
 * s.miniStep;   // 0
 * ```
 */
export interface MultiStepsState {
  readonly [key: string]: unknown;
  /** Gradients accumulated since the last inner update (0 … k−1). */
  readonly miniStep: number;
  /** Inner updates done so far. */
  readonly gradientStep: number;
  /** The sum of the gradients accumulated so far, shaped like the parameters. */
  readonly accGrads: unknown;
  /** The wrapped optimizer's state. */
  readonly inner: OptState;
}

/**
 * Gradient accumulation (Optax's `MultiSteps`): the first `everyK − 1` calls only add the
 * gradients up and return zero updates; every `everyK`-th call runs `inner` on the mean of the
 * `everyK` gradients and returns its updates. Training with batches of `b` then behaves like
 * training with batches of `everyK·b` (for a loss that is a mean over the batch), at the memory
 * cost of one batch. The inner optimizer's step count (and schedule) advances once per `everyK`.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}); an inner state carried
 * over unchanged is made of new tensor objects sharing its memory.
 *
 * @param inner - the optimizer to run on the accumulated gradients.
 * @param everyK - how many gradients to accumulate per update (an integer >= 1).
 * @example
 * ```ts
 * const tx = fx.optim.multiSteps(fx.optim.adam(1e-3), 4);   // an Adam step every 4 batches
 * ```
 */
export function multiSteps(inner: GradientTransformation<any>, everyK: number): GradientTransformation<MultiStepsState> {
  if (inner === null || typeof inner !== 'object' || typeof inner.init !== 'function' || typeof inner.update !== 'function') {
    throw new FlaxenError('', `multiSteps: inner must be a gradient transformation {init, update}, found ${describeValue(inner)}`);
  }
  checkNumber('multiSteps', 'everyK', everyK, { min: 1, integer: true });
  return Object.freeze({
    init: (params: unknown): MultiStepsState => {
      const accGrads = tidy(() => mapTensors('multiSteps.init', 'params', params, (p) => tf.zerosLike(p)));
      return Object.freeze({ miniStep: 0, gradientStep: 0, accGrads, inner: inner.init(params) });
    },
    update: <G>(grads: G, state: MultiStepsState, params?: unknown): readonly [G, MultiStepsState] => {
      const { miniStep, gradientStep, accGrads, inner: innerState } = checkState('multiSteps', state, ['miniStep', 'gradientStep', 'accGrads', 'inner']) as MultiStepsState;
      checkNumber('multiSteps', 'state.miniStep', miniStep, { min: 0, below: everyK, integer: true });
      const trees = [
        { name: 'grads', tree: grads },
        { name: 'state.accGrads', tree: accGrads },
      ];
      return tidy(() => {
        if (miniStep + 1 < everyK) {
          const [zeros, sums] = zipLeaves('multiSteps', trees, 2, ([g, acc]) => [tf.zerosLike(g!), tf.add(acc!, g!)]);
          return Object.freeze([zeros as G, Object.freeze({ miniStep: miniStep + 1, gradientStep, accGrads: sums, inner: aliasTree(innerState) })] as const);
        }
        const cInvK = tf.scalar(1 / everyK);
        const [mean, reset] = zipLeaves('multiSteps', trees, 2, ([g, acc]) => [tf.mul(tf.add(acc!, g!), cInvK), tf.zerosLike(g!)]);
        const [updates, nextInner] = inner.update(mean, innerState, params);
        return Object.freeze([updates as G, Object.freeze({ miniStep: 0, gradientStep: gradientStep + 1, accGrads: reset, inner: nextInner as OptState })] as const);
      });
    },
  });
}
