/**
 * `chain`: composes gradient transformations, the way every optimizer here is built.
 *
 * @module
 */
import type { GradientTransformation, OptState } from './base.js';
import { FlaxenError, describeValue } from '../errors.js';
import { defineEntry } from '../tree/index.js';
import { identityUpdates } from './identity.js';
import { checkState, tidy } from './util.js';

/**
 * The state of a {@link chain}: the inner states under the keys `'0'`, `'1'`, ... (a plain
 * object rather than an array, so `fx.tree` functions such as `dispose` walk into it).
 *
 * @example
 * ```ts
 * const state: fx.optim.ChainState = fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.sgd(0.1)).init({ w: tf.ones([2]) });
 * ```
 */
export type ChainState = { readonly [index: string]: OptState };

/**
 * Applies transformations one after the other: the updates of each are the input of the next
 * (Optax's `chain`). The state holds each inner state under its index.
 *
 * Ownership: as for every transformation, `update` disposes nothing it was given; the
 * intermediate updates between the stages are freed inside the call.
 *
 * @param transforms - the stages, first applied first.
 * @example
 * ```ts
 * const tx = fx.optim.chain(
 *   fx.optim.clipByGlobalNorm(1.0),
 *   fx.optim.scaleByAdam(),
 *   fx.optim.scaleByLearningRate(1e-3),
 * );
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function chain(...transforms: GradientTransformation<any>[]): GradientTransformation<ChainState> {
  transforms.forEach((t, i) => {
    if (t === null || typeof t !== 'object' || typeof t.init !== 'function' || typeof t.update !== 'function') {
      throw new FlaxenError('', `chain: argument ${i} must be a gradient transformation {init, update}, found ${describeValue(t)}`);
    }
  });
  const keys = transforms.map((_, i) => String(i));
  return Object.freeze({
    init: (params: unknown): ChainState => {
      const state: Record<string, OptState> = {};
      transforms.forEach((t, i) => defineEntry(state, keys[i]!, t.init(params)));
      return Object.freeze(state);
    },
    update: <G>(grads: G, state: ChainState, params?: unknown): readonly [G, ChainState] => {
      checkState('chain', state, keys);
      return tidy(() => {
        const next: Record<string, OptState> = {};
        let updates: unknown = grads;
        transforms.forEach((t, i) => {
          const [u, s] = t.update(updates, state[keys[i]!]!, params);
          updates = u;
          defineEntry(next, keys[i]!, s);
        });
        if (transforms.length === 0) updates = identityUpdates(grads);
        return Object.freeze([updates as G, Object.freeze(next) as ChainState] as const);
      });
    },
  });
}
