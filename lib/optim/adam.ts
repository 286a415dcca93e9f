/**
 * `adam` and `adamw`: Adam with Optax's definitions (bias correction; `eps` outside the square
 * root, `epsRoot` inside), and its decoupled-weight-decay variant.
 *
 * @module
 */
import type { GradientTransformation, ScalarOrSchedule } from './base.js';
import { chain, type ChainState } from './chain.js';
import { scaleByLearningRate } from './scale.js';
import { ADAM_OPTIONS, adamOptions, scaleByAdam, type ScaleByAdamOptions } from './transforms/scale-by-adam.js';
import { DECOUPLED_DECAY_OPTIONS, decoupledDecay, type DecoupledDecayOptions } from './decay.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkNumber, checkScalarOrSchedule } from './util.js';

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
 * Fast paths: the chain folds the learning rate into the Adam step (one pass per leaf, a fused
 * WebAssembly kernel on wasm), and it has `updateAndApply`, which `TrainState` uses to write the
 * new parameters in that same pass.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
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
  checkOptions<AdamOptions>('adam', opts, ADAM_OPTIONS);
  checkScalarOrSchedule('adam', 'learningRate', learningRate);
  return chain(scaleByAdam(adamOptions('adam', opts)), scaleByLearningRate(learningRate));
}

/**
 * Options of {@link adamw}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.AdamWOptions = { weightDecay: 0.01, mask: (path) => path.endsWith('kernel') };
 * ```
 */
export type AdamWOptions = ScaleByAdamOptions & DecoupledDecayOptions;

const ADAMW_OPTIONS: OptionKinds<AdamWOptions> = { ...ADAM_OPTIONS, ...DECOUPLED_DECAY_OPTIONS };

/**
 * AdamW, Adam with decoupled weight decay (Optax's `adamw`; Loshchilov & Hutter, 2019):
 * `chain(scaleByAdam({b1, b2, eps, epsRoot}), addDecayedWeights(weightDecay, {mask}),
 * scaleByLearningRate(lr))`, so `update = −lr · (adam_update + weightDecay · param)`: the decay
 * is scaled by the learning rate but not by Adam's normalisation. Needs the parameters as the
 * third argument of `update`.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
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
  checkOptions<AdamWOptions>('adamw', opts, ADAMW_OPTIONS);
  checkScalarOrSchedule('adamw', 'learningRate', learningRate);
  const { weightDecay, mask, ...adamOpts } = opts;
  const hyper = adamOptions('adamw', adamOpts);
  return chain(scaleByAdam(hyper), decoupledDecay('adamw', { weightDecay, mask }, 1e-4), scaleByLearningRate(learningRate));
}
