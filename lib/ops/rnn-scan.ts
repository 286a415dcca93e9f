/**
 * The recurrence of an LSTM, GRU or simple (Elman) cell over a whole sequence as one op of
 * tfjs's gradient tape, with its own backward pass through time.
 *
 * Why one op: a cell run step by step records a dozen tfjs ops per step on the tape, each
 * saving (on wasm: copying) its inputs, and the stock matMul gradients run transposed products
 * in a scalar loop. Here the input projections of all steps are one product made by the caller
 * (`xp`), each step only adds the hidden product and applies the gates, and the backward pass
 * keeps exactly the gate activations and the carries it needs: the weight gradient is then one
 * product over all steps (`hPrevᵀ · dZ`).
 *
 * Layout: time-major. `xp` is `[T, B, G·H]` with the gate blocks in the order of the formulas
 * below (`G` = 4 for the LSTM, 3 for the GRU, 1 for the simple cell); `wh` is `[H, G·H]`, the
 * hidden kernels side by side.
 * - LSTM (gates i, f, g, o): `z = xp_t + h·wh`, `c' = σ(z_f)·c + σ(z_i)·tanh(z_g)`, `h' = σ(z_o)·tanh(c')`.
 * - GRU (gates r, z, n): `a = h·wh + [0, 0, bh]`, `r = σ(xp_r + a_r)`, `z = σ(xp_z + a_z)`,
 *   `n = tanh(xp_n + r·a_n)`, `h' = (1 − z)·n + z·h`.
 * - simple: `h' = tanh(xp + h·wh)`.
 * With a `mask` (`[T, B]`, 1 while a sequence runs, 0 past its end) the carries stay frozen past
 * each sequence's end and the outputs there are 0.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { keepForBackward } from '../autodiff/grad.js';
import { FlaxenError } from '../errors.js';
import { gemm, ownKernels } from './gemm.js';
import { offTape, runKernelFuncMulti } from '../tfjs-internals.js';

/** The kind of recurrent cell. @internal */
export type CellKind = 'lstm' | 'gru' | 'simple';

/** The number of gate blocks in `xp` and `wh` for each kind of cell. @internal */
export const GATES: Readonly<Record<CellKind, number>> = { lstm: 4, gru: 3, simple: 1 };

/** The inputs of a scan (see the module comment for the layout). @internal */
export interface ScanInputs {
  readonly kind: CellKind;
  /** `[T, B, G·H]`: the input projections, with every bias that adds outside the gates. */
  readonly xp: tf.Tensor3D;
  /** `[H, G·H]`: the hidden kernels. */
  readonly wh: tf.Tensor2D;
  /** GRU only: `[H]`, the bias of the hidden `n` product (inside `r·(…)`). */
  readonly bh?: tf.Tensor1D;
  /** `[B, H]`: the initial hidden state. */
  readonly h0: tf.Tensor2D;
  /** LSTM only: `[B, H]`, the initial cell state. */
  readonly c0?: tf.Tensor2D;
  /** `[T, B]` of 1 and 0 (no gradient), or undefined when every sequence runs to the end. */
  readonly mask?: tf.Tensor2D;
}

/** The outputs of a scan. @internal */
export interface ScanOutputs {
  /** `[T, B, H]`: the output of every step. */
  readonly ys: tf.Tensor3D;
  /** `[B, H]`: the final hidden state. */
  readonly h: tf.Tensor2D;
  /** LSTM only: `[B, H]`, the final cell state. */
  readonly c?: tf.Tensor2D;
}

/**
 * What the backward pass needs, per step `t` (all time-major, stacked):
 * `acts` — LSTM `[i, f, g, o]`, GRU `[r, z, n, a_n]`, simple `h'` (before the mask);
 * `hPrev` — the hidden state entering step t; LSTM also `cPrev` (entering) and `cNew` (`c'`, before the mask).
 * @internal
 */
export interface ScanSaved {
  readonly acts: tf.Tensor3D;
  readonly hPrev: tf.Tensor3D;
  readonly cPrev?: tf.Tensor3D;
  readonly cNew?: tf.Tensor3D;
}

/** The forward pass: outputs and what the backward pass keeps. @internal */
export interface ScanForward extends ScanOutputs {
  readonly saved: ScanSaved;
}

/** The gradients of a scan's inputs. @internal */
export interface ScanGrads {
  readonly dxp: tf.Tensor3D;
  /** The gradients of the gates' pre-activations on the hidden side, `[T·B, G·H]` (for `dwh`). */
  readonly dzh: tf.Tensor2D;
  readonly dbh?: tf.Tensor1D;
  readonly dh0: tf.Tensor2D;
  readonly dc0?: tf.Tensor2D;
}

/**
 * The `T` steps of a time-major float32 tensor `[T, ...rest]`, each a tensor `rest`. On wasm each
 * is a plain copy of its rows in the backend's memory: `tf.unstack` and `tf.slice` there copy the
 * whole input for every piece (64 steps of `[64, 32, 512]` took a second). Only while flaxen's
 * own kernels are on: with them off (the ONNX exporter's trace) every step is a tfjs kernel.
 */
function timeSteps<R extends tf.Tensor>(x: tf.Tensor): R[] {
  const heap = x.dtype === 'float32' ? ownKernels(x)?.heap : undefined;
  const from = heap?.offsetOf(x);
  if (!heap || from === undefined) return tf.unstack(x) as R[];
  const [T, ...rest] = x.shape;
  const size = rest.reduce((a, b) => a * b, 1);
  const steps = Array.from({ length: T! }, () => heap.alloc(rest));
  const f32 = new Float32Array(heap.memory.buffer); // after the last allocation
  steps.forEach((step, t) => {
    const to = heap.offsetOf(step)! >>> 2;
    f32.copyWithin(to, (from >>> 2) + t * size, (from >>> 2) + (t + 1) * size);
  });
  return steps as R[];
}

const sigmoidGrad = (s: tf.Tensor) => tf.mul(s, tf.sub(1, s));
const tanhGrad = (t: tf.Tensor) => tf.sub(1, tf.square(t));

/** The forward pass with tfjs ops, step by step (every backend). */
function tfForward(inputs: ScanInputs): ScanForward {
  const { kind, xp, wh, bh, h0, c0, mask } = inputs;
  const [T, B] = xp.shape;
  const H = wh.shape[0];
  const xs = timeSteps<tf.Tensor2D>(xp);
  const ms = mask ? timeSteps<tf.Tensor2D>(tf.reshape(mask, [T, B, 1])) : [];
  const hidden = kind === 'gru' && bh ? tf.concat([tf.zeros([2 * H]), bh]) : undefined;
  let h: tf.Tensor2D = h0;
  let c: tf.Tensor2D = c0 ?? h0;
  const acts: tf.Tensor[] = [], hPrev: tf.Tensor[] = [], cPrev: tf.Tensor[] = [], cNew: tf.Tensor[] = [], ys: tf.Tensor[] = [];
  for (let t = 0; t < T; t++) {
    hPrev.push(h);
    let a = tf.matMul(h, wh);
    if (hidden) a = tf.add(a, hidden);
    let hNew: tf.Tensor2D;
    if (kind === 'lstm') {
      const [zi, zf, zg, zo] = tf.split(tf.add(xs[t]!, a), 4, 1);
      const i = tf.sigmoid(zi!), f = tf.sigmoid(zf!), g = tf.tanh(zg!), o = tf.sigmoid(zo!);
      const cn = tf.add(tf.mul(f, c), tf.mul(i, g)) as tf.Tensor2D;
      hNew = tf.mul(o, tf.tanh(cn));
      acts.push(tf.concat([i, f, g, o], 1));
      cPrev.push(c);
      cNew.push(cn);
      c = ms[t] ? tf.add(c, tf.mul(ms[t]!, tf.sub(cn, c))) : cn;
    } else if (kind === 'gru') {
      const [xr, xz, xn] = tf.split(xs[t]!, 3, 1);
      const [ar, az, an] = tf.split(a, 3, 1);
      const r = tf.sigmoid(tf.add(xr!, ar!)), z = tf.sigmoid(tf.add(xz!, az!));
      const n = tf.tanh(tf.add(xn!, tf.mul(r, an!)));
      hNew = tf.add(n, tf.mul(z, tf.sub(h, n))) as tf.Tensor2D;
      acts.push(tf.concat([r, z, n, an!], 1));
    } else {
      hNew = tf.tanh(tf.add(xs[t]!, a)) as tf.Tensor2D;
      acts.push(hNew);
    }
    ys.push(ms[t] ? tf.mul(ms[t]!, hNew) : hNew);
    h = ms[t] ? tf.add(h, tf.mul(ms[t]!, tf.sub(hNew, h))) : hNew;
  }
  const saved: ScanSaved = {
    acts: tf.stack(acts) as tf.Tensor3D,
    hPrev: tf.stack(hPrev) as tf.Tensor3D,
    ...(kind === 'lstm' ? { cPrev: tf.stack(cPrev) as tf.Tensor3D, cNew: tf.stack(cNew) as tf.Tensor3D } : {}),
  };
  return { ys: tf.stack(ys) as tf.Tensor3D, h, ...(kind === 'lstm' ? { c } : {}), saved };
}

/** The backward pass through time with tfjs ops, step by step (every backend). */
function tfBackward(inputs: ScanInputs, saved: ScanSaved, dys: tf.Tensor3D, dhT: tf.Tensor2D, dcT: tf.Tensor2D | undefined): ScanGrads {
  const { kind, wh, mask } = inputs;
  const [T, B] = dys.shape;
  const H = wh.shape[0];
  const whT = tf.transpose(wh);
  const acts = timeSteps<tf.Tensor2D>(saved.acts);
  const hPrev = timeSteps<tf.Tensor2D>(saved.hPrev);
  const cPrev = saved.cPrev ? timeSteps<tf.Tensor2D>(saved.cPrev) : [];
  const cNew = saved.cNew ? timeSteps<tf.Tensor2D>(saved.cNew) : [];
  const dy = timeSteps<tf.Tensor2D>(dys);
  const ms = mask ? timeSteps<tf.Tensor2D>(tf.reshape(mask, [T, B, 1])) : [];
  let dh: tf.Tensor2D = dhT;
  let dc: tf.Tensor2D | undefined = dcT;
  const dzx: tf.Tensor[] = new Array(T), dzh: tf.Tensor[] = new Array(T);
  for (let t = T - 1; t >= 0; t--) {
    const m = ms[t];
    // The carry leaving step t is hPrev + m·(h' − hPrev): h' gets m·dh, hPrev keeps (1 − m)·dh.
    const dhNew = m ? tf.mul(m, tf.add(dh, dy[t]!)) : tf.add(dh, dy[t]!);
    let dhDirect: tf.Tensor = m ? tf.mul(tf.sub(1, m), dh) : tf.zeros([B, H]);
    if (kind === 'lstm') {
      const [i, f, g, o] = tf.split(acts[t]!, 4, 1) as tf.Tensor2D[];
      const tc = tf.tanh(cNew[t]!);
      let dcNew = m ? tf.mul(m, dc!) : dc!;
      const dcDirect = m ? tf.mul(tf.sub(1, m), dc!) : undefined;
      dcNew = tf.add(dcNew, tf.mul(tf.mul(dhNew, o!), tanhGrad(tc)));
      const dzt = tf.concat([
        tf.mul(tf.mul(dcNew, g!), sigmoidGrad(i!)),
        tf.mul(tf.mul(dcNew, cPrev[t]!), sigmoidGrad(f!)),
        tf.mul(tf.mul(dcNew, i!), tanhGrad(g!)),
        tf.mul(tf.mul(dhNew, tc), sigmoidGrad(o!)),
      ], 1);
      dzx[t] = dzh[t] = dzt;
      dc = (dcDirect ? tf.add(tf.mul(dcNew, f!), dcDirect) : tf.mul(dcNew, f!)) as tf.Tensor2D;
    } else if (kind === 'gru') {
      const [r, z, n, an] = tf.split(acts[t]!, 4, 1) as tf.Tensor2D[];
      dhDirect = tf.add(dhDirect, tf.mul(dhNew, z!));
      const dxn = tf.mul(tf.mul(dhNew, tf.sub(1, z!)), tanhGrad(n!));
      const dxr = tf.mul(tf.mul(dxn, an!), sigmoidGrad(r!));
      const dxz = tf.mul(tf.mul(dhNew, tf.sub(hPrev[t]!, n!)), sigmoidGrad(z!));
      dzx[t] = tf.concat([dxr, dxz, dxn], 1);
      dzh[t] = tf.concat([dxr, dxz, tf.mul(dxn, r!)], 1);
    } else {
      dzx[t] = dzh[t] = tf.mul(dhNew, tanhGrad(acts[t]!));
    }
    dh = tf.add(tf.matMul(dzh[t] as tf.Tensor2D, whT), dhDirect) as tf.Tensor2D;
  }
  const dzhAll = tf.reshape(tf.stack(dzh), [T * B, -1]) as tf.Tensor2D;
  return {
    dxp: tf.stack(dzx) as tf.Tensor3D,
    dzh: dzhAll,
    ...(kind === 'gru' ? { dbh: tf.sum(tf.slice(dzhAll, [0, 2 * H], [T * B, H]), 0) as tf.Tensor1D } : {}),
    dh0: dh,
    ...(kind === 'lstm' ? { dc0: dc } : {}),
  };
}

// Each pass in its own tidy: the per-step tensors go as soon as the pass ends.
function referenceForward(inputs: ScanInputs): ScanForward {
  return tf.tidy(() => tfForward(inputs) as unknown as tf.TensorContainer) as unknown as ScanForward;
}

function referenceBackward(inputs: ScanInputs, saved: ScanSaved, dys: tf.Tensor3D, dh: tf.Tensor2D, dc: tf.Tensor2D | undefined): ScanGrads {
  return tf.tidy(() => tfBackward(inputs, saved, dys, dh, dc) as unknown as tf.TensorContainer) as unknown as ScanGrads;
}

/**
 * How a scan computes: a forward pass that returns the outputs and the tensors its backward
 * pass keeps (`saved`, a list in its own order), and that backward pass. Both run off the tape.
 * @internal
 */
export interface ScanImplementation {
  forward(inputs: ScanInputs): { readonly outputs: ScanOutputs; readonly saved: readonly tf.Tensor[] };
  /** The gradients; `hPrev` `[T·B, H]` is the hidden state entering each step (for `dwh = hPrevᵀ·dzh`). */
  backward(inputs: ScanInputs, saved: readonly tf.Tensor[], dys: tf.Tensor3D, dh: tf.Tensor2D, dc: tf.Tensor2D | undefined): ScanGrads & { readonly hPrev: tf.Tensor2D };
}

/** The scan with tfjs ops, step by step: every backend, every cell. @internal */
export const referenceScan: ScanImplementation = {
  forward(inputs) {
    const fwd = referenceForward(inputs);
    const { saved } = fwd;
    return { outputs: fwd, saved: [saved.acts, saved.hPrev, ...(saved.cPrev ? [saved.cPrev, saved.cNew!] : [])] };
  },
  backward(inputs, list, dys, dh, dc) {
    const [acts, hPrev, cPrev, cNew] = list as tf.Tensor3D[];
    const grads = referenceBackward(inputs, { acts: acts!, hPrev: hPrev!, cPrev, cNew }, dys, dh, dc);
    return { ...grads, hPrev: tf.reshape(hPrev!, [-1, inputs.wh.shape[0]]) as tf.Tensor2D };
  },
};

/**
 * A scan as one node of tfjs's gradient tape (see the module comment), computed by `impl`. The
 * forward pass runs off the tape; inside `fx.valueAndGrad` what the backward pass needs is kept
 * as aliases (no copy), elsewhere tfjs's `save` copies it. The backward pass computes the
 * gradients of `xp`, the carries and `bh` at once (they come out of the same loop) and the
 * weight gradient `hPrevᵀ · dZ` only if `wh` needs one.
 * @internal
 */
export function scanOnTape(inputs: ScanInputs, impl: ScanImplementation): ScanOutputs {
  const { kind, xp, wh, bh, h0, c0 } = inputs;
  if (xp.shape[0] === 0) throw new FlaxenError('', 'recurrentScan needs at least one step (the RNN layer handles empty sequences)');
  const fwd = offTape(() => impl.forward(inputs));
  const outputs = [fwd.outputs.ys, fwd.outputs.h, ...(fwd.outputs.c ? [fwd.outputs.c] : [])];
  const run = runKernelFuncMulti();
  if (!run) return fwd.outputs; // a tfjs without runKernelFunc: no gradient through the scan
  // The backward pass also reads wh and the mask, which the caller may free before it runs.
  const savedList = [...fwd.saved, wh, ...(inputs.mask ? [inputs.mask] : [])];
  const kept = keepForBackward(savedList);
  const tensorInputs: Record<string, tf.Tensor> = { xp, wh, h0 };
  if (c0) tensorInputs['c0'] = c0;
  if (bh) tensorInputs['bh'] = bh;
  const results = run({
    forwardFunc: (_backend, save) => {
      if (!kept) save(savedList);
      // New handles on the same data: the tape sees this node's outputs, not the forward's.
      return outputs.map((t) => tf.reshape(t, t.shape));
    },
    backwardsFunc: (dys, savedCopies) => {
      const list = [...(kept ?? savedCopies)];
      const maskKept = inputs.mask ? (list.pop() as tf.Tensor2D) : undefined;
      const whKept = list.pop() as tf.Tensor2D;
      const grads = impl.backward({ ...inputs, wh: whKept, mask: maskKept }, list, dys[0] as tf.Tensor3D, dys[1] as tf.Tensor2D, dys[2] as tf.Tensor2D | undefined);
      const thunks: Record<string, () => tf.Tensor> = {
        xp: () => grads.dxp,
        h0: () => grads.dh0,
        wh: () => transposedProduct(grads.hPrev, grads.dzh),
      };
      if (c0) thunks['c0'] = () => grads.dc0!;
      if (bh) thunks['bh'] = () => grads.dbh!;
      return thunks;
    },
    inputs: tensorInputs,
  });
  return { ys: results[0] as tf.Tensor3D, h: results[1] as tf.Tensor2D, ...(kind === 'lstm' ? { c: results[2] as tf.Tensor2D } : {}) };
}

/**
 * The scan of any cell with tfjs ops ({@link referenceScan}) as one node of the gradient tape:
 * what `LSTMCell`, `GRUCell` and `SimpleCell` run.
 * @internal
 */
export function recurrentScan(inputs: ScanInputs): ScanOutputs {
  return scanOnTape(inputs, referenceScan);
}

/** `aᵀ · b`: flaxen's own product reads `a` transposed in place; else an explicit transpose (tfjs's transposed product runs a scalar loop on wasm). */
function transposedProduct(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return gemm(a, b, { transposeA: true }) ?? tf.matMul(tf.transpose(a), b);
}
