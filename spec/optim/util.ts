// Helpers for the optimizer specs: small trees built from plain arrays, and a loop that runs a
// transformation for several steps the way a training loop owns its tensors.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

/** Plain values per path (`/`-joined), the reference side of every comparison. */
export type Flat = Record<string, number[]>;

/** The shapes of the small tree used across the specs. */
export const SHAPES: Record<string, number[]> = { 'dense/bias': [2], 'dense/kernel': [2, 2], scale: [] };

/** Builds a tensor tree with SHAPES from plain values per path. */
export function tree(values: Flat, shapes: Record<string, number[]> = SHAPES): fx.optim.TensorTree {
  return fx.tree.unflatten(Object.entries(values).map(([path, v]) => [path, tf.tensor(v, shapes[path])] as const)) as fx.optim.TensorTree;
}

/** Reads a tensor tree back into plain values per path. */
export function read(t: unknown): Flat {
  const out: Flat = {};
  for (const [path, leaf] of fx.tree.flatten<tf.Tensor>(t)) out[path] = Array.from(leaf.dataSync());
  return out;
}

/** Maps a function over every element of every path. */
export function mapFlat(a: Flat, fn: (x: number, path: string, i: number) => number): Flat {
  const out: Flat = {};
  for (const [path, v] of Object.entries(a)) out[path] = v.map((x, i) => fn(x, path, i));
  return out;
}

/** Starting parameters and three steps of gradients (chosen with mixed signs and magnitudes). */
export const PARAMS: Flat = { 'dense/bias': [0.5, -1], 'dense/kernel': [1, 2, -3, 0.25], scale: [1.5] };
export const GRADS: Flat[] = [
  { 'dense/bias': [0.1, -0.2], 'dense/kernel': [1, -2, 0.5, 3], scale: [-0.7] },
  { 'dense/bias': [0.3, 0.05], 'dense/kernel': [-1, -1, 0.2, 2], scale: [0.4] },
  { 'dense/bias': [-0.2, 0.4], 'dense/kernel': [0.5, 1.5, -0.1, -2], scale: [0.9] },
];

/**
 * Runs `tx` over the GRADS steps from PARAMS as a training loop would (disposing the old state,
 * the grads, the updates and the old params after each step); returns the updates and params
 * after every step, and the number of tensors left alive at the end beyond the final params and state.
 */
export function run(tx: fx.optim.GradientTransformation, steps: Flat[] = GRADS, start: Flat = PARAMS): { updates: Flat[]; params: Flat[]; leaked: number; state: fx.optim.OptState } {
  const before = tf.memory().numTensors;
  let params = tree(start);
  let state = tx.init(params);
  const updatesSeen: Flat[] = [];
  const paramsSeen: Flat[] = [];
  for (const g of steps) {
    const grads = tree(g);
    const [updates, next] = tx.update(grads, state, params);
    const newParams = fx.optim.applyUpdates(params, updates);
    updatesSeen.push(read(updates));
    paramsSeen.push(read(newParams));
    fx.tree.dispose(grads);
    fx.tree.dispose(updates);
    fx.tree.dispose(state);
    fx.tree.dispose(params);
    state = next;
    params = newParams;
  }
  const leaked = tf.memory().numTensors - before - fx.tree.leaves(params).length - fx.tree.leaves(state).filter((l) => l instanceof tf.Tensor).length;
  fx.tree.dispose(params);
  fx.tree.dispose(state);
  return { updates: updatesSeen, params: paramsSeen, leaked, state };
}

/** Flattens per-path values into one array in path order, for assertClose. */
export function all(f: Flat): number[] {
  return Object.keys(f)
    .sort()
    .flatMap((k) => f[k]!);
}
