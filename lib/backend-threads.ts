/**
 * Opt-in WebAssembly threads for the wasm backend under Node (`fx.ready('wasm', { threads: 2 })`).
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build but never uses it under Node: its
 * `WASM_HAS_MULTITHREAD_SUPPORT` flag is false whenever `IS_NODE` is true. Forcing the flag is not
 * enough, because the Emscripten glue was written for browsers:
 *
 * 1. it starts its workers with `new Worker(locateFile('…worker.js'))`, and tfjs's `locateFile`
 *    returns a `blob:` URL, which Node's `worker_threads.Worker` rejects (ERR_WORKER_PATH);
 * 2. each worker then receives, in its `load` message, the module factory as a `Blob`
 *    (`mainScriptUrlOrBlob`, the text `var WasmBackendModuleThreadedSimd = <factory source>`),
 *    and that source refers to names that only exist inside tfjs's Node bundle (`require$$0`…,
 *    `commonjsGlobal`, tslib's `__values`, `__read`, `__spreadArray`);
 * 3. the C++ side sizes XNNPACK's pool as min(max(logical cores / 2, 1), 4) threads, whatever
 *    `setThreadsCount` asks for beyond that (1 thread on 2 cores); the glue reads the core count
 *    from `os.cpus()` on the main thread;
 * 4. the workers stay referenced while they run a pthread, so a process that has finished its
 *    work would never exit.
 *
 * Nothing inside node_modules is edited. During the backend's start-up only, the `Worker` export of
 * Node's `worker_threads` module is replaced by a subclass that starts an `eval` worker with a
 * small boot script, reads the two Blobs with `buffer.resolveObjectURL` and `Blob.text()`, and
 * hands their text to the worker together with the bundle's names (read from the bundle's own
 * `var require$$N = require('…')` lines). During the same window `os.cpus()` reports at least
 * twice the requested thread count (the real entries repeated), and the count is passed with tfjs's
 * own `setThreadsCount`. Both patches are undone as soon as the backend has started. The
 * subclass's `ref()` does nothing, so the workers never keep the process alive.
 *
 * Anything that goes wrong (a missing prerequisite, a worker that fails to boot, a start-up that
 * takes longer than the time limit, a thread count below two, a probe product that differs from a
 * plain JS loop) ends with the ordinary one-thread backend and one `console.warn`.
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
type WorkerInstance = import('node:worker_threads').Worker;

const FLAG = 'WASM_HAS_MULTITHREAD_SUPPORT';
const FACTORY_MARK = 'flaxen:wasm-threaded-factory';

/** Start-up time limit for the threaded backend, in ms. @internal */
export const THREAD_START_TIMEOUT_MS = 30_000;

// Runs inside each worker (`new Worker(BOOT, { eval: true })`). The first message carries the
// Emscripten worker script; the `load` message later carries the module factory's source.
const BOOT = `
'use strict';
const { parentPort, workerData } = require('worker_threads');
const g = globalThis;
function report(e) { try { parentPort.postMessage({ flaxenBootError: String((e && e.stack) || e) }); } catch (_) {} }
parentPort.once('message', (m) => {
  try {
    for (const [name, id] of workerData.modules) g[name] = require(id);
    g.commonjsGlobal = g;
    g.require = require;
    g.__dirname = workerData.dirname;
    g.__filename = workerData.filename;
    g._scriptDir = workerData.filename;
    g.__values = function (o) {
      const s = typeof Symbol === 'function' && Symbol.iterator, m = s && o[s];
      if (m) return m.call(o);
      let i = 0;
      return { next: () => ({ value: o && o[i++], done: !o || i > o.length }) };
    };
    g.__read = function (o, n) {
      const m = typeof Symbol === 'function' && o[Symbol.iterator];
      if (!m) return o;
      const it = m.call(o), ar = [];
      let r;
      while ((n === undefined || n-- > 0) && !(r = it.next()).done) ar.push(r.value);
      return ar;
    };
    g.__spreadArray = function (to, from) { return to.concat(Array.prototype.slice.call(from)); };
    parentPort.on('message', (d) => {
      if (d && typeof d.flaxenFactory === 'string') g.__flaxenFactory = d.flaxenFactory;
    });
    (0, eval)(m.flaxenWorkerScript);
    const importScripts = g.importScripts;
    g.importScripts = (f) => {
      if (f === ${JSON.stringify(FACTORY_MARK)}) {
        try { (0, eval)(g.__flaxenFactory); } catch (e) { report(e); throw e; }
      } else importScripts(f);
    };
  } catch (e) { report(e); }
});
`;

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

interface ProbeState {
  probing: boolean;
  failure: string | undefined;
  fail: (reason: string) => void;
  failed: Promise<never>;
  workers: WorkerInstance[];
  workerData: { modules: [string, string][]; dirname: string; filename: string };
}

function makeWorkerClass(Base: WorkerCtor, state: ProbeState, resolveObjectURL: (url: string) => Blob | undefined) {
  return class FlaxenWasmWorker extends Base {
    private flaxenQueue: Promise<void> = Promise.resolve();
    private flaxenQueued = 0;
    private flaxenDirect = false;

    constructor(filename: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      const blobUrl = typeof filename === 'string' && filename.startsWith('blob:');
      super(blobUrl ? BOOT : filename, blobUrl ? { eval: true, workerData: state.workerData, execArgv: workerExecArgv() } : options);
      if (!blobUrl) {
        this.flaxenDirect = true;
        return;
      }
      state.workers.push(this);
      this.unref();
      super.on('message', (d: unknown) => {
        if (d && typeof d === 'object' && 'flaxenBootError' in d) {
          state.fail(`a worker failed to start: ${String((d as { flaxenBootError: unknown }).flaxenBootError).split('\n')[0]}`);
        }
      });
      super.on('exit', (code: number) => {
        if (state.probing) state.fail(`a worker exited during start-up (code ${code})`);
      });
      const blob = resolveObjectURL(filename as string);
      if (!blob || typeof blob.text !== 'function') {
        state.fail("the worker script's blob: URL could not be read");
        return;
      }
      this.enqueue(async () => ({ flaxenWorkerScript: await blob.text() }));
    }

    private enqueue(make: () => Promise<unknown>, transfer?: readonly unknown[]): void {
      this.flaxenQueued++;
      this.flaxenQueue = this.flaxenQueue
        .then(async () => {
          const value = await make();
          super.postMessage(value, transfer as never);
        })
        .catch((e: unknown) => state.fail(`a message to a worker failed: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          this.flaxenQueued--;
        });
    }

    override postMessage(value: unknown, transferList?: readonly unknown[]): void {
      if (this.flaxenDirect) {
        super.postMessage(value, transferList as never);
        return;
      }
      const msg = value as { cmd?: unknown; urlOrBlob?: unknown } | null;
      if (msg && msg.cmd === 'load' && msg.urlOrBlob instanceof Blob) {
        const blob = msg.urlOrBlob;
        this.enqueue(async () => ({ ...msg, urlOrBlob: FACTORY_MARK, flaxenFactory: await blob.text() }), transferList);
      } else if (this.flaxenQueued > 0) {
        this.enqueue(async () => value, transferList);
      } else {
        super.postMessage(value, transferList as never);
      }
    }

    // Workers never keep the process alive: all work is driven synchronously by the main thread.
    override ref(): void {
      if (this.flaxenDirect) super.ref();
    }

    override on(event: string | symbol, listener: (...args: any[]) => void): this {
      if (event !== 'error' || this.flaxenDirect) return super.on(event, listener);
      return super.on('error', (e: unknown) => {
        if (state.probing) state.fail(`a worker failed: ${e instanceof Error ? e.message : String(e)}`);
        else listener(e);
      });
    }
  };
}

/**
 * The worker's Node options: the parent's (inherited), unless they would make the boot script an
 * ES module (`--input-type=module`, `--experimental-default-type=module`); then none, because Node
 * rejects an explicit list with V8 or per-process flags, and the boot script needs none of them.
 */
function workerExecArgv(): string[] | undefined {
  const esm = process.execArgv.some((a, i, all) =>
    /^--(input-type|experimental-default-type)(=|$)/.test(a) && (a.includes('=') ? !a.endsWith('=commonjs') : all[i + 1] !== 'commonjs'),
  );
  return esm ? [] : undefined;
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
 * Starts tfjs's threaded wasm build with `threads` threads under Node (1: the threaded build, whose
 * memory is shared, with XNNPACK on the calling thread) and makes it the `'wasm'`
 * backend. Resolves to the outcome; never rejects for a threading problem: on any failure the
 * `'wasm'` backend is left as tfjs registered it (one thread, not yet started) with the reason.
 * Call it only before the wasm backend has been started.
 *
 * @internal
 */
export async function startWasmThreads(wasm: WasmModule, threads: number, timeoutMs = THREAD_START_TIMEOUT_MS): Promise<ThreadsOutcome> {
  const engine = backendRegistries();
  const entry = engine.registryFactory['wasm'] as FactoryEntry | undefined;
  if (!entry || typeof entry.factory !== 'function') return { threads: 1, reason: "tfjs has no 'wasm' backend factory" };
  if (engine.registry['wasm']) return { threads: 1, reason: 'the wasm backend was already started on one thread' };
  try {
    return await start(wasm, entry, threads, timeoutMs);
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

async function start(wasm: WasmModule, entry: FactoryEntry, threads: number, timeoutMs: number): Promise<ThreadsOutcome> {

  const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';
  if (!isNode) {
    // Browsers: tfjs decides by itself (cross-origin isolation); only the count is ours.
    wasm.setThreadsCount(threads);
    return { threads: 1, decidedByTfjs: true };
  }
  if (typeof SharedArrayBuffer !== 'function') return { threads: 1, reason: 'SharedArrayBuffer is not available' };
  if (!threadsSupportedByWasm()) return { threads: 1, reason: 'this WebAssembly engine has no threads' };
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) return { threads: 1, reason: 'the threaded build needs SIMD' };
  if (typeof Blob !== 'function') return { threads: 1, reason: 'Blob is not available' };

  const { createRequire } = await import('node:module');
  const { readFileSync } = await import('node:fs');
  const { dirname } = await import('node:path');
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
  const modules = [...bundle.matchAll(/^var (require\$\$\d+) = require\('([^']+)'\);$/gm)].map((x) => [x[1]!, x[2]!] as [string, string]);
  const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
  const buffer = require('node:buffer') as typeof import('node:buffer');
  const os = require('node:os') as { cpus: () => import('node:os').CpuInfo[] };
  if (typeof buffer.resolveObjectURL !== 'function') return { threads: 1, reason: 'buffer.resolveObjectURL is not available' };

  let rejectFailed!: (e: Error) => void;
  const state: ProbeState = {
    probing: true,
    failure: undefined,
    fail: (reason) => {
      if (state.failure === undefined) {
        state.failure = reason;
        rejectFailed(new Error(reason));
      }
    },
    failed: new Promise<never>((_, reject) => {
      rejectFailed = reject;
    }),
    workers: [],
    workerData: { modules, dirname: dirname(bundlePath), filename: bundlePath },
  };
  state.failed.catch(() => undefined);

  const OriginalWorker = workerThreads.Worker;
  const g = globalThis as { Worker?: unknown };
  const hadGlobalWorker = Object.prototype.hasOwnProperty.call(g, 'Worker');
  const previousGlobalWorker = g.Worker;
  // One thread: the glue's workers would never run a pthread, so they are stand-ins.
  const RealWorker = makeWorkerClass(OriginalWorker, state, (url) => buffer.resolveObjectURL(url) as Blob | undefined);
  const FlaxenWorker = threads === 1 ? withStandIns(RealWorker) : RealWorker;
  // The C++ side sizes its pool as min(max(logical cores / 2, 1), 4) threads and ignores a larger
  // setThreadsCount; the glue reads the core count from os.cpus() on the main thread.
  const originalCpus = os.cpus;
  const paddedCpus = () => {
    const real = originalCpus.call(os);
    const want = Math.max(real.length, 2 * threads);
    return real.length === 0 ? real : Array.from({ length: want }, (_, i) => real[i % real.length]!);
  };
  const restoreGlobals = (keepGlobalWorker: boolean) => {
    os.cpus = originalCpus;
    workerThreads.Worker = OriginalWorker;
    if (keepGlobalWorker) return; // the glue allocates further workers through the global later
    if (hadGlobalWorker) g.Worker = previousGlobalWorker;
    else delete g.Worker;
  };
  const abandon = (reason: string): ThreadsOutcome => {
    state.probing = false;
    for (const w of state.workers) void w.terminate().catch(() => undefined);
    tf.env().set(FLAG, false);
    wasm.setThreadsCount(-1);
    return { threads: 1, reason };
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  let backend: tf.KernelBackend;
  try {
    workerThreads.Worker = FlaxenWorker;
    os.cpus = paddedCpus;
    tf.env().set(FLAG, true);
    wasm.setThreadsCount(threads);
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the threaded backend did not start within ${timeoutMs} ms`)), timeoutMs);
    });
    const starting = Promise.resolve(entry.factory());
    starting.catch(() => undefined); // a start-up abandoned after a failure may still reject later
    backend = await Promise.race([starting, state.failed, timedOut]);
  } catch (e) {
    restoreGlobals(false);
    return abandon(state.failure ?? (e instanceof Error ? e.message : String(e)));
  } finally {
    clearTimeout(timer);
  }
  restoreGlobals(true);

  const actual = wasm.getThreadsCount();
  if (threads > 1 ? !(actual > 1) : actual !== 1) {
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
  if (problem === undefined && state.failure !== undefined) problem = state.failure;
  state.probing = false;
  if (problem !== undefined) {
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', entry.factory, entry.priority);
    return abandon(problem);
  }
  return { threads: actual };
}
