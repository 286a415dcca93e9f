/**
 * `applyUpdates`: adds an optimizer's updates to the parameters.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { tidy, zipLeaves } from './util.js';

/**
 * Returns `params + updates`, leaf by leaf, as a new frozen tree (Optax's `apply_updates`; the
 * updates already carry the minus sign of gradient descent). Each result keeps the dtype of its
 * parameter. A tree structure or shape mismatch is a `FlaxenError` / `ShapeError` naming the path.
 *
 * Ownership: neither `params` nor `updates` is disposed or changed; the returned tensors are new
 * and owned by the caller, who usually disposes the old params and the updates afterwards.
 *
 * @param params - a tree of tensors.
 * @param updates - a tree of the same structure and shapes, e.g. from `tx.update`.
 * @example
 * ```ts
 * const params = { w: tf.tensor([1, 2]) };
 * const updates = { w: tf.tensor([-0.5, 0.5]) };
 * const next = fx.optim.applyUpdates(params, updates);   // { w: [0.5, 2.5] }
 * fx.tree.dispose(params); fx.tree.dispose(updates);
 * ```
 */
export function applyUpdates<P>(params: P, updates: unknown): P {
  return tidy(
    () =>
      zipLeaves(
        'applyUpdates',
        [
          { name: 'params', tree: params },
          { name: 'updates', tree: updates },
        ],
        1,
        ([p, u]) => {
          const sum = tf.add(p!, u!);
          return [sum.dtype === p!.dtype ? sum : tf.cast(sum, p!.dtype)];
        },
      )[0] as P,
  );
}
