/**
 * The types every optimizer shares: a gradient transformation is a pair of pure functions,
 * `init(params) -> state` and `update(grads, state, params?) -> [updates, state]`, as in Optax.
 *
 * Memory ownership, the same for every transformation in `fx.optim`, is stated once, on
 * {@link GradientTransformation}; the transformations' docs link there.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';

/**
 * The state of a gradient transformation: a frozen plain-object record whose leaves are tensors
 * or JS numbers (step counts). `fx.tree.dispose(state)` frees its tensors.
 *
 * @example
 * ```ts
 * const state: fx.optim.OptState = fx.optim.adam(1e-3).init({ w: tf.ones([2]) });
 * ```
 */
export type OptState = { readonly [key: string]: unknown };

/**
 * A schedule: the value of a hyperparameter (usually the learning rate) at an update step,
 * counting from 0.
 *
 * @example
 * ```ts
 * const halve: fx.optim.Schedule = (step) => 0.1 * 0.5 ** Math.floor(step / 1000);
 * ```
 */
export type Schedule = (step: number) => number;

/**
 * A fixed number or a {@link Schedule}; every `learningRate` argument accepts both.
 *
 * @example
 * ```ts
 * const lr: fx.optim.ScalarOrSchedule = fx.optim.schedules.cosineDecay(1e-3, 10_000);
 * ```
 */
export type ScalarOrSchedule = number | Schedule;

/**
 * A gradient transformation (Optax's `GradientTransformation`): two pure functions.
 * `init(params)` builds the state; `update(grads, state, params?)` returns the updates (same
 * tree structure as `grads`) and the next state. Apply the updates with {@link applyUpdates}.
 *
 * Ownership, the same for every transformation in `fx.optim` (their docs link here):
 * - `init(params)` returns a new state, owned by the caller; it neither keeps nor disposes `params`.
 * - `update(grads, state, params)` disposes and changes none of its inputs. The updates and the
 *   new state are new tensors that share nothing with the inputs: the caller owns them and
 *   disposes the old state, the grads and the updates once done (`fx.tree.dispose`). No
 *   intermediate tensor survives a call, on error paths too.
 * - States are deeply frozen plain-object records; step counts are JS numbers.
 *
 * @typeParam S - the state record.
 * @example
 * ```ts
 * const tx: fx.optim.GradientTransformation = fx.optim.sgd(0.1);
 * const params = { w: tf.tensor([1, 2]) };
 * const state = tx.init(params);
 * const grads = { w: tf.tensor([0.5, -1]) };
 * const [updates, next] = tx.update(grads, state, params);
 * const newParams = fx.optim.applyUpdates(params, updates);   // { w: [0.95, 2.1] }
 * fx.tree.dispose(grads); fx.tree.dispose(updates); fx.tree.dispose(state);   // the caller owns them
 * ```
 */
export interface GradientTransformation<S extends OptState = OptState> {
  /** Builds the initial state for `params` (a tree of tensors). The caller owns the result. */
  init(params: unknown): S;
  /**
   * Transforms `grads` into updates and returns `[updates, newState]`, both owned by the caller.
   * `params` is needed by transformations that look at the parameters (weight decay).
   */
  update<G>(grads: G, state: S, params?: unknown): readonly [G, S];
  /**
   * An optional fast path, declared by the transformations that have one: `update` and
   * `applyUpdates` in one pass, returning `[newParams, newState]`. The new parameters are bit for
   * bit `applyUpdates(params, update(grads, state, params)[0])` and the state is `update`'s; no
   * update tensors are made. `TrainState.applyGradients` calls it when it is there. `adam` has it
   * (one pass of its fused kernel per leaf writes the new parameters), and so has every `chain`
   * whose last stage has it, e.g. `chain(clipByGlobalNorm(1), adam(lr))`. Ownership as `update`:
   * the inputs are neither disposed nor changed.
   */
  updateAndApply?<P>(grads: unknown, state: S, params: P): readonly [P, S];
  /**
   * @internal
   * Declared by a stage whose update is `scale · updates + decay · params`, with `scale` and
   * `decay` fixed by its state (`scale`, `scaleBySchedule`, `addDecayedWeights` without a mask):
   * the two numbers for the next update and the state after it. `chain` folds such stages into
   * a stage before them that declares {@link GradientTransformation.updateScaled}.
   */
  scaling?(state: S): readonly [Scaling, S];
  /**
   * @internal
   * Declared by a stage that can apply a following {@link Scaling} within its own pass
   * (`scaleByAdam`): `update`, with the updates multiplied by `scaling.scale` and
   * `scaling.decay · params` added. `chain` calls it in place of the stage and the scaling stages
   * after it: one full-size op fewer per folded stage.
   */
  updateScaled?<G>(grads: G, state: S, params: unknown, scaling: Scaling): readonly [G, S];
}

/**
 * @internal
 * What a scaling stage does to the updates: `scale · updates + decay · params`.
 */
export interface Scaling {
  /** Multiplies the updates. */
  readonly scale: number;
  /** Multiplies the parameters added to the updates; absent when the parameters are not read. */
  readonly decay?: number;
}

/**
 * A tree of tensors (parameters, gradients, updates): nested plain objects with tensor leaves.
 *
 * @example
 * ```ts
 * const grads: fx.optim.TensorTree = { dense: { kernel: tf.ones([2, 3]), bias: tf.zeros([3]) } };
 * ```
 */
export type TensorTree = tf.Tensor | { readonly [key: string]: TensorTree };
