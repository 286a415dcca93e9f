/**
 * tfjs's threaded wasm build under Node, for its shared memory (flaxen's kernel pool,
 * `ops/pool/`, runs its workers on it), with tfjs's own kernels on one thread.
 *
 * tfjs-backend-wasm 4.22 never uses its threaded build under Node: its
 * `WASM_HAS_MULTITHREAD_SUPPORT` flag is false whenever `IS_NODE` is true. With the flag forced,
 * the Emscripten glue starts its pool of pthread workers with `new Worker(locateFile('…worker.js'))`,
 * and tfjs's `locateFile` returns a `blob:` URL, which Node's `worker_threads.Worker` rejects
 * (ERR_WORKER_PATH). On one thread the glue never creates a pthread, so those workers would only
 * cost start-up time and memory: during the backend's start-up only, the `Worker` export of
 * `worker_threads` answers a `blob:` URL with a stand-in ({@link standInWorker}). Nothing inside
 * node_modules is edited, and the patch is undone as soon as the backend has started.
 *
 * Anything that goes wrong (a missing prerequisite, a start-up that takes longer than the time
 * limit, a probe product that differs from a plain JS loop) ends with the ordinary one-thread
 * backend and one `console.warn`.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendRegistries } from './tfjs-internals.js';

/** What {@link startWasmThreads} did. @internal */
export interface ThreadsOutcome {
  /** The number of threads the wasm backend uses (1 after a fallback). */
  readonly threads: number;
  /** Why threads are not in use, when they are not. */
  readonly reason?: string;
  /** Not Node: tfjs itself chooses its build; ask `getThreadsCount()` once the backend runs. */
  readonly decidedByTfjs?: boolean;
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');
type FactoryEntry = { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number };
type WorkerCtor = typeof import('node:worker_threads').Worker;

const FLAG = 'WASM_HAS_MULTITHREAD_SUPPORT';

/** Start-up time limit for the threaded backend, in ms. @internal */
export const THREAD_START_TIMEOUT_MS = 30_000;

/**
 * Stands in for one of the 8 workers the glue of tfjs's threaded build starts for its pthread
 * pool, when tfjs computes on one thread (the only way flaxen uses the threaded build: for its
 * shared memory). With one thread no pthread is ever created, so the workers would only cost
 * start-up time (each one a Node isolate instantiating the module) and memory: the stand-in
 * answers the glue's `load` with `loaded` and holds nothing. Asked to run anything else, it
 * throws (a hang would be worse).
 */
function standInWorker(): object {
  const listeners: Array<(data: unknown) => void> = [];
  const worker = {
    on(event: string, listener: (data: unknown) => void) {
      if (event === 'message') listeners.push(listener);
      return worker;
    },
    postMessage(message: unknown) {
      const cmd = (message as { cmd?: unknown } | null)?.cmd;
      if (cmd === 'load') {
        setTimeout(() => listeners.forEach((l) => l({ cmd: 'loaded' })), 0);
        return;
      }
      throw new Error(`flaxen: tfjs's wasm glue sent '${String(cmd)}' to a stand-in worker, but tfjs runs on one thread here`);
    },
    ref() {},
    unref() {},
    terminate() {
      return Promise.resolve(0);
    },
  };
  return worker;
}

/** `Base`, except that the glue's pthread workers (`blob:` URLs) are stand-ins ({@link standInWorker}). */
function withStandIns(Base: WorkerCtor): WorkerCtor {
  return function (filename: string | URL, options?: import('node:worker_threads').WorkerOptions) {
    return typeof filename === 'string' && filename.startsWith('blob:') ? standInWorker() : new Base(filename, options);
  } as unknown as WorkerCtor;
}

function probeProduct(): string | undefined {
  // Integer-valued operands: every partial sum is exact in float32, so any split of the work
  // between threads must give exactly the loop's numbers.
  const m = 67;
  const k = 45;
  const n = 39;
  const a = new Float32Array(m * k).map((_, i) => ((i * 7) % 11) - 5);
  const b = new Float32Array(k * n).map((_, i) => ((i * 5) % 13) - 6);
  const got = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync());
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      if (got[i * n + j] !== s) return `a probe matMul gave ${got[i * n + j]} at [${i}, ${j}], expected ${s}`;
    }
  }
  return undefined;
}

let warned = false;

/** Warns once that threads are not in use. @internal */
export function warnFallback(reason: string): void {
  if (warned) return;
  warned = true;
  console.warn(`flaxen: WASM threads are not available (${reason}); the wasm backend runs on 1 thread.`);
}

function threadsSupportedByWasm(): boolean {
  try {
    return WebAssembly.validate(
      new Uint8Array([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2,
        0, 26, 11,
      ]),
    );
  } catch {
    return false;
  }
}

/**
 * Starts tfjs's threaded wasm build under Node, with tfjs's kernels on one thread (its memory is
 * shared, which flaxen's kernel pool needs), and makes it the `'wasm'` backend. Resolves to the
 * outcome; never rejects for a threading problem: on any failure the `'wasm'` backend is left as
 * tfjs registered it (one thread, not yet started) with the reason. Call it only before the wasm
 * backend has been started.
 *
 * @internal
 */
export async function startWasmThreads(wasm: WasmModule, timeoutMs = THREAD_START_TIMEOUT_MS): Promise<ThreadsOutcome> {
  const engine = backendRegistries();
  const entry = engine.registryFactory['wasm'] as FactoryEntry | undefined;
  if (!entry || typeof entry.factory !== 'function') return { threads: 1, reason: "tfjs has no 'wasm' backend factory" };
  if (engine.registry['wasm']) return { threads: 1, reason: 'the wasm backend was already started on one thread' };
  try {
    return await start(wasm, entry, timeoutMs);
  } catch (e) {
    // Unexpected: leave tfjs's own one-thread backend registered, not started.
    try {
      if (engine.registryFactory['wasm'] !== entry) {
        if (engine.registryFactory['wasm']) tf.removeBackend('wasm');
        tf.registerBackend('wasm', entry.factory, entry.priority);
      }
      tf.env().set(FLAG, false);
      wasm.setThreadsCount(-1);
    } catch {
      // nothing more can be done; ready() reports the backend's own failure, if any
    }
    return { threads: 1, reason: `unexpected error: ${e instanceof Error ? e.message : String(e)}` };
  }
}

async function start(wasm: WasmModule, entry: FactoryEntry, timeoutMs: number): Promise<ThreadsOutcome> {
  const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';
  if (!isNode) {
    // Browsers: tfjs decides by itself (cross-origin isolation) whether its build is the threaded one.
    wasm.setThreadsCount(1);
    return { threads: 1, decidedByTfjs: true };
  }
  if (typeof SharedArrayBuffer !== 'function') return { threads: 1, reason: 'SharedArrayBuffer is not available' };
  if (!threadsSupportedByWasm()) return { threads: 1, reason: 'this WebAssembly engine has no threads' };
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) return { threads: 1, reason: 'the threaded build needs SIMD' };
  if (typeof Blob !== 'function') return { threads: 1, reason: 'Blob is not available' };

  const { createRequire } = await import('node:module');
  const { readFileSync } = await import('node:fs');
  const require = createRequire(import.meta.url);
  let bundlePath: string;
  let bundle: string;
  try {
    bundlePath = require.resolve('@tensorflow/tfjs-backend-wasm');
    bundle = readFileSync(bundlePath, 'utf8');
  } catch (e) {
    return { threads: 1, reason: `tfjs-backend-wasm's Node bundle could not be read: ${(e as Error).message}` };
  }
  if (!bundle.includes('mainScriptUrlOrBlob') || !bundle.includes('tfjs-backend-wasm-threaded-simd.worker.js')) {
    return { threads: 1, reason: `${bundlePath} does not contain the threaded build this code knows (tfjs-backend-wasm 4.22)` };
  }
  const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
  const abandon = (reason: string): ThreadsOutcome => {
    tf.env().set(FLAG, false);
    wasm.setThreadsCount(-1);
    return { threads: 1, reason };
  };

  const OriginalWorker = workerThreads.Worker;
  // The glue sets a global `Worker` for the workers it allocates later; a failed start takes it back.
  const g = globalThis as { Worker?: unknown };
  const hadGlobalWorker = Object.prototype.hasOwnProperty.call(g, 'Worker');
  const previousGlobalWorker = g.Worker;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let backend: tf.KernelBackend;
  try {
    workerThreads.Worker = withStandIns(OriginalWorker);
    tf.env().set(FLAG, true);
    wasm.setThreadsCount(1);
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the threaded backend did not start within ${timeoutMs} ms`)), timeoutMs);
    });
    const starting = Promise.resolve(entry.factory());
    starting.catch(() => undefined); // a start-up abandoned after a time-out may still reject later
    backend = await Promise.race([starting, timedOut]);
  } catch (e) {
    if (hadGlobalWorker) g.Worker = previousGlobalWorker;
    else delete g.Worker;
    return abandon(e instanceof Error ? e.message : String(e));
  } finally {
    clearTimeout(timer);
    workerThreads.Worker = OriginalWorker;
  }

  const actual = wasm.getThreadsCount();
  if (actual !== 1) {
    backend.dispose();
    return abandon(`the threaded build started with ${actual} thread(s)`);
  }

  // Make this instance the 'wasm' backend; later re-creations (after tf.removeBackend) get tfjs's
  // ordinary one-thread backend.
  let first: tf.KernelBackend | undefined = backend;
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    () => {
      if (first) {
        const b = first;
        first = undefined;
        return b;
      }
      tf.env().set(FLAG, false);
      wasm.setThreadsCount(-1);
      return entry.factory();
    },
    entry.priority,
  );
  let problem: string | undefined;
  try {
    if (!(await tf.setBackend('wasm'))) problem = 'the threaded backend failed to become current';
    else problem = probeProduct();
  } catch (e) {
    problem = `a probe matMul failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (problem !== undefined) {
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', entry.factory, entry.priority);
    return abandon(problem);
  }
  return { threads: actual };
}
