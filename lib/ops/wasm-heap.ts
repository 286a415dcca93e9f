/**
 * Direct access to the memory of tfjs's WASM backend, for flaxen's own kernels (the matrix
 * product of `gemm.ts`, the fused Adam step) and for writing random numbers in place.
 *
 * It uses public fields of tfjs-backend-wasm 4.22's `BackendWasm` that are not part of tfjs's
 * documented API: `write(null, shape, dtype)` (allocates a tensor's memory), `dataIdMap` (a
 * tensor's `memoryOffset`) and the Emscripten module's memory. When any of them is missing (a
 * future tfjs, another backend) {@link wasmHeap} returns undefined and callers use tfjs ops.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's backend used here. */
interface WasmBackendView {
  write(values: null, shape: number[], dtype: 'float32'): object;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: unknown }; wasmMemory?: unknown };
}

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
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as Partial<WasmBackendView>;
  if (typeof backend.write !== 'function' || !backend.dataIdMap || !backend.wasm?.HEAPU8) return undefined;
  // The one-thread build exports its memory as asm.memory, the threaded build as wasmMemory.
  const memory = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory;
  if (typeof WebAssembly !== 'object' || !(memory instanceof WebAssembly.Memory)) return undefined;
  const view = backend as WasmBackendView;
  return {
    memory,
    offsetOf: (t) => view.dataIdMap.get(t.dataId)?.memoryOffset,
    alloc: (shape) => tf.engine().makeTensorFromDataId(view.write(null, shape, 'float32') as tf.DataId, shape, 'float32', tf.backend()),
  };
}
