/**
 * Direct access to the memory of tfjs's WASM backend, for flaxen's own kernels (the matrix
 * product of `gemm.ts`, the fused Adam step) and for writing random numbers in place, and the
 * guard that keeps a full heap from corrupting tensors.
 *
 * It reaches tfjs-backend-wasm's backend through the door to tfjs internals
 * (`lib/tfjs-internals.ts`): `write(null, shape, dtype)` (allocates a tensor's memory), `move`
 * (every allocation goes through it), `dataIdMap` (a tensor's `memoryOffset`) and the Emscripten
 * module's memory and `_malloc`. When any of them is missing (a future tfjs, another backend)
 * {@link wasmHeap} returns undefined and callers use tfjs ops.
 *
 * The guard. Two defects of tfjs-backend-wasm 4.22 turn a full heap into corrupted tensors:
 * - when the heap cannot grow, the module's `malloc` returns 0 and tfjs uses that as the
 *   tensor's offset, so its values (a kernel's output, random numbers, a tensor made from JS
 *   data) are written over whatever lives at the start of the heap;
 * - its allocator (emmalloc) tests whether a block fits with 32-bit pointer sums: a free block
 *   starting at `p` is taken for a request of `n` bytes when `p + n` passes 4 GiB and wraps
 *   around, although the block is too small. The allocator then writes its bookkeeping at the
 *   wrapped address, low in the heap (measured: with the memory grown to 3.95 GiB, a 973 MiB
 *   request got a block at 3.25 GiB that ends at 4.2 GiB).
 * {@link guardWasmAllocations} refuses both before `malloc` writes anything: a request that could
 * reach past 4 GiB (the memory's size plus the request) never reaches `malloc`, and an offset of
 * 0 is never used. Either is an `OutOfMemoryError`; every live tensor keeps its values and the
 * backend stays usable for smaller work. (Allocations made inside tfjs's C++ kernels, such as
 * XNNPACK's packed weights, are beyond this guard.)
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OutOfMemoryError, formatShape } from '../errors.js';
import { tensorFromDataId, wasmBackend } from '../tfjs-internals.js';
import { formatBytes, memoryLimit } from '../backend-state.js';

/** @internal The wasm backend's memory, and tensors in it. */
export interface WasmHeap {
  /** The backend's memory (shared when the backend runs threads). */
  readonly memory: WebAssembly.Memory;
  /** The byte offset of a tensor's values, or undefined if the backend does not hold it. */
  offsetOf(t: tf.Tensor): number | undefined;
  /**
   * A new float32 tensor with uninitialized values, in the current tidy scope. Throws an
   * `OutOfMemoryError` (and allocates nothing) when the heap is full.
   */
  alloc(shape: number[]): tf.Tensor;
}

// Backends whose allocations are already checked (a new backend instance gets its own guard).
const guarded = new WeakSet<object>();

// What the running `move` allocates, for the error message (malloc itself sees only bytes).
let allocating: { shape: number[]; dtype: tf.DataType } | undefined;

/** Room kept below 4 GiB for the allocator's headers and alignment. */
const ADDRESS_SLACK = 1 << 20;
const ADDRESS_END = 2 ** 32;

function outOfMemory(bytes: number, memoryBytes: number, addressRoom: boolean): OutOfMemoryError {
  const what = allocating ? `a ${allocating.dtype} tensor of shape ${formatShape(allocating.shape)}` : 'backend memory';
  const used = tf.memory().numBytes;
  const grown = `the wasm memory has grown to ${formatBytes(memoryBytes)} of at most 4.29 GB`;
  const why = addressRoom
    ? `${grown}, and a block this large could end past 2^32 bytes, where tfjs's wasm allocator miscomputes block sizes (blocks of up to ${formatBytes(Math.max(0, ADDRESS_END - ADDRESS_SLACK - memoryBytes))} can still be placed; tensors use ${formatBytes(used)})`
    : `the wasm heap cannot grow further (${grown}; tensors use ${formatBytes(used)}, so at most ${formatBytes(Math.max(0, memoryLimit().bytes - used))} is left, less fragmentation)`;
  return new OutOfMemoryError('', `cannot allocate ${formatBytes(bytes)} for ${what}: ${why}; no tensor was changed; dispose tensors you no longer need, or use smaller batches or layers`);
}

/**
 * @internal
 * Makes every allocation of the current wasm backend checked: a `malloc` that fails (returns
 * offset 0) throws an `OutOfMemoryError` before tfjs registers or writes the tensor, instead of
 * letting it write over the start of the heap. Idempotent; a no-op on other backends and when
 * tfjs's internals differ from 4.22's. `wasmHeap()` calls it, so does `fx.ready('wasm')`.
 */
export function guardWasmAllocations(): void {
  const found = wasmBackend();
  if (!found) return;
  const { backend, memory } = found;
  const wasm = backend.wasm;
  if (guarded.has(backend) || typeof wasm._malloc !== 'function' || typeof backend.move !== 'function') return;
  guarded.add(backend);
  // The Emscripten glue replaces `_malloc` by the raw export on its first call: keep whatever it
  // assigns as the inner function, and always hand out the checked one.
  let inner = wasm._malloc.bind(wasm);
  const checked = (bytes: number): number => {
    const memoryBytes = memory.buffer.byteLength;
    if (bytes > 0 && memoryBytes + bytes + ADDRESS_SLACK > ADDRESS_END) throw outOfMemory(bytes, memoryBytes, true);
    const offset = inner(bytes);
    if (offset === 0 && bytes > 0) throw outOfMemory(bytes, memory.buffer.byteLength, false);
    return offset;
  };
  Object.defineProperty(wasm, '_malloc', {
    configurable: true,
    enumerable: true,
    get: () => checked,
    set: (f: (bytes: number) => number) => {
      inner = f;
    },
  });
  const move = backend.move;
  backend.move = function (this: unknown, dataId, values, shape, dtype, refCount) {
    const outer = allocating;
    allocating = { shape, dtype };
    try {
      move.call(this, dataId, values, shape, dtype, refCount);
    } finally {
      allocating = outer;
    }
  };
}

/**
 * @internal
 * The current backend's memory, when it is tfjs-backend-wasm with the fields this module needs;
 * otherwise undefined. Take typed-array views of `memory.buffer` only after the last `alloc`
 * (growing the memory replaces its buffer).
 */
export function wasmHeap(): WasmHeap | undefined {
  const wasm = wasmBackend();
  if (!wasm) return undefined;
  guardWasmAllocations();
  const { backend: view, memory } = wasm;
  const offsetOf = (t: tf.Tensor): number | undefined => view.dataIdMap.get(t.dataId)?.memoryOffset;
  return {
    memory,
    offsetOf,
    alloc: (shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const t = tensorFromDataId(view.write(null, shape, 'float32'), shape);
      // Belt and braces: offset 0 is never a valid place for values (the guard throws first).
      if (size > 0 && !offsetOf(t)) {
        t.dispose();
        throw outOfMemory(size * 4, memory.buffer.byteLength, false);
      }
      return t;
    },
  };
}
