/**
 * Backend set-up: flaxen's math runs on tfjs-core; the default backend is WebAssembly with
 * SIMD, which is 28–53× faster than tfjs's pure-JS cpu backend on this kind of machine.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import './autodiff/register-gradients.js';
import { FlaxenError, describeValue } from './errors.js';
import { trackReady } from './backend-state.js';
import { startWasmThreads, warnFallback } from './backend-threads.js';
import { ownKernelsAvailable, prepareOwnKernels, startOwnKernelPool } from './ops/gemm.js';
import { backendRegistries } from './tfjs-internals.js';

/** What {@link backendInfo} reports. */
export interface BackendInfo {
  /** The current tfjs backend, e.g. `'wasm'`. */
  readonly name: string;
  /** True when the wasm backend runs its SIMD build. */
  readonly simd: boolean;
  /**
   * True when flaxen's own WebAssembly kernels (matrix products, convolutions as products, the
   * max-pool gradient; see the performance guide, docs/performance.md) run on this backend:
   * the wasm backend with SIMD, after `fx.ready`. False elsewhere; tfjs's kernels then do all
   * the work, with the same results.
   */
  readonly ownKernels: boolean;
  /**
   * The number of threads flaxen's kernels compute on. Present once `ready` has been asked for
   * a thread count (`fx.ready('wasm', { threads: 2 })`, or `{ threads: 'auto' }`): the count
   * actually in use, 1 after a fallback. Absent by default (one thread).
   */
  readonly threads?: number;
}

/** The backends `ready` can set up. */
export type BackendName = 'wasm' | 'cpu';

/**
 * A thread count for {@link ready}: an integer ≥ 1, or `'auto'` for one thread per core (at
 * most 8; 1 in a browser page without cross-origin isolation).
 *
 * @example
 * ```ts no-run
 * const threads: fx.ThreadCount = 'auto';
 * await fx.ready('wasm', { threads });
 * ```
 */
export type ThreadCount = number | 'auto';

const pending = new Map<BackendName, Promise<void>>();

/** The thread count to report once threads were asked for or chosen (undefined: neither). */
let reportedThreads: number | undefined;
let threadsStart: Promise<void> | undefined;
let poolStart: Promise<void> | undefined;

/**
 * Threads for flaxen's kernels: tfjs's threaded build (the one with a shared memory, which the
 * kernel pool's workers need), with tfjs's own kernels (XNNPACK) on the calling thread, and
 * flaxen's kernels split across a pool of `threads − 1` workers. XNNPACK stays on one thread
 * whatever the count: its small kernels (element-wise ops, reductions, softmax) would pay a
 * wake-up each, and its pool's thread spins for a while after each kernel, holding the core that
 * flaxen's workers need (measured: docs/threads.md). `auto`: the count was chosen by `ready`.
 */
async function startThreads(threads: number, auto: boolean): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (backendRegistries().registry['wasm']) {
    if (auto) {
      reportedThreads = 1; // started by a tfjs op before ready: stays as it is, on one thread
      return;
    }
    warnFallback('the wasm backend had already been started on one thread; ask for threads in the first fx.ready call');
    reportedThreads = 1;
    return;
  }
  const outcome = await startWasmThreads(wasm);
  // In a browser tfjs decides by itself whether it can use its threaded build (cross-origin
  // isolation); the kernel pool then finds out whether the memory is shared.
  if (outcome.decidedByTfjs) {
    reportedThreads = (await tf.setBackend('wasm')) ? threads : 1;
    return;
  }
  if (outcome.reason !== undefined) warnFallback(outcome.reason);
  reportedThreads = outcome.reason !== undefined ? 1 : threads;
}

/**
 * The thread count `ready` chooses for `{ threads: 'auto' }`: the cores available
 * (`os.availableParallelism()` under Node, `navigator.hardwareConcurrency` in a browser), at most
 * 8; 1 in a browser page that is not cross-origin isolated (no shared memory), with a notice.
 * @internal
 */
export async function defaultThreadCount(): Promise<number> {
  let cores = 1;
  if (typeof process === 'object' && typeof process.versions?.node === 'string') {
    const os = await import('node:os');
    cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } else if (typeof navigator === 'object' && typeof navigator.hardwareConcurrency === 'number') {
    cores = navigator.hardwareConcurrency;
    if (cores > 1 && !(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
      console.warn('flaxen: this page is not cross-origin isolated (serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so there is no shared memory; the wasm backend runs on 1 thread.');
      return 1;
    }
  }
  return Math.max(1, Math.min(8, Math.floor(cores)));
}

async function register(name: BackendName): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  else await import('@tensorflow/tfjs-backend-cpu');
}

/**
 * Sets up a tfjs backend once and makes it current; resolves to its name. `'wasm'` (the
 * default) uses SIMD where the platform has it (Node 20 and every current browser do).
 * Everything else in flaxen is synchronous, so call this once at start-up.
 *
 * Threads. By default the wasm backend computes on one thread (tfjs's one-thread build; nothing
 * else is started). `fx.ready('wasm', { threads: n })` (n ≥ 2), in the call that first starts
 * the wasm backend, splits flaxen's own kernels (products, convolutions, their gradients, the
 * fused Adam step) across a pool of n − 1 workers that share the backend's memory, with the same
 * results bit for bit on any thread count; small work stays on the calling thread, and tfjs's own
 * kernels (XNNPACK) stay on one thread. `{ threads: 'auto' }` takes one thread per core
 * (`os.availableParallelism()` under Node, `navigator.hardwareConcurrency` in a browser, at most
 * 8). Threads pay only for large products on cores nothing else is using; the threads guide,
 * docs/threads.md, has the figures and the costs (start-up, memory). A browser page needs cross-origin isolation
 * (COOP/COEP headers) for shared memory; without it `ready` says so in one `console.warn` and
 * runs on one thread. The workers never keep a process alive. When threads cannot be used, the
 * backend falls back to one thread with one `console.warn`; {@link backendInfo} then reports
 * `threads: 1`.
 *
 * @param backendOrOptions `'wasm'` (the default) or `'cpu'`, or an object `{ backend, threads }`.
 * @param options `{ threads }` when the first argument is a backend name: the number of
 * WebAssembly threads for the wasm backend, an integer ≥ 1 or `'auto'` (default: 1).
 *
 * @example
 * ```ts own-process
 * import * as fx from 'flaxen';
 * // A thread count (Node or a cross-origin-isolated page), asked for in the call that first
 * // starts the wasm backend; falls back to 1 thread with a console.warn when threads cannot be
 * // used:
 * await fx.ready('wasm', { threads: 2 });   // 'wasm'
 * fx.backendInfo().threads;                 // 2
 * await fx.ready('cpu');   // the pure-JS backend, e.g. for debugging
 * await fx.ready();        // 'wasm' again
 * ```
 */
export async function ready(
  backendOrOptions: BackendName | { readonly backend?: BackendName; readonly threads?: ThreadCount } = 'wasm',
  options: { readonly threads?: ThreadCount } = {},
): Promise<BackendName> {
  let backend: BackendName;
  let threads: ThreadCount | undefined;
  if (typeof backendOrOptions === 'object' && backendOrOptions !== null) {
    backend = backendOrOptions.backend ?? 'wasm';
    threads = backendOrOptions.threads;
  } else {
    backend = backendOrOptions;
    if (typeof options !== 'object' || options === null) {
      throw new FlaxenError('', `ready(backend, options) takes an options object, found ${describeValue(options)}`);
    }
    threads = options.threads;
  }
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new FlaxenError('', `ready(backend) takes 'wasm' or 'cpu', found ${describeValue(backend)}`);
  }
  if (threads !== undefined && threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) {
    throw new FlaxenError('', `ready: threads must be 'auto' or an integer ≥ 1, found ${describeValue(threads)}`);
  }
  if (threads !== undefined && threads !== 1 && backend !== 'wasm') {
    throw new FlaxenError('', `ready: threads apply to the 'wasm' backend only, found backend '${backend}'`);
  }
  // Calls run one after another, so that no call can start the one-thread wasm backend while
  // another is starting the threaded one.
  const run = serial.then(() => setUp(backend, threads));
  trackReady(run);
  serial = run.catch(() => undefined);
  return run;
}

let serial: Promise<unknown> = Promise.resolve();

async function setUp(backend: BackendName, threads?: ThreadCount): Promise<BackendName> {
  const before = errorListeners();
  try {
    return await setUpBackend(backend, threads);
  } finally {
    removeEmscriptenListeners(before);
  }
}

type ErrorListeners = { readonly [K in 'uncaughtException' | 'unhandledRejection']: readonly Function[] };

/** The process's error listeners now; none outside Node. */
function errorListeners(): ErrorListeners {
  const hasListeners = typeof process === 'object' && typeof process.listeners === 'function';
  return {
    uncaughtException: hasListeners ? process.listeners('uncaughtException') : [],
    unhandledRejection: hasListeners ? process.listeners('unhandledRejection') : [],
  };
}

/**
 * When tfjs-backend-wasm's Emscripten module starts under Node, it adds an 'uncaughtException'
 * listener that rethrows every error but Emscripten's ExitStatus, and an 'unhandledRejection'
 * listener that throws the reason. An error thrown by such a listener makes Node report every
 * uncaught error, even the user's own, as thrown inside tf-backend-wasm.node.js, and exit with
 * code 7. The module never exits (it runs with noExitRuntime), so no ExitStatus can come, and
 * removing the two listeners gives Node's own behaviour back: the error's stack, exit code 1.
 * Only listeners added while the backend started, with exactly that code, are removed.
 */
function removeEmscriptenListeners(before: ErrorListeners): void {
  const after = errorListeners();
  const emscripten = {
    uncaughtException: /^function\s*\(\w+\)\s*\{\s*if\s*\(!\(\w+ instanceof ExitStatus\)\)\s*\{\s*throw \w+;?\s*\}\s*\}$/,
    unhandledRejection: /^function\s*\((\w+)\)\s*\{\s*throw \1;?\s*\}$/,
  } as const;
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    for (const listener of after[event]) {
      if (!before[event].includes(listener) && emscripten[event].test(String(listener))) {
        process.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}

async function setUpBackend(backend: BackendName, asked?: ThreadCount): Promise<BackendName> {
  let loading = pending.get(backend);
  if (!loading) {
    loading = register(backend);
    pending.set(backend, loading);
  }
  await loading;
  // No count asked for: one thread (nothing else is started), or whatever an earlier call started.
  if (backend === 'wasm' && asked === undefined && threadsStart) await threadsStart;
  if (backend === 'wasm' && asked !== undefined) {
    const threads = asked === 'auto' ? await defaultThreadCount() : asked;
    if (threads > 1) {
      threadsStart ??= startThreads(threads, asked === 'auto');
      await threadsStart;
      if (reportedThreads !== undefined && reportedThreads > 1 && reportedThreads < threads) {
        warnFallback(`the wasm backend had already been started with ${reportedThreads} threads`);
      }
    } else {
      reportedThreads ??= 1;
    }
  }
  const ok = await tf.setBackend(backend);
  if (!ok) throw new FlaxenError('', `the '${backend}' backend failed to start`);
  await tf.ready();
  // Compiled here, asynchronously: a browser's main thread refuses to compile them on first use.
  if (backend === 'wasm') await prepareOwnKernels();
  if (backend === 'wasm' && reportedThreads !== undefined && reportedThreads > 1) {
    poolStart ??= startOwnKernelPool(reportedThreads).then((r) => {
      if (r.threads < reportedThreads!) {
        warnFallback(`the kernel workers did not start: ${r.reason ?? 'unknown reason'}`);
        reportedThreads = 1;
      }
    });
    await poolStart;
  }
  return backend;
}

/**
 * What the current backend runs on: its name and, for wasm, whether the SIMD build is in use,
 * whether flaxen's own kernels run, and on how many threads.
 *
 * @example
 * ```ts
 * await fx.ready();
 * const info = fx.backendInfo();
 * info.name;        // 'wasm'
 * info.simd;        // true
 * info.ownKernels;  // true
 * info.threads;     // undefined: one thread unless fx.ready was asked for threads
 * ```
 */
export function backendInfo(): BackendInfo {
  const name = tf.getBackend();
  const simd = name === 'wasm' && tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const ownKernels = name === 'wasm' && ownKernelsAvailable();
  if (reportedThreads === undefined) return { name, simd, ownKernels };
  return { name, simd, ownKernels, threads: name === 'wasm' ? reportedThreads : 1 };
}
