// Shared by the specs: the backend under test (FLAXEN_BACKEND=cpu to run the suite on cpu),
// and helpers that compare numbers and count live tensors.
import * as tf from '@tensorflow/tfjs-core';
import { test as uvuTest, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../lib/index.js';
import { setOwnGemm } from '../lib/ops/gemm.js';

export const backend = await fx.ready((process.env['FLAXEN_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');

/** Asserts that two arrays of numbers agree within `atol + rtol·|expected|` elementwise. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5, what = ''): void {
  assert.is(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.unreachable(`${what} element ${i}: ${a} vs expected ${e} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** The values of a tensor as a plain array. */
export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Runs `fn` and returns how many tensors it left alive, with its result. */
export function tensorDelta<T>(fn: () => T): { result: T; delta: number } {
  const before = tf.memory().numTensors;
  const result = fn();
  return { result, delta: tf.memory().numTensors - before };
}

/** Asserts that `fn` throws an error of class `cls` whose message contains every fragment. */
export function assertThrows(fn: () => unknown, cls: abstract new (...args: any[]) => Error, ...fragments: string[]): Error {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
    for (const f of fragments) assert.ok((error as Error).message.includes(f), `message ${JSON.stringify((error as Error).message)} should contain ${JSON.stringify(f)}`);
    return error as Error;
  }
  assert.unreachable(`expected ${cls.name} to be thrown`);
  throw new Error('unreachable');
}

/** Runs `fn` and counts the tfjs kernels named `kernel` it dispatched (e.g. `Identity` copies). */
export function countKernel<T>(kernel: string, fn: () => T): [T, number] {
  let count = 0;
  const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const runKernel = engine.runKernel;
  engine.runKernel = function (this: unknown, name: string, ...rest: unknown[]) {
    if (name === kernel) count++;
    return runKernel.call(this, name, ...rest);
  };
  try {
    return [fn(), count];
  } finally {
    engine.runKernel = runKernel;
  }
}

/**
 * The gradients of `loss` at `params` by tfjs's own `tf.grads` (no flaxen tape), in sorted path
 * order, with the number of Identity (copy) kernels that run took.
 */
export function stockGradients<P>(loss: (params: P) => tf.Tensor, params: P): { stock: tf.Tensor[]; paths: string[]; copies: number } {
  const paths = fx.tree.flatten(params).map(([path]) => path);
  const leaves = fx.tree.leaves(params) as tf.Tensor[];
  const [stock, copies] = countKernel('Identity', () => tf.grads((...ts: tf.Tensor[]) => loss(fx.tree.unflatten(ts.map((t, i) => [paths[i]!, t] as const)) as P))(leaves));
  return { stock, paths, copies };
}

/** Asserts that a gradient tree has the given paths and equals `stock` (same order) bit for bit. */
export function assertSameBits(grads: unknown, stock: readonly tf.Tensor[], paths: readonly string[]): void {
  const flat = fx.tree.flatten(grads);
  assert.is(flat.length, stock.length, 'number of gradients');
  flat.forEach(([path, g], i) => {
    assert.is(path, paths[i]);
    const a = (g as tf.Tensor).dataSync(), b = stock[i]!.dataSync();
    for (let j = 0; j < b.length; j++) if (!Object.is(a[j], b[j])) assert.unreachable(`${path}[${j}]: ${a[j]} vs ${b[j]}`);
  });
}

/**
 * The check of layers that keep their inputs for the backward pass: `fx.valueAndGrad(loss)` at
 * `params` leaves only the value and the gradients alive, its gradients are tf.grads' bit for
 * bit, and a loss that throws after `forward` ran releases what the layers kept. Disposes what
 * it made; returns the Identity (copy) kernels of both runs, for the caller's bound.
 */
export function checkKeptInputs<P>(loss: (params: P) => tf.Tensor, params: P, forward: (params: P) => unknown): { copies: number; stockCopies: number } {
  const before = tf.memory().numTensors;
  const [[value, grads], copies] = countKernel('Identity', () => fx.valueAndGrad(loss)(params));
  assert.is(tf.memory().numTensors, before + 1 + fx.tree.leaves(grads).length, 'only the value and the gradients stay');
  // Under tf.grads (tfjs's own tape, no flaxen valueAndGrad) the layers save copies as tfjs does.
  const { stock, paths, copies: stockCopies } = stockGradients(loss, params);
  assertSameBits(grads, stock, paths);
  tf.dispose([value, ...stock]);
  fx.tree.dispose(grads);
  assert.is(tf.memory().numTensors, before);
  assert.throws(() => fx.grad((p: P) => {
    forward(p);
    throw new RangeError('late boom');
  })(params), /late boom/);
  assert.is(tf.memory().numTensors, before, 'a loss that threw after the layers ran released what they kept');
  return { copies, stockCopies };
}

/**
 * Runs `f` with flaxen's own WebAssembly kernels (lib/ops/gemm.c: products, convolutions, the
 * max-pool gradient; one-thread wasm only) turned on or off; off, tfjs's ops do the work.
 */
export function withOwnKernels<T>(own: boolean, f: () => T): T {
  const previous = setOwnGemm(own);
  try {
    return f();
  } finally {
    setOwnGemm(previous);
  }
}

const transients: tf.Tensor[] = [];
/**
 * Marks `t`, an input made inline for one call (`f(x, transient(tf.zeros([2, 4])))`, typically
 * a bad argument whose call throws), to be disposed after the current test, before its tensors
 * are counted. Returns `t`.
 */
export function transient<T extends tf.Tensor>(t: T): T {
  transients.push(t);
  return t;
}

/**
 * Makes every test of `suite` leave tf.memory() as it found it: each test's growth in live
 * tensors is collected in the returned list (a hook that threw would stop uvu's run), which the
 * file's last test asserts is empty. Tensors pushed to `made` (inputs made inline for one call)
 * are disposed after each test, before counting.
 */
export function collectLeaks(suite: Test, made: tf.Tensor[] = []): string[] {
  const leaks: string[] = [];
  let before = 0;
  suite.before.each(() => {
    before = tf.memory().numTensors;
  });
  suite.after.each((context) => {
    tf.dispose([...made.splice(0), ...transients.splice(0)]);
    const grown = tf.memory().numTensors - before;
    if (grown !== 0) leaks.push(`${context.__test__}: ${grown > 0 ? '+' : ''}${grown} tensors`);
  });
  return leaks;
}

/**
 * The suite's leak check. uvu's `test` is one object shared by every spec file, whose hooks start
 * afresh at each file's `test.run()`; this wraps that `run` so that every spec file loaded after
 * this module (all of them: the first spec file imports it) gets
 * - a first before-each hook that counts tf.memory().numTensors, and a last after-each hook that
 *   records any growth (first and last, so the file's own hooks that make and dispose fixtures
 *   are inside the count);
 * - a last test that lists each test that left tensors behind, with its count (a hook that threw
 *   would stop uvu's run, hence the extra test; a test that failed may show up there too, since
 *   it stopped before disposing).
 * That last test fails when the list is not empty; with FLAXEN_LEAKS=report it only prints the
 * list on stderr (`leak: file: test: +N tensors`) and passes; with FLAXEN_LEAKS=trace it fails
 * and shows, for each leak, where each tensor still alive was made.
 */
function checkLeaks(suite: Test): void {
  let before = 0;
  const countBefore = (): void => {
    before = tf.memory().numTensors;
    traceMark = traceSerial;
  };
  suite.before.each(countBefore);
  const run = suite.run;
  suite.run = () => {
    const leaks: string[] = [];
    const queue = (globalThis as { UVU_QUEUE?: unknown[][]; UVU_INDEX?: number }).UVU_QUEUE;
    const file = String(queue?.[(globalThis as { UVU_INDEX?: number }).UVU_INDEX ?? 0]?.[0] ?? 'a spec file');
    suite.after.each((context) => {
      tf.dispose(transients.splice(0));
      const grown = tf.memory().numTensors - before;
      before = tf.memory().numTensors;
      if (grown !== 0 && context.__test__ !== LEAK_TEST) leaks.push(`${context.__test__}: ${grown > 0 ? '+' : ''}${grown} tensors${traceSince(traceMark)}`);
      traceMark = traceSerial;
    });
    suite(LEAK_TEST, () => {
      if (LEAK_MODE !== 'report') assert.ok(leaks.length === 0, `tests that changed tf.memory().numTensors (FLAXEN_LEAKS=trace shows where their tensors were made):\n      ${leaks.join('\n      ')}`);
      for (const leak of leaks) process.stderr.write(`leak: ${file}: ${leak}\n`);
    });
    run();
    suite.before.each(countBefore);
  };
}

const LEAK_TEST = 'every test left tf.memory() as it found it (spec/setup.ts)';
/**
 * 'fail' by default: a test that leaves tensors behind fails its file's last test. flaxen makes
 * no tensor lazily on first use and keeps it (no cached constants: the suite, which would charge
 * such a tensor to the first test that used it, reports none), so nothing is warmed or excluded
 * here. A library that adds such a constant must make it here, before the first count, and say so.
 */
const LEAK_MODE: 'fail' | 'report' | 'trace' = process.env['FLAXEN_LEAKS'] === 'report' ? 'report' : process.env['FLAXEN_LEAKS'] === 'trace' ? 'trace' : 'fail';
// FLAXEN_LEAKS=trace: each leak is listed with where its tensors were made (a stack per tensor
// still alive that the test made). Slow: it takes a stack trace for every tensor.
let traceSerial = 0;
let traceMark = 0;
const traced = new Map<tf.Tensor, { serial: number; stack: string }>();
function traceSince(mark: number): string {
  const lines: string[] = [];
  for (const [t, { serial, stack }] of traced) {
    if (serial > mark && !t.isDisposed) lines.push(`\n    ${t.dtype}${JSON.stringify(t.shape)} made${stack}`);
  }
  return lines.join('');
}
if (LEAK_MODE === 'trace') {
  Error.stackTraceLimit = 40;
  const engine = tf.engine() as unknown as { trackTensor(a: tf.Tensor, b: unknown): void; disposeTensor(a: tf.Tensor): void };
  const track = engine.trackTensor, dispose = engine.disposeTensor;
  engine.trackTensor = function (this: unknown, a, b) {
    const stack = (new Error().stack ?? '').split('\n').slice(2).filter((l) => !l.includes('node_modules')).slice(0, 6).join('\n      ');
    traced.set(a, { serial: ++traceSerial, stack: '\n      ' + stack });
    track.call(this, a, b);
  };
  engine.disposeTensor = function (this: unknown, a) {
    traced.delete(a);
    dispose.call(this, a);
  };
}
checkLeaks(uvuTest);
