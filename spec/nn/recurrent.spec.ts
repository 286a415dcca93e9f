// The cells and RNN against PyTorch's nn.LSTM, nn.GRU and nn.RNN: outputs, final carries and
// gradients from spec/fixtures/rnn_torch.json, written by spec/fixtures/make_rnn.py (which
// also documents how torch's weights map to Flax's parameter names).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as fx from '../../lib/index.js';
import { assertClose, values } from '../setup.js';

type Leaf = { kernel: number[]; bias?: number[] };
interface Case {
  name: string; kind: 'lstm' | 'gru' | 'simple'; B: number; T: number; I: number; H: number;
  lengths: number[] | null; bidirectional: boolean; x: number[]; grad_x: number[]; ys: number[]; ry: number[]; loss: number;
  [key: string]: unknown;
}
const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../../../spec/fixtures/rnn_torch.json', import.meta.url)), 'utf8')) as { cases: Case[] };

// The LSTM cases run twice: with LSTMCell (the reference scan) and OptimizedLSTMCell (the fused kernels).
type CellName = 'LSTMCell' | 'OptimizedLSTMCell' | 'GRUCell' | 'SimpleCell';
const cellsOf = (c: Case): CellName[] => ({ lstm: ['LSTMCell', 'OptimizedLSTMCell'] as CellName[], gru: ['GRUCell'] as CellName[], simple: ['SimpleCell'] as CellName[] })[c.kind];

function paramTree(c: Case, tag: string, inFeatures: number): Record<string, Record<string, tf.Tensor>> {
  const leaves = c[`params_${tag}`] as Record<string, Leaf>;
  const out: Record<string, Record<string, tf.Tensor>> = {};
  for (const [name, leaf] of Object.entries(leaves)) {
    const rows = name.startsWith('i') ? inFeatures : c.H;
    out[name] = { kernel: tf.tensor2d(leaf.kernel, [rows, c.H]) };
    if (leaf.bias) out[name]!['bias'] = tf.tensor1d(leaf.bias);
  }
  return out;
}

function run(c: Case, cellName: CellName) {
  const cellOf = (cc: Case) => fx.nn[cellName](cc.H);
  const dirs = c.bidirectional ? ['forward', 'backward'] : ['forward'];
  const hasCarry = c[`h0_forward`] !== undefined;
  const state = (tag: string, what: string) => tf.tensor2d(c[`${what}_${tag}`] as number[], [c.B, c.H]);
  const diff: Record<string, any> = {
    x: tf.tensor3d(c.x, [c.B, c.T, c.I]),
    cells: Object.fromEntries(dirs.map((d) => [d, paramTree(c, d, c.I)])),
  };
  if (hasCarry) {
    diff['h0'] = Object.fromEntries(dirs.map((d) => [d, state(d, 'h0')]));
    if (c.kind === 'lstm') diff['c0'] = Object.fromEntries(dirs.map((d) => [d, state(d, 'c0')]));
  }
  const module = c.bidirectional
    ? fx.nn.Bidirectional(fx.nn.RNN(cellOf(c)), fx.nn.RNN(cellOf(c)), { returnCarry: true })
    : fx.nn.RNN(cellOf(c), { returnCarry: true });
  const carryOf = (p: Record<string, any>, d: string) => (!hasCarry ? undefined : c.kind === 'lstm' ? [p['c0'][d], p['h0'][d]] : p['h0'][d]);
  const lossFn = (p: Record<string, any>) => {
    const variables = c.bidirectional
      ? { params: { forward_rnn: { cell: p['cells'].forward }, backward_rnn: { cell: p['cells'].backward } } }
      : { params: { cell: p['cells'].forward } };
    const carry = c.bidirectional ? (hasCarry ? [carryOf(p, 'forward'), carryOf(p, 'backward')] : undefined) : carryOf(p, 'forward');
    const [carryOut, ys] = (module.apply as any)(variables, p['x'], carry, c.lengths ? tf.tensor1d(c.lengths, 'int32') : undefined) as [any, tf.Tensor];
    const carries = c.bidirectional ? carryOut : [carryOut];
    let loss = tf.sum(tf.mul(ys, tf.tensor(c.ry, ys.shape)));
    dirs.forEach((d, i) => {
      const [cT, hT] = c.kind === 'lstm' ? carries[i] : [undefined, carries[i]];
      loss = tf.add(loss, tf.sum(tf.mul(hT, tf.tensor2d(c[`rh_${d}`] as number[], [c.B, c.H]))));
      if (cT) loss = tf.add(loss, tf.sum(tf.mul(cT, tf.tensor2d(c[`rc_${d}`] as number[], [c.B, c.H]))));
    });
    return [loss, { ys, carries }] as const;
  };
  return { diff, dirs, lossFn, hasCarry };
}

for (const c of fixture.cases) for (const cellName of cellsOf(c)) {
  test(`${c.name} (${cellName}): outputs, final carries and gradients match PyTorch`, () => {
    const before = tf.memory().numTensors;
    const { diff, dirs, lossFn, hasCarry } = run(c, cellName);
    const [[loss, aux], grads] = fx.valueAndGrad(lossFn, { hasAux: true })(diff) as unknown as [[tf.Tensor, { ys: tf.Tensor; carries: any[] }], Record<string, any>];
    assertClose(values(aux.ys), c.ys, 1e-5, 1e-5, 'outputs');
    dirs.forEach((d, i) => {
      const carry = aux.carries[i];
      const [cT, hT] = c.kind === 'lstm' ? carry : [undefined, carry];
      assertClose(values(hT), c[`h_${d}`] as number[], 1e-5, 1e-5, `${d} final h`);
      if (cT) assertClose(values(cT), c[`c_${d}`] as number[], 1e-5, 1e-5, `${d} final c`);
    });
    assertClose([loss.dataSync()[0]!], [c.loss], 1e-4, 1e-5, 'loss');
    assertClose(values(grads['x']), c.grad_x, 1e-5, 1e-4, 'gradient of x');
    for (const d of dirs) {
      const expected = c[`grads_${d}`] as Record<string, Leaf>;
      for (const [name, leaf] of Object.entries(expected)) {
        assertClose(values(grads['cells'][d][name].kernel), leaf.kernel, 1e-5, 1e-4, `${d} ${name}.kernel gradient`);
        if (leaf.bias) assertClose(values(grads['cells'][d][name].bias), leaf.bias, 1e-5, 1e-4, `${d} ${name}.bias gradient`);
      }
      if (hasCarry) {
        assertClose(values(grads['h0'][d]), c[`grad_h0_${d}`] as number[], 1e-5, 1e-4, `${d} gradient of h0`);
        if (c.kind === 'lstm') assertClose(values(grads['c0'][d]), c[`grad_c0_${d}`] as number[], 1e-5, 1e-4, `${d} gradient of c0`);
      }
    }
    tf.dispose([loss, ...fx.tree.leaves(grads), aux.ys, ...fx.tree.leaves(diff), ...aux.carries.flat()]);
    assert.is(tf.memory().numTensors, before, 'no tensor left behind');
  });
}

test.run();
