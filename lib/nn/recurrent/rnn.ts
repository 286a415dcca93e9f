/**
 * `RNN`: a recurrent cell run over the time axis of `[batch, time, features]` inputs, and
 * `Bidirectional`, as Flax linen's `nn.RNN` and `nn.Bidirectional`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../../errors.js';
import { Module, childVariables } from '../../core/module.js';
import type { Scope } from '../../core/scope.js';
import { ShapeDtype, isAbstract } from '../../core/shapes.js';
import { dense } from '../../ops/matmul.js';
import { withLazyGradients } from '../../ops/lazy-grad.js';
import { GATES } from '../../ops/rnn-scan.js';
import { Input, checkInput } from '../layer-util.js';
import { checkOptions } from '../util.js';
import { Carry, CellDefinition, RecurrentCell, cellDefinition, cellWeights, checkCarry } from './cells.js';

/**
 * Options of {@link RNN}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.RNNOptions = { returnCarry: true, reverse: true, keepOrder: true };
 * ```
 */
export interface RNNOptions {
  /** Return `[carry, outputs]` instead of the outputs (default false). */
  readonly returnCarry?: boolean;
  /** Run from the last step to the first (default false). */
  readonly reverse?: boolean;
  /** With `reverse`, return the outputs in the input's time order (default false, as in Flax). */
  readonly keepOrder?: boolean;
  /**
   * The length of each sequence (`[batch]` integers in `0 … time`, an array or an int32
   * tensor): past its end a sequence's carry stays frozen and its outputs are 0. Applying with
   * a third input overrides it per call.
   */
  readonly seqLengths?: readonly number[] | tf.Tensor;
  /** A fixed name inside a parent module. */
  readonly name?: string;
}

interface RNNDefinition {
  readonly cell: CellDefinition;
  readonly returnCarry: boolean;
  readonly reverse: boolean;
  readonly keepOrder: boolean;
  readonly seqLengths?: readonly number[] | tf.Tensor;
  readonly name?: string;
}

/** Checks boolean options, so that `reverse: 'yes'` is an error rather than a silent `true`. */
function checkBoolean(value: unknown, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new FlaxenError('', `${what} must be true or false, found ${describeValue(value)}`);
  return value;
}

/** Reads and checks sequence lengths: `batch` integers in `0 … time`. */
function readLengths(lengths: unknown, batch: number, time: number, path: string): number[] {
  let values: number[];
  if (lengths instanceof tf.Tensor) {
    if (lengths.isDisposed) throw new FlaxenError(path, 'RNN: seqLengths was disposed');
    if (lengths.rank !== 1 || lengths.shape[0] !== batch) throw new ShapeError(path, `RNN: seqLengths must have shape [${batch}] (one length per sequence of the batch), found ${formatShape(lengths.shape)}`);
    values = Array.from(lengths.dataSync());
  } else if (Array.isArray(lengths)) {
    if (lengths.length !== batch) throw new ShapeError(path, `RNN: seqLengths must hold ${batch} lengths (one per sequence of the batch), found ${lengths.length}`);
    values = lengths as number[];
  } else {
    throw new FlaxenError(path, `RNN: seqLengths must be an array or a tensor of ${batch} integers, found ${describeValue(lengths)}`);
  }
  values.forEach((v, i) => {
    if (!Number.isSafeInteger(v) || v < 0 || v > time) {
      throw new FlaxenError(path, `RNN: seqLengths[${i}] must be an integer in 0 … ${time} (the input's time length, input [batch, time, features]), found ${describeValue(v)}`);
    }
  });
  return values;
}

/**
 * Reorders the rows `[time, batch]` of a time-major `[T, B, F]` tensor so that each sequence
 * runs backwards within its length (padding stays at the end, as Flax's `flip_sequences`).
 * The reordering is its own inverse, so the gradient is the same reordering.
 */
function flipTime(x: tf.Tensor3D, lengths: readonly number[] | undefined): tf.Tensor3D {
  const [T, B, F] = x.shape;
  const index = new Int32Array(T * B);
  for (let s = 0; s < T; s++) {
    for (let b = 0; b < B; b++) {
      const len = lengths ? lengths[b]! : T;
      index[s * B + b] = (s < len ? len - 1 - s : s) * B + b;
    }
  }
  return tf.tidy(() => {
    const order = tf.tensor1d(index, 'int32');
    const flat = tf.reshape(x, [T * B, F]);
    const y = withLazyGradients(
      [flat],
      (save) => {
        save([order]);
        return tf.gather(flat, order);
      },
      (dy, [savedOrder]) => [() => tf.gather(dy, savedOrder!)],
    );
    return tf.reshape(y, [T, B, F]) as tf.Tensor3D;
  });
}

/** The mask `[T, B]` of steps inside each sequence. */
function stepMask(lengths: readonly number[], T: number): tf.Tensor2D {
  const B = lengths.length;
  const values = new Float32Array(T * B);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) values[t * B + b] = t < lengths[b]! ? 1 : 0;
  return tf.tensor2d(values, [T, B]);
}

/** The module that owns the cell's parameters (named `cell`) and runs the whole sequence. */
function sequenceModule(def: RNNDefinition, lengths: readonly number[] | undefined): Module<any, any[], unknown> {
  const cell = def.cell;
  const H = cell.features;
  return new Module({
    type: cell.type,
    name: 'cell',
    abstractSafe: true,
    body: (scope: Scope, x: Input, carry: unknown) => {
      const [B, T, I] = x.shape as [number, number, number];
      const start = carry === undefined ? undefined : checkCarry(carry, cell, B, scope.path, 'RNN');
      const weights = cellWeights(scope, cell, I);
      const state = new ShapeDtype([B, H]);
      if (!weights || isAbstract(x) || (start && (isAbstract(start.h) || (start.c && isAbstract(start.c))))) {
        return [cell.kind === 'lstm' ? [state, state] : state, new ShapeDtype([B, T, H])];
      }
      return tf.tidy(() => {
        const h0 = (start?.h ?? tf.zeros([B, H])) as tf.Tensor2D;
        const c0 = cell.kind === 'lstm' ? ((start?.c ?? tf.zeros([B, H])) as tf.Tensor2D) : undefined;
        if (T === 0 || B === 0) {
          // Nothing to run: the carry passes through, the outputs are empty.
          const carryOut = cell.kind === 'lstm' ? [tf.clone(c0!), tf.clone(h0)] : tf.clone(h0);
          return [carryOut, tf.zeros([B, T, H])] as unknown as tf.TensorContainer;
        }
        let xt = tf.transpose(x as tf.Tensor3D, [1, 0, 2]) as tf.Tensor3D;
        if (def.reverse) xt = flipTime(xt, lengths);
        const G = GATES[cell.kind];
        const xp = tf.reshape(dense(tf.reshape(xt, [T * B, I]) as tf.Tensor2D, weights.wi, weights.bi), [T, B, G * H]) as tf.Tensor3D;
        const mask = lengths ? stepMask(lengths, T) : undefined;
        const out = cell.scan({ kind: cell.kind, xp, wh: weights.wh, bh: weights.bh, h0, c0, mask });
        let ys = out.ys;
        if (def.reverse && def.keepOrder) ys = flipTime(ys, lengths);
        const carryOut = cell.kind === 'lstm' ? [out.c!, out.h] : out.h;
        return [carryOut, tf.transpose(ys, [1, 0, 2])] as unknown as tf.TensorContainer;
      });
    },
  });
}

const DEFINITIONS = new WeakMap<object, RNNDefinition>();

function makeRNN(def: RNNDefinition): Module<any, any[], any> {
  const rnn = new Module({
    type: 'RNN',
    name: def.name,
    abstractSafe: true,
    numberInputs: [2],
    body: (scope: Scope, x: Input, carry?: Carry, seqLengths?: readonly number[] | tf.Tensor) => {
      const shape = checkInput(x, 'RNN', scope.path, 3, 'an input [batch, time, features]');
      if (shape.length !== 3) throw new ShapeError(scope.path, `RNN needs an input [batch, time, features], found shape ${formatShape(shape)} (rank ${shape.length})`);
      const [B, T] = shape as [number, number];
      const given = seqLengths ?? def.seqLengths;
      const lengths = given === undefined ? undefined : readLengths(given, B, T, scope.path);
      const [carryOut, outputs] = scope.call(sequenceModule(def, lengths), x, carry) as [unknown, unknown];
      return def.returnCarry ? [carryOut, outputs] : outputs;
    },
    summarize: (variables) => {
      const cellVars = childVariables(variables, 'cell');
      const flags = [def.reverse ? 'reverse' : '', def.keepOrder ? 'keepOrder' : '', def.returnCarry ? 'returnCarry' : ''].filter(Boolean);
      const inner = cellHeader(def.cell, cellVars);
      return { header: `RNN(${[inner, ...flags].join(', ')})` };
    },
  });
  DEFINITIONS.set(rnn, def);
  return rnn;
}

function cellHeader(cell: CellDefinition, variables: Record<string, any> | undefined): string {
  const params = variables?.['params'] as Record<string, { kernel?: { shape: number[] } }> | undefined;
  const inSize = params?.['ii']?.kernel?.shape[0] ?? params?.['ir']?.kernel?.shape[0] ?? params?.['i']?.kernel?.shape[0] ?? -1;
  return `${cell.type}(${inSize} -> ${cell.features})`;
}

/**
 * Runs a recurrent cell over axis 1 of a `[batch, time, features]` input, as Flax's `nn.RNN`.
 * Apply it as `rnn.apply(variables, x, carry?, seqLengths?)`: the optional initial carry is
 * `[c, h]` for an LSTM and `h` otherwise (zeros when not given). Returns the outputs
 * `[batch, time, H]`, or `[carry, outputs]` with `returnCarry`. The cell's parameters sit under
 * `cell` (e.g. `params.cell.ii.kernel`), as in Flax.
 *
 * How it runs: the input projections of all steps are one matrix product; each step adds the
 * hidden product and applies the gates; the backward pass through time is one op of its own
 * that keeps only the gate activations and carries.
 *
 * @param cell - an {@link LSTMCell}, {@link OptimizedLSTMCell}, {@link GRUCell} or {@link SimpleCell}.
 * @param opts - see {@link RNNOptions}.
 * @example
 * ```ts
 * const rnn = fx.nn.RNN(fx.nn.LSTMCell(16), { returnCarry: true });
 * const vars = rnn.init(fx.random.key(0), [2, 7, 4]);
 * const [[c, h], ys] = rnn.apply(vars, tf.ones([2, 7, 4])); // c, h: [2, 16]; ys: [2, 7, 16]
 * ```
 */
export function RNN(cell: RecurrentCell, opts: RNNOptions = {}): Module<any, [tf.Tensor] | [tf.Tensor, Carry | undefined] | [tf.Tensor, Carry | undefined, readonly number[] | tf.Tensor], any> {
  const def = cellDefinition(cell);
  if (!def) throw new FlaxenError('', `RNN(cell): cell must be a recurrent cell from fx.nn (LSTMCell, OptimizedLSTMCell, GRUCell or SimpleCell), found ${describeValue(cell)}${cell instanceof Module ? ` (a ${cell.type} module)` : ''}`);
  checkOptions(opts, ['returnCarry', 'reverse', 'keepOrder', 'seqLengths', 'name'], 'RNN');
  return makeRNN({
    cell: def,
    returnCarry: checkBoolean(opts.returnCarry, 'RNN: returnCarry'),
    reverse: checkBoolean(opts.reverse, 'RNN: reverse'),
    keepOrder: checkBoolean(opts.keepOrder, 'RNN: keepOrder'),
    seqLengths: opts.seqLengths,
    name: opts.name,
  });
}

/**
 * Options of {@link Bidirectional}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.BidirectionalOptions = { returnCarry: true };
 * ```
 */
export interface BidirectionalOptions {
  /** Return `[[forwardCarry, backwardCarry], outputs]` instead of the outputs (default false). */
  readonly returnCarry?: boolean;
  /** Merges the two output sequences (default: concatenation on the last axis). */
  readonly mergeFn?: (forward: tf.Tensor, backward: tf.Tensor) => tf.Tensor;
  /** A fixed name inside a parent module. */
  readonly name?: string;
}

/**
 * Runs one RNN forwards and another backwards over the same input and merges their outputs
 * (concatenated on the last axis by default), as Flax's `nn.Bidirectional`. Their variables sit
 * under `forward_rnn` and `backward_rnn`. The backward RNN runs with `reverse` and `keepOrder`,
 * so both outputs are in the input's time order. Apply as `(x, carry?, seqLengths?)` with
 * `carry = [forwardCarry, backwardCarry]`.
 *
 * @param forward - an {@link RNN}.
 * @param backward - an {@link RNN} (its own `reverse`/`keepOrder` options are overridden).
 * @example
 * ```ts
 * const bi = fx.nn.Bidirectional(fx.nn.RNN(fx.nn.GRUCell(8)), fx.nn.RNN(fx.nn.GRUCell(8)));
 * const vars = bi.init(fx.random.key(0), [2, 5, 3]);
 * bi.apply(vars, tf.ones([2, 5, 3])).shape; // [2, 5, 16]
 * ```
 */
export function Bidirectional(forward: Module<any, any, any>, backward: Module<any, any, any>, opts: BidirectionalOptions = {}): Module<any, [tf.Tensor] | [tf.Tensor, readonly [Carry, Carry] | undefined] | [tf.Tensor, readonly [Carry, Carry] | undefined, readonly number[] | tf.Tensor], any> {
  const fwd = DEFINITIONS.get(forward as object);
  const bwd = DEFINITIONS.get(backward as object);
  if (!fwd || !bwd) throw new FlaxenError('', `Bidirectional(forward, backward): both must be fx.nn.RNN modules, found ${describeValue(fwd ? backward : forward)}`);
  checkOptions(opts, ['returnCarry', 'mergeFn', 'name'], 'Bidirectional');
  const returnCarry = checkBoolean(opts.returnCarry, 'Bidirectional: returnCarry');
  if (opts.mergeFn !== undefined && typeof opts.mergeFn !== 'function') throw new FlaxenError('', `Bidirectional: mergeFn must be a function, found ${describeValue(opts.mergeFn)}`);
  const forwardRnn = makeRNN({ ...fwd, returnCarry: true, reverse: false, keepOrder: false, name: 'forward_rnn' });
  const backwardRnn = makeRNN({ ...bwd, returnCarry: true, reverse: true, keepOrder: true, name: 'backward_rnn' });
  return new Module({
    type: 'Bidirectional',
    name: opts.name,
    abstractSafe: true,
    numberInputs: [2],
    body: (scope: Scope, x: Input, carry?: readonly [Carry, Carry], seqLengths?: readonly number[] | tf.Tensor) => {
      if (carry !== undefined && (!Array.isArray(carry) || carry.length !== 2)) {
        throw new FlaxenError(scope.path, `Bidirectional: the carry is the pair [forwardCarry, backwardCarry], found ${describeValue(carry)}`);
      }
      const [cf, yf] = scope.call(forwardRnn, x, carry?.[0], seqLengths) as [unknown, Input];
      const [cb, yb] = scope.call(backwardRnn, x, carry?.[1], seqLengths) as [unknown, Input];
      let outputs: Input;
      if (isAbstract(yf) || isAbstract(yb)) {
        // A custom merge runs once on zeros to learn its output's shape.
        const merge = opts.mergeFn;
        outputs = merge
          ? tf.tidy(() => { const m = merge(tf.zeros([...yf.shape]), tf.zeros([...yb.shape])); return new ShapeDtype(m.shape, m.dtype) as unknown as tf.Tensor; })
          : new ShapeDtype([...yf.shape.slice(0, -1), yf.shape[yf.shape.length - 1]! + yb.shape[yb.shape.length - 1]!]);
      } else {
        outputs = opts.mergeFn ? opts.mergeFn(yf, yb) : tf.concat([yf, yb], -1);
      }
      return returnCarry ? [[cf, cb], outputs] : outputs;
    },
    summarize: (variables) => ({
      header: `Bidirectional(${cellHeader(fwd.cell, childVariables(childVariables(variables, 'forward_rnn'), 'cell'))}, ${cellHeader(bwd.cell, childVariables(childVariables(variables, 'backward_rnn'), 'cell'))})`,
    }),
  });
}
