/**
 * Backend set-up: flaxen's math runs on tfjs-core; the default backend is WebAssembly with
 * SIMD, which is 28–53× faster than tfjs's pure-JS cpu backend on this kind of machine.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import './autodiff/register-gradients.js';
import { FlaxenError, describeValue } from './core/errors.js';

/** What {@link backendInfo} reports. */
export interface BackendInfo {
  /** The current tfjs backend, e.g. `'wasm'`. */
  readonly name: string;
  /** True when the wasm backend runs its SIMD build. */
  readonly simd: boolean;
}

/** The backends `ready` can set up. */
export type BackendName = 'wasm' | 'cpu';

const pending = new Map<BackendName, Promise<void>>();

async function register(name: BackendName): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  else await import('@tensorflow/tfjs-backend-cpu');
}

/**
 * Sets up a tfjs backend once and makes it current; resolves to its name. `'wasm'` (the
 * default) uses SIMD where the platform has it (Node 20 and every current browser do).
 * Everything else in flaxen is synchronous, so call this once at start-up.
 *
 * @example
 * ```ts
 * import * as fx from 'flaxen';
 * await fx.ready();        // 'wasm'
 * await fx.ready('cpu');   // the pure-JS backend, e.g. for debugging
 * ```
 */
export async function ready(backend: BackendName = 'wasm'): Promise<BackendName> {
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new FlaxenError('', `ready(backend) takes 'wasm' or 'cpu', found ${describeValue(backend)}`);
  }
  let loading = pending.get(backend);
  if (!loading) {
    loading = register(backend);
    pending.set(backend, loading);
  }
  await loading;
  const ok = await tf.setBackend(backend);
  if (!ok) throw new FlaxenError('', `the '${backend}' backend failed to start`);
  await tf.ready();
  return backend;
}

/**
 * What the current backend runs on: its name and, for wasm, whether the SIMD build is in use.
 *
 * @example
 * ```ts
 * await fx.ready();
 * fx.backendInfo(); // { name: 'wasm', simd: true }
 * ```
 */
export function backendInfo(): BackendInfo {
  const name = tf.getBackend();
  const simd = name === 'wasm' && tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  return { name, simd };
}
