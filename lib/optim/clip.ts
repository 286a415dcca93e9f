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
  return normOf('globalNorm', 'tree', tree);
}

/** {@link globalNorm}, with the function and argument that messages name. */
function normOf(what: string, name: string, tree: unknown): tf.Scalar {
  return tidy(() => {
    const leaves: tf.Tensor[] = [];
    mapTensors(what, name, tree, (g) => {
      if (g.size > 0) leaves.push(g); // an empty leaf adds nothing (and tfjs's max of nothing is not defined)
      return g;
    });
    if (leaves.length === 0) return tf.scalar(0);
    // Scaled before squaring, so that gradients of 1e20 and beyond (whose squares pass the
    // float32 range) give their norm, not Infinity: ‖g‖ = s·sqrt(Σ (g/s)²) with s the largest
    // magnitude when it exceeds 1 (smaller trees are summed as they are).
    const maxima = leaves.map((g) => tf.max(tf.abs(g)));
    const s = tf.maximum(maxima.length === 1 ? maxima[0]! : tf.max(tf.stack(maxima)), 1);
    const squares = leaves.map((g) => tf.sum(tf.square(tf.div(g, s))));
    return tf.mul(s, tf.sqrt(squares.length === 1 ? squares[0]! : tf.addN(squares))) as tf.Scalar;
  });
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
          const factor = tf.div(cMax, tf.maximum(normOf('clipByGlobalNorm', 'grads', grads), cMax));
          return mapTensors('clipByGlobalNorm', 'grads', grads, (g) => tf.mul(g, factor)) as G;
        }),
        state,
      ] as const),
  });
}
