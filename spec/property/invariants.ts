// The invariants every call into flaxen's public API must keep, whatever it is given: it returns
// or throws a FlaxenError subclass (never a TypeError, RangeError or wasm trap); it leaves no tensor
// behind once its result is disposed; it changes no live tensor; it ends quickly.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

/** A case slower than this counts as a hang (the inputs are small; refusals are immediate). */
export const CASE_LIMIT_MS = 5000;

/** Tensors that exist across cases, with their bytes, to check that no call changes them. */
export class Watched {
  private readonly tensors: tf.Tensor[] = [];
  private readonly bytes: string[] = [];
  /** Watches `t` (it must stay alive until the suite ends) and returns it. */
  add<T extends tf.Tensor>(t: T): T {
    this.tensors.push(t);
    this.bytes.push(Buffer.from(t.dataSync().buffer).toString('base64'));
    return t;
  }
  /** Throws unless every watched tensor is alive with its original bytes. */
  check(): void {
    this.tensors.forEach((t, i) => {
      if (t.isDisposed) throw new Error(`a live tensor (watched #${i}) was disposed`);
      if (Buffer.from(t.dataSync().buffer).toString('base64') !== this.bytes[i]) throw new Error(`a live tensor (watched #${i}) changed`);
    });
  }
}

/** Disposes every tensor in a result: a tensor, a tree, or arrays and frozen records of those. */
export function disposeResult(value: unknown, seen = new Set<unknown>()): void {
  if (value instanceof tf.Tensor) {
    value.dispose();
    return;
  }
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  for (const key of Object.keys(value)) disposeResult((value as Record<string, unknown>)[key], seen);
}

/** What one guarded call did. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: fx.FlaxenError };

/**
 * Runs `fn` and checks the invariants: a thrown error must be a FlaxenError; the tensors alive
 * afterwards (once `keep` has looked at the result and it is disposed) are those alive before;
 * every watched tensor is unchanged; it took less than {@link CASE_LIMIT_MS}. `inputs` are
 * tensors the case made for the call, disposed after it. Throws (failing the property) otherwise.
 */
export function guarded<T>(watched: Watched, fn: () => T, check?: (value: T) => void, inputs: tf.Tensor[] = []): Outcome<T> {
  const before = tf.memory().numTensors - inputs.length;
  const start = performance.now();
  let outcome: Outcome<T>;
  try {
    const value = fn();
    outcome = { ok: true, value };
  } catch (error) {
    if (!(error instanceof fx.FlaxenError)) {
      const e = error as Error;
      throw new Error(`threw ${e?.constructor?.name ?? typeof error} instead of a FlaxenError: ${e?.message ?? String(error)}`);
    }
    outcome = { ok: false, error };
  }
  const ms = performance.now() - start;
  try {
    if (outcome.ok && check) check(outcome.value);
  } finally {
    if (outcome.ok) disposeResult(outcome.value);
    for (const t of inputs) t.dispose();
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`${leaked} tensor(s) left behind (${outcome.ok ? 'after returning' : `after ${outcome.error.constructor.name}: ${outcome.error.message}`})`);
  watched.check();
  if (ms > CASE_LIMIT_MS) throw new Error(`took ${Math.round(ms)} ms (a hang)`);
  return outcome;
}

/** Throws `message` unless `ok`. */
export function expect(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}
