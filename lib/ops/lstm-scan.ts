/**
 * The LSTM scan on flaxen's own WebAssembly kernels (`lstm_step` and `lstm_step_grad` in the
 * recurrent section of `lib/ops/gemm.c`): what `OptimizedLSTMCell` runs.
 *
 * Per step the forward pass makes two kernel calls straight on the backend's memory: the hidden
 * product `h·Wh` (the own matrix product, with `Wh` packed once for all steps) and one fused gate
 * kernel (the sigmoid and tanh gates, `c'`, `h'`, the mask). No tfjs op runs inside the loop, and
 * every step writes its carries in place into the stacked `[T, B, H]` tensors the backward pass
 * keeps: the gates `[T, B, 4H]`, the hidden and cell states entering each step, and `tanh(c')`.
 * The backward pass through time is the adjoint, again two calls a step (the gate gradients,
 * then `dz·Whᵀ`); the weight gradient is one product over all steps afterwards.
 *
 * Numbers: the products are the own kernel's, bit-identical to `tf.matMul`; every elementwise
 * operation is the reference scan's in the same order, except the transcendental functions
 * (sigmoid, tanh: a polynomial exp of about 1 ulp, where tfjs's kernels use their own) and the
 * mask (a select: frozen carries keep their bits exactly, where the reference blends
 * `c + m·(c' − c)`). So this path agrees with the reference scan within float32 rounding (a spec
 * bounds the difference) and is bit-identical with itself across runs and processes.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError } from '../errors.js';
import { ownKernels } from './gemm.js';
import type { WasmHeap } from './wasm-heap.js';
import { ScanImplementation, ScanInputs, ScanOutputs, recurrentScan, scanOnTape } from './rnn-scan.js';

/** The recurrent kernels of gemm.c (byte offsets into the backend's memory; 0 for null). */
interface LstmKernels {
  lstm_step(xp: number, zh: number, cp: number, hp: number, mask: number, acts: number, tc: number, cn: number, hn: number, y: number, B: number, H: number): void;
  lstm_step_grad(acts: number, tc: number, cp: number, dy: number, dh: number, dhd: number, dc: number, mask: number, dz: number, B: number, H: number): void;
  pack_n(b: number, k: number, n: number, bias: number, out: number): void;
  pack_t(src: number, k: number, n: number, bias: number, out: number): void;
  gemm(a: number, rowStride: number, kStride: number, packed: number, c: number, m: number, n: number, k: number, relu: number, rowBlock: number, kChunk: number): void;
}

/** The backend's memory and the recurrent kernels, when they can run on these tensors. */
function lstmKernels(...tensors: Array<tf.Tensor | undefined>): { heap: WasmHeap; kernels: LstmKernels } | undefined {
  const own = ownKernels(...tensors);
  if (!own) return undefined;
  // A checked view: the module compiled from gemm.c exports these next to the products.
  const kernels = own.kernels as unknown as Partial<LstmKernels>;
  if (typeof kernels.lstm_step !== 'function' || typeof kernels.lstm_step_grad !== 'function') return undefined;
  return { heap: own.heap, kernels: kernels as LstmKernels };
}

/** Rows of A per block in the own product (as `gemm.ts` uses it). */
const ROW_BLOCK = 64;

/** A packed copy of `b` [k, n] (or of transpose(src) with src [n, k]) for the own product, with zero bias. */
function packed(heap: WasmHeap, kernels: LstmKernels, b: tf.Tensor2D, transpose: boolean): { tensor: tf.Tensor; k: number; n: number } {
  const [k, n] = transpose ? [b.shape[1], b.shape[0]] : b.shape;
  const tensor = heap.alloc([Math.ceil(n / 8) * (8 + 8 * k)]);
  if (transpose) kernels.pack_t(heap.offsetOf(b)!, k, n, 0, heap.offsetOf(tensor)!);
  else kernels.pack_n(heap.offsetOf(b)!, k, n, 0, heap.offsetOf(tensor)!);
  return { tensor, k, n };
}

/** Copies `count` floats between byte offsets of the backend's memory. */
function copyFloats(heap: WasmHeap, from: number, to: number, count: number): void {
  new Float32Array(heap.memory.buffer).copyWithin(to >>> 2, from >>> 2, (from >>> 2) + count);
}

/** The fused LSTM scan: saved = [acts, hPrev, cPrev, tanh(c')], all `[T, B, ·]`. */
const fusedLstm: ScanImplementation = {
  forward(inputs) {
    const { xp, wh, h0, c0, mask } = inputs;
    const own = lstmKernels(xp, wh, h0, c0, mask);
    if (!own) throw new FlaxenError('', 'the fused LSTM scan needs flaxen\'s own kernels on the wasm backend');
    const { heap, kernels } = own;
    const [T, B] = xp.shape;
    const H = wh.shape[0];
    const BH = B * H, BG = 4 * B * H;
    const acts = heap.alloc([T, B, 4 * H]) as tf.Tensor3D;
    const hPrev = heap.alloc([T, B, H]) as tf.Tensor3D;
    const cPrev = heap.alloc([T, B, H]) as tf.Tensor3D;
    const tc = heap.alloc([T, B, H]) as tf.Tensor3D;
    const ys = heap.alloc([T, B, H]) as tf.Tensor3D;
    const h = heap.alloc([B, H]) as tf.Tensor2D;
    const c = heap.alloc([B, H]) as tf.Tensor2D;
    const zh = heap.alloc([B, 4 * H]);
    const w = packed(heap, kernels, wh, false);
    const at = (t: tf.Tensor) => heap.offsetOf(t)!;
    const [oActs, oH, oC, oTc, oYs, oXp] = [at(acts), at(hPrev), at(cPrev), at(tc), at(ys), at(xp)];
    const oMask = mask ? at(mask) : 0;
    copyFloats(heap, at(h0), oH, BH);
    copyFloats(heap, at(c0!), oC, BH);
    for (let t = 0; t < T; t++) {
      const hp = oH + 4 * t * BH, cp = oC + 4 * t * BH;
      const hn = t + 1 < T ? hp + 4 * BH : at(h), cn = t + 1 < T ? cp + 4 * BH : at(c);
      kernels.gemm(hp, H, 1, at(w.tensor), at(zh), B, 4 * H, H, 0, ROW_BLOCK, H);
      kernels.lstm_step(oXp + 4 * t * BG, at(zh), cp, hp, mask ? oMask + 4 * t * B : 0, oActs + 4 * t * BG, oTc + 4 * t * BH, cn, hn, oYs + 4 * t * BH, B, H);
    }
    tf.dispose([zh, w.tensor]);
    return { outputs: { ys, h, c }, saved: [acts, hPrev, cPrev, tc] };
  },
  backward(inputs, saved, dys, dhT, dcT) {
    const { wh, mask } = inputs;
    const [acts, hPrev, cPrev, tc] = saved as tf.Tensor3D[];
    const own = lstmKernels(wh, mask, dys, dhT, dcT, acts, hPrev, cPrev, tc);
    if (!own) throw new FlaxenError('', 'the fused LSTM scan\'s backward pass needs flaxen\'s own kernels on the wasm backend, as its forward pass had');
    const { heap, kernels } = own;
    const [T, B, H] = hPrev!.shape;
    const BH = B * H, BG = 4 * B * H;
    const dz = heap.alloc([T, B, 4 * H]) as tf.Tensor3D;
    const dh = heap.alloc([B, H]) as tf.Tensor2D;
    const dc = heap.alloc([B, H]) as tf.Tensor2D;
    const dhd = mask ? (heap.alloc([B, H]) as tf.Tensor2D) : undefined;
    const w = packed(heap, kernels, wh, true);
    const at = (t: tf.Tensor) => heap.offsetOf(t)!;
    copyFloats(heap, at(dhT), at(dh), BH);
    copyFloats(heap, at(dcT!), at(dc), BH);
    if (dhd) new Float32Array(heap.memory.buffer, at(dhd), BH).fill(0);
    const [oActs, oC, oTc, oDy, oDz] = [at(acts!), at(cPrev!), at(tc!), at(dys), at(dz)];
    const oMask = mask ? at(mask) : 0;
    for (let t = T - 1; t >= 0; t--) {
      kernels.lstm_step_grad(oActs + 4 * t * BG, oTc + 4 * t * BH, oC + 4 * t * BH, oDy + 4 * t * BH, at(dh), dhd ? at(dhd) : 0, at(dc), mask ? oMask + 4 * t * B : 0, oDz + 4 * t * BG, B, H);
      kernels.gemm(oDz + 4 * t * BG, 4 * H, 1, at(w.tensor), at(dh), B, H, 4 * H, 0, ROW_BLOCK, 4 * H);
    }
    w.tensor.dispose();
    const dh0 = dhd ? (tf.add(dh, dhd) as tf.Tensor2D) : dh;
    if (dhd) tf.dispose([dh, dhd]);
    return { dxp: dz, dzh: tf.reshape(dz, [T * B, 4 * H]) as tf.Tensor2D, dh0, dc0: dc, hPrev: tf.reshape(hPrev!, [T * B, H]) as tf.Tensor2D };
  },
};

/**
 * @internal
 * The LSTM scan of `OptimizedLSTMCell`: on flaxen's own WebAssembly kernels when they can run
 * here (the wasm backend, float32 tensors it holds), else the reference scan with tfjs ops.
 */
export function fusedLstmScan(inputs: ScanInputs): ScanOutputs {
  if (inputs.kind !== 'lstm' || !inputs.c0 || !lstmKernels(inputs.xp, inputs.wh, inputs.h0, inputs.c0, inputs.mask)) return recurrentScan(inputs);
  return scanOnTape(inputs, fusedLstm);
}
