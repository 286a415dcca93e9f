/**
 * The fused Adam step on the wasm backend: one pass of a small WebAssembly SIMD kernel over a
 * leaf, reading the gradient and the moments and writing the new moments and the update straight
 * into the backend's memory, in place of eleven tfjs kernels (five multiplies, three adds, a
 * square, a square root and a division: one full pass over the leaf each, plus a dispatch).
 * `optim/transforms/scale-by-adam.ts` calls it for each leaf and falls back to those tfjs ops.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { instrumented, kernelGeneration } from './kernel-hook.js';
import { wasmHeap } from './wasm-heap.js';
import { poolFor } from './pool/current.js';
import type { KernelPool } from './pool/pool.js';
import { splitAdam } from './pool/split.js';
import { name, section, uleb } from './wasm-encoding.js';

/*
 * The kernel performs exactly the float32 operations of `adamStep`'s tfjs ops (in
 * `optim/transforms/scale-by-adam.ts`), in the same order:
 *
 *     m1 = m·b1 + g·(1−b1)          v1 = v·b2 + (g·g)·(1−b2)
 *     u  = (m1·cNum) / (sqrt(v1) + cEps)        (+ p·cDecay with weight decay)
 *
 * with every constant rounded to float32 as `tf.scalar` does. IEEE float32 `+ − × ÷ √` are
 * correctly rounded in WebAssembly SIMD as in the tfjs kernels (XNNPACK uses the same
 * instructions), so the results are bit-identical; a spec checks this against the tfjs ops.
 * The last `size mod 4` elements are done in JS with `Math.fround` after every operation, which
 * is exact for these operations on float32 inputs.
 *
 * Only on tfjs-backend-wasm (one thread or several: a shared memory is imported as shared), for
 * float32 leaves it holds, when the engine runs WebAssembly SIMD; anything else returns
 * undefined and the caller uses tfjs ops.
 */
type AdamKernel = (...args: number[]) => void;
interface AdamKernels {
  readonly memory: WebAssembly.Memory;
  readonly adam: AdamKernel;
  readonly adamDecay: AdamKernel;
}

// One kernel set per wasm memory (a new backend instance has a new memory) and kernel pool; null: unavailable.
let kernelCache: { memory: WebAssembly.Memory; generation: number; pool: KernelPool | undefined; kernels: AdamKernels | null } | undefined;

/** @internal The names of the module's exports, in the order a kernel pool serves them. */
export const ADAM_KERNEL_NAMES = ['adam', 'adamDecay'] as const;

/**
 * @internal
 * The module's bytes (importing a shared memory when `shared`: the threaded backend's, whose
 * kernel pool instantiates it in every worker).
 */
export function adamModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return kernelModule(shared);
}

// The module: imports the backend's memory, exports adam(g, m, v, u, m1, v1, bytes, cB1, c1mB1,
// cB2, c1mB2, cNum, cEps) and adamDecay(the same, then p, cDecay). Offsets are byte offsets;
// `bytes` is a multiple of 16.
function kernelModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const load = [...simd(0x00), 0, 0];
  const store = [...simd(0x0b), 0, 0];
  const [splat, sqrt, add, mul, div] = [simd(0x13), simd(0xe3), simd(0xe4), simd(0xe6), simd(0xe7)];
  const addr = (base: number, i: number) => [...get(base), ...get(i), 0x6a];
  const body = (decay: boolean): number[] => {
    // params 0..5 offsets g m v u m1 v1, 6 bytes, 7..12 constants, [13 p, 14 cDecay]
    const nParams = decay ? 15 : 13;
    const i = nParams, c0 = nParams + 1; // c0..c0+6: splatted constants (cDecay last)
    const gv = c0 + 7, mm = gv + 1, vv = gv + 2;
    const code: number[] = [];
    const consts = decay ? [7, 8, 9, 10, 11, 12, 14] : [7, 8, 9, 10, 11, 12];
    consts.forEach((p, k) => code.push(...get(p), ...splat, ...set(c0 + k)));
    code.push(0x02, 0x40, 0x03, 0x40); // block, loop
    code.push(...get(i), ...get(6), 0x4f, 0x0d, 1); // if i >= bytes: break
    code.push(...addr(0, i), ...load, ...set(gv));
    code.push(...addr(1, i), ...load, ...get(c0), ...mul, ...get(gv), ...get(c0 + 1), ...mul, ...add, ...set(mm));
    code.push(...addr(4, i), ...get(mm), ...store);
    code.push(...addr(2, i), ...load, ...get(c0 + 2), ...mul, ...get(gv), ...get(gv), ...mul, ...get(c0 + 3), ...mul, ...add, ...set(vv));
    code.push(...addr(5, i), ...get(vv), ...store);
    code.push(...addr(3, i), ...get(mm), ...get(c0 + 4), ...mul, ...get(vv), ...sqrt, ...get(c0 + 5), ...add, ...div);
    if (decay) code.push(...addr(13, i), ...load, ...get(c0 + 6), ...mul, ...add);
    code.push(...store);
    code.push(...get(i), 0x41, 16, 0x6a, ...set(i), 0x0c, 0, 0x0b, 0x0b, 0x0b); // i += 16; continue; end loop, block, func
    const locals = [2, 1, I32, 10, V128];
    const fn = [...locals, ...code];
    return [...uleb(fn.length), ...fn];
  };
  const type = (decay: boolean) => {
    const params = [I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, ...(decay ? [I32, F32] : [])];
    return [0x60, params.length, ...params, 0];
  };
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, ...type(false), ...type(true)]),
    // memory limits: min 0 pages; a shared memory (tfjs's threaded build) must be imported as
    // shared with a maximum, here the largest (65536 pages, 4 GiB), which any maximum fits under.
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...(shared ? [0x03, 0x00, ...uleb(65536)] : [0x00, 0x00])]),
    ...section(3, [2, 0, 1]),
    ...section(7, [2, ...name('adam'), 0x00, 0, ...name('adamDecay'), 0x00, 1]),
    ...section(10, [2, ...body(false), ...body(true)]),
  ];
  return new Uint8Array(bytes);
}

function adamKernels(memory: WebAssembly.Memory): AdamKernels | null {
  const pool = poolFor(memory);
  if (kernelCache && kernelCache.memory === memory && kernelCache.generation === kernelGeneration() && kernelCache.pool === pool) return kernelCache.kernels;
  let kernels: AdamKernels | null = null;
  try {
    const bytes = kernelModule(typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer);
    if (WebAssembly.validate(bytes)) {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      const own = instance.exports as unknown as { adam: AdamKernel; adamDecay: AdamKernel };
      // Large leaves are split by ranges of elements across the pool, when there is one.
      const exports = instrumented(pool ? splitAdam(own, pool) : own);
      kernels = { memory, adam: exports.adam, adamDecay: exports.adamDecay };
    }
  } catch {
    kernels = null; // no WebAssembly SIMD here: the tfjs ops do the work
  }
  kernelCache = { memory, generation: kernelGeneration(), pool, kernels };
  return kernels;
}

/**
 * @internal
 * The fast-path Adam step of one leaf (`epsRoot = 0`) in one fused kernel, or undefined when it
 * cannot run here. `c` holds `[b1, 1−b1, b2, 1−b2, cNum, cEps, cDecay]` as JS numbers. Returns
 * `[update, mu, nu]`: new tensors, tracked by the current tidy scope.
 */
export function fusedAdamLeaf(g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, p: tf.Tensor | undefined, c: readonly number[]): tf.Tensor[] | undefined {
  const heap = wasmHeap();
  if (!heap) return undefined;
  const size = g.size;
  const inputs = p ? [g, m, v, p] : [g, m, v];
  for (const t of inputs) if (t.dtype !== 'float32' || t.size !== size || t.isDisposed) return undefined;
  if (size === 0) return undefined;
  const kernels = adamKernels(heap.memory);
  if (!kernels) return undefined;
  const offsets = inputs.map((t) => heap.offsetOf(t));
  if (offsets.some((o) => typeof o !== 'number')) return undefined;
  const outs = [0, 1, 2].map(() => heap.alloc(g.shape));
  const [u, m1, v1] = outs as [tf.Tensor, tf.Tensor, tf.Tensor];
  const [og, om, ov, op] = offsets as number[];
  const [ou, om1, ov1] = outs.map((t) => heap.offsetOf(t)!) as [number, number, number];
  const f = Math.fround;
  const [cB1, c1mB1, cB2, c1mB2, cNum, cEps, cDecay] = c.map((x) => f(x)) as [number, number, number, number, number, number, number];
  const vectorBytes = Math.floor(size / 4) * 16;
  if (vectorBytes > 0) {
    if (p) kernels.adamDecay(og!, om!, ov!, ou, om1, ov1, vectorBytes, cB1, c1mB1, cB2, c1mB2, cNum, cEps, op!, cDecay);
    else kernels.adam(og!, om!, ov!, ou, om1, ov1, vectorBytes, cB1, c1mB1, cB2, c1mB2, cNum, cEps);
  }
  // The tail (size mod 4 elements) in JS, rounding to float32 after every operation. The heap
  // view is taken after the allocations (growing the heap replaces its buffer).
  const f32 = new Float32Array(kernels.memory.buffer);
  for (let i = vectorBytes / 4; i < size; i++) {
    const gi = f32[(og! >>> 2) + i]!;
    const mi = f(f(f32[(om! >>> 2) + i]! * cB1) + f(gi * c1mB1));
    const vi = f(f(f32[(ov! >>> 2) + i]! * cB2) + f(f(gi * gi) * c1mB2));
    f32[(om1 >>> 2) + i] = mi;
    f32[(ov1 >>> 2) + i] = vi;
    let ui = f(f(mi * cNum) / f(f(Math.sqrt(vi)) + cEps));
    if (p) ui = f(ui + f(f32[(op! >>> 2) + i]! * cDecay));
    f32[(ou >>> 2) + i] = ui;
  }
  return outs;
}
