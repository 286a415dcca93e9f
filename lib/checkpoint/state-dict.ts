/**
 * Objects that are not plain trees but can be checkpointed (Flax's `to_state_dict` /
 * `from_state_dict`): a `fx.train.TrainState` is one. `toBytes` writes the tree its
 * `toStateDict()` returns; `fromBytes` with such an object as target restores that tree and
 * hands it to `fromStateDict`, which returns the live object.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { isNode } from '../tree/index.js';

/**
 * An object that is checkpointed through a tree of tensors, numbers and keys (its state dict),
 * as `fx.train.TrainState` is. `toBytes`/`save` write `toStateDict()`; `fromBytes`/`load` with
 * the object as target read a tree of the same structure and return `fromStateDict(tree)`.
 *
 * @typeParam R - what `fromStateDict` returns (usually the object's own class).
 * @example
 * ```ts
 * class Counter implements fx.checkpoint.Checkpointable<Counter> {
 *   constructor(readonly count: number) {}
 *   toStateDict() { return { count: this.count }; }
 *   fromStateDict(tree: { count: number }) { return new Counter(tree.count); }
 * }
 * const back = fx.checkpoint.fromBytes(fx.checkpoint.toBytes(new Counter(7)), new Counter(0));
 * back.count; // 7
 * ```
 */
export interface Checkpointable<R = unknown> {
  /** The tree that is written: plain objects whose leaves are tensors, finite numbers or keys. */
  toStateDict(): unknown;
  /** Builds the restored object from a tree with the structure `toStateDict()` has. */
  fromStateDict(stateDict: any): R;
}

/** @internal True for a non-plain object with `toStateDict` and `fromStateDict` methods. */
export function isCheckpointable(value: unknown): value is Checkpointable {
  if (value === null || typeof value !== 'object' || isNode(value) || value instanceof tf.Tensor) return false;
  const candidate = value as Partial<Checkpointable>;
  return typeof candidate.toStateDict === 'function' && typeof candidate.fromStateDict === 'function';
}
