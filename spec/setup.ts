// Shared by the specs: the backend under test (FLAXEN_BACKEND=cpu to run the suite on cpu),
// and helpers that compare numbers and count live tensors.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'uvu/assert';
import * as fx from '../lib/index.js';

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
