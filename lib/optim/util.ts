/**
 * Helpers shared by the optimizers: argument checks worded alike, and a walk over trees of
 * tensors that checks their structure and shapes and names the path of any difference.
 *
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../errors.js';
import { defineEntry, isNode } from '../tree/index.js';
import type { ScalarOrSchedule, Schedule } from './base.js';

/** @internal Bounds for {@link checkNumber}. */
export interface NumberBounds {
  readonly min?: number;
  readonly max?: number;
  /** Exclusive upper bound. */
  readonly below?: number;
  /** Exclusive lower bound. */
  readonly above?: number;
  readonly integer?: boolean;
}

/** @internal Checks a finite number argument against bounds; the message names the function and argument. */
export function checkNumber(fn: string, name: string, value: unknown, bounds: NumberBounds = {}): number {
  const parts: string[] = [];
  if (bounds.integer) parts.push('an integer');
  else parts.push('a finite number');
  if (bounds.min !== undefined) parts.push(`>= ${bounds.min}`);
  if (bounds.above !== undefined) parts.push(`> ${bounds.above}`);
  if (bounds.max !== undefined) parts.push(`<= ${bounds.max}`);
  if (bounds.below !== undefined) parts.push(`< ${bounds.below}`);
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!bounds.integer || Number.isInteger(value)) &&
    (bounds.min === undefined || value >= bounds.min) &&
    (bounds.max === undefined || value <= bounds.max) &&
    (bounds.below === undefined || value < bounds.below) &&
    (bounds.above === undefined || value > bounds.above);
  if (!ok) throw new FlaxenError('', `${fn}: ${name} must be ${parts.join(' and ')}, found ${describeValue(value)}`);
  return value as number;
}

/** @internal Checks a decay rate in [0, 1). */
export function checkRate(fn: string, name: string, value: unknown): number {
  return checkNumber(fn, name, value, { min: 0, below: 1 });
}

/** @internal Checks a learning rate: a number >= 0 or a schedule function. */
export function checkScalarOrSchedule(fn: string, name: string, value: unknown): ScalarOrSchedule {
  if (typeof value === 'function') return value as Schedule;
  if (typeof value === 'number') return checkNumber(fn, name, value, { min: 0 });
  throw new FlaxenError('', `${fn}: ${name} must be a number >= 0 or a schedule (step) => number, found ${describeValue(value)}`);
}

/** @internal Evaluates a schedule at `step`, checking that it gives a finite number. */
export function evalSchedule(fn: string, schedule: Schedule, step: number): number {
  const value = schedule(step);
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new FlaxenError('', `${fn}: the schedule must return a finite number, found ${describeValue(value)} at step ${step}`);
  }
  return value;
}

/** @internal A named tree taking part in a {@link zipLeaves} walk; `name` appears in messages. */
export interface NamedTree {
  readonly name: string;
  readonly tree: unknown;
}

function joinPath(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

function keysOf(node: object): string[] {
  const keys = Object.keys(node);
  // Mostly in sorted order already (trees built by map and by this walk): check before sorting.
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return keys.sort();
  return keys;
}

/**
 * @internal
 * Walks `trees` (all of the same structure, tensor leaves of equal shapes) together and calls
 * `fn(leaves, path)` at each leaf; `fn` returns `arity` tensors, which become `arity` new frozen
 * trees of the same structure. The first tree is the reference; a difference is a FlaxenError
 * (or ShapeError) that names the path, the transformation `what` and both trees.
 */
export function zipLeaves(what: string, trees: readonly NamedTree[], arity: number, fn: (leaves: tf.Tensor[], path: string) => tf.Tensor[]): Array<{ readonly [key: string]: unknown } | tf.Tensor> {
  const ref = trees[0]!;
  const walk = (nodes: unknown[], path: string): unknown[] => {
    const first = nodes[0];
    if (!isNode(first)) {
      if (!(first instanceof tf.Tensor)) throw new FlaxenError(path, `${what}: ${ref.name} must be a tree of tensors, found ${describeValue(first)} here`);
      // A disposed tensor would fail deep inside tfjs ("reading 'backend'"): name it instead.
      nodes.forEach((n, i) => {
        if (n instanceof tf.Tensor && n.isDisposed) throw new FlaxenError(path, `${what}: ${trees[i]!.name} holds a disposed tensor here`);
      });
      for (let i = 1; i < nodes.length; i++) {
        const other = nodes[i];
        const name = trees[i]!.name;
        if (isNode(other)) throw new FlaxenError(path, `${what}: ${ref.name} and ${name} differ in structure: ${ref.name} has a tensor here, ${name} a subtree with keys [${keysOf(other).join(', ')}]`);
        if (!(other instanceof tf.Tensor)) throw new FlaxenError(path, `${what}: ${name} must hold a tensor here, found ${describeValue(other)}`);
        if (!sameShape(other.shape, first.shape)) {
          throw new ShapeError(path, `${what}: ${ref.name} has shape ${formatShape(first.shape)} but ${name} has shape ${formatShape(other.shape)}`);
        }
      }
      const out = fn(nodes as tf.Tensor[], path);
      return out;
    }
    const keys = keysOf(first);
    for (let i = 1; i < nodes.length; i++) {
      const other = nodes[i];
      const name = trees[i]!.name;
      if (!isNode(other)) throw new FlaxenError(path, `${what}: ${ref.name} and ${name} differ in structure: ${ref.name} has a subtree with keys [${keys.join(', ')}] here, ${name} has ${describeValue(other)}`);
      const otherKeys = keysOf(other);
      if (otherKeys.length !== keys.length || otherKeys.some((k, j) => k !== keys[j])) {
        const missing = keys.filter((k) => !otherKeys.includes(k));
        const extra = otherKeys.filter((k) => !keys.includes(k));
        const parts = [];
        if (missing.length) parts.push(`${name} lacks [${missing.join(', ')}]`);
        if (extra.length) parts.push(`${name} has extra [${extra.join(', ')}]`);
        throw new FlaxenError(path, `${what}: ${ref.name} and ${name} differ in structure: ${ref.name} has keys [${keys.join(', ')}], ${parts.join(' and ')}`);
      }
    }
    const outs: Record<string, unknown>[] = Array.from({ length: arity }, () => ({}));
    for (const key of keys) {
      const results = walk(
        nodes.map((n) => (n as Record<string, unknown>)[key]),
        joinPath(path, key),
      );
      for (let j = 0; j < arity; j++) defineEntry(outs[j]!, key, results[j]);
    }
    return outs.map((o) => Object.freeze(o));
  };
  return walk(
    trees.map((t) => t.tree),
    '',
  ) as Array<{ readonly [key: string]: unknown } | tf.Tensor>;
}

/** @internal Maps one tree of tensors (checked) to a new frozen tree. */
export function mapTensors(what: string, name: string, tree: unknown, fn: (leaf: tf.Tensor, path: string) => tf.Tensor): unknown {
  return zipLeaves(what, [{ name, tree }], 1, ([leaf], path) => [fn(leaf!, path)])[0];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * @internal
 * A new tensor sharing `t`'s data (no copy; tfjs counts references), so that an update can pass a
 * value through while the caller still disposes inputs and outputs independently.
 */
export function alias(t: tf.Tensor): tf.Tensor {
  return tf.reshape(t, t.shape);
}

/** @internal `tf.tidy` for functions that return trees, tuples and numbers mixed with tensors. */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}

/**
 * @internal
 * Checks that `state` is a state record holding `keys` (the state of another transformation, or a
 * disposed or hand-made object, would otherwise fail deep inside tfjs).
 */
export function checkState(what: string, state: unknown, keys: readonly string[]): Record<string, unknown> {
  if (!isNode(state)) throw new FlaxenError('', `${what}: the state must be the record returned by init or update, found ${describeValue(state)}`);
  const missing = keys.filter((k) => !Object.prototype.hasOwnProperty.call(state, k));
  if (missing.length) {
    throw new FlaxenError('', `${what}: the state lacks [${missing.join(', ')}] (it has [${Object.keys(state).sort().join(', ')}]); pass the state this transformation's init or update returned`);
  }
  // A state with fields this transformation does not know is another transformation's state.
  const extra = Object.keys(state).filter((k) => !keys.includes(k));
  if (extra.length) {
    throw new FlaxenError('', `${what}: the state has [${extra.sort().join(', ')}], which this transformation does not keep (it keeps [${keys.join(', ')}]); pass the state this transformation's init or update returned`);
  }
  if (keys.includes('count')) checkNumber(what, 'state.count', state['count'], { min: 0, integer: true });
  return state as Record<string, unknown>;
}

/**
 * @internal
 * A copy of a state tree whose tensors are new tensor objects sharing the old ones' memory (no
 * copy): a transformation that keeps an inner state unchanged returns this, so the caller can
 * dispose the old state without breaking the new one.
 */
export function aliasTree<T>(tree: T): T {
  const walk = (node: unknown): unknown => {
    if (node instanceof tf.Tensor) return alias(node);
    if (!isNode(node)) return node;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(node)) defineEntry(out, key, walk(node[key]));
    return Object.freeze(out);
  };
  return walk(tree) as T;
}
