/**
 * flaxen's own float32 matrix product on the WASM backend (the kernel is `lib/ops/gemm.c`).
 *
 * tfjs-backend-wasm 4.22 multiplies with XNNPACK, which packs its right operand again for every
 * new tensor: in training the weights are new after every optimizer step, and that packing cost
 * 0.6 ms of the 1.4 ms forward product of a 784×256 layer at batch 64. Transposed products
 * (every matMul gradient) run in a scalar loop, so they need explicit transposes first. The
 * kernel here packs B in a cheap pass of its own, reads A with any strides (a transposed A costs
 * nothing) and packs a transposed B with SIMD shuffles; it computes the very same float32
 * operations in the same order as XNNPACK, so its results are bit-identical to `tf.matMul`
 * (specs check this). Measured on the bench machine (one thread): 45–50 GFLOPS for the three
 * products of a 784-256 layer at batch 256, against 35 for XNNPACK with its packing cached and 17
 * without.
 *
 * With WebAssembly threads (`fx.ready('wasm', { threads: n })`; the backend's memory is then
 * shared) a pool of n − 1 workers (`pool/`) runs the same kernels on that memory, and each large
 * call is split by output rows (`pool/split.ts`): the results are bit-identical for any thread
 * count, and every product, inference included, runs here.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { GEMM_WASM_BASE64, GEMM_WASM_SHARED_BASE64 } from './gemm-wasm.js';
import { wasmHeap, type WasmHeap } from './wasm-heap.js';
import { underGradient } from '../tfjs-internals.js';
import { instrumented, kernelGeneration } from './kernel-hook.js';
import { startKernelPool, type KernelPool } from './pool/pool.js';
import { poolFor, setCurrentPool } from './pool/current.js';
import { splitKernels } from './pool/split.js';
import { ADAM_KERNEL_NAMES, adamModuleBytes } from './fused-adam.js';

/** @internal The functions of lib/ops/gemm.c (offsets are byte offsets into the backend's memory). */
export interface GemmExports {
  im2col(x: number, cols: number, n: number, h: number, w: number, ci: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number, scratch: number): void;
  relu_grad(y: number, dy: number, dz: number, size: number): void;
  maxpool_grad(x: number, y: number, dy: number, dx: number, n: number, h: number, w: number, c: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number): void;
  col2im(dcols: number, dx: number, n: number, h: number, w: number, ci: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number): void;
  pack_n(b: number, k: number, n: number, bias: number, out: number): void;
  pack_t(src: number, k: number, n: number, bias: number, out: number): void;
  /** Rows k0 ≤ k < k1 of every panel of pack_n's output (and the biases when k0 = 0). */
  pack_n_rows(b: number, k: number, n: number, bias: number, out: number, k0: number, k1: number): void;
  /** Rows k0 ≤ k < k1 of every panel of pack_t's output (and the biases when k0 = 0). */
  pack_t_rows(src: number, k: number, n: number, bias: number, out: number, k0: number, k1: number): void;
  gemm(a: number, rowStride: number, kStride: number, packed: number, c: number, m: number, n: number, k: number, relu: number, rowBlock: number, kChunk: number): void;
}

// One instance per wasm memory (a new backend has a new memory); null: it cannot run here.
let instanceCache: { memory: WebAssembly.Memory; shared: boolean; generation: number; pool: KernelPool | undefined; kernels: GemmExports | null } | undefined;

/** The exports, split across the memory's pool when it has one, then wrapped by the kernel hook. */
function finish(exports: GemmExports, memory: WebAssembly.Memory): GemmExports {
  const pool = poolFor(memory);
  return instrumented(pool ? splitKernels(exports, pool) : exports);
}

function fresh(memory: WebAssembly.Memory): boolean {
  return instanceCache?.memory === memory && instanceCache.generation === kernelGeneration() && instanceCache.pool === poolFor(memory);
}

function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  // A module must declare an imported memory shared to accept the threaded backend's.
  return Uint8Array.from(atob(shared ? GEMM_WASM_SHARED_BASE64 : GEMM_WASM_BASE64), (c) => c.charCodeAt(0));
}

function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
}

function kernelsFor(memory: WebAssembly.Memory): { shared: boolean; kernels: GemmExports | null } {
  if (fresh(memory)) return instanceCache!;
  const shared = isShared(memory);
  let kernels: GemmExports | null = null;
  try {
    // Synchronous compilation: fine in Node and in workers; a browser's main thread refuses it
    // for modules over 4 KB, which is why `fx.ready` compiles the module beforehand.
    kernels = finish(new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(shared)), { env: { memory } }).exports as unknown as GemmExports, memory);
  } catch {
    kernels = null; // no WebAssembly SIMD (or threads) here: tfjs does the work
  }
  instanceCache = { memory, shared, generation: kernelGeneration(), pool: poolFor(memory), kernels };
  return instanceCache;
}

/**
 * @internal
 * Compiles and instantiates the kernels for the current wasm backend asynchronously (`fx.ready`
 * calls it), as a browser's main thread requires; true when they can run.
 */
export async function prepareOwnKernels(): Promise<boolean> {
  const heap = wasmHeap();
  if (!heap) return false;
  const { memory } = heap;
  if (!fresh(memory) || !instanceCache!.kernels) {
    const shared = isShared(memory);
    try {
      const { instance } = await WebAssembly.instantiate(moduleBytes(shared), { env: { memory } });
      instanceCache = { memory, shared, generation: kernelGeneration(), pool: poolFor(memory), kernels: finish(instance.exports as unknown as GemmExports, memory) };
    } catch {
      instanceCache = { memory, shared, generation: kernelGeneration(), pool: poolFor(memory), kernels: null };
    }
  }
  return instanceCache!.kernels !== null;
}

/**
 * @internal
 * Starts `threads − 1` workers that run the kernels on the current wasm backend's shared memory
 * (the threaded backend's), so that each large kernel call is split across `threads` threads.
 * Resolves to the number of threads the kernels use, and the reason when that is 1 (the memory
 * is not shared, a worker failed to start). Call it after {@link prepareOwnKernels}.
 */
export async function startOwnKernelPool(threads: number): Promise<{ threads: number; reason?: string }> {
  const heap = wasmHeap();
  if (!heap) return { threads: 1, reason: 'the wasm backend is not running' };
  const existing = poolFor(heap.memory);
  if (existing) return { threads: existing.threads };
  if (!isShared(heap.memory)) return { threads: 1, reason: 'the backend memory is not shared' };
  if (threads < 2) return { threads: 1 };
  let module: WebAssembly.Module;
  let adam: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(moduleBytes(true));
    adam = await WebAssembly.compile(adamModuleBytes(true));
  } catch (e) {
    return { threads: 1, reason: `the kernels cannot be compiled for threads: ${e instanceof Error ? e.message : String(e)}` };
  }
  const names = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
  const pool = await startKernelPool(heap.memory, [{ module, names }, { module: adam, names: ADAM_KERNEL_NAMES }], threads - 1);
  if (typeof pool === 'string') return { threads: 1, reason: pool };
  setCurrentPool(pool);
  await prepareOwnKernels();
  return { threads: pool.threads };
}

/** @internal The pool the kernels run on for the current backend, if any (specs read its counters). */
export function currentKernelPool(): KernelPool | undefined {
  const heap = wasmHeap();
  return heap ? poolFor(heap.memory) : undefined;
}

/**
 * @internal
 * True when flaxen's own kernels can run on the current backend (wasm with SIMD, turned on).
 */
export function ownKernelsAvailable(): boolean {
  const heap = enabled ? wasmHeap() : undefined;
  return heap !== undefined && kernelsFor(heap.memory).kernels !== null;
}

let enabled = true;

/**
 * @internal
 * Turns flaxen's own kernels of gemm.c (products, convolutions as products, the max-pool and
 * relu gradients) on or off (on by default); returns the previous setting. Off, the ops use
 * tfjs's kernels (matMul with explicit transposes, XNNPACK convolutions, the portable max-pool
 * gradient). The fused Adam step is separate. For specs and the benchmark, which compare both
 * paths.
 */
export function setOwnGemm(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** @internal Products computed by the kernel so far (specs count them). */
export const gemmCounter = { calls: 0 };

/** Rows of A per block: a block's rows stay in cache while every panel of B passes by. */
const ROW_BLOCK = 64;

/**
 * Products of more than `LONG_SUM` terms (a convolution's kernel gradient sums over every output
 * pixel: 50,176 terms for LeNet's first layer at batch 64) are summed in chunks of `SUM_CHUNK`
 * terms, so that the chunk of A and of B stays in cache; the order of the sum is unchanged, and
 * shorter products are XNNPACK's bit for bit.
 */
const LONG_SUM = 4096;
const SUM_CHUNK = 512;

/** How {@link gemm} reads its operands and what it adds. */
export interface GemmOptions {
  /** Multiply by `transpose(a)` (a is then `[k, m]`). */
  readonly transposeA?: boolean;
  /** Multiply by `transpose(b)` (b is then `[n, k]`). */
  readonly transposeB?: boolean;
  /** Added to every row, `[n]`, before the products (as XNNPACK does). */
  readonly bias?: tf.Tensor;
  /** Apply `max(0, ·)` to the result. */
  readonly relu?: boolean;
}

function usable(t: tf.Tensor | undefined, heap: WasmHeap): boolean {
  return t === undefined || (t.dtype === 'float32' && !t.isDisposed && heap.offsetOf(t) !== undefined);
}

/**
 * @internal
 * The backend's memory and the kernels of lib/ops/gemm.c, when they can run on these tensors
 * (the own kernels are on, the backend is wasm, every tensor is float32 and held by it, and,
 * on the threaded backend, a gradient tape is running); otherwise undefined.
 */
export function ownKernels(...tensors: Array<tf.Tensor | undefined>): { heap: WasmHeap; kernels: GemmExports } | undefined {
  if (!enabled) return undefined;
  const heap = wasmHeap();
  if (!heap || !tensors.every((t) => usable(t, heap))) return undefined;
  const { shared, kernels } = kernelsFor(heap.memory);
  // On a shared memory without a pool, XNNPACK's threaded product is faster outside a tape.
  if (!kernels || (shared && !underGradient() && !poolFor(heap.memory))) return undefined;
  return { heap, kernels };
}

/**
 * @internal
 * `op(a) · op(b) (+ bias) (then relu)` for rank-2 float32 tensors on the one-thread wasm
 * backend, bit-identical to `tf.matMul` (and `tf.fused.matMul`); undefined when it cannot run
 * here (another backend, threads, another dtype, an empty operand), and the caller then uses
 * tfjs. The caller checks the shapes. The result is a new tensor in the current scope; nothing
 * is recorded on a gradient tape.
 */
export function gemm(a: tf.Tensor, b: tf.Tensor, opts: GemmOptions = {}): tf.Tensor2D | undefined {
  const own = ownKernels(a, b, opts.bias);
  if (!own) return undefined;
  const { heap, kernels } = own;
  const [m, k] = opts.transposeA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const n = opts.transposeB ? b.shape[0]! : b.shape[1]!;
  if (m === 0 || n === 0 || k === 0) return undefined;
  // Panels of 8 columns: 8 bias values, then k rows of 8.
  const packed = heap.alloc([Math.ceil(n / 8) * (8 + 8 * k)]);
  const out = heap.alloc([m, n]) as tf.Tensor2D;
  const biasOffset = opts.bias ? heap.offsetOf(opts.bias)! : 0;
  const packedOffset = heap.offsetOf(packed)!;
  const [rowStride, kStride] = opts.transposeA ? [1, m] : [k, 1];
  if (opts.transposeB) kernels.pack_t(heap.offsetOf(b)!, k, n, biasOffset, packedOffset);
  else kernels.pack_n(heap.offsetOf(b)!, k, n, biasOffset, packedOffset);
  kernels.gemm(heap.offsetOf(a)!, rowStride, kStride, packedOffset, heap.offsetOf(out)!, m, n, k, opts.relu ? 1 : 0, ROW_BLOCK, k > LONG_SUM ? SUM_CHUNK : k);
  packed.dispose();
  gemmCounter.calls++;
  return out;
}

/**
 * @internal
 * Like {@link ownKernels}, for kernels that always run on the calling thread (the softmax
 * cross-entropy): on a shared memory without a pool they run too, so that an op gives the same
 * bits inside and outside a gradient tape at every thread setup.
 */
export function ownKernelsOnCallingThread(...tensors: Array<tf.Tensor | undefined>): { heap: WasmHeap; kernels: GemmExports } | undefined {
  if (!enabled) return undefined;
  const heap = wasmHeap();
  if (!heap || !tensors.every((t) => usable(t, heap))) return undefined;
  const { kernels } = kernelsFor(heap.memory);
  return kernels ? { heap, kernels } : undefined;
}
