/**
 * `TrainState`: the parameters, the optimizer and its state, the other variable collections
 * (`batch_stats`, …), an optional root key, and the step count, as one frozen record (Flax's
 * `flax.training.train_state.TrainState`), advanced by `applyGradients`. It is checkpointed
 * whole: `fx.checkpoint.save(file, state)`, and `load(file, freshState)` gives a live state.
 *
 * Ownership, precisely:
 * - `TrainState.create({params, collections})` takes ownership of `params` and `collections`:
 *   the state disposes them when it is advanced. Clone them first
 *   (`fx.tree.map(p, (t) => t.clone())`) to keep a copy.
 * - `state.applyGradients(grads)` returns the next state, which owns its own new tensors; it
 *   disposes the grads, the optimizer's updates, and the previous state's parameters and
 *   optimizer state. The previous state is then spent: using it again is a `FlaxenError`.
 *   So `state = state.applyGradients(grads)` in a loop neither leaks nor needs any disposal.
 * - If `applyGradients` throws, nothing is disposed: the state and the grads stay valid.
 * - `state.dispose()` frees the parameters, the optimizer state and the collections at the end.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { collectTensors, defineEntry, freeze, isNode, leaves } from '../tree/index.js';
import { Key, foldIn, isKey } from '../random/key.js';
import { applyUpdates } from '../optim/apply-updates.js';
import type { GradientTransformation, OptState } from '../optim/base.js';
import type { Checkpointable } from '../checkpoint/state-dict.js';

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
 * The variable collections a state holds besides `params`, by name (e.g. `{ batch_stats }`).
 *
 * @example
 * ```ts
 * const collections: fx.train.Collections = { batch_stats: { mean: tf.zeros([4]), var: tf.ones([4]) } };
 * ```
 */
export type Collections = { readonly [name: string]: any };

/**
 * A model's variables: `params` and the other collections by name, as `init` returns them and
 * `apply` takes them.
 *
 * @example
 * ```ts
 * const bn = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.BatchNorm()]);
 * const vars: fx.train.StateVariables<any, fx.train.Collections> = bn.init(fx.random.key(0), [2, 3]);
 * ```
 */
export type StateVariables<P, C extends Collections> = {
  /** The parameters. */
  readonly params: P;
} & C;

/**
 * What {@link TrainState.create} takes: the model, the optimizer, and either `params` (plus
 * optional `collections`) or the whole `variables` from `init`, which are split into `params`
 * and the other collections.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(2);
 * const config: fx.train.TrainStateConfig<any> = { apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.sgd(0.1) };
 * ```
 */
export interface TrainStateConfig<P, S extends OptState = OptState, C extends Collections = Collections> {
  /** The model: a module (its `apply` is used) or an apply function `(variables, ...inputs) => output`. */
  readonly apply: ApplyFn | Appliable;
  /** The parameters (usually `variables.params`); the state takes ownership of them. */
  readonly params?: P;
  /** The other variable collections, e.g. `{ batch_stats }`; the state takes ownership of them. */
  readonly collections?: C;
  /** Instead of `params` and `collections`: the variables from `init`, `{ params, ...collections }`. */
  readonly variables?: StateVariables<P, C>;
  /** The optimizer, e.g. `fx.optim.adam(1e-3)`. */
  readonly tx: GradientTransformation<S>;
  /** A root key for per-step randomness: {@link TrainState.stepKey} is `foldIn(key, step)`. */
  readonly key?: Key;
  /** The step to start from (default 0). */
  readonly step?: number;
  /** The optimizer state to start from (default `tx.init(params)`); the state takes ownership of it. */
  readonly optState?: S;
}

/**
 * The collections of a model's variables: everything but `params` (what
 * `TrainState.create({ variables })` keeps in `state.collections`).
 *
 * @typeParam V - the variables, `{ params, ...collections }`.
 * @example
 * ```ts
 * const bn = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.BatchNorm()]);
 * const vars = bn.init(fx.random.key(0), [2, 3]);
 * const stats: fx.train.CollectionsOf<typeof vars> = { batch_stats: vars.batch_stats };
 * ```
 */
export type CollectionsOf<V> = { readonly [K in Exclude<keyof V, 'params'>]: V[K] };

/**
 * The parameters of a model's variables: the type of `params` (`any` for variables typed as a
 * plain record, such as an `fx.Module`'s).
 *
 * @typeParam V - the variables, `{ params, ...collections }`.
 * @example
 * ```ts
 * const net = fx.nn.Dense(4);
 * const vars = net.init(fx.random.key(0), [2, 3]);
 * const params: fx.train.ParamsOf<typeof vars> = vars.params;
 * ```
 */
export type ParamsOf<V> = 'params' extends keyof V ? V['params' & keyof V] : any;

/**
 * {@link TrainStateConfig} with the whole `variables` from `init` (the form Flax users write):
 * the state's parameter and collection types are taken from them.
 *
 * @typeParam V - the variables, `{ params, ...collections }`.
 * @typeParam S - the optimizer state.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.BatchNorm()]);
 * const config: fx.train.TrainStateFromVariables<any, fx.optim.OptState> = { apply: net, variables: net.init(fx.random.key(0), [2, 3]), tx: fx.optim.sgd(0.1) };
 * ```
 */
export interface TrainStateFromVariables<V extends { readonly [name: string]: any }, S extends OptState = OptState> {
  /** The model: a module (its `apply` is used) or an apply function `(variables, ...inputs) => output`. */
  readonly apply: ApplyFn | Appliable;
  /** The variables from `init`, `{ params, ...collections }`; the state takes ownership of them. */
  readonly variables: V;
  /** The optimizer, e.g. `fx.optim.adam(1e-3)`. */
  readonly tx: GradientTransformation<S>;
  /** A root key for per-step randomness: {@link TrainState.stepKey} is `foldIn(key, step)`. */
  readonly key?: Key;
  /** The step to start from (default 0). */
  readonly step?: number;
  /** The optimizer state to start from (default `tx.init(params)`); the state takes ownership of it. */
  readonly optState?: S;
}

/** Names a collection may not have: they name the other entries of a state's checkpoint. */
const RESERVED_COLLECTIONS = new Set(['params', 'step', 'opt_state', 'key']);
const CONFIG_FIELDS = ['apply', 'params', 'collections', 'variables', 'tx', 'key', 'step', 'optState'];

function checkCollections(collections: unknown, what: string): Collections {
  if (!isNode(collections)) throw new FlaxenError('', `${what}: collections must be a record of variable trees such as { batch_stats }, found ${describeValue(collections)}`);
  for (const name of Object.keys(collections)) {
    if (RESERVED_COLLECTIONS.has(name)) throw new FlaxenError('', `${what}: a collection may not be named '${name}' (params go in params; step, opt_state and key name the other parts of a state)`);
    const disposed = leaves<unknown>(collections[name]).some((t) => t instanceof tf.Tensor && t.isDisposed);
    if (disposed) throw new FlaxenError('', `${what}: collection '${name}' holds a disposed tensor`);
  }
  return collections;
}

function checkStep(step: unknown, what: string): number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw new FlaxenError('', `${what}: step must be a non-negative integer, found ${describeValue(step)}`);
  return step;
}

// States whose tensors were handed over to their successor (or disposed).
const spent = new WeakSet<object>();
const CREATE = Symbol('TrainState.create');

function tensorsOf(...trees: unknown[]): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const tree of trees) collectTensors(tree, out);
  return out;
}

/**
 * The training state: `step` (steps taken so far), `params`, `optState`, `collections` (the
 * other variable collections, e.g. `batch_stats`), an optional root `key`, `apply` and `tx`,
 * as a frozen record. Build it with {@link TrainState.create}; advance it with
 * {@link TrainState.applyGradients} or `fx.train.trainStep`.
 *
 * A state is a `fx.checkpoint.Checkpointable`: `fx.checkpoint.save(file, state)` stores
 * `{ step, params, opt_state, ...collections, key }`, and `fx.checkpoint.load(file, fresh)`
 * (with a fresh state for the same model and optimizer as target) returns a live state with
 * the saved values and `fresh`'s `apply` and `tx`.
 *
 * @typeParam P - the parameter tree.
 * @typeParam S - the optimizer state.
 * @typeParam C - the other collections.
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
export class TrainState<P = any, S extends OptState = OptState, C extends Collections = Collections> implements Checkpointable<TrainState<P, S, C>> {
  /** The number of steps taken so far (0 after `create`, unless it was given). */
  readonly step: number;
  /** The parameters, owned by this state until it is advanced. */
  readonly params: P;
  /** The optimizer state, owned by this state until it is advanced. */
  readonly optState: S;
  /** The other variable collections (`batch_stats`, …), owned by this state until it is advanced; `{}` when none. */
  readonly collections: C;
  /** The root key for per-step randomness, if the state was given one (see {@link TrainState.stepKey}). */
  readonly key: Key | undefined;
  /** Runs the model: `apply(variables, ...inputs, opts?)`. */
  readonly apply: ApplyFn;
  /** The optimizer. */
  readonly tx: GradientTransformation<S>;

  /** @internal Use {@link TrainState.create}. */
  constructor(token: symbol, fields: { step: number; params: P; optState: S; collections: C; key: Key | undefined; apply: ApplyFn; tx: GradientTransformation<S> }) {
    if (token !== CREATE) throw new FlaxenError('', 'use TrainState.create({ apply, params, tx }) to build a train state');
    this.step = fields.step;
    this.params = fields.params;
    this.optState = fields.optState;
    this.collections = fields.collections;
    this.key = fields.key;
    this.apply = fields.apply;
    this.tx = fields.tx;
    Object.freeze(this);
  }

  /** @internal The same state with some fields replaced (nothing is checked or disposed). */
  private with(fields: Partial<{ step: number; params: P; optState: S; collections: C }>): TrainState<P, S, C> {
    const { step, params, optState, collections, key, apply, tx } = this;
    return new TrainState<P, S, C>(CREATE, { step, params, optState, collections, key, apply, tx, ...fields });
  }

  /**
   * Builds the initial state: `step` 0 and `optState = tx.init(params)` (or the `step` and
   * `optState` given). Takes ownership of `params`, `collections` and `optState` (they are
   * disposed when the state is advanced). `variables` (the output of `init`) may stand for
   * `params` and `collections` together.
   *
   * @example
   * ```ts
   * const net = fx.nn.Dense(10);
   * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 784]).params, tx: fx.optim.sgd(0.1) });
   * const bn = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.BatchNorm()]);
   * const withStats = fx.train.TrainState.create({ apply: bn, variables: bn.init(fx.random.key(0), [2, 4]), tx: fx.optim.adam(1e-3), key: fx.random.key(1) });
   * Object.keys(withStats.collections); // ['batch_stats']
   * ```
   */
  static create<V extends { readonly [name: string]: any }, S extends OptState>(config: TrainStateFromVariables<V, S>): TrainState<ParamsOf<V>, S, CollectionsOf<V>>;
  static create<P, S extends OptState, C extends Collections = {}>(config: TrainStateConfig<P, S, C>): TrainState<P, S, C>;
  static create<P, S extends OptState, C extends Collections = {}>(config: TrainStateConfig<P, S, C>): TrainState<P, S, C> {
    if (!isNode(config)) throw new FlaxenError('', `TrainState.create needs { apply, params, tx }, found ${describeValue(config)}`);
    const unknown = Object.keys(config).filter((k) => !CONFIG_FIELDS.includes(k));
    if (unknown.length) throw new FlaxenError('', `TrainState.create: unknown field ${unknown.map((k) => `'${k}'`).join(', ')}; the fields are ${CONFIG_FIELDS.join(', ')}`);
    const { apply, tx } = config;
    let params: P, collections: Collections;
    if (config.variables !== undefined) {
      if (config.params !== undefined || config.collections !== undefined) throw new FlaxenError('', 'TrainState.create: give either variables, or params (and collections), not both');
      const variables = config.variables as unknown;
      if (!isNode(variables) || !Object.prototype.hasOwnProperty.call(variables, 'params')) throw new FlaxenError('', `TrainState.create: variables must be the output of init, { params, ...collections }, found ${describeValue(variables)}`);
      const rest: Record<string, unknown> = {};
      for (const name of Object.keys(variables)) if (name !== 'params') defineEntry(rest, name, variables[name]);
      params = variables['params'] as P;
      collections = rest;
    } else {
      params = config.params as P;
      collections = config.collections ?? {};
    }
    collections = checkCollections(collections, 'TrainState.create');
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
    if (config.key !== undefined && !isKey(config.key)) throw new FlaxenError('', `TrainState.create: key must be a random key from fx.random.key(seed), found ${describeValue(config.key)}`);
    const step = config.step === undefined ? 0 : checkStep(config.step, 'TrainState.create');
    if (config.optState !== undefined && !isNode(config.optState)) throw new FlaxenError('', `TrainState.create: optState must be an optimizer state from tx.init, found ${describeValue(config.optState)}`);
    const optState = config.optState ?? tx.init(params);
    return new TrainState<P, S, C>(CREATE, { step, params: freeze(params), optState, collections: freeze(collections) as C, key: config.key, apply: applyFn, tx });
  }

  /**
   * The variables to run the model with: `{ params, ...collections }` (pass other `params`, e.g.
   * the ones being differentiated inside a loss function).
   *
   * @example
   * ```ts
   * const bn = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.BatchNorm()]);
   * const state = fx.train.TrainState.create({ apply: bn, variables: bn.init(fx.random.key(0), [2, 4]), tx: fx.optim.sgd(0.1) });
   * const y = state.apply(state.variables(), tf.ones([2, 4]));   // eval mode: the running statistics
   * ```
   */
  variables(params: P = this.params): StateVariables<P, C> {
    const out: Record<string, unknown> = { params };
    for (const name of Object.keys(this.collections)) defineEntry(out, name, this.collections[name]);
    return Object.freeze(out) as StateVariables<P, C>;
  }

  /**
   * The key for this step's randomness: `fx.random.foldIn(key, step)`, as Flax code derives
   * `dropout_rng`. Derived from the root key and the step alone, so a run restored from a
   * checkpoint draws the same dropout masks as the run that never stopped. Split it or fold in
   * a name for several streams.
   *
   * @example
   * ```ts
   * const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.Dropout(0.5)]);
   * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 4]).params, tx: fx.optim.sgd(0.1), key: fx.random.key(7) });
   * const y = state.apply({ params: state.params }, tf.ones([2, 4]), { train: true, rngs: { dropout: state.stepKey() } });
   * ```
   */
  stepKey(): Key {
    if (this.key === undefined) throw new FlaxenError('', 'stepKey: this TrainState has no key; give one to TrainState.create({ ..., key: fx.random.key(seed) })');
    return foldIn(this.key, this.step);
  }

  /**
   * The tree a checkpoint stores: `{ step, params, opt_state, ...collections, key }` (the key
   * only when the state has one). The tensors are this state's own, not copies.
   *
   * @example
   * ```ts
   * const net = fx.nn.Dense(2);
   * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.adam(1e-3) });
   * Object.keys(state.toStateDict()); // ['step', 'params', 'opt_state']
   * ```
   */
  toStateDict(): { readonly [name: string]: unknown } {
    this.assertLive('toStateDict');
    const out: Record<string, unknown> = { step: this.step, params: this.params, opt_state: this.optState };
    for (const name of Object.keys(this.collections)) defineEntry(out, name, this.collections[name]);
    if (this.key !== undefined) out['key'] = this.key;
    return Object.freeze(out);
  }

  /**
   * A live state holding a restored state dict (with the structure of {@link toStateDict}),
   * with this state's `apply` and `tx`; `fx.checkpoint.load(file, state)` calls it. The new state
   * owns the given tensors; this state is left as it is.
   *
   * @example
   * ```ts
   * const net = fx.nn.Dense(2);
   * const make = () => fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.adam(1e-3) });
   * const saved = make();
   * const fresh = make();
   * const restored = fx.checkpoint.fromBytes(fx.checkpoint.toBytes(saved), fresh);   // a live TrainState
   * restored.step; // 0
   * fresh.dispose();
   * ```
   */
  fromStateDict(stateDict: { readonly [name: string]: unknown }): TrainState<P, S, C> {
    if (!isNode(stateDict)) throw new FlaxenError('', `TrainState.fromStateDict: expected { step, params, opt_state, ... }, found ${describeValue(stateDict)}`);
    const expected = Object.keys(this.toStateDict()).sort();
    const found = Object.keys(stateDict).sort();
    if (expected.join() !== found.join()) throw new FlaxenError('', `TrainState.fromStateDict: expected the entries ${expected.join(', ')}, found ${found.join(', ') || 'none'}`);
    const step = checkStep(stateDict['step'], 'TrainState.fromStateDict');
    const key = stateDict['key'];
    if (key !== undefined && !isKey(key)) throw new FlaxenError('', `TrainState.fromStateDict: key must be a random key, found ${describeValue(key)}`);
    const collections: Record<string, unknown> = {};
    for (const name of Object.keys(this.collections)) defineEntry(collections, name, stateDict[name]);
    return new TrainState<P, S, C>(CREATE, {
      step,
      params: stateDict['params'] as P,
      optState: stateDict['opt_state'] as S,
      collections: Object.freeze(collections) as C,
      key: key as Key | undefined,
      apply: this.apply,
      tx: this.tx,
    });
  }

  /**
   * Applies one optimizer update and returns the next state (`step + 1`). Disposes `grads`,
   * the updates, and this state's parameters and optimizer state (tensors the next state
   * still holds are kept); this state is then spent. On error nothing is disposed.
   *
   * With `{ collections }` (e.g. the `batch_stats` that `apply(..., { mutable })` returned),
   * those collections replace this state's of the same name, whose tensors are then disposed;
   * the next state owns the new ones. Every name must be a collection of this state.
   *
   * @param grads - gradients with the structure of `params` (e.g. from `fx.valueAndGrad`).
   * @param opts - `{ collections }`: updated collections for the next state.
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
  applyGradients(grads: unknown, opts: { readonly collections?: Partial<C> } = {}): TrainState<P, S, C> {
    const update = this.prepareUpdate(grads, opts.collections, 'applyGradients');
    update.commit();
    return update.next;
  }

  /**
   * @internal The next state, computed but not yet taken over: `commit()` spends this state and
   * disposes the grads and what the next state does not keep (what `applyGradients` does);
   * `abort()` disposes the next state's new tensors and leaves this state and the grads as they
   * were. `trainStep` reads its divergence check in between.
   */
  prepareUpdate(grads: unknown, collections: unknown, what: string): { next: TrainState<P, S, C>; commit: () => void; abort: () => void } {
    this.assertLive(what);
    const updated = this.updatedCollections(collections, what);
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
    const next = this.with({ step: this.step + 1, params, optState, collections: updated });
    const kept = tensorsOf(params, optState, updated);
    const commit = (): void => {
      spent.add(this);
      const keep = new Set<tf.Tensor>(kept);
      for (const t of tensorsOf(grads, this.params, this.optState, this.collections)) {
        if (!keep.has(t)) t.dispose();
      }
    };
    const abort = (): void => {
      spent.add(next);
      const own = new Set<tf.Tensor>(tensorsOf(grads, this.params, this.optState, this.collections, updated));
      for (const t of kept) if (!own.has(t)) t.dispose();
    };
    return { next, commit, abort };
  }

  /**
   * @internal The next state of a skipped update (`trainStep`'s `onNonFinite: 'skip'`): `step + 1`,
   * the same parameters, optimizer state and collections, which it now owns; this state is spent.
   */
  skipUpdate(): TrainState<P, S, C> {
    this.assertLive('skipUpdate');
    const next = this.with({ step: this.step + 1 });
    spent.add(this);
    return next;
  }

  /** @internal This state's collections with `given` merged in, checked (nothing disposed). */
  updatedCollections(given: unknown, what: string): C {
    if (given === undefined) return this.collections;
    if (!isNode(given)) throw new FlaxenError('', `${what}: collections must be a record such as { batch_stats }, found ${describeValue(given)}`);
    const merged: Record<string, unknown> = {};
    for (const name of Object.keys(this.collections)) defineEntry(merged, name, this.collections[name]);
    for (const name of Object.keys(given)) {
      if (!Object.prototype.hasOwnProperty.call(this.collections, name)) {
        const held = Object.keys(this.collections);
        throw new FlaxenError('', `${what}: the updated collection '${name}' is not one of this state's (${held.length ? held.map((n) => `'${n}'`).join(', ') : 'it holds none'}); give the collections to TrainState.create({ variables }) or { collections }`);
      }
      defineEntry(merged, name, given[name]);
    }
    return freeze(merged) as C;
  }

  /**
   * Frees this state's parameters, optimizer state and collections (at the end of training).
   * The state is spent afterwards.
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
    for (const t of tensorsOf(this.params, this.optState, this.collections)) t.dispose();
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
