// OptimizedLSTMCell's fused scan (lib/ops/lstm-scan.ts, the recurrent section of gemm.c) against
// LSTMCell's reference scan with tfjs ops, with the same parameters: outputs, final carries and
// every gradient agree within float32 rounding (the bound below), the fused kernels really run
// (counted through the kernel hook), two runs give the same bits, nothing leaks. Against
// PyTorch: spec/nn/recurrent.spec.ts runs its LSTM cases with both cells.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { wrapOwnKernels } from '../../lib/ops/kernel-hook.js';
import { assertClose, backend, values } from '../setup.js';

/**
 * The bound on |fused − reference|: 2e-6 absolute plus 2e-5 relative, for values of order 1
 * after up to 9 steps; the two differ only in the last bits of sigmoid and tanh (a few ulp,
 * 1e-7 relative), which the recurrence carries on.
 */
const ATOL = 2e-6, RTOL = 2e-5;

interface Run { ys: number[]; c: number[]; h: number[]; grads: Record<string, number[]> }

function run(cell: fx.nn.RecurrentCell, B: number, T: number, I: number, H: number, opts: fx.nn.RNNOptions, withCarry: boolean): Run {
  const rnn = fx.nn.RNN(cell, { ...opts, returnCarry: true });
  // The same parameters for both cells: drawn from the same key by an LSTMCell's init.
  const params = fx.nn.RNN(fx.nn.LSTMCell(H)).init(fx.random.key(3), [B, T, I]).params;
  const x = fx.random.normal(fx.random.key(4), [B, T, I]);
  const carry = withCarry ? [fx.random.normal(fx.random.key(5), [B, H]), fx.random.normal(fx.random.key(6), [B, H])] : undefined;
  const weights = [fx.random.normal(fx.random.key(7), [B, T, H]), fx.random.normal(fx.random.key(8), [B, H]), fx.random.normal(fx.random.key(9), [B, H])];
  const inputs = { params, x, ...(carry ? { c0: carry[0], h0: carry[1] } : {}) };
  const loss = (p: typeof inputs) => {
    const [[c, h], ys] = (rnn.apply as any)({ params: p.params }, p.x, p.c0 ? [p.c0, p.h0] : undefined) as [[tf.Tensor, tf.Tensor], tf.Tensor];
    const l = tf.addN([tf.sum(tf.mul(ys, weights[0]!)), tf.sum(tf.mul(h, weights[1]!)), tf.sum(tf.mul(c, weights[2]!))]);
    return [l, { ys, c, h }] as const;
  };
  const [[l, aux], grads] = fx.valueAndGrad(loss, { hasAux: true })(inputs) as any;
  const flat = Object.fromEntries(fx.tree.flatten(grads as Record<string, unknown>).map(([path, t]) => [path, values(t as tf.Tensor)]));
  const out: Run = { ys: values(aux.ys), c: values(aux.c), h: values(aux.h), grads: flat };
  tf.dispose([l, aux.ys, aux.c, aux.h, x, ...weights, ...(carry ?? [])]);
  fx.tree.dispose(grads);
  fx.tree.dispose(params);
  return out;
}

const cases: Array<{ name: string; B: number; T: number; I: number; H: number; opts: fx.nn.RNNOptions; carry: boolean }> = [
  { name: 'plain', B: 4, T: 6, I: 5, H: 8, opts: {}, carry: false },
  { name: 'H and B not multiples of 4, an initial carry', B: 3, T: 5, I: 2, H: 7, opts: {}, carry: true },
  { name: 'reverse with seqLengths (frozen carries, zero outputs)', B: 3, T: 9, I: 4, H: 6, opts: { reverse: true, keepOrder: true, seqLengths: [9, 4, 0] }, carry: true },
  { name: 'one unit, one step', B: 1, T: 1, I: 1, H: 1, opts: {}, carry: true },
];

for (const c of cases) {
  test(`${c.name}: OptimizedLSTMCell agrees with LSTMCell (outputs, carries, gradients)`, () => {
    const before = tf.memory().numTensors;
    let steps = 0, grads = 0;
    wrapOwnKernels((name, fn) => (...args) => {
      if (name === 'lstm_step') steps++;
      if (name === 'lstm_step_grad') grads++;
      return fn(...args);
    });
    let fused: Run;
    try {
      fused = run(fx.nn.OptimizedLSTMCell(c.H), c.B, c.T, c.I, c.H, c.opts, c.carry);
    } finally {
      wrapOwnKernels(undefined);
    }
    const reference = run(fx.nn.LSTMCell(c.H), c.B, c.T, c.I, c.H, c.opts, c.carry);
    assert.is(tf.memory().numTensors, before, 'no tensor left behind');
    // On wasm the fused kernels run once a step each way; elsewhere the cell runs the reference scan.
    assert.equal([steps, grads], backend === 'wasm' ? [c.T, c.T] : [0, 0], 'kernel calls');
    assertClose(fused.ys, reference.ys, ATOL, RTOL, 'outputs');
    assertClose(fused.c, reference.c, ATOL, RTOL, 'final c');
    assertClose(fused.h, reference.h, ATOL, RTOL, 'final h');
    assert.equal(Object.keys(fused.grads).sort(), Object.keys(reference.grads).sort());
    for (const [path, g] of Object.entries(reference.grads)) assertClose(fused.grads[path]!, g, ATOL, RTOL, `gradient ${path}`);
    if (c.opts.seqLengths) {
      // Past a sequence's end the outputs are exactly 0 (the third sequence has length 0).
      const [B, T, H] = [c.B, c.T, c.H];
      for (let t = 0; t < T; t++) for (let j = 0; j < H; j++) assert.is(fused.ys[(2 * T + t) * H + j], 0);
      assert.ok(B === 3);
    }
  });
}

test('a sequence of length 0 keeps its initial carry bit for bit (the mask selects, it does not blend)', () => {
  const rnn = fx.nn.RNN(fx.nn.OptimizedLSTMCell(5), { returnCarry: true, seqLengths: [3, 0] });
  const vars = rnn.init(fx.random.key(0), [2, 3, 4]);
  const c0 = tf.tensor2d([[0.1, 1e-30, -3, 7, 0.3], [1 / 3, 1e-30, -2e-7, 1e7, Math.PI]]);
  const h0 = tf.tensor2d([[0.5, -0.5, 0.25, 0, 1], [0.7, -1e-9, 0.123456789, 0.2, -0.9]]);
  const x = tf.ones([2, 3, 4]);
  const [[c, h], ys] = rnn.apply(vars, x, [c0, h0]) as any;
  assert.equal(values(c).slice(5), values(c0).slice(5));
  assert.equal(values(h).slice(5), values(h0).slice(5));
  tf.dispose([c0, h0, x, c, h, ys]);
  fx.tree.dispose(vars);
});

test('extreme pre-activations: the fused gates match a float64 LSTM step (no overflow, no NaN)', () => {
  // One step, zero hidden kernels, identity-like input kernels: the pre-activations are x itself.
  const H = 6;
  const cell = fx.nn.OptimizedLSTMCell(H, { kernelInit: (_k, shape) => tf.eye(shape[0]!, shape[1]!), recurrentKernelInit: (_k, shape) => tf.zeros(shape) });
  const zs = [-100, -20, -1e-6, 0, 3e-4, 50];
  const x = tf.tensor2d([zs]);
  const c0 = tf.tensor2d([[1, -2, 0.5, 0, 1e-3, -1]]);
  const carry: fx.nn.Carry = [c0, tf.zeros([1, H])];
  const vars = cell.init(fx.random.key(0), carry, [1, H]);
  const [[c, h], y] = cell.apply(vars, carry, x) as any;
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const cExp = zs.map((z, j) => sig(z) * c0.dataSync()[j]! + sig(z) * Math.tanh(z));
  const hExp = cExp.map((cv, j) => sig(zs[j]!) * Math.tanh(cv));
  assertClose(values(c), cExp, 1e-30, 4e-7, 'c');
  assertClose(values(h), hExp, 1e-30, 4e-7, 'h');
  assert.equal(values(y), values(h));
  tf.dispose([x, c0, carry[1], c, h, y]);
  fx.tree.dispose(vars);
});

test('two runs give the same bits (outputs and gradients)', () => {
  const a = run(fx.nn.OptimizedLSTMCell(9), 5, 7, 3, 9, { seqLengths: [7, 2, 5, 0, 1] }, true);
  const b = run(fx.nn.OptimizedLSTMCell(9), 5, 7, 3, 9, { seqLengths: [7, 2, 5, 0, 1] }, true);
  assert.equal(a, b);
});

test('parameter trees of LSTMCell and OptimizedLSTMCell are interchangeable', () => {
  const plain = fx.nn.RNN(fx.nn.LSTMCell(4)).init(fx.random.key(1), [2, 3, 5]);
  const fast = fx.nn.RNN(fx.nn.OptimizedLSTMCell(4)).init(fx.random.key(1), [2, 3, 5]);
  const leaves = (t: unknown) => fx.tree.flatten(t as Record<string, unknown>).map(([p, v]) => [p, (v as tf.Tensor).shape, values(v as tf.Tensor)]);
  assert.equal(leaves(fast), leaves(plain));
  assert.is(fx.nn.RNN(fx.nn.OptimizedLSTMCell(4)).describe(fast), 'RNN(OptimizedLSTMCell(5 -> 4))');
  fx.tree.dispose(plain);
  fx.tree.dispose(fast);
});

test.run();
