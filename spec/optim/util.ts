// Helpers for the optimizer specs: small trees built from plain arrays, and a loop that runs a
// transformation for several steps the way a training loop owns its tensors.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose } from '../setup.js';

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

export interface AdamRef {
  b1: number;
  b2: number;
  eps: number;
  epsRoot: number;
  weightDecay?: number;
}


// Reference: Optax's adam / adamw written out in float64, straight from the definitions:
// mu = b1·mu + (1−b1)·g; nu = b2·nu + (1−b2)·g²; mû = mu/(1−b1^t); nû = nu/(1−b2^t);
// u = mû / (sqrt(nû + epsRoot) + eps); adamw adds weightDecay·param; then u·(−lr).
export function referenceAdam(lrAt: (step: number) => number, o: AdamRef, decayed: (path: string) => boolean = () => true): { updates: Flat[]; params: Flat[]; mu: Flat; nu: Flat } {
  let mu = mapFlat(PARAMS, () => 0);
  let nu = mapFlat(PARAMS, () => 0);
  let params = PARAMS;
  const updates: Flat[] = [];
  const paramsSeen: Flat[] = [];
  GRADS.forEach((g, step) => {
    const t = step + 1;
    mu = mapFlat(g, (x, p, i) => o.b1 * mu[p]![i]! + (1 - o.b1) * x);
    nu = mapFlat(g, (x, p, i) => o.b2 * nu[p]![i]! + (1 - o.b2) * x * x);
    const u = mapFlat(g, (_, p, i) => {
      const muHat = mu[p]![i]! / (1 - o.b1 ** t);
      const nuHat = nu[p]![i]! / (1 - o.b2 ** t);
      const adam = muHat / (Math.sqrt(nuHat + o.epsRoot) + o.eps);
      return -lrAt(step) * (adam + (decayed(p) ? o.weightDecay ?? 0 : 0) * params[p]![i]!);
    });
    params = mapFlat(params, (x, p, i) => x + u[p]![i]!);
    updates.push(u);
    paramsSeen.push(params);
  });
  return { updates, params: paramsSeen, mu, nu };
}


/** Runs `tx` with `run` and compares every step's updates and params with a reference; no leaks. */
export function compareRun(tx: fx.optim.GradientTransformation, ref: { updates: Flat[]; params: Flat[] }, atol = 1e-6, rtol = 2e-5): void {
  const got = run(tx);
  got.updates.forEach((u, i) => assertClose(all(u), all(ref.updates[i]!), atol, rtol, `updates at step ${i}`));
  got.params.forEach((p, i) => assertClose(all(p), all(ref.params[i]!), atol, rtol, `params at step ${i}`));
  assert.is(got.leaked, 0, 'tensors left alive');
}

/**
 * A generic float64 reference loop: `step(g, params, t)` returns the update for one path's
 * values from the gradient, the current params and the step index (closures keep any state).
 */
export function referenceLoop(step: (g: number[], params: number[], path: string, t: number) => number[]): { updates: Flat[]; params: Flat[] } {
  let params = PARAMS;
  const updates: Flat[] = [];
  const paramsSeen: Flat[] = [];
  GRADS.forEach((g, t) => {
    const u: Flat = {};
    for (const path of Object.keys(g)) u[path] = step(g[path]!, params[path]!, path, t);
    params = mapFlat(params, (x, p, i) => x + u[p]![i]!);
    updates.push(u);
    paramsSeen.push(params);
  });
  return { updates, params: paramsSeen };
}
