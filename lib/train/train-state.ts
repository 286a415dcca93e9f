/**
 * `TrainState`: the parameters, the optimizer and its state, and the step count, as one frozen
 * record (Flax's `flax.training.train_state.TrainState`), advanced by `applyGradients`.
 *
 * Ownership, precisely:
 * - `TrainState.create({params})` takes ownership of `params`: the state disposes them when it
 *   is advanced. Clone them first (`fx.tree.map(p, (t) => t.clone())`) to keep a copy.
 * - `state.applyGradients(grads)` returns the next state, which owns its own new tensors; it
 *   disposes the grads, the optimizer's updates, and the previous state's parameters and
 *   optimizer state. The previous state is then spent: using it again is a `FlaxenError`.
 *   So `state = state.applyGradients(grads)` in a loop neither leaks nor needs any disposal.
 * - If `applyGradients` throws, nothing is disposed: the state and the grads stay valid.
 * - `state.dispose()` frees the parameters and the optimizer state at the end.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { freeze, isNode, leaves } from '../tree/index.js';
import { applyUpdates } from '../optim/apply-updates.js';
import type { GradientTransformation, OptState } from '../optim/base.js';

/**
 * How a train state runs the model: `apply(variables, ...inputs, opts?)`, e.g. a module's `apply`.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(10);
 * const apply: fx.train.ApplyFn = (variables, x) => net.apply(variables, x);
 * ```
 */
export type ApplyFn = (variables: any, ...args: any[]) => any;

/**
 * Anything with an `apply(variables, ...inputs)` method, such as a module.
 *
 * @example
 * ```ts
 * const model: fx.train.Appliable = fx.nn.Dense(10);
 * ```
 */
export interface Appliable {
  /** Runs the model on `variables` and the inputs. */
  apply: ApplyFn;
}

/**
 * What {@link TrainState.create} takes.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(2);
 * const config: fx.train.TrainStateConfig<any> = { apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.sgd(0.1) };
 * ```
 */
export interface TrainStateConfig<P, S extends OptState = OptState> {
  /** The model: a module (its `apply` is used) or an apply function `(variables, ...inputs) => output`. */
  readonly apply: ApplyFn | Appliable;
  /** The parameters (usually `variables.params`); the state takes ownership of them. */
  readonly params: P;
  /** The optimizer, e.g. `fx.optim.adam(1e-3)`. */
  readonly tx: GradientTransformation<S>;
}

// States whose tensors were handed over to their successor (or disposed).
const spent = new WeakSet<object>();
const CREATE = Symbol('TrainState.create');

function tensorsOf(tree: unknown): tf.Tensor[] {
  return leaves<unknown>(tree).filter((l): l is tf.Tensor => l instanceof tf.Tensor);
}

/**
 * The training state: `step` (updates applied so far), `params`, `optState`, `apply` and `tx`,
 * as a frozen record. Build it with {@link TrainState.create}; advance it with
 * {@link TrainState.applyGradients} or `fx.train.trainStep`.
 *
 * @typeParam P - the parameter tree.
 * @typeParam S - the optimizer state.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(32), fx.nn.relu, fx.nn.Dense(10)]);
 * let state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 784]).params, tx: fx.optim.adam(1e-3) });
 * const x = tf.ones([8, 784]), y = tf.zeros([8], 'int32');
 * const lossFn = (params: typeof state.params) =>
 *   tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(state.apply({ params }, x), y));
 * const [loss, grads] = fx.valueAndGrad(lossFn)(state.params);
 * state = state.applyGradients(grads);   // grads, old params and old optimizer state are disposed
 * loss.dispose();
 * state.step; // 1
 * ```
 */
export class TrainState<P = any, S extends OptState = OptState> {
  /** The number of updates applied so far (0 after `create`). */
  readonly step: number;
  /** The parameters, owned by this state until it is advanced. */
  readonly params: P;
  /** The optimizer state, owned by this state until it is advanced. */
  readonly optState: S;
  /** Runs the model: `apply(variables, ...inputs, opts?)`. */
  readonly apply: ApplyFn;
  /** The optimizer. */
  readonly tx: GradientTransformation<S>;

  /** @internal Use {@link TrainState.create}. */
  constructor(token: symbol, fields: { step: number; params: P; optState: S; apply: ApplyFn; tx: GradientTransformation<S> }) {
    if (token !== CREATE) throw new FlaxenError('', 'use TrainState.create({ apply, params, tx }) to build a train state');
    this.step = fields.step;
    this.params = fields.params;
    this.optState = fields.optState;
    this.apply = fields.apply;
    this.tx = fields.tx;
    Object.freeze(this);
  }

  /**
   * Builds the initial state: `step` 0 and `optState = tx.init(params)`. Takes ownership of
   * `params` (they are disposed when the state is advanced).
   *
   * @example
   * ```ts
   * const net = fx.nn.Dense(10);
   * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 784]).params, tx: fx.optim.sgd(0.1) });
   * ```
   */
  static create<P, S extends OptState>(config: TrainStateConfig<P, S>): TrainState<P, S> {
    if (!isNode(config)) throw new FlaxenError('', `TrainState.create needs { apply, params, tx }, found ${describeValue(config)}`);
    const unknown = Object.keys(config).filter((k) => !['apply', 'params', 'tx'].includes(k));
    if (unknown.length) throw new FlaxenError('', `TrainState.create: unknown field ${unknown.map((k) => `'${k}'`).join(', ')}; the fields are apply, params, tx`);
    const { apply, params, tx } = config;
    let applyFn: ApplyFn;
    if (typeof apply === 'function') applyFn = apply as ApplyFn;
    else if (apply !== null && typeof apply === 'object' && typeof apply.apply === 'function') applyFn = (variables, ...args) => apply.apply(variables, ...args);
    else throw new FlaxenError('', `TrainState.create: apply must be a module or a function (variables, ...inputs) => output, found ${describeValue(apply)}`);
    if (tx === null || typeof tx !== 'object' || typeof tx.init !== 'function' || typeof tx.update !== 'function') {
      throw new FlaxenError('', `TrainState.create: tx must be an optimizer { init, update } such as fx.optim.adam(1e-3), found ${describeValue(tx)}`);
    }
    const tensors = tensorsOf(params);
    if (tensors.length === 0) throw new FlaxenError('', `TrainState.create: params must hold at least one tensor, found ${describeValue(params)}`);
    if (tensors.some((t) => t.isDisposed)) throw new FlaxenError('', 'TrainState.create: some params were already disposed');
    const optState = tx.init(params);
    return new TrainState<P, S>(CREATE, { step: 0, params: freeze(params), optState, apply: applyFn, tx });
  }

  /**
   * Applies one optimizer update and returns the next state (`step + 1`). Disposes `grads`,
   * the updates, and this state's parameters and optimizer state (tensors the next state
   * still holds are kept); this state is then spent. On error nothing is disposed.
   *
   * @param grads - gradients with the structure of `params` (e.g. from `fx.valueAndGrad`).
   * @example
   * ```ts
   * const net = fx.nn.Dense(2);
   * let state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.sgd(0.1) });
   * const lossFn = (params: typeof state.params) => tf.sum(state.apply({ params }, tf.ones([1, 3])));
   * const [loss, grads] = fx.valueAndGrad(lossFn)(state.params);
   * state = state.applyGradients(grads);
   * state.step; // 1
   * loss.dispose();
   * ```
   */
  applyGradients(grads: unknown): TrainState<P, S> {
    this.assertLive('applyGradients');
    const { params, optState } = tf.tidy(() => {
      if (this.tx.updateAndApply) {
        // update and applyUpdates in one pass (adam's declared fast path): the same numbers, no update tensors
        const [params, optState] = this.tx.updateAndApply(grads, this.optState, this.params);
        return { params, optState } as unknown as tf.TensorContainer;
      }
      const [updates, optState] = this.tx.update(grads, this.optState, this.params);
      const params = applyUpdates(this.params, updates);
      return { params, optState } as unknown as tf.TensorContainer;
    }) as unknown as { params: P; optState: S };
    const next = new TrainState<P, S>(CREATE, { step: this.step + 1, params, optState, apply: this.apply, tx: this.tx });
    spent.add(this);
    const keep = new Set<tf.Tensor>([...tensorsOf(params), ...tensorsOf(optState)]);
    for (const t of [...tensorsOf(grads), ...tensorsOf(this.params), ...tensorsOf(this.optState)]) {
      if (!keep.has(t)) t.dispose();
    }
    return next;
  }

  /**
   * Frees this state's parameters and optimizer state (at the end of training). The state is
   * spent afterwards.
   *
   * @example
   * ```ts
   * const net = fx.nn.Dense(2);
   * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.sgd(0.1) });
   * state.dispose();
   * ```
   */
  dispose(): void {
    if (spent.has(this)) return;
    spent.add(this);
    for (const t of [...tensorsOf(this.params), ...tensorsOf(this.optState)]) t.dispose();
  }

  /**
   * True once the state was advanced (its tensors now belong to the next state) or disposed.
   *
   * @example
   * ```ts
   * const net = fx.nn.Dense(2);
   * let state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.sgd(0.1) });
   * const lossFn = (params: typeof state.params) => tf.sum(state.apply({ params }, tf.ones([1, 3])));
   * const [loss, grads] = fx.valueAndGrad(lossFn)(state.params);
   * const next = state.applyGradients(grads);
   * state.isSpent; // true
   * next.isSpent;  // false
   * ```
   */
  get isSpent(): boolean {
    return spent.has(this);
  }

  /** @internal Throws a `FlaxenError` when the state is spent. */
  assertLive(what: string): void {
    if (spent.has(this)) {
      throw new FlaxenError('', `${what}: this TrainState (step ${this.step}) was already advanced or disposed, so its tensors are gone; use the state that applyGradients/trainStep returned`);
    }
  }
}
