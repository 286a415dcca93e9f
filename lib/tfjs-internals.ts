/**
 * The one door to tfjs internals: everything flaxen reads or writes in tfjs-core's engine and in
 * tfjs-backend-wasm's backend that is not part of tfjs's documented API, behind one typed view.
 *
 * What passes through here (tfjs 4.22; {@link missingInternals} checks each):
 * - the engine's `state`: `gradientDepth`, `kernelDepth` and `activeTape` (whether a gradient
 *   tape runs; `autodiff/grad.ts` also steps `kernelDepth` to work off the tape);
 * - the engine's `runKernelFunc` (the function behind `tf.customGrad`, for lazy gradients);
 * - the engine's backend registries `registry` (started backends) and `registryFactory`;
 * - the engine's `makeTensorFromDataId` (a tensor on memory the backend already holds);
 * - tfjs-backend-wasm's `write(null, shape, dtype)`, `dataIdMap` and the Emscripten module's
 *   memory (`wasm.HEAPU8`, `wasm.asm.memory` or `wasm.wasmMemory`);
 * - tfjs-backend-wasm's `move` and the module's `_malloc`, which `ops/wasm-heap.ts` wraps so that
 *   a failed allocation throws instead of writing at offset 0.
 *
 * Every accessor degrades instead of failing: when a member is missing (a future tfjs, another
 * backend) it returns undefined and the caller uses tfjs's public ops. A tfjs upgrade that
 * changes any of them makes `spec/tfjs-internals.spec.ts` fail, naming the member.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** @internal The gradient-tape bookkeeping of tfjs-core's engine (`tf.engine().state`). */
export interface EngineState {
  /** Nesting depth of `tf.grads`-style gradient computations (forward passes being taped). */
  gradientDepth: number;
  /** Nesting depth of kernels running; ops inside a kernel are not taped. */
  kernelDepth: number;
  /** The tape being recorded (its nodes keep the tensors saved for the backward pass); null or undefined when none. */
  activeTape: Array<{ saved?: tf.Tensor[] }> | null | undefined;
}

/** @internal What `runKernelFunc` takes: a forward function and per-input gradient thunks. */
export interface KernelFuncParams {
  forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
  backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  inputs: Record<string, tf.Tensor>;
}

/**
 * @internal
 * `runKernelFunc` with several outputs (the recurrent scan returns its outputs and final
 * carries): the forward function returns an array, the engine returns it, and the backward
 * function receives one gradient per output (zeros for an output that was not used).
 */
export interface MultiKernelFuncParams {
  forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor[];
  backwardsFunc: (dys: tf.Tensor[], saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  inputs: Record<string, tf.Tensor>;
}

/** @internal The backend registries of tfjs-core's engine. */
export interface BackendRegistries {
  /** The backends started so far, by name. */
  readonly registry: Record<string, unknown>;
  /** The registered backend factories, by name (`{ factory, priority }`). */
  readonly registryFactory: Record<string, unknown>;
}

/** @internal The parts of tfjs-backend-wasm's `BackendWasm` flaxen uses. */
export interface WasmBackendView {
  /** Allocates memory for a tensor (values null: uninitialized) and returns its data id. */
  write(values: null, shape: number[], dtype: 'float32'): object;
  /** Where each tensor's values live in the backend's memory. */
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** Allocates (with `wasm._malloc`) and registers a tensor's memory, then writes `values` if given; `write` calls it. */
  move?(dataId: object, values: unknown, shape: number[], dtype: tf.DataType, refCount: number): void;
  /** The Emscripten module: its memory (one-thread build: `asm.memory`; threaded: `wasmMemory`) and allocator. */
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: unknown }; wasmMemory?: unknown; _malloc?: (bytes: number) => number };
}

/** The engine with the members used here, each possibly missing. */
interface EngineView {
  state?: Partial<EngineState>;
  runKernelFunc?: (params: KernelFuncParams) => tf.Tensor;
  registry?: Record<string, unknown>;
  registryFactory?: Record<string, unknown>;
  makeTensorFromDataId?: (dataId: tf.DataId, shape: number[], dtype: tf.DataType, backend?: unknown) => tf.Tensor;
}

function engine(): EngineView {
  return tf.engine() as unknown as EngineView;
}

// tfjs leaves the tape undefined until the first gradient, then null between gradients.
function isTape(tape: unknown): boolean {
  return tape === undefined || tape === null || Array.isArray(tape);
}

/**
 * @internal
 * The engine's tape bookkeeping, or undefined when tfjs no longer has it in this form. The
 * object is tfjs's own: writing `kernelDepth` changes what the engine tapes.
 */
export function engineState(): EngineState | undefined {
  const state = engine().state;
  if (!state || typeof state.gradientDepth !== 'number' || typeof state.kernelDepth !== 'number' || !isTape(state.activeTape)) return undefined;
  return state as EngineState;
}

/** @internal True while tfjs records or replays a gradient tape (forward under `tf.grads`, or its backward pass). */
export function underGradient(): boolean {
  const state = engine().state;
  return (state?.gradientDepth ?? 0) > 0 || (state?.activeTape ?? null) !== null;
}

/** @internal The engine's `runKernelFunc`, bound to it, or undefined when this tfjs lacks it. */
export function runKernelFunc(): ((params: KernelFuncParams) => tf.Tensor) | undefined {
  const e = engine();
  return typeof e.runKernelFunc === 'function' ? e.runKernelFunc.bind(e) : undefined;
}

/** @internal The engine's `runKernelFunc` for several outputs (see {@link MultiKernelFuncParams}), or undefined when this tfjs lacks it. */
export function runKernelFuncMulti(): ((params: MultiKernelFuncParams) => tf.Tensor[]) | undefined {
  const e = engine();
  return typeof e.runKernelFunc === 'function' ? (e.runKernelFunc.bind(e) as unknown as (params: MultiKernelFuncParams) => tf.Tensor[]) : undefined;
}

/**
 * @internal
 * Runs `fn` with tfjs's tape paused, as inside a kernel (its ops are not recorded), by stepping
 * the engine's `kernelDepth`; when this tfjs lacks it, `fn` runs on the tape.
 */
export function offTape<T>(fn: () => T): T {
  const state = engineState();
  if (!state) return fn();
  state.kernelDepth++;
  try {
    return fn();
  } finally {
    state.kernelDepth--;
  }
}

/** @internal The engine's backend registries (tfjs 4.x keeps them as public fields of the engine). */
export function backendRegistries(): BackendRegistries {
  const e = engine();
  return { registry: e.registry ?? {}, registryFactory: e.registryFactory ?? {} };
}

/**
 * @internal
 * tfjs-backend-wasm's backend with the members flaxen uses, and its memory, when the current
 * backend is wasm and has them all; otherwise undefined.
 */
export function wasmBackend(): { readonly backend: WasmBackendView; readonly memory: WebAssembly.Memory } | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as Partial<WasmBackendView>;
  if (typeof backend.write !== 'function' || typeof backend.dataIdMap?.get !== 'function' || !backend.wasm?.HEAPU8) return undefined;
  // The one-thread build exports its memory as asm.memory, the threaded build as wasmMemory.
  const memory = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory;
  if (typeof WebAssembly !== 'object' || !(memory instanceof WebAssembly.Memory)) return undefined;
  return { backend: backend as WasmBackendView, memory };
}

/**
 * @internal
 * A float32 tensor of `shape` on memory the current backend already holds under `dataId` (the
 * engine's `makeTensorFromDataId`), tracked by the current tidy scope.
 */
export function tensorFromDataId(dataId: object, shape: number[]): tf.Tensor {
  return tf.engine().makeTensorFromDataId(dataId as tf.DataId, shape, 'float32', tf.backend());
}

/**
 * @internal
 * The capability probe: what of the internals above the running tfjs lacks or has changed, one
 * line each (empty when everything is as flaxen expects). The wasm members are checked when the
 * current backend is wasm. `view` replaces the real engine and backend (for the spec).
 */
export function missingInternals(view: { engine?: unknown; backend?: unknown; backendName?: string } = {}): string[] {
  const e = (view.engine ?? tf.engine()) as EngineView;
  const missing: string[] = [];
  const state = e.state as Record<string, unknown> | undefined;
  if (!state || typeof state !== 'object') missing.push('engine.state: expected the object of tape bookkeeping, found none');
  else {
    for (const key of ['gradientDepth', 'kernelDepth'] as const) {
      if (typeof state[key] !== 'number') missing.push(`engine.state.${key}: expected a number, found ${typeof state[key]}`);
    }
    if (!isTape(state['activeTape'])) missing.push(`engine.state.activeTape: expected null, undefined or an array, found ${typeof state['activeTape']}`);
  }
  for (const key of ['runKernelFunc', 'makeTensorFromDataId'] as const) {
    if (typeof e[key] !== 'function') missing.push(`engine.${key}: expected a function, found ${typeof e[key]}`);
  }
  for (const key of ['registry', 'registryFactory'] as const) {
    if (typeof e[key] !== 'object' || e[key] === null) missing.push(`engine.${key}: expected an object, found ${e[key] === null ? 'null' : typeof e[key]}`);
  }
  if ((view.backendName ?? tf.getBackend()) === 'wasm') {
    const b = (view.backend ?? tf.backend()) as Partial<WasmBackendView>;
    if (typeof b.write !== 'function') missing.push(`wasm backend.write: expected a function, found ${typeof b.write}`);
    if (typeof b.move !== 'function') missing.push(`wasm backend.move: expected a function, found ${typeof b.move}`);
    if (typeof b.wasm?._malloc !== 'function') missing.push(`wasm backend.wasm._malloc: expected a function, found ${typeof b.wasm?._malloc}`);
    if (typeof b.dataIdMap?.get !== 'function') missing.push('wasm backend.dataIdMap.get: expected a function, found none');
    if (!(b.wasm?.HEAPU8 instanceof Uint8Array)) missing.push('wasm backend.wasm.HEAPU8: expected a Uint8Array, found none');
    const memory = b.wasm?.asm?.memory ?? b.wasm?.wasmMemory;
    if (!(memory instanceof WebAssembly.Memory)) missing.push('wasm backend.wasm.asm.memory / wasm.wasmMemory: expected a WebAssembly.Memory, found none');
  }
  return missing;
}
