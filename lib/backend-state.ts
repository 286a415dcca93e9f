/**
 * What flaxen checks about the current tfjs backend before it computes: that one is set up
 * (`fx.ready()` was awaited), and that the tensors about to be made fit in the memory it can use.
 * Both checks run before anything is allocated, so a mistake costs an error message, not a
 * crash, a hang or a 16 GB fill.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendNotReadyError, OutOfMemoryError } from './errors.js';

/** How many `fx.ready()` calls are still running. */
let starting = 0;

/**
 * Records a running `fx.ready()` call until it settles, so that a call made before it resolves
 * can say "still starting" rather than "not set up".
 * @internal
 */
export function trackReady(run: Promise<unknown>): void {
  starting++;
  const done = () => {
    starting--;
  };
  run.then(done, done);
}

/**
 * Throws a `BackendNotReadyError` when no tfjs backend is set up yet, instead of tfjs's
 * "No backend found in registry" from deep inside a sampler. A backend the user set up
 * through tfjs directly is accepted.
 *
 * @param where - the call that needs the backend, e.g. `init`.
 * @internal
 */
export function requireBackend(where: string): void {
  if (tf.getBackend() != null) return;
  if (starting === 0 && tf.engine().backendNames().length > 0) return; // tfjs starts a registered backend itself
  throw new BackendNotReadyError(
    '',
    starting > 0
      ? `${where}: the backend is still starting; \`await fx.ready()\` (it returns a promise) before the first init, apply or random draw`
      : `${where}: no tfjs backend is set up; call \`await fx.ready()\` once at start-up, before the first init, apply or random draw`,
  );
}

/** The wasm32 address space: tfjs's WebAssembly heap can never hold more. */
const WASM_HEAP_LIMIT = 2 ** 32;

interface NodeOs {
  totalmem(): number;
}

function machineMemory(): number | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('os') as NodeOs | undefined;
  if (os && typeof os.totalmem === 'function') return os.totalmem();
  const gib = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  return typeof gib === 'number' && gib > 0 ? gib * 2 ** 30 : undefined;
}

/**
 * How many bytes of tensors the current backend can hold in all, and why: the wasm heap's 4 GiB
 * ceiling, or (JavaScript backends) half the machine's memory, leaving room for the program and
 * the samplers' temporaries. 4 GiB where the machine's memory is unknown.
 * @internal
 */
export function memoryLimit(): { readonly bytes: number; readonly reason: string } {
  const backend = tf.getBackend();
  if (backend === 'wasm') return { bytes: WASM_HEAP_LIMIT, reason: "the 'wasm' backend's heap tops out at 4.29 GB, 2^32 bytes" };
  const machine = machineMemory();
  if (machine === undefined) return { bytes: WASM_HEAP_LIMIT, reason: `flaxen allows 4.29 GB of tensors on the '${backend}' backend when the machine's memory is unknown` };
  return { bytes: machine / 2, reason: `flaxen allows half the machine's ${formatBytes(machine)} of tensors on the '${backend}' backend` };
}

/** Bytes per element of a tfjs dtype. @internal */
export function bytesPerElement(dtype: tf.DataType): number {
  return dtype === 'complex64' ? 8 : dtype === 'string' ? 16 : 4;
}

/** A byte count for messages: `16 GB`, `512 MB`, `3 KB`, `12 bytes` (decimal units). @internal */
export function formatBytes(bytes: number): string {
  const units: Array<[number, string]> = [
    [1e12, 'TB'],
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'KB'],
  ];
  for (const [size, unit] of units) if (bytes >= size) return `${Number((bytes / size).toPrecision(3))} ${unit}`;
  return `${bytes} bytes`;
}

/**
 * Throws an `OutOfMemoryError` when `bytes` more would not fit beside the tensors already alive,
 * before anything is allocated. `what` says what was about to be made, e.g. `init: the 2
 * variables`.
 * @internal
 */
export function checkFits(bytes: number, what: string, path = ''): void {
  const limit = memoryLimit();
  const used = tf.memory().numBytes;
  if (bytes <= limit.bytes - used) return;
  throw new OutOfMemoryError(
    path,
    `${what}: ${formatBytes(bytes)} needed, but only ${formatBytes(Math.max(0, limit.bytes - used))} is left (${limit.reason}; ${formatBytes(used)} in use); nothing was allocated`,
  );
}
