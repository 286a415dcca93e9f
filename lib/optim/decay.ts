/**
 * `addDecayedWeights`: decoupled weight decay, `update + weightDecay · param`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError } from '../errors.js';
import type { GradientTransformation, Scaling } from './base.js';
import type { EmptyState } from './identity.js';
import { masked, type Mask, type MaskedState } from './masked.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { checkNumber, checkState, tidy, zipLeaves } from './util.js';

const EMPTY: EmptyState = Object.freeze({});

/**
 * Options of {@link addDecayedWeights}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.AddDecayedWeightsOptions = { mask: (path) => !path.endsWith('bias') };
 * ```
 */
export interface AddDecayedWeightsOptions {
  /** Decay only the leaves this mask selects (see `masked`); default: all. */
  readonly mask?: Mask;
}

const DECAY_OPTIONS: OptionKinds<AddDecayedWeightsOptions> = { mask: 'any' };

/**
 * The decoupled weight decay options of {@link adamw}, {@link lion} and {@link lamb}.
 *
 * @example
 * ```ts
 * const opts: fx.optim.DecoupledDecayOptions = { weightDecay: 0.01, mask: (path) => !path.endsWith('bias') };
 * ```
 */
export interface DecoupledDecayOptions {
  /** Decoupled weight decay (>= 0); the default is Optax's: 1e-4 for adamw, 1e-3 for lion, 0 for lamb. */
  readonly weightDecay?: number;
  /** Decay only the leaves this mask selects (e.g. not biases or norm scales); default all. */
  readonly mask?: Mask;
}

/** @internal The option kinds of {@link DecoupledDecayOptions}, spread into the optimizers' lists. */
export const DECOUPLED_DECAY_OPTIONS: OptionKinds<DecoupledDecayOptions> = { weightDecay: 'any', mask: 'any' };

/** @internal The decay stage of adamw, lion and lamb: `addDecayedWeights(weightDecay, {mask})`, with `weightDecay` checked. */
export function decoupledDecay(fn: string, opts: DecoupledDecayOptions, defaultDecay: number): GradientTransformation<EmptyState | MaskedState> {
  const weightDecay = checkNumber(fn, 'weightDecay', opts.weightDecay ?? defaultDecay, { min: 0 });
  return addDecayedWeights(weightDecay, opts.mask === undefined ? {} : { mask: opts.mask });
}

/**
 * Adds `weightDecay · param` to each update (Optax's `add_decayed_weights`): placed before
 * `scaleByLearningRate`, this is decoupled weight decay (AdamW; Loshchilov & Hutter, 2019). It
 * needs the parameters: pass them as the third argument of `update`. Stateless (with a mask, the
 * state of `masked`).
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param weightDecay - a number >= 0.
 * @example
 * ```ts
 * const tx = fx.optim.addDecayedWeights(0.1);
 * const params = { w: tf.tensor([2, -4]) };
 * const [u] = tx.update({ w: tf.tensor([1, 1]) }, tx.init(params), params);   // { w: [1.2, 0.6] }
 * ```
 */
export function addDecayedWeights(weightDecay = 0, opts: AddDecayedWeightsOptions = {}): GradientTransformation<EmptyState | MaskedState> {
  checkOptions<AddDecayedWeightsOptions>('addDecayedWeights', opts, DECAY_OPTIONS);
  checkNumber('addDecayedWeights', 'weightDecay', weightDecay, { min: 0 });
  const plain: GradientTransformation<EmptyState> = Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState, params?: unknown): readonly [G, EmptyState] => {
      checkState('addDecayedWeights', state, []);
      if (params === undefined) throw new FlaxenError('', 'addDecayedWeights: update needs the parameters; pass them as the third argument, update(grads, state, params)');
      return Object.freeze([
        tidy(() => {
          const cDecay = tf.scalar(weightDecay);
          return zipLeaves(
            'addDecayedWeights',
            [
              { name: 'grads', tree: grads },
              { name: 'params', tree: params },
            ],
            1,
            ([g, p]) => [tf.add(g!, tf.mul(p!, cDecay))],
          )[0] as G;
        }),
        state,
      ] as const);
    },
    scaling: (state: EmptyState): readonly [Scaling, EmptyState] => [{ scale: 1, decay: weightDecay }, checkState('addDecayedWeights', state, []) as EmptyState],
  });
  return (opts.mask === undefined ? plain : masked(plain, opts.mask)) as GradientTransformation<EmptyState | MaskedState>;
}
