/**
 * `trainStep`: one gradient step on a batch, from a loss function of the parameters.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { valueAndGrad } from '../autodiff/grad.js';
import type { OptState } from '../optim/base.js';
import { flatten, isNode } from '../tree/index.js';
import { Collections, TrainState } from './train-state.js';
import { DivergenceError } from './divergence.js';
import { firstNonFinite } from '../ops/all-finite.js';

/**
 * The loss `trainStep` differentiates: `(params, batch, state) => scalar`; `state` is the
 * current state (for `state.apply` and `state.step`, e.g. to fold the step into a dropout key).
 *
 * @example
 * ```ts
 * const lossFn: fx.train.StepLossFn<any, fx.data.Batch> = (params, batch, state) =>
 *   tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(state.apply({ params }, batch.images), batch.labels));
 * ```
 */
export type StepLossFn<P, B, S extends OptState = any, C extends Collections = any> = (params: P, batch: B, state: TrainState<P, S, C>) => tf.Tensor;
/**
 * A loss with auxiliary outputs: `(params, batch, state) => [scalar, aux]`.
 *
 * @example
 * ```ts
 * const lossFn: fx.train.StepLossFnWithAux<any, fx.data.Batch, { logits: tf.Tensor }> = (params, batch, state) => {
 *   const logits = state.apply({ params }, batch.images);
 *   return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, batch.labels)), { logits }];
 * };
 * ```
 */
export type StepLossFnWithAux<P, B, Aux, S extends OptState = any, C extends Collections = any> = (params: P, batch: B, state: TrainState<P, S, C>) => readonly [tf.Tensor, Aux];
/**
 * A loss that also returns updated collections (`{ mutable: true }`):
 * `(params, batch, state) => [scalar, updated]`, where `updated` is what
 * `apply(..., { mutable: [...] })` returned, e.g. `{ batch_stats }`.
 *
 * @example
 * ```ts
 * const lossFn: fx.train.StepLossFnWithCollections<any, fx.data.Batch> = (params, batch, state) => {
 *   const [logits, updated] = state.apply(state.variables(params), batch.images, { train: true, mutable: ['batch_stats'] });
 *   return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, batch.labels)), updated];
 * };
 * ```
 */
export type StepLossFnWithCollections<P, B, S extends OptState = any, C extends Collections = any> = (params: P, batch: B, state: TrainState<P, S, C>) => readonly [tf.Tensor, Collections];
/**
 * A loss that returns updated collections and auxiliary outputs (`{ mutable: true, hasAux: true }`):
 * `(params, batch, state) => [scalar, updated, aux]`.
 *
 * @example
 * ```ts
 * const lossFn: fx.train.StepLossFnWithCollectionsAndAux<any, fx.data.Batch, tf.Tensor> = (params, batch, state) => {
 *   const [logits, updated] = state.apply(state.variables(params), batch.images, { train: true, mutable: ['batch_stats'] });
 *   return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, batch.labels)), updated, logits];
 * };
 * ```
 */
export type StepLossFnWithCollectionsAndAux<P, B, Aux, S extends OptState = any, C extends Collections = any> = (params: P, batch: B, state: TrainState<P, S, C>) => readonly [tf.Tensor, Collections, Aux];

/**
 * Options of {@link trainStep}.
 *
 * @example
 * ```ts
 * const opts: fx.train.StepOptions = { mutable: true, onNonFinite: 'skip' };
 * ```
 */
export interface StepOptions {
  /** The loss returns `[loss, aux]` (or `[loss, updated, aux]` with `mutable`); the result carries `aux`. */
  readonly hasAux?: boolean;
  /**
   * The loss returns the updated collections as its second element (what `apply` returns with
   * `{ mutable: [...] }`); they replace the state's collections of the same name in the next state.
   */
  readonly mutable?: boolean;
  /**
   * What a NaN or infinite loss or gradient does: `'raise'` (the default) throws a
   * {@link DivergenceError} and leaves the state live and unchanged; `'skip'` skips the update:
   * the next state has `step + 1` (the batch was used up, and the per-step keys move on) with
   * the same parameters, optimizer state and collections, and the result has `skipped: true`.
   */
  readonly onNonFinite?: 'raise' | 'skip';
}

/**
 * What {@link trainStep} returns: the next state and the loss as a JS number (and `aux` with
 * `hasAux`, whose tensors the caller owns).
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(2);
 * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 3]).params, tx: fx.optim.sgd(0.1) });
 * const lossFn = (params: typeof state.params, x: tf.Tensor) => tf.sum(state.apply({ params }, x));
 * const { state: next, loss }: fx.train.StepResult<typeof state.params, fx.optim.OptState> = fx.train.trainStep(state, lossFn, tf.ones([1, 3]));
 * ```
 */
export interface StepResult<P, S extends OptState, Aux = undefined, C extends Collections = any> {
  /** The next state (the previous one is spent). */
  readonly state: TrainState<P, S, C>;
  /** The loss before the update, read back as a JS number. */
  readonly loss: number;
  /** The loss function's auxiliary output (with `{ hasAux: true }`); the caller owns its tensors. */
  readonly aux: Aux;
  /** True when the update was skipped for a non-finite loss or gradient (`onNonFinite: 'skip'`). */
  readonly skipped: boolean;
}

/**
 * The loss as a JS number and the paths of the gradients holding NaN or ±Infinity. On the wasm
 * backend one small kernel scans each leaf in the backend's memory (`ops/all-finite.ts`) and the
 * loss is read alone; elsewhere the loss and a sum per leaf are read in one `dataSync`.
 */
function checkFinite(value: tf.Tensor, gradLeaves: ReadonlyArray<[string, tf.Tensor]>): [number, string[]] {
  const tensors = gradLeaves.map(([, g]) => g);
  let bad = firstNonFinite(tensors);
  if (bad !== undefined) {
    const loss = value.dataSync()[0]!;
    const diverged: string[] = [];
    while (bad !== undefined && bad >= 0) {
      diverged.push(gradLeaves[bad]![0]);
      bad = firstNonFinite(tensors, bad + 1);
    }
    return [loss, diverged];
  }
  const check = tf.tidy(() => tf.concat([tf.reshape(tf.cast(value, 'float32'), [1]), ...tensors.map((g) => tf.reshape(tf.sum(g), [1]))]));
  const sums = check.dataSync();
  check.dispose();
  const loss = sums[0]!;
  return [loss, sums.subarray(1).every(Number.isFinite) ? [] : nonFiniteGradients(gradLeaves, sums.subarray(1))];
}

/** Paths of the gradients holding NaN or ±Infinity, given each leaf's sum (finite sum: finite leaf). */
function nonFiniteGradients(leaves: ReadonlyArray<[string, tf.Tensor]>, sums: ArrayLike<number>): string[] {
  const out: string[] = [];
  leaves.forEach(([path, g], i) => {
    if (Number.isFinite(sums[i]!)) return;
    // A NaN or infinite element always makes the sum non-finite; a sum can also overflow with
    // finite elements only, so look at the elements (rare: this runs only when the sum is not finite).
    // g·0 is 0 for finite elements and NaN for the others.
    const zero = tf.tidy(() => tf.sum(tf.mul(g, tf.scalar(0))));
    if (zero.dataSync()[0] !== 0) out.push(path);
    zero.dispose();
  });
  return out;
}

/**
 * One training step: the loss and its gradients at `state.params` on `batch`, then
 * `state.applyGradients`. Returns `{state, loss}` with the loss as a JS number.
 *
 * Ownership: the previous state, the gradients and every intermediate are disposed; the
 * returned state owns its tensors; `batch` is never disposed (it is the caller's). With
 * `{ hasAux: true }` the loss function returns `[loss, aux]` and the result carries `aux` (its
 * tensors are the caller's). If the step throws, the state is left unchanged and nothing leaks.
 *
 * Collections: with `{ mutable: true }` the loss function returns `[loss, updated]` (or
 * `[loss, updated, aux]` with `hasAux`), where `updated` is what
 * `state.apply(state.variables(params), x, { train: true, mutable: ['batch_stats'] })` returned;
 * the next state holds the updated collections. Per-step randomness: `state.stepKey()`.
 *
 * Divergence: after the update is computed, and before it is taken over, the loss is read back
 * and every gradient leaf is checked (on the wasm backend by one small kernel that scans the
 * leaves where they lie in memory; elsewhere a sum per leaf, read in the one `dataSync` that
 * reads the loss). A NaN or infinite loss or gradient throws a {@link DivergenceError} naming the step (the state stays
 * live and unchanged), or with `{ onNonFinite: 'skip' }` skips the update (`skipped: true`).
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(10);
 * let state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 4]).params, tx: fx.optim.adam(1e-2) });
 * const lossFn = (params: typeof state.params, batch: { x: tf.Tensor; y: tf.Tensor }, s: typeof state) =>
 *   tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply({ params }, batch.x), batch.y));
 * const batches = [{ x: tf.ones([2, 4]), y: tf.tensor1d([3, 3], 'int32') }, { x: tf.ones([2, 4]), y: tf.tensor1d([3, 3], 'int32') }];
 * for (const batch of batches) {
 *   const result = fx.train.trainStep(state, lossFn, batch);
 *   state = result.state;
 *   console.log(result.loss);
 * }
 * ```
 */
export function trainStep<P, S extends OptState, B, C extends Collections>(
  state: TrainState<P, S, C>,
  lossFn: StepLossFn<P, B, S, C>,
  batch: B,
  opts?: StepOptions & { readonly hasAux?: false; readonly mutable?: false },
): StepResult<P, S, undefined, C>;
export function trainStep<P, S extends OptState, B, Aux, C extends Collections>(
  state: TrainState<P, S, C>,
  lossFn: StepLossFnWithAux<P, B, Aux, S, C>,
  batch: B,
  opts: StepOptions & { readonly hasAux: true; readonly mutable?: false },
): StepResult<P, S, Aux, C>;
export function trainStep<P, S extends OptState, B, C extends Collections>(
  state: TrainState<P, S, C>,
  lossFn: StepLossFnWithCollections<P, B, S, C>,
  batch: B,
  opts: StepOptions & { readonly hasAux?: false; readonly mutable: true },
): StepResult<P, S, undefined, C>;
export function trainStep<P, S extends OptState, B, Aux, C extends Collections>(
  state: TrainState<P, S, C>,
  lossFn: StepLossFnWithCollectionsAndAux<P, B, Aux, S, C>,
  batch: B,
  opts: StepOptions & { readonly hasAux: true; readonly mutable: true },
): StepResult<P, S, Aux, C>;
export function trainStep(state: TrainState, lossFn: (...args: any[]) => any, batch: unknown, opts: StepOptions = {}): StepResult<any, any, unknown> {
  if (!(state instanceof TrainState)) throw new FlaxenError('', `trainStep(state, lossFn, batch): state must be a TrainState from fx.train.TrainState.create, found ${describeValue(state)}`);
  state.assertLive('trainStep');
  if (typeof lossFn !== 'function') throw new FlaxenError('', `trainStep(state, lossFn, batch): lossFn must be a function (params, batch, state) => scalar, found ${describeValue(lossFn)}`);
  if (opts === null || typeof opts !== 'object') throw new FlaxenError('', `trainStep: options must be an object such as { hasAux: true }, found ${describeValue(opts)}`);
  const unknownOption = Object.keys(opts).find((k) => !['hasAux', 'mutable', 'onNonFinite'].includes(k));
  if (unknownOption !== undefined) throw new FlaxenError('', `trainStep: unknown option '${unknownOption}'; the options are hasAux, mutable, onNonFinite`);
  for (const name of ['hasAux', 'mutable'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'boolean') throw new FlaxenError('', `trainStep: ${name} must be true or false, found ${describeValue(opts[name])}`);
  }
  const policy = opts.onNonFinite ?? 'raise';
  if (policy !== 'raise' && policy !== 'skip') throw new FlaxenError('', `trainStep: onNonFinite must be 'raise' or 'skip', found ${describeValue(opts.onNonFinite)}`);
  const hasAux = opts.hasAux === true;
  const mutable = opts.mutable === true;
  const width = 1 + (mutable ? 1 : 0) + (hasAux ? 1 : 0);
  // The loss function's extra outputs travel as valueAndGrad's aux: { updated, aux }.
  const split = (out: unknown): [tf.Tensor, unknown] => {
    if (width === 1) return [out as tf.Tensor, undefined];
    if (!Array.isArray(out) || out.length !== width) {
      const form = mutable && hasAux ? '[loss, updatedCollections, aux]' : mutable ? '[loss, updatedCollections]' : '[loss, aux]';
      throw new FlaxenError('', `trainStep: with ${mutable && hasAux ? '{ mutable: true, hasAux: true }' : mutable ? '{ mutable: true }' : '{ hasAux: true }'} the loss function must return ${form}, found ${Array.isArray(out) ? `an array of ${out.length}` : describeValue(out)}`);
    }
    return [out[0] as tf.Tensor, { updated: mutable ? out[1] : undefined, aux: hasAux ? out[width - 1] : undefined }];
  };
  const [out, grads] =
    width === 1
      ? valueAndGrad((p: unknown, b: unknown) => lossFn(p, b, state) as tf.Tensor)(state.params, batch)
      : valueAndGrad((p: unknown, b: unknown) => split(lossFn(p, b, state)) as [tf.Tensor, unknown], { hasAux: true })(state.params, batch);
  const [value, extra] = width === 1 ? [out as tf.Tensor, undefined] : (out as [tf.Tensor, { updated: unknown; aux: unknown }]);
  const updated = (extra as { updated?: unknown } | undefined)?.updated;
  const aux = (extra as { aux?: unknown } | undefined)?.aux;
  // Frees the step's own tensors, never one the state holds (a collection returned unchanged).
  const held = new Set(flatten<unknown>(state.collections).map(([, t]) => t));
  const free = (...trees: unknown[]): void => {
    const seen = new Set<unknown>();
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object' || seen.has(node)) return;
      seen.add(node);
      if (node instanceof tf.Tensor) {
        if (!held.has(node)) node.dispose();
      } else if (Array.isArray(node)) node.forEach(walk);
      else if (isNode(node)) Object.values(node).forEach(walk);
    };
    trees.forEach(walk);
  };
  const cleanUp = (): void => free(grads, updated, aux, value);
  let next: TrainState;
  let loss: number;
  try {
    // The loss and the gradients are checked after the update was computed (the read of the loss
    // waits for the step's work anyway); the update is taken over only when they are finite.
    const gradLeaves = flatten<unknown>(grads).filter((entry): entry is [string, tf.Tensor] => entry[1] instanceof tf.Tensor);
    const update = state.prepareUpdate(grads, mutable ? updated : undefined, 'trainStep');
    let diverged: string[];
    try {
      [loss, diverged] = checkFinite(value, gradLeaves);
    } catch (error) {
      update.abort();
      throw error;
    }
    if (!Number.isFinite(loss) || diverged.length) {
      update.abort();
      if (policy === 'raise') throw new DivergenceError(state.step, loss, diverged);
      free(grads, updated, value);
      return { state: state.skipUpdate(), loss, aux, skipped: true };
    }
    update.commit();
    next = update.next;
  } catch (error) {
    cleanUp();
    throw error;
  }
  value.dispose();
  return { state: next, loss, aux, skipped: false };
}
