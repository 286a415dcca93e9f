/**
 * A pool of workers that run flaxen's own WebAssembly kernels on the wasm backend's shared
 * memory, so that one kernel call can be split across threads.
 *
 * Each worker instantiates the kernels' modules (the builds that import a shared memory) on the
 * backend's memory, so a kernel called in a worker reads and writes the very tensors the backend
 * holds. A call ({@link KernelPool.run}) is a queue of parts in a control block (a
 * SharedArrayBuffer, laid out in `worker-source.ts`): the calling thread writes the parts, wakes
 * the workers with `Atomics.notify`, and then takes parts from the queue itself, as the workers
 * do, until none is left; it then waits for the parts the workers took, first in a short spin
 * (the last part is nearly done), then in `Atomics.wait` (in a browser's main thread, which may
 * not block, by polling). A worker that has not woken by then takes nothing: on a busy machine
 * the calling thread does the work, and never waits for a sleeping core. Idle workers sleep in
 * `Atomics.wait`.
 *
 * The pool never decides how work is split: the callers (`split.ts`) give each part an output
 * range of its own, so results do not depend on the number of threads nor on who ran which part.
 *
 * Under Node the workers are `unref`ed: they never keep a process alive.
 *
 * @module
 */
import { FlaxenError } from '../../errors.js';
import { CLAIM, CONTROL_BYTES, DONE, FAILED, GEN, JOB_BYTES, JOBS_BYTE, MAX_ARGS, MAX_JOBS, NJOBS, WORKER_SOURCE } from './worker-source.js';

/** @internal A module the workers instantiate, and the exports they serve, in job-index order. */
export interface PoolModule {
  readonly module: WebAssembly.Module;
  readonly names: readonly string[];
}

/** @internal How long a worker may take to start before the pool is given up. */
export const POOL_START_TIMEOUT_MS = 30_000;

/** A worker that has not finished its part after this long is taken for dead (never a hang). */
const JOB_TIMEOUT_MS = 60_000;

/**
 * @internal
 * Checks of the done count before the calling thread sleeps: its parts are done, and the
 * workers' last part usually ends within microseconds (parts are of equal size); a sleep would
 * add a wake-up (tens of µs) to every call. Writable for bench/pool-threshold.ts.
 */
export const poolTuning = { callerSpinChecks: 20_000 };

interface WorkerHandle {
  terminate(): unknown;
}

/** @internal A started pool of kernel workers on one shared memory. */
export class KernelPool {
  /** The number of threads a kernel call can use: the workers and the calling thread. */
  readonly threads: number;
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;
  private readonly index: ReadonlyMap<string, number>;
  private readonly canWait: boolean;
  private gen = 0;
  /** Kernel calls split so far, by kernel name (specs check that the pool was used). */
  readonly splitCalls: Record<string, number> = {};
  /** Parts the workers ran (the rest the calling thread ran). */
  workerParts = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    control: SharedArrayBuffer,
    names: readonly string[],
    private readonly workers: readonly WorkerHandle[],
  ) {
    this.threads = workers.length + 1;
    this.ctrl = new Int32Array(control);
    this.args = new Float64Array(control);
    this.index = new Map(names.map((n, i) => [n, i]));
    this.canWait = blockingAllowed(this.ctrl);
  }

  /**
   * Runs `name` once per part (its arguments), the parts shared between the calling thread (which
   * calls `local`) and the workers; returns when all are done. Each part must write a range of
   * memory of its own. At most {@link MAX_JOBS} parts.
   */
  run(name: string, local: (...args: number[]) => unknown, parts: readonly (readonly number[])[]): void {
    const fn = this.index.get(name);
    if (fn === undefined) throw new FlaxenError('', `kernel pool: no kernel named '${name}'`);
    const jobs = parts.length;
    if (jobs > MAX_JOBS) throw new FlaxenError('', `kernel pool: ${jobs} parts, at most ${MAX_JOBS}`);
    const { ctrl, args } = this;
    for (let i = 0; i < jobs; i++) {
      const part = parts[i]!;
      if (part.length > MAX_ARGS) throw new FlaxenError('', `kernel pool: ${part.length} arguments, at most ${MAX_ARGS}`);
      const rec = (JOBS_BYTE + i * JOB_BYTES) / 4;
      ctrl[rec] = fn;
      ctrl[rec + 1] = part.length;
      args.set(part, rec / 2 + 1);
    }
    const gen = (this.gen = this.gen >= 0x7fffff ? 1 : this.gen + 1);
    const tag = gen * 256;
    Atomics.store(ctrl, NJOBS, jobs);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, FAILED, 0);
    Atomics.store(ctrl, CLAIM, tag);
    Atomics.store(ctrl, GEN, gen);
    Atomics.notify(ctrl, GEN, Math.min(jobs - 1, this.threads - 1));
    this.splitCalls[name] = (this.splitCalls[name] ?? 0) + 1;
    let failure: unknown;
    let ranHere = 0;
    for (;;) {
      const c = Atomics.load(ctrl, CLAIM);
      const i = c - tag;
      if (i >= jobs) break;
      if (Atomics.compareExchange(ctrl, CLAIM, c, c + 1) !== c) continue;
      ranHere++;
      // After a failure the remaining parts are only counted: no worker may still be writing
      // when this returns, and every taken part must be counted done.
      if (failure === undefined) {
        try {
          local(...parts[i]!);
        } catch (e) {
          failure = e;
        }
      }
      Atomics.add(ctrl, DONE, 1);
    }
    this.workerParts += jobs - ranHere;
    this.await(jobs);
    if (failure !== undefined) throw failure;
    if (ctrl[FAILED] !== 0) throw new FlaxenError('', `kernel pool: the kernel '${name}' failed in a worker`);
  }

  /** Waits until `jobs` parts are done: a short spin, then `Atomics.wait` (or polling where blocking is not allowed). */
  private await(jobs: number): void {
    const { ctrl } = this;
    let done = Atomics.load(ctrl, DONE);
    for (let s = poolTuning.callerSpinChecks; done !== jobs && s > 0; s--) done = Atomics.load(ctrl, DONE);
    if (done === jobs) return;
    const start = Date.now();
    for (;;) {
      done = Atomics.load(ctrl, DONE);
      if (done === jobs) return;
      if (this.canWait) Atomics.wait(ctrl, DONE, done, 1000);
      if (Date.now() - start > JOB_TIMEOUT_MS) {
        throw new FlaxenError('', `kernel pool: a worker has not finished its part after ${JOB_TIMEOUT_MS / 1000} s`);
      }
    }
  }

  /** Stops the workers (the pool cannot be used afterwards). */
  terminate(): void {
    for (const w of this.workers) void Promise.resolve(w.terminate()).catch(() => undefined);
  }
}

/** Whether this thread may block in `Atomics.wait` (a browser's main thread may not). */
function blockingAllowed(ctrl: Int32Array): boolean {
  try {
    Atomics.wait(ctrl, ctrl.length - 1, 1, 0); // the last word is never 1: returns 'not-equal'
    return true;
  } catch {
    return false;
  }
}

const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';

/**
 * The worker's Node options: the parent's (inherited), unless they would make the worker's
 * script an ES module (`--input-type=module`, `--experimental-default-type=module`); then none,
 * because Node rejects an explicit list with V8 or per-process flags, and the script needs none.
 * @internal
 */
export function workerExecArgv(): string[] | undefined {
  const esm = process.execArgv.some((a, i, all) =>
    /^--(input-type|experimental-default-type)(=|$)/.test(a) && (a.includes('=') ? !a.endsWith('=commonjs') : all[i + 1] !== 'commonjs'),
  );
  return esm ? [] : undefined;
}

/** Starts one worker and resolves when it reports ready (rejects with the reason otherwise). */
async function startWorker(init: object, timeoutMs: number): Promise<WorkerHandle> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a kernel worker did not start within ${timeoutMs} ms`)), timeoutMs);
  });
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: workerExecArgv() });
    const started = new Promise<WorkerHandle>((resolve, reject) => {
      worker.once('message', (m: { ready?: boolean; failed?: string }) => (m.ready ? resolve(worker) : reject(new Error(m.failed ?? 'no ready message'))));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`a kernel worker exited with code ${code}`)));
    });
    worker.postMessage(init);
    try {
      const w = await Promise.race([started, limit]);
      worker.removeAllListeners('exit');
      worker.removeAllListeners('error');
      worker.on('error', () => undefined);
      worker.unref();
      return w;
    } catch (e) {
      void worker.terminate().catch(() => undefined);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url);
  const started = new Promise<WorkerHandle>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<{ ready?: boolean; failed?: string }>) => (e.data.ready ? resolve(worker) : reject(new Error(e.data.failed ?? 'no ready message')));
    worker.onerror = (e) => reject(new Error(e.message || 'a kernel worker failed to start'));
  });
  worker.postMessage(init);
  try {
    return await Promise.race([started, limit]);
  } catch (e) {
    worker.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
    URL.revokeObjectURL(url);
  }
}

/**
 * @internal
 * Starts `workers` workers on `memory` (which must be shared), each with an instance of every
 * module; resolves to the pool, or to the reason it cannot run (then no worker is left running).
 */
export async function startKernelPool(memory: WebAssembly.Memory, modules: readonly PoolModule[], workers: number, timeoutMs = POOL_START_TIMEOUT_MS): Promise<KernelPool | string> {
  if (typeof SharedArrayBuffer !== 'function' || !(memory.buffer instanceof SharedArrayBuffer)) return 'the backend memory is not shared';
  if (typeof Atomics !== 'object' || typeof Atomics.wait !== 'function') return 'Atomics.wait is not available';
  if (!isNode && typeof Worker !== 'function') return 'Web Workers are not available';
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const names = modules.flatMap((m) => m.names);
  const results = await Promise.allSettled(
    Array.from({ length: workers }, () => startWorker({ modules: modules.map((m) => ({ module: m.module, names: [...m.names] })), memory, control }, timeoutMs)),
  );
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const w of started) void Promise.resolve(w.terminate()).catch(() => undefined);
    return failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
  }
  return new KernelPool(memory, control, names, started);
}
