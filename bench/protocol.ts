/**
 * What the benchmark's parent and its worker processes say to each other, and the timing
 * helpers they share. Imports nothing from flaxen: the tfjs-layers worker loads this file too
 * and must run in a process where flaxen has changed nothing.
 *
 * @module
 */

/** A measurement the parent asks a worker for. One round each: the parent interleaves rounds. */
export type Task =
  | { readonly kind: 'peak' }
  | { readonly kind: 'mlp'; readonly batch: number; readonly steps: number; readonly tx?: OptimizerName }
  | { readonly kind: 'lenet'; readonly batch: number; readonly steps: number }
  | { readonly kind: 'infer'; readonly batch: number; readonly steps: number }
  | { readonly kind: 'draw'; readonly size: number }
  | { readonly kind: 'initShapes' }
  | { readonly kind: 'memory'; readonly steps: readonly number[] }
  | { readonly kind: 'profile'; readonly model: 'mlp' | 'lenet'; readonly batch: number }
  | { readonly kind: 'info' }
  | { readonly kind: 'exit' };

/** The optimizer of a training step: `adam(1e-3)`, or `chain(clipByGlobalNorm(1), adam(1e-3))`. */
export type OptimizerName = 'adam' | 'clipped adam';

/** A worker's answer: named numbers (or notes), or the error it met. */
export type Reply = { readonly ok: true; readonly value: Readonly<Record<string, number | string>> } | { readonly ok: false; readonly error: string };

/** The median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The time of one call: wall-clock and CPU milliseconds (user + system time of this process).
 * On a machine shared with other jobs, wall time also counts the moments the process waits
 * for a core; CPU time counts only its own work. With one wasm thread (tfjs's default under
 * Node) that is the time of the math; with `fx.ready('wasm', { threads: 2 })` it is the sum over
 * all the process's threads, so there only wall time says how long a call took.
 */
export interface Timing {
  readonly ms: number;
  readonly cpuMs: number;
}

/** CPU milliseconds used by this process so far. */
export function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * The warm-up of a measurement's first round, on either side: calls for this long (and at least
 * 5). V8 is still compiling hot JS on background threads for the first seconds of a training
 * loop (about one TurboFan job every two LeNet steps, 1–3 ms each), which counts in the
 * process's CPU time; later rounds measure the steady state.
 */
export const FIRST_WARMUP_MS = 1500;

/** How many warm-up calls: a count, or `'first'` for {@link FIRST_WARMUP_MS} of calls. */
export type Warmup = number | 'first';

function warmupDone(warmup: Warmup, calls: number, started: number): boolean {
  return warmup === 'first' ? calls >= 5 && performance.now() - started >= FIRST_WARMUP_MS : calls >= warmup;
}

/** Per-call medians over `n` calls of `fn` after the warm-up calls. */
export function timeEach(fn: () => void, n: number, warmup: Warmup = 3): Timing {
  for (let i = 0, t0 = performance.now(); !warmupDone(warmup, i, t0); i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = cpuNow();
    const t = performance.now();
    fn();
    wall.push(performance.now() - t);
    cpu.push(cpuNow() - c);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

/** Like {@link timeEach} for an async step. */
export async function timeEachAsync(fn: () => Promise<void>, n: number, warmup: Warmup = 3): Promise<Timing> {
  for (let i = 0, t0 = performance.now(); !warmupDone(warmup, i, t0); i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = cpuNow();
    const t = performance.now();
    await fn();
    wall.push(performance.now() - t);
    cpu.push(cpuNow() - c);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

/** The floating-point operations of `[n, k] · [k, m]`. */
export function matMulFlops(n: number, k: number, m: number): number {
  return 2 * n * k * m;
}

/**
 * Serves tasks from the parent over the IPC channel until `exit`. Every task runs to
 * completion before the next is read (the parent sends one at a time).
 */
export function serve(handle: (task: Task) => Promise<Record<string, number | string>> | Record<string, number | string>): void {
  process.on('message', async (task: Task) => {
    if (task.kind === 'exit') {
      process.exit(0);
    }
    let reply: Reply;
    try {
      reply = { ok: true, value: await handle(task) };
    } catch (error) {
      reply = { ok: false, error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
    }
    // Collect this round's garbage now, outside the timed region and before the parent starts
    // another worker's round: V8 would otherwise collect it on background threads while the
    // next process is being measured (the workers run with --expose-gc).
    (globalThis as { gc?: () => void }).gc?.();
    process.send!(reply);
  });
  process.send!({ ok: true, value: { ready: 1 } } satisfies Reply);
}

/** A pool of synthetic MNIST-shaped batches (JS arrays; a tensor is made from one per step). */
export function makeBatches(batch: number, count: number, features = 784, classes = 10): Array<{ x: Float32Array; labels: Int32Array }> {
  // A fixed linear congruential sequence: the data only has to be the same in both processes.
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const out: Array<{ x: Float32Array; labels: Int32Array }> = [];
  for (let b = 0; b < count; b++) {
    const x = new Float32Array(batch * features);
    for (let i = 0; i < x.length; i++) x[i] = next();
    const labels = new Int32Array(batch);
    for (let i = 0; i < batch; i++) labels[i] = Math.floor(next() * classes);
    out.push({ x, labels });
  }
  return out;
}

/** FLOPs of one MLP 784-256-10 training step: forward, the kernel gradients, and dx of layer 2 only. */
export function mlpStepFlops(batch: number): number {
  const forward = matMulFlops(batch, 784, 256) + matMulFlops(batch, 256, 10);
  const kernelGrads = forward;
  const inputGrad = matMulFlops(batch, 10, 256); // the first layer's input gradient is not needed
  return forward + kernelGrads + inputGrad;
}
