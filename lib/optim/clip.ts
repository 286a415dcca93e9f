/**
 * Clipping: `clip` (each element to `[−max, max]`) and `clipByGlobalNorm` (the whole update
 * tree rescaled when its L2 norm exceeds a maximum); `globalNorm` computes that norm.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from './base.js';
import type { EmptyState } from './identity.js';
import { checkNumber, mapTensors, tidy } from './util.js';
import { overflowScale } from '../ops/power-of-two.js';

const EMPTY: EmptyState = Object.freeze({});

/**
 * Clips every element of the updates to `[−maxDelta, maxDelta]` (Optax's `clip`). Stateless.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param maxDelta - a number >= 0.
 * @example
 * ```ts
 * const tx = fx.optim.clip(1);
 * const [u] = tx.update({ w: tf.tensor([-3, 0.5, 2]) }, tx.init({}));   // { w: [-1, 0.5, 1] }
 * ```
 */
export function clip(maxDelta: number): GradientTransformation<EmptyState> {
  checkNumber('clip', 'maxDelta', maxDelta, { min: 0 });
  return Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState): readonly [G, EmptyState] =>
      Object.freeze([tidy(() => mapTensors('clip', 'grads', grads, (g) => tf.clipByValue(g, -maxDelta, maxDelta)) as G), state] as const),
  });
}

/**
 * The L2 norm of a whole tree, `sqrt(Σ leaves Σ elements x²)`, as a scalar tensor owned by
 * the caller (no data is read back to JS).
 *
 * @example
 * ```ts
 * const n = fx.optim.globalNorm({ a: tf.tensor([3]), b: tf.tensor([4]) });   // 5
 * n.dispose();
 * ```
 */
export function globalNorm(tree: unknown): tf.Scalar {
  return tidy(() => {
    const { s, r } = scaledNorm('globalNorm', 'tree', tree);
    return tf.mul(s, r) as tf.Scalar;
  });
}

/**
 * The global norm of `tree` as `s · r`: `s` a power of two (1 unless the largest magnitude
 * reaches 2^32, see `overflowScale`) and `r = sqrt(Σ (g / s)²)`, which cannot overflow. As `s` is
 * a power of two, `s · r` has the bits of the plain `sqrt(Σ g²)` wherever that is finite, and
 * gradients of 1e20 and beyond (whose squares pass float32's range) get their norm, not
 * Infinity. `what` and `name` are the function and argument that messages name.
 */
function scaledNorm(what: string, name: string, tree: unknown): { readonly s: tf.Tensor; readonly r: tf.Tensor } {
  const leaves: tf.Tensor[] = [];
  mapTensors(what, name, tree, (g) => {
    if (g.size > 0) leaves.push(g); // an empty leaf adds nothing (and tfjs's max of nothing is not defined)
    return g;
  });
  if (leaves.length === 0) return { s: tf.scalar(1), r: tf.scalar(0) };
  const maxima = leaves.map((g) => tf.max(tf.abs(g)));
  const s = overflowScale(maxima.length === 1 ? maxima[0]! : tf.max(tf.stack(maxima)));
  const squares = leaves.map((g) => tf.sum(tf.square(tf.div(g, s))));
  return { s, r: tf.sqrt(squares.length === 1 ? squares[0]! : tf.addN(squares)) };
}

/**
 * Rescales the updates so that their global L2 norm is at most `maxNorm` (Optax's
 * `clip_by_global_norm`): `g · min(1, maxNorm / ‖g‖)` on every leaf, with `‖g‖` over the whole
 * tree. Stateless; computed on the device without reading the norm back.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param maxNorm - a number > 0.
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.clipByGlobalNorm(1.0), fx.optim.adam(1e-3));
 * const clipper = fx.optim.clipByGlobalNorm(1);
 * const [u] = clipper.update({ a: tf.tensor([3]), b: tf.tensor([4]) }, clipper.init({}));   // { a: [0.6], b: [0.8] }
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<EmptyState> {
  checkNumber('clipByGlobalNorm', 'maxNorm', maxNorm, { above: 0 });
  return Object.freeze({
    init: (): EmptyState => EMPTY,
    update: <G>(grads: G, state: EmptyState): readonly [G, EmptyState] =>
      Object.freeze([
        tidy(() => {
          const cMax = tf.scalar(maxNorm);
          const { s, r } = scaledNorm('clipByGlobalNorm', 'grads', grads);
          // Clipped, g · maxNorm / ‖g‖ is formed as (g / s) · (maxNorm / r): exact scalings of the
          // plain formula's terms (the same bits), and finite when ‖g‖ = s · r is past float32
          // (gradients of 3e38). Not clipped, the updates are the gradients, as before.
          const clipped = tf.greater(tf.mul(s, r), cMax);
          const inverseScale = tf.where(clipped, tf.div(1, s), tf.onesLike(s));
          const factor = tf.where(clipped, tf.div(cMax, r), tf.onesLike(r));
          return mapTensors('clipByGlobalNorm', 'grads', grads, (g) => tf.mul(tf.mul(g, inverseScale), factor)) as G;
        }),
        state,
      ] as const),
  });
}
