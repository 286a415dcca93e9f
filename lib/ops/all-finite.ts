/**
 * The finiteness check of a training step on the wasm backend: a small WebAssembly SIMD kernel
 * reads each gradient leaf where it lies in the backend's memory and says whether it holds NaN
 * or ±Infinity. It replaces one `tf.sum` per leaf (a tfjs kernel dispatch, an output tensor and a
 * pass over the leaf each, then a concat), which cost about a tenth of a small MLP's step.
 * `train/train-step.ts` calls it and falls back to those tfjs ops elsewhere.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { instrumented, kernelGeneration } from './kernel-hook.js';
import { wasmHeap } from './wasm-heap.js';
import { uleb, sleb, section, name } from './wasm-encoding.js';

/*
 * A float32 is NaN or ±Infinity exactly when its exponent bits are all ones: with the sign bit
 * cleared, its bits read as an unsigned integer are at least 0x7f800000. The kernel ORs nothing
 * and adds nothing: it keeps the unsigned maximum of `bits & 0x7fffffff` over the leaf (two
 * accumulators, four vectors a round), and the last `bytes mod 64` bytes one float at a time,
 * so it reads only the leaf's own bytes. It reads and never writes the memory. The module, in
 * the text format:
 *
 *   (func (export "nonFinite") (param $p i32) (param $bytes i32) (result i32)
 *     (local $end i32) (local $end64 i32) (local $acc0 v128) (local $acc1 v128) (local $mask v128)
 *     (local.set $mask (i32x4.splat (i32.const 0x7fffffff)))
 *     (local.set $end (i32.add (local.get $p) (local.get $bytes)))
 *     (local.set $end64 (i32.add (local.get $p) (i32.and (local.get $bytes) (i32.const -64))))
 *     (block (loop
 *       (br_if 1 (i32.ge_u (local.get $p) (local.get $end64)))
 *       (local.set $acc0 (i32x4.max_u (local.get $acc0) (i32x4.max_u
 *         (v128.and (v128.load offset=0 (local.get $p)) (local.get $mask))
 *         (v128.and (v128.load offset=16 (local.get $p)) (local.get $mask)))))
 *       (local.set $acc1 (i32x4.max_u (local.get $acc1) (i32x4.max_u
 *         (v128.and (v128.load offset=32 (local.get $p)) (local.get $mask))
 *         (v128.and (v128.load offset=48 (local.get $p)) (local.get $mask)))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *       (br 0)))
 *     (block (loop
 *       (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
 *       (if (i32.ge_u (i32.and (i32.load (local.get $p)) (i32.const 0x7fffffff)) (i32.const 0x7f800000))
 *         (then (return (i32.const 1))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 4)))
 *       (br 0)))
 *     (v128.any_true (i32x4.ge_u (i32x4.max_u (local.get $acc0) (local.get $acc1))
 *                                (i32x4.splat (i32.const 0x7f800000)))))
 *
 * Only on tfjs-backend-wasm (one thread or several: a shared memory is imported as shared), for
 * float32 tensors it holds, when the engine runs WebAssembly SIMD; anything else returns
 * undefined and the caller uses tfjs ops.
 */

type NonFiniteKernel = (offset: number, bytes: number) => number;

// One kernel per wasm memory (a new backend instance has a new memory); null: unavailable.
let kernelCache: { memory: WebAssembly.Memory; generation: number; kernel: NonFiniteKernel | null } | undefined;

let enabled = true;

/**
 * @internal
 * Turns the kernel on or off (on by default); returns the previous setting. Off,
 * {@link firstNonFinite} returns undefined and `trainStep` checks with tfjs ops: specs compare
 * both paths, the benchmark times them.
 */
export function setOwnFiniteCheck(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** The module of the comment above: imports the backend's memory, exports nonFinite(offset, bytes). */
function kernelModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f, V128 = 0x7b;
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const i32 = (n: number) => [0x41, ...sleb(n)];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const [splat, and, maxU, geU, anyTrue] = [simd(0x11), simd(0x4e), simd(0xb9), simd(0x40), simd(0x53)];
  const load = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
  const [P, BYTES, END, END64, ACC0, ACC1, MASK] = [0, 1, 2, 3, 4, 5, 6];
  const masked = (offset: number) => [...get(P), ...load(offset), ...get(MASK), ...and];
  const code = [
    ...i32(0x7fffffff), ...splat, ...set(MASK),
    ...get(P), ...get(BYTES), 0x6a, ...set(END),
    ...get(P), ...get(BYTES), ...i32(-64), 0x71, 0x6a, ...set(END64),
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(P), ...get(END64), 0x4f, 0x0d, 1, // br_if 1 (p >= end64)
    ...get(ACC0), ...masked(0), ...masked(16), ...maxU, ...maxU, ...set(ACC0),
    ...get(ACC1), ...masked(32), ...masked(48), ...maxU, ...maxU, ...set(ACC1),
    ...get(P), ...i32(64), 0x6a, ...set(P),
    0x0c, 0, 0x0b, 0x0b, // br 0; end loop, block
    0x02, 0x40, 0x03, 0x40,
    ...get(P), ...get(END), 0x4f, 0x0d, 1,
    ...get(P), 0x28, 2, 0, ...i32(0x7fffffff), 0x71, ...i32(0x7f800000), 0x4f, // i32.load; & mask; >= 0x7f800000
    0x04, 0x40, ...i32(1), 0x0f, 0x0b, // if: return 1
    ...get(P), ...i32(4), 0x6a, ...set(P),
    0x0c, 0, 0x0b, 0x0b,
    ...get(ACC0), ...get(ACC1), ...maxU, ...i32(0x7f800000), ...splat, ...geU, ...anyTrue,
    0x0b, // end func
  ];
  const fn = [2, 2, I32, 3, V128, ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 2, I32, I32, 1, I32]),
    // memory limits: min 0 pages; a shared memory (tfjs's threaded build) must be imported as
    // shared with a maximum, here the largest (65536 pages, 4 GiB), which any maximum fits under.
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...(shared ? [0x03, 0x00, ...uleb(65536)] : [0x00, 0x00])]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('nonFinite'), 0x00, 0]),
    ...section(10, [1, ...uleb(fn.length), ...fn]),
  ];
  return new Uint8Array(bytes);
}

function kernelFor(memory: WebAssembly.Memory): NonFiniteKernel | null {
  if (kernelCache && kernelCache.memory === memory && kernelCache.generation === kernelGeneration()) return kernelCache.kernel;
  let kernel: NonFiniteKernel | null = null;
  try {
    const bytes = kernelModule(typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer);
    if (WebAssembly.validate(bytes)) {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      kernel = instrumented(instance.exports as unknown as { nonFinite: NonFiniteKernel }).nonFinite;
    }
  } catch {
    kernel = null; // no WebAssembly SIMD here: the tfjs ops do the work
  }
  kernelCache = { memory, generation: kernelGeneration(), kernel };
  return kernel;
}

/**
 * @internal
 * The index of the first of `tensors` (from `from` on) holding NaN or ±Infinity, or -1 when all
 * of them are finite; undefined when the kernel cannot run here (not the wasm backend, no SIMD,
 * turned off, or a tensor that is not float32 or not in the backend's memory), and the caller
 * then checks with tfjs ops. Makes no tensor and changes none; reads values the backend has
 * already computed (its kernels run synchronously).
 */
export function firstNonFinite(tensors: readonly tf.Tensor[], from = 0): number | undefined {
  if (!enabled) return undefined;
  const heap = wasmHeap();
  if (!heap) return undefined;
  const offsets: number[] = [];
  for (const t of tensors) {
    const offset = t.dtype === 'float32' && !t.isDisposed ? heap.offsetOf(t) : undefined;
    if (offset === undefined && t.size > 0) return undefined;
    offsets.push(offset ?? 0);
  }
  const kernel = kernelFor(heap.memory);
  if (!kernel) return undefined;
  for (let i = from; i < tensors.length; i++) {
    const size = tensors[i]!.size;
    if (size > 0 && kernel(offsets[i]!, size * 4) !== 0) return i;
  }
  return -1;
}
