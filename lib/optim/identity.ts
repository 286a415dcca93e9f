/**
 * `identity` and `setToZero`: the two trivial transformations (pass through; freeze).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from './base.js';
import { alias, checkState, mapTensors, tidy } from './util.js';

/**
 * The empty state of a stateless transformation: a frozen `{}`.
 *
 * @example
 * ```ts
 * const s: fx.optim.EmptyState = fx.optim.identity().init({});
 * ```
 */
export type EmptyState = { readonly [key: string]: never };

const EMPTY: EmptyState = Object.freeze({});

/** @internal The updates of `identity`: new tensors sharing the data of `grads` (no copy). */
export function identityUpdates<G>(grads: G): G {
  return tidy(() => mapTensors('identity', 'grads', grads, alias) as G);
}

/**
 * Leaves the updates as they are (Optax's `identity`). The returned updates are new tensor
 * objects that share the gradients' memory (tfjs counts references), so the caller may dispose
 * the gradients and the updates independently.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.identity();
 * const [u] = tx.update({ w: tf.tensor([1, 2]) }, tx.init({}));   // { w: [1, 2] }
 * ```
 */
export function identity(): GradientTransformation<EmptyState> {
  return Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState): readonly [G, EmptyState] => Object.freeze([identityUpdates(grads), checkState('identity', state, []) as EmptyState] as const),
  });
}

/**
 * Replaces every update by zeros (Optax's `set_to_zero`): the parameters it sees do not move.
 * Use it in {@link multiTransform} to freeze a group of parameters; it keeps no state.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.multiTransform(
 *   { train: fx.optim.adam(1e-3), frozen: fx.optim.setToZero() },
 *   (path) => (path.startsWith('encoder') ? 'frozen' : 'train'),
 * );
 * ```
 */
export function setToZero(): GradientTransformation<EmptyState> {
  return Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState): readonly [G, EmptyState] =>
      Object.freeze([tidy(() => mapTensors('setToZero', 'grads', grads, (g) => tf.zerosLike(g)) as G), state] as const),
  });
}
