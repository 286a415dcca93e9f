/**
 * `adam` and `adamw`: Adam with Optax's definitions (bias correction; `eps` outside the square
 * root, `epsRoot` inside), and its decoupled-weight-decay variant.
 *
 * @module
 */
import { FlaxenError } from '../errors.js';
import { UPDATE_AND_APPLY, type GradientTransformation, type OptState, type ScalarOrSchedule, type UpdateAndApply } from './base.js';
import { chain, type ChainState } from './chain.js';
import { scaleByLearningRate } from './scale.js';
import { ADAM_OPTIONS, adamOptions, adamStep, scaleByAdam, type ScaleByAdamOptions } from './transforms/scale-by-adam.js';
import { addDecayedWeights } from './decay.js';
import type { Mask } from './masked.js';
import { checkNumber, checkOptions, checkScalarOrSchedule, checkState, evalSchedule } from './util.js';

/**
 * Options of {@link adam}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.AdamOptions = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0 };
 * ```
 */
export type AdamOptions = ScaleByAdamOptions;

/**
 * Adam (Optax's `adam`; Kingma & Ba, 2014): `chain(scaleByAdam({b1, b2, eps, epsRoot}),
 * scaleByLearningRate(lr))`. With `t` the step from 1:
 * `mu = b1·mu + (1−b1)·g`, `nu = b2·nu + (1−b2)·g²`,
 * `update = −lr · (mu/(1−b1^t)) / (sqrt(nu/(1−b2^t) + epsRoot) + eps)`.
 * Defaults `b1 = 0.9`, `b2 = 0.999`, `eps = 1e-8`, `epsRoot = 0`.
 *
 * Ownership: `update` disposes nothing it is given; the caller owns and disposes the updates,
 * the new state, and (after the step) the old state and the grads.
 *
 * @param learningRate - a number >= 0 or a schedule `(step) => number`.
 * @example
 * ```ts
 * const tx = fx.optim.adam(1e-3);
 * const params = { w: tf.tensor([1, 2]) };
 * const state = tx.init(params);
 * const grads = { w: tf.tensor([0.1, -0.2]) };
 * const [updates, next] = tx.update(grads, state, params);   // { w: [-0.001, 0.001] } on step 1
 * const newParams = fx.optim.applyUpdates(params, updates);
 * fx.tree.dispose(grads); fx.tree.dispose(updates); fx.tree.dispose(state);
 * ```
 */
export function adam(learningRate: ScalarOrSchedule, opts: AdamOptions = {}): GradientTransformation<ChainState> {
  checkOptions('adam', opts, ADAM_OPTIONS);
  checkScalarOrSchedule('adam', 'learningRate', learningRate);
  return fusedAdam('adam', learningRate, adamOptions('adam', opts));
}

/**
 * Options of {@link adamw}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.AdamWOptions = { weightDecay: 0.01, mask: (path) => path.endsWith('kernel') };
 * ```
 */
export interface AdamWOptions extends ScaleByAdamOptions {
  /** Decoupled weight decay (>= 0); default 1e-4, as Optax. */
  readonly weightDecay?: number;
  /** Decay only the leaves this mask selects (e.g. not biases or norm scales); default all. */
  readonly mask?: Mask;
}

/**
 * AdamW, Adam with decoupled weight decay (Optax's `adamw`; Loshchilov & Hutter, 2019):
 * `chain(scaleByAdam({b1, b2, eps, epsRoot}), addDecayedWeights(weightDecay, {mask}),
 * scaleByLearningRate(lr))`, so `update = −lr · (adam_update + weightDecay · param)`: the decay
 * is scaled by the learning rate but not by Adam's normalisation. Needs the parameters as the
 * third argument of `update`.
 *
 * Ownership: `update` disposes nothing it is given; the caller owns and disposes the updates,
 * the new state, and (after the step) the old state and the grads.
 *
 * @param learningRate - a number >= 0 or a schedule.
 * @example
 * ```ts
 * const tx = fx.optim.adamw(1e-3, { weightDecay: 1e-2, mask: (path) => !path.endsWith('bias') });
 * const params = { kernel: tf.ones([2, 2]), bias: tf.zeros([2]) };
 * const state = tx.init(params);
 * const grads = { kernel: tf.ones([2, 2]), bias: tf.ones([2]) };
 * const [updates, next] = tx.update(grads, state, params);
 * ```
 */
export function adamw(learningRate: ScalarOrSchedule, opts: AdamWOptions = {}): GradientTransformation<ChainState> {
  checkOptions('adamw', opts, [...ADAM_OPTIONS, 'weightDecay', 'mask']);
  checkScalarOrSchedule('adamw', 'learningRate', learningRate);
  const { weightDecay = 1e-4, mask, ...adamOpts } = opts;
  const hyper = adamOptions('adamw', adamOpts);
  checkNumber('adamw', 'weightDecay', weightDecay, { min: 0 });
  if (mask !== undefined) return chain(scaleByAdam(adamOpts), addDecayedWeights(weightDecay, { mask }), scaleByLearningRate(learningRate));
  return fusedAdam('adamw', learningRate, hyper, weightDecay);
}

/**
 * `adam` / `adamw` (without a mask) as one pass per leaf: the same state as
 * `chain(scaleByAdam, [addDecayedWeights,] scaleByLearningRate)` and the same numbers, with the
 * learning rate and weight decay folded into the Adam step (one full-size op fewer per stage).
 */
function fusedAdam(what: string, learningRate: ScalarOrSchedule, hyper: Required<ScaleByAdamOptions>, weightDecay?: number): GradientTransformation<ChainState> {
  const stages = weightDecay === undefined ? [scaleByAdam(hyper), scaleByLearningRate(learningRate)] : [scaleByAdam(hyper), addDecayedWeights(weightDecay), scaleByLearningRate(learningRate)];
  const reference = chain(...stages);
  const keys = stages.map((_, i) => String(i));
  const lrKey = keys[keys.length - 1]!;
  // One Adam step; with `apply`, the new parameters instead of the updates: the decay term with
  // factor 1 adds `1 · param` to the update, which is `param + update` exactly.
  const step = <G>(grads: G, state: ChainState, params: unknown, apply: boolean): readonly [G, ChainState] => {
    checkState(what, state, keys);
    let lr: number;
    let nextLrState: OptState;
    if (typeof learningRate === 'number') {
      lr = learningRate;
      nextLrState = state[lrKey]!;
    } else {
      const { count } = checkState('scaleBySchedule', state[lrKey], ['count']) as { count: number };
      lr = evalSchedule('scaleBySchedule', learningRate, count);
      nextLrState = Object.freeze({ count: count + 1 });
    }
    if ((weightDecay !== undefined || apply) && params === undefined) {
      throw new FlaxenError('', 'addDecayedWeights: update needs the parameters; pass them as the third argument, update(grads, state, params)');
    }
    const decay = apply ? { params, factor: 1 } : weightDecay === undefined ? undefined : { params, factor: -lr * weightDecay };
    const [out, adamState] = adamStep('scaleByAdam', grads, state['0'], hyper, -lr, decay);
    const next: Record<string, OptState> = { '0': adamState };
    // The stateless middle stage (weight decay) keeps its empty state; it holds no tensors.
    if (weightDecay !== undefined) next['1'] = state['1']!;
    next[lrKey] = nextLrState;
    return Object.freeze([out, Object.freeze(next) as ChainState] as const);
  };
  const tx: GradientTransformation<ChainState> & Partial<UpdateAndApply<ChainState>> = {
    init: reference.init,
    update: <G>(grads: G, state: ChainState, params?: unknown): readonly [G, ChainState] => step(grads, state, params, false),
  };
  // The fused update-and-apply path (TrainState.applyGradients) exists without weight decay,
  // whose term would need a second addition.
  if (weightDecay === undefined) {
    (tx as { [UPDATE_AND_APPLY]?: UpdateAndApply<ChainState>[typeof UPDATE_AND_APPLY] })[UPDATE_AND_APPLY] = <P>(grads: unknown, state: ChainState, params: P) =>
      step(grads, state, params, true) as unknown as readonly [P, ChainState];
  }
  return Object.freeze(tx);
}
