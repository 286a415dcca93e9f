/**
 * The shape shared by the transformations that keep one buffer per leaf: `trace` (momentum),
 * `scaleByRms`, `scaleByRss` and `scaleByLion`.
 *
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from '../base.js';
import { checkState, mapTensors, tidy, zipLeaves } from '../util.js';

/**
 * @internal
 * A transformation whose state is `{ [key]: buffers }`, one buffer per leaf. `init` fills every
 * buffer with `initial`. `update` checks the state, then, within one tidy, makes its scalars
 * once (`scalars()`) and runs `step(grad, buffer, scalars)` on every leaf, which returns the
 * update and the new buffer. `what` names the transformation in messages.
 */
export function bufferedTransform<K extends string, C>(
  what: string,
  key: K,
  initial: number,
  scalars: () => C,
  step: (grad: tf.Tensor, buffer: tf.Tensor, scalars: C) => tf.Tensor[],
): GradientTransformation<{ readonly [k in K]: unknown }> {
  type State = { readonly [k in K]: unknown };
  return Object.freeze({
    init: (params: unknown): State => tidy(() => Object.freeze({ [key]: mapTensors(`${what}.init`, 'params', params, (p) => tf.fill(p.shape, initial, p.dtype)) }) as State),
    update: <G>(grads: G, state: State): readonly [G, State] => {
      const buffers = checkState(what, state, [key])[key];
      return tidy(() => {
        const c = scalars();
        const [updates, next] = zipLeaves(
          what,
          [
            { name: 'grads', tree: grads },
            { name: `state.${key}`, tree: buffers },
          ],
          2,
          ([g, b]) => step(g!, b!, c),
        );
        return Object.freeze([updates as G, Object.freeze({ [key]: next }) as State] as const);
      });
    },
  });
}
