import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { compareRun, referenceLoop } from './util.js';

// Reference Lion (Optax): u = −lr·(sign((1−b1)·g + b1·mu) + wd·param); mu = b2·mu + (1−b2)·g.
function referenceLion(lr: number, b1: number, b2: number, wd: number) {
  const mu: Record<string, number[]> = {};
  return referenceLoop((g, p, path) => {
    const m = mu[path] ?? g.map(() => 0);
    const u = g.map((x, i) => -lr * (Math.sign((1 - b1) * x + b1 * m[i]!) + wd * p[i]!));
    mu[path] = g.map((x, i) => b2 * m[i]! + (1 - b2) * x);
    return u;
  });
}

// Reference LAMB (Optax): a = adam update (eps outside the root) + wd·param, per leaf
// r = ‖param‖/‖a‖ (1 when either is 0); u = −lr·r·a.
function referenceLamb(lr: number, b1: number, b2: number, eps: number, wd: number) {
  const mu: Record<string, number[]> = {};
  const nu: Record<string, number[]> = {};
  return referenceLoop((g, p, path, step) => {
    const t = step + 1;
    mu[path] = g.map((x, i) => b1 * (mu[path]?.[i] ?? 0) + (1 - b1) * x);
    nu[path] = g.map((x, i) => b2 * (nu[path]?.[i] ?? 0) + (1 - b2) * x * x);
    const a = g.map((_, i) => mu[path]![i]! / (1 - b1 ** t) / (Math.sqrt(nu[path]![i]! / (1 - b2 ** t)) + eps) + wd * p[i]!);
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const pn = norm(p);
    const an = norm(a);
    const r = pn === 0 || an === 0 ? 1 : pn / an;
    return a.map((x) => -lr * r * x);
  });
}

test('lion with defaults (weight decay 1e-3) matches the definition over 3 steps', () => {
  compareRun(fx.optim.lion(0.01), referenceLion(0.01, 0.9, 0.99, 1e-3));
});

test('lion with other betas and a large weight decay', () => {
  compareRun(fx.optim.lion(0.05, { b1: 0.5, b2: 0.8, weightDecay: 0.3 }), referenceLion(0.05, 0.5, 0.8, 0.3));
});

test('lion steps are ±lr per coordinate without decay', () => {
  const tx = fx.optim.lion(0.1, { weightDecay: 0 });
  const params = { w: tf.ones([3]) };
  const grads = { w: tf.tensor([5, -0.001, 2]) };
  const state = tx.init(params);
  const [u, s] = tx.update(grads, state, params);
  assertClose(u.w.dataSync(), [-0.1, 0.1, -0.1]);
  for (const t of [params, grads, state, u, s]) fx.tree.dispose(t);
});

test('lion follows the momentum against a small opposite gradient (hand-computed)', () => {
  // b1 = 0.9, b2 = 0.5, no decay. Step 1: g = 1 → u = −lr·sign(0.1) = −lr; mu = 0.5.
  // Step 2: g = −0.5 → sign(0.1·(−0.5) + 0.9·0.5) = sign(0.4) = +1 → u = −lr; mu = 0.25 − 0.25 = 0.
  // Step 3: g = −0.5 → sign(−0.05 + 0) = −1 → u = +lr.
  const tx = fx.optim.lion(0.1, { b2: 0.5, weightDecay: 0 });
  const params = { w: tf.zeros([1]) };
  let state = tx.init(params);
  const seen: number[] = [];
  for (const g of [1, -0.5, -0.5]) {
    const grads = { w: tf.tensor([g]) };
    const [u, next] = tx.update(grads, state, params);
    seen.push(u.w.dataSync()[0]!);
    for (const t of [grads, u, state]) fx.tree.dispose(t);
    state = next;
  }
  assertClose(seen, [-0.1, -0.1, 0.1]);
  fx.tree.dispose(state);
  fx.tree.dispose(params);
});

test('lamb matches the definition over 3 steps (trust ratio per leaf)', () => {
  compareRun(fx.optim.lamb(0.01), referenceLamb(0.01, 0.9, 0.999, 1e-6, 0));
  compareRun(fx.optim.lamb(0.02, { weightDecay: 0.1, b1: 0.8 }), referenceLamb(0.02, 0.8, 0.999, 1e-6, 0.1));
});

test('lamb leaves the update unscaled when a parameter is all zeros', () => {
  const tx = fx.optim.lamb(0.1);
  const params = { w: tf.zeros([2]) };
  const grads = { w: tf.tensor([1, -1]) };
  const state = tx.init(params);
  const [u, s] = tx.update(grads, state, params);
  assertClose(u.w.dataSync(), [-0.1 / (1 + 1e-6), 0.1 / (1 + 1e-6)]);
  for (const t of [params, grads, state, u, s]) fx.tree.dispose(t);
});

test('lion and lamb need the params and reject bad arguments', () => {
  const tx = fx.optim.lion(0.1);
  const grads = { w: tf.ones([2]) };
  const state = tx.init(grads);
  assertThrows(() => tx.update(grads, state), fx.FlaxenError, 'addDecayedWeights', 'params');
  fx.tree.dispose(grads);
  fx.tree.dispose(state);
  assertThrows(() => fx.optim.lion(0.1, { b1: 2 }), fx.FlaxenError, 'b1');
  assertThrows(() => fx.optim.lion(0.1, { weightDecay: -1 }), fx.FlaxenError, 'weightDecay');
  assertThrows(() => fx.optim.lamb(-1), fx.FlaxenError, 'lamb', 'learningRate');
});

test.run();
