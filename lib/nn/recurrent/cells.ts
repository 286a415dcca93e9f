/**
 * Recurrent cells with Flax linen's parameter names and formulas: `LSTMCell`, `GRUCell` and
 * `SimpleCell`. A cell maps `(carry, x)` to `[newCarry, y]` for one step; {@link RNN} runs it
 * over a sequence.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../../errors.js';
import { Module } from '../../core/module.js';
import type { Initializer, Scope } from '../../core/scope.js';
import { ShapeDtype, isAbstract } from '../../core/shapes.js';
import { lecunNormal, zeros } from '../../initializers/index.js';
import { orthogonal } from '../../initializers/orthogonal.js';
import { dense } from '../../ops/matmul.js';
import { CellKind, GATES, ScanInputs, ScanOutputs, recurrentScan } from '../../ops/rnn-scan.js';
import { fusedLstmScan } from '../../ops/lstm-scan.js';
import { Input, checkInput } from '../layer-util.js';
import { checkFeatures, checkOptions } from '../util.js';

/**
 * Options of the cells.
 *
 * @example
 * ```ts
 * const opts: fx.nn.CellOptions = { kernelInit: fx.initializers.glorotUniform() };
 * ```
 */
export interface CellOptions {
  /** Initializer of the input kernels (default `lecunNormal()`, as in Flax). */
  readonly kernelInit?: Initializer;
  /** Initializer of the hidden kernels (default `orthogonal()`, as in Flax). */
  readonly recurrentKernelInit?: Initializer;
  /** Initializer of the biases (default `zeros`). */
  readonly biasInit?: Initializer;
  /** A fixed name inside a parent module. */
  readonly name?: string;
}

/**
 * A cell's carry: `[c, h]` for an LSTM, `h` for the others, each `[batch, features]`.
 *
 * @example
 * ```ts
 * const carry: fx.nn.Carry = [tf.zeros([2, 8]), tf.zeros([2, 8])]; // an LSTM's [c, h]
 * ```
 */
export type Carry = tf.Tensor | readonly [tf.Tensor, tf.Tensor];

/** Everything that defines a cell; RNN reads it to run the whole sequence at once. @internal */
export interface CellDefinition {
  readonly type: 'LSTMCell' | 'OptimizedLSTMCell' | 'GRUCell' | 'SimpleCell';
  readonly kind: CellKind;
  /**
   * How the cell runs over a whole sequence (and over one step): the scan it declares. The plain
   * cells declare the reference scan with tfjs ops; `OptimizedLSTMCell` the fused one.
   */
  readonly scan: (inputs: ScanInputs) => ScanOutputs;
  readonly features: number;
  readonly kernelInit: Initializer;
  readonly recurrentKernelInit: Initializer;
  readonly biasInit: Initializer;
}

/** The parameters of a cell, arranged for the scan. @internal */
export interface CellWeights {
  /** `[in, G·H]`: the input kernels side by side. */
  readonly wi: tf.Tensor2D;
  /** `[G·H]`: the biases that add to the input projection. */
  readonly bi: tf.Tensor1D;
  /** `[H, G·H]`: the hidden kernels side by side. */
  readonly wh: tf.Tensor2D;
  /** GRU only: `[H]`, the bias of `hn`. */
  readonly bh?: tf.Tensor1D;
}

/** Gate names in the order of the scan's gate blocks, and which of them have a bias. */
const LAYOUT: Readonly<Record<CellKind, { input: readonly string[]; hidden: readonly string[]; inputBias: boolean; hiddenBias: readonly string[] }>> = {
  lstm: { input: ['ii', 'if', 'ig', 'io'], hidden: ['hi', 'hf', 'hg', 'ho'], inputBias: false, hiddenBias: ['hi', 'hf', 'hg', 'ho'] },
  gru: { input: ['ir', 'iz', 'in'], hidden: ['hr', 'hz', 'hn'], inputBias: true, hiddenBias: ['hn'] },
  simple: { input: ['i'], hidden: ['h'], inputBias: true, hiddenBias: [] },
};

/**
 * Declares (init) or fetches (apply) a cell's parameters in `scope` as Flax names them, each a
 * `{kernel, bias?}` subtree, and arranges them for the scan (abstract stand-ins during shape
 * inference). @internal
 */
export function cellWeights(scope: Scope, def: CellDefinition, inFeatures: number): CellWeights | undefined {
  const H = def.features;
  const layout = LAYOUT[def.kind];
  const kernel = (name: string, init: Initializer, rows: number) => scope.child(name).param('kernel', init, [rows, H]);
  const bias = (name: string) => scope.child(name).param('bias', def.biasInit, [H]);
  const wi = layout.input.map((name) => kernel(name, def.kernelInit, inFeatures));
  const bi = layout.inputBias ? layout.input.map(bias) : [];
  const wh = layout.hidden.map((name) => kernel(name, def.recurrentKernelInit, H));
  const bhs = layout.hiddenBias.map(bias);
  if (wi.some(isAbstract) || wh.some(isAbstract)) return undefined;
  return tf.tidy(() => {
    const cat = (ts: tf.Tensor[]) => (ts.length === 1 ? ts[0]! : tf.concat(ts, ts[0]!.rank - 1));
    // The LSTM's hidden biases add outside the gates: they join the input projection.
    const inputBias = def.kind === 'lstm' ? bhs : bi;
    return {
      wi: cat(wi) as tf.Tensor2D,
      bi: cat(inputBias) as tf.Tensor1D,
      wh: cat(wh) as tf.Tensor2D,
      ...(def.kind === 'gru' ? { bh: bhs[0] as tf.Tensor1D } : {}),
    };
  });
}

/** Checks a carry for `batch` sequences of a cell with `features` units; returns `[h, c?]`. @internal */
export function checkCarry(carry: unknown, def: CellDefinition, batch: number, path: string, layer: string): { h: Input; c?: Input } {
  const expected = [batch, def.features];
  const checkOne = (t: unknown, what: string): Input => {
    if (!(t instanceof tf.Tensor) && !isAbstract(t)) throw new FlaxenError(path, `${layer}: ${what} must be a tensor ${formatShape(expected)}, found ${describeValue(t)}`);
    if (t.shape.length !== 2 || t.shape[0] !== batch || t.shape[1] !== def.features) {
      throw new ShapeError(path, `${layer}: ${what} must have shape ${formatShape(expected)} (batch, features), found ${formatShape(t.shape)}`);
    }
    if (t.dtype !== 'float32') throw new FlaxenError(path, `${layer}: ${what} must be float32, found ${t.dtype}`);
    return t;
  };
  if (def.kind === 'lstm') {
    if (!Array.isArray(carry) || carry.length !== 2) {
      throw new FlaxenError(path, `${layer}: an LSTM carry is the pair [c, h] of tensors ${formatShape(expected)}, found ${describeValue(carry)}`);
    }
    return { c: checkOne(carry[0], 'the carry c'), h: checkOne(carry[1], 'the carry h') };
  }
  if (Array.isArray(carry)) throw new FlaxenError(path, `${layer}: the carry of a ${def.type} is one tensor h ${formatShape(expected)}, found ${describeValue(carry)}`);
  return { h: checkOne(carry, 'the carry') };
}

/** Zeros for the carry of `batch` sequences. @internal */
export function zeroCarry(def: CellDefinition, batch: number): Carry {
  const shape = [batch, def.features];
  return def.kind === 'lstm' ? [tf.zeros(shape), tf.zeros(shape)] : tf.zeros(shape);
}

const DEFINITIONS = new WeakMap<object, CellDefinition>();

/** The definition of a cell made by this module, or undefined for anything else. @internal */
export function cellDefinition(cell: unknown): CellDefinition | undefined {
  return typeof cell === 'object' && cell !== null ? DEFINITIONS.get(cell) : undefined;
}

/**
 * A recurrent cell: a module applied as `cell.apply(variables, carry, x)` to one step
 * `x` `[batch, features]`, returning `[newCarry, y]`. {@link RNN} runs it over a sequence.
 *
 * @example
 * ```ts
 * const cell: fx.nn.RecurrentCell = fx.nn.GRUCell(8);
 * const carry = cell.initializeCarry([2, 3]);      // zeros [2, 8]
 * const vars = cell.init(fx.random.key(0), carry, [2, 3]);
 * const [next, y] = cell.apply(vars, carry, tf.ones([2, 3]));
 * ```
 */
export class RecurrentCell extends Module<any, [Carry, tf.Tensor], [Carry, tf.Tensor]> {
  /** The number of units (`H`). */
  get features(): number {
    return DEFINITIONS.get(this)!.features;
  }

  /**
   * Zeros for the carry of inputs of shape `[batch, features]` (Flax's `initialize_carry`):
   * `[c, h]` for an LSTM, `h` otherwise, each `[batch, H]`. The caller owns the tensors.
   */
  initializeCarry(inputShape: readonly number[]): Carry {
    if (!Array.isArray(inputShape) || inputShape.length !== 2 || !inputShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ShapeError('', `${this.type}.initializeCarry needs an input shape [batch, features], found ${describeValue(inputShape)}`);
    }
    return zeroCarry(DEFINITIONS.get(this)!, inputShape[0]!);
  }
}

function makeCell(type: CellDefinition['type'], kind: CellKind, features: number, opts: CellOptions, scan: CellDefinition['scan'] = recurrentScan): RecurrentCell {
  checkFeatures(features, `${type}(features)`);
  checkOptions(opts, ['kernelInit', 'recurrentKernelInit', 'biasInit', 'name'], type);
  const def: CellDefinition = {
    type,
    kind,
    scan,
    features,
    kernelInit: opts.kernelInit ?? lecunNormal(),
    recurrentKernelInit: opts.recurrentKernelInit ?? orthogonal(),
    biasInit: opts.biasInit ?? zeros,
  };
  const H = features;
  const cell = new RecurrentCell({
    type,
    name: opts.name,
    abstractSafe: true,
    body: (scope: Scope, carry: unknown, x: Input) => {
      const shape = checkInput(x, type, scope.path, 2, 'an input [batch, features]');
      if (shape.length !== 2) throw new ShapeError(scope.path, `${type} takes one step [batch, features], found shape ${formatShape(shape)}; use fx.nn.RNN(cell) for sequences`);
      const [B, I] = shape as [number, number];
      const { h, c } = checkCarry(carry, def, B, scope.path, type);
      const weights = cellWeights(scope, def, I);
      if (!weights || isAbstract(x) || isAbstract(h) || (c && isAbstract(c))) {
        const state = new ShapeDtype([B, H]);
        return [kind === 'lstm' ? [state, state] : state, state];
      }
      return tf.tidy(() => {
        const xp = tf.reshape(dense(x as tf.Tensor2D, weights.wi, weights.bi), [1, B, GATES[kind] * H]) as tf.Tensor3D;
        const out = def.scan({ kind, xp, wh: weights.wh, bh: weights.bh, h0: h as tf.Tensor2D, c0: c as tf.Tensor2D | undefined });
        const next: Carry = kind === 'lstm' ? [out.c!, out.h] : out.h;
        return [next, tf.reshape(out.ys, [B, H])] as unknown as tf.TensorContainer;
      }) as unknown as [Carry, tf.Tensor];
    },
    summarize: (variables) => {
      const first = LAYOUT[kind].input[0]!;
      const shape = (variables?.['params'] as Record<string, { kernel?: { shape: number[] } }> | undefined)?.[first]?.kernel?.shape;
      return { header: `${type}(${shape?.[0] ?? -1} -> ${features})` };
    },
  });
  DEFINITIONS.set(cell, def);
  return cell;
}

/**
 * The LSTM cell of Flax linen (`nn.LSTMCell`). Parameters: input kernels `ii, if, ig, io`
 * (`[in, H]`, no bias) and hidden kernels `hi, hf, hg, ho` (`[H, H]`, with bias `[H]`). With
 * carry `[c, h]`: `i = σ(ii(x) + hi(h))`, `f = σ(if(x) + hf(h))`, `g = tanh(ig(x) + hg(h))`,
 * `o = σ(io(x) + ho(h))`, `c' = f·c + i·g`, `h' = o·tanh(c')`; returns `[[c', h'], h']`.
 * Defaults: LeCun-normal input kernels, orthogonal hidden kernels, zero biases.
 *
 * @param features - the number of units `H`.
 * @example
 * ```ts
 * const rnn = fx.nn.RNN(fx.nn.LSTMCell(32));
 * const vars = rnn.init(fx.random.key(0), [4, 10, 8]);   // batch 4, 10 steps, 8 features
 * vars.params.cell.hi.kernel.shape;                      // [32, 32]
 * ```
 */
export function LSTMCell(features: number, opts: CellOptions = {}): RecurrentCell {
  return makeCell('LSTMCell', 'lstm', features, opts);
}

/**
 * The LSTM cell of {@link LSTMCell} (the same parameters, names, initializers and formulas, so a
 * tree of one applies to the other) on a fast implementation, as Flax linen's
 * `nn.OptimizedLSTMCell`. On the wasm backend an {@link RNN} of it runs flaxen's own
 * WebAssembly kernels: the input projections of all steps as one product, then per step only
 * the hidden product and one fused gate kernel, and a backward pass through time of its own
 * that keeps the gates and the carries entering each step. Elsewhere it runs as `LSTMCell`.
 *
 * Numbers: within float32 rounding of `LSTMCell` (the sigmoid and tanh are the kernel's own;
 * the products and the order of every other operation are the same), and bit-identical across
 * runs and processes on one backend. Past a sequence's end (`seqLengths`) the carries keep
 * their bits exactly.
 *
 * @param features - the number of units `H`.
 * @example
 * ```ts
 * const rnn = fx.nn.RNN(fx.nn.OptimizedLSTMCell(32));
 * const vars = rnn.init(fx.random.key(0), [4, 10, 8]);   // the parameters of an LSTMCell(32)
 * vars.params.cell.hi.kernel.shape;                      // [32, 32]
 * rnn.apply(vars, tf.ones([4, 10, 8])).shape;            // [4, 10, 32]
 * ```
 */
export function OptimizedLSTMCell(features: number, opts: CellOptions = {}): RecurrentCell {
  return makeCell('OptimizedLSTMCell', 'lstm', features, opts, fusedLstmScan);
}

/**
 * The GRU cell of Flax linen (`nn.GRUCell`). Parameters: input kernels `ir, iz, in` (`[in, H]`,
 * with bias), hidden kernels `hr, hz` (`[H, H]`, no bias) and `hn` (`[H, H]`, with bias). With
 * carry `h`: `r = σ(ir(x) + hr(h))`, `z = σ(iz(x) + hz(h))`, `n = tanh(in(x) + r·hn(h))`,
 * `h' = (1 − z)·n + z·h`; returns `[h', h']`. Same numbers as PyTorch's `nn.GRU`.
 *
 * @param features - the number of units `H`.
 * @example
 * ```ts
 * const rnn = fx.nn.RNN(fx.nn.GRUCell(16));
 * const y = rnn.apply(rnn.init(fx.random.key(0), [2, 5, 3]), tf.ones([2, 5, 3])); // [2, 5, 16]
 * ```
 */
export function GRUCell(features: number, opts: CellOptions = {}): RecurrentCell {
  return makeCell('GRUCell', 'gru', features, opts);
}

/**
 * The simple (Elman) cell of Flax linen (`nn.SimpleCell`): `h' = tanh(i(x) + h(h))` with an
 * input kernel `i` (`[in, H]`, with bias) and a hidden kernel `h` (`[H, H]`, no bias); returns
 * `[h', h']`.
 *
 * @param features - the number of units `H`.
 * @example
 * ```ts
 * const rnn = fx.nn.RNN(fx.nn.SimpleCell(16));
 * const vars = rnn.init(fx.random.key(0), [2, 5, 3]);
 * vars.params.cell.i.bias.shape; // [16]
 * ```
 */
export function SimpleCell(features: number, opts: CellOptions = {}): RecurrentCell {
  return makeCell('SimpleCell', 'simple', features, opts);
}
