/**
 * Direct access to the memory of tfjs's WASM backend, for flaxen's own kernels (the matrix
 * product of `gemm.ts`, the fused Adam step) and for writing random numbers in place.
 *
 * It reaches tfjs-backend-wasm's backend through the door to tfjs internals
 * (`lib/tfjs-internals.ts`): `write(null, shape, dtype)` (allocates a tensor's memory),
 * `dataIdMap` (a tensor's `memoryOffset`) and the Emscripten module's memory. When any of them is
 * missing (a future tfjs, another backend) {@link wasmHeap} returns undefined and callers use tfjs
 * ops.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { tensorFromDataId, wasmBackend } from '../tfjs-internals.js';

/** @internal The wasm backend's memory, and tensors in it. */
export interface WasmHeap {
  /** The backend's memory (shared when the backend runs threads). */
  readonly memory: WebAssembly.Memory;
  /** The byte offset of a tensor's values, or undefined if the backend does not hold it. */
  offsetOf(t: tf.Tensor): number | undefined;
  /** A new float32 tensor with uninitialized values, in the current tidy scope. */
  alloc(shape: number[]): tf.Tensor;
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
  const { backend: view, memory } = wasm;
  return {
    memory,
    offsetOf: (t) => view.dataIdMap.get(t.dataId)?.memoryOffset,
    alloc: (shape) => tensorFromDataId(view.write(null, shape, 'float32'), shape),
  };
}
