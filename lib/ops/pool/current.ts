/**
 * The kernel pool of the current wasm backend, shared by the modules whose kernels it runs
 * (`gemm.ts` starts it; `gemm.ts` and `fused-adam.ts` split their calls across it).
 *
 * @module
 */
import type { KernelPool } from './pool.js';

let current: KernelPool | undefined;

/** @internal Makes `pool` the current pool (stopping the one before it, if another). */
export function setCurrentPool(pool: KernelPool): void {
  if (current && current !== pool) current.terminate();
  current = pool;
}

/** @internal The pool running on `memory`, if any (a new backend has a new memory, and no pool). */
export function poolFor(memory: WebAssembly.Memory): KernelPool | undefined {
  return current?.memory === memory ? current : undefined;
}
