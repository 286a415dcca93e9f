import { test } from 'uvu';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';
import { compareRun, referenceLoop } from './util.js';

// Reference RMSProp (Optax): nu = d·nu + (1−d)·g²; u = −lr·g/sqrt(nu + eps) (eps inside the
// root) or −lr·g/(sqrt(nu) + eps); centered subtracts mu² with mu = d·mu + (1−d)·g; momentum
// applies trace = u + m·trace after the learning rate.
function reference(lr: number, o: { decay: number; eps: number; centered?: boolean; epsInSqrt?: boolean; momentum?: number; initialScale?: number }) {
  const nu: Record<string, number[]> = {};
  const mu: Record<string, number[]> = {};
  const tr: Record<string, number[]> = {};
  return referenceLoop((g, _p, path) => {
    nu[path] ??= g.map(() => o.initialScale ?? 0);
    mu[path] ??= g.map(() => 0);
    tr[path] ??= g.map(() => 0);
    nu[path] = g.map((x, i) => o.decay * nu[path]![i]! + (1 - o.decay) * x * x);
    mu[path] = g.map((x, i) => o.decay * mu[path]![i]! + (1 - o.decay) * x);
    const u = g.map((x, i) => {
      const v = o.centered ? nu[path]![i]! - mu[path]![i]! ** 2 : nu[path]![i]!;
      return -lr * (o.epsInSqrt === false ? x / (Math.sqrt(v) + o.eps) : x / Math.sqrt(v + o.eps));
    });
    if (o.momentum === undefined) return u;
    tr[path] = u.map((x, i) => x + o.momentum! * tr[path]![i]!);
    return tr[path]!;
  });
}

test('rmsprop with defaults matches the definition over 3 steps', () => {
  compareRun(fx.optim.rmsprop(0.01), reference(0.01, { decay: 0.9, eps: 1e-8 }));
});

test('rmsprop adds eps inside the square root by default, outside with epsInSqrt: false', () => {
  compareRun(fx.optim.rmsprop(0.01, { eps: 0.2 }), reference(0.01, { decay: 0.9, eps: 0.2 }));
  compareRun(fx.optim.rmsprop(0.01, { eps: 0.2, epsInSqrt: false }), reference(0.01, { decay: 0.9, eps: 0.2, epsInSqrt: false }));
});

test('centered rmsprop with momentum and an initial scale', () => {
  const o = { decay: 0.8, eps: 1e-3, centered: true, momentum: 0.9, initialScale: 0.5 };
  compareRun(fx.optim.rmsprop(0.05, o), reference(0.05, o));
});

test('rmsprop rejects bad arguments', () => {
  assertThrows(() => fx.optim.rmsprop(-1), fx.FlaxenError, 'rmsprop', 'learningRate');
  assertThrows(() => fx.optim.rmsprop(0.1, { decay: 1 }), fx.FlaxenError, 'decay');
  assertThrows(() => fx.optim.rmsprop(0.1, { nesterov: true }), fx.FlaxenError, 'nesterov');
  assertThrows(() => fx.optim.rmsprop(0.1, { rho: 0.9 } as never), fx.FlaxenError, 'rho');
});

test.run();
