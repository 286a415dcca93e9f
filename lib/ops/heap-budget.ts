/**
 * How many bytes of tensors can still be made, and a check to run before a big allocation, so
 * that a model too large for memory is refused with an `OutOfMemoryError` before anything is
 * drawn or written.
 *
 * The budget is the same on every backend: the wasm heap can never exceed 4 GiB (wasm32 with
 * Emscripten's ceiling of 65,535 pages of 64 KiB), and tfjs's cpu backend, which keeps every
 * tensor in a JS typed array, is given the same ceiling, so a model that fits on one backend
 * fits on the other and an impossible one fails at once on both (rather than after minutes of
 * filling 16 GB on cpu). What is left is the ceiling less the bytes of the live tensors: an
 * upper bound, since a fragmented heap may fail a smaller request (the wasm guard in
 * `wasm-heap.ts` then throws the same error).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OutOfMemoryError } from '../errors.js';

/** @internal The most bytes tensors can take: Emscripten's heap maximum for wasm32 (4 GiB less one 64 KiB page). */
export const HEAP_LIMIT_BYTES = 4294901760;

/**
 * @internal
 * The bytes of tensor memory still available at most: {@link HEAP_LIMIT_BYTES} less the bytes
 * held by live tensors (`tf.memory().numBytes`), never below 0.
 */
export function heapBytesAvailable(): number {
  return Math.max(0, HEAP_LIMIT_BYTES - tf.memory().numBytes);
}

/** @internal A byte count for messages: `1.00 GiB (1073741824 bytes)`. */
export function describeBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(2)} ${units[unit]} (${bytes} bytes)`;
}

// The path that allocation errors name (see withAllocationPath).
let currentPath = '';

/** @internal The path the running {@link withAllocationPath} names, `''` outside one. */
export function allocationPath(): string {
  return currentPath;
}

/**
 * @internal
 * Runs `fn` with `path` named by any `OutOfMemoryError` raised while it allocates (e.g. the
 * path of the parameter an initializer draws), then restores the previous path.
 */
export function withAllocationPath<T>(path: string, fn: () => T): T {
  const outer = currentPath;
  currentPath = path;
  try {
    return fn();
  } finally {
    currentPath = outer;
  }
}

/**
 * @internal
 * Throws an `OutOfMemoryError` naming `path`, `what` and the sizes unless `bytes` more bytes of
 * tensors fit in the budget ({@link heapBytesAvailable}); call it before allocating or drawing
 * anything (e.g. `init` with the total of its parameters, from `initShapes`). Also refuses a
 * byte count that is not a finite number >= 0 (an overflowing product of dimensions).
 */
export function assertAllocatable(bytes: number, path: string = currentPath, what = 'new tensors'): void {
  const available = heapBytesAvailable();
  if (Number.isFinite(bytes) && bytes >= 0 && bytes <= available) return;
  const size = Number.isFinite(bytes) ? describeBytes(bytes) : String(bytes);
  throw new OutOfMemoryError(
    path,
    `cannot allocate ${size} for ${what}: at most ${describeBytes(available)} is left of the ${describeBytes(HEAP_LIMIT_BYTES)} that tensors can take (live tensors hold ${describeBytes(tf.memory().numBytes)}); nothing was allocated`,
    bytes,
    available,
  );
}
