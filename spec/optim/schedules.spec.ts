import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';

const S = fx.optim.schedules;

function at(schedule: fx.optim.Schedule, steps: number[]): number[] {
  return steps.map((s) => schedule(s));
}

test('constant', () => {
  assertClose(at(S.constant(0.3), [0, 1, 1e6]), [0.3, 0.3, 0.3]);
});

test('linear and polynomial, with transitionBegin', () => {
  assertClose(at(S.linear(1, 0, 10), [0, 5, 10, 20]), [1, 0.5, 0, 0], 1e-12);
  assertClose(at(S.linear(1, 0, 10, { transitionBegin: 5 }), [0, 5, 10, 15, 30]), [1, 1, 0.5, 0, 0], 1e-12);
  assertClose(at(S.linear(1, 3, 0), [0, 100]), [1, 1]);
  assertClose(at(S.polynomial(1, 0, 2, 10), [5, 8]), [0.25, 0.04], 1e-12);
  assertClose(at(S.polynomial(2, 1, 0.5, 4), [1]), [1 + Math.sqrt(0.75)], 1e-12);
});

test('cosineDecay', () => {
  assertClose(at(S.cosineDecay(2, 100), [0, 25, 50, 100, 150]), [2, 1 + Math.SQRT1_2, 1, 0, 0], 1e-12);
  assertClose(at(S.cosineDecay(2, 100, { alpha: 0.1 }), [50, 100, 1000]), [2 * (0.9 * 0.5 + 0.1), 0.2, 0.2], 1e-12);
  assertClose(at(S.cosineDecay(2, 100, { exponent: 2 }), [50]), [0.5], 1e-12);
});

test('warmupCosineDecay: linear warmup, then cosine down to endValue at decaySteps', () => {
  const s = S.warmupCosineDecay(0, 1, 10, 110, { endValue: 0.1 });
  assertClose(at(s, [0, 5, 10, 60, 110, 200]), [0, 0.5, 1, 0.55, 0.1, 0.1], 1e-12);
  const s2 = S.warmupCosineDecay(0.2, 1, 4, 8);
  assertClose(at(s2, [2, 6]), [0.6, 0.5], 1e-12);
});

test('exponentialDecay, with staircase, transitionBegin and endValue', () => {
  assertClose(at(S.exponentialDecay(1, 10, 0.5), [0, 5, 10, 20]), [1, Math.SQRT1_2, 0.5, 0.25], 1e-12);
  assertClose(at(S.exponentialDecay(1, 10, 0.5, { staircase: true }), [9, 15, 20]), [1, 0.5, 0.25], 1e-12);
  assertClose(at(S.exponentialDecay(1, 10, 0.5, { transitionBegin: 10 }), [0, 10, 20]), [1, 1, 0.5], 1e-12);
  assertClose(at(S.exponentialDecay(1, 10, 0.5, { endValue: 0.3 }), [10, 20]), [0.5, 0.3], 1e-12);
  assertClose(at(S.exponentialDecay(1, 10, 2, { endValue: 3 }), [10, 20]), [2, 3], 1e-12);
});

test('piecewiseConstant multiplies the scales of the boundaries reached', () => {
  const s = S.piecewiseConstant(0.1, { 1000: 0.1, 2000: 0.5 });
  assertClose(at(s, [0, 999, 1000, 1999, 2000, 5000]), [0.1, 0.1, 0.01, 0.01, 0.005, 0.005], 1e-15);
  const pairs = S.piecewiseConstant(1, [
    [20, 0.5],
    [10, 0.1],
  ]);
  assertClose(at(pairs, [5, 10, 20]), [1, 0.1, 0.05], 1e-15);
});

test('joinSchedules restarts each schedule at its boundary', () => {
  const s = S.joinSchedules([S.constant(1), S.linear(1, 0, 10)], [5]);
  assertClose(at(s, [0, 4, 5, 10, 15, 100]), [1, 1, 1, 0.5, 0, 0], 1e-12);
  const three = S.joinSchedules([S.constant(3), S.constant(2), (t) => t], [2, 4]);
  assertClose(at(three, [0, 1, 2, 3, 4, 7]), [3, 3, 2, 2, 0, 3]);
});

test('schedule arguments are checked', () => {
  assertThrows(() => S.cosineDecay(1, 0), fx.FlaxenError, 'cosineDecay', 'decaySteps');
  assertThrows(() => S.linear(1, 0, -1), fx.FlaxenError, 'transitionSteps');
  assertThrows(() => S.warmupCosineDecay(0, 1, 10, 5), fx.FlaxenError, 'decaySteps');
  assertThrows(() => S.piecewiseConstant(1, { 10: -1 }), fx.FlaxenError, 'scale');
  assertThrows(() => S.joinSchedules([S.constant(1), S.constant(2)], []), fx.FlaxenError, 'boundaries');
  assertThrows(() => S.joinSchedules([S.constant(1), S.constant(2), S.constant(3)], [5, 2]), fx.FlaxenError, 'boundaries[1]');
  assertThrows(() => S.exponentialDecay(1, 0, 0.5), fx.FlaxenError, 'transitionSteps');
  assertThrows(() => S.linear(1, 0, 10, { begin: 3 } as never), fx.FlaxenError, 'begin');
  assert.type(S.constant(1), 'function');
});

test.run();
