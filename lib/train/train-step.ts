/**
 * `trainStep`: one gradient step on a batch, from a loss function of the parameters.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { valueAndGrad } from '../autodiff/grad.js';
import type { OptState } from '../optim/base.js';
import { TrainState } from './train-state.js';

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
export type StepLossFn<P, B> = (params: P, batch: B, state: TrainState<P, any>) => tf.Tensor;
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
export type StepLossFnWithAux<P, B, Aux> = (params: P, batch: B, state: TrainState<P, any>) => readonly [tf.Tensor, Aux];

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
export interface StepResult<P, S extends OptState, Aux = undefined> {
  /** The next state (the previous one is spent). */
  readonly state: TrainState<P, S>;
  /** The loss before the update, read back as a JS number. */
  readonly loss: number;
  /** The loss function's auxiliary output (with `{ hasAux: true }`); the caller owns its tensors. */
  readonly aux: Aux;
}

/**
 * One training step: the loss and its gradients at `state.params` on `batch`, then
 * `state.applyGradients`. Returns `{state, loss}` with the loss as a JS number.
 *
 * Ownership: the previous state, the gradients and every intermediate are disposed; the
 * returned state owns its tensors; `batch` is never disposed (it is the caller's). The loss is
 * read back with one `dataSync` of a scalar: the wasm and cpu backends compute synchronously,
 * so this costs microseconds and leaves nothing to dispose. With `{ hasAux: true }` the loss
 * function returns `[loss, aux]` and the result carries `aux` (its tensors are the caller's).
 * If the step throws, the state is left unchanged and nothing leaks.
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
export function trainStep<P, S extends OptState, B>(state: TrainState<P, S>, lossFn: StepLossFn<P, B>, batch: B, opts?: { readonly hasAux?: false }): StepResult<P, S>;
export function trainStep<P, S extends OptState, B, Aux>(
  state: TrainState<P, S>,
  lossFn: StepLossFnWithAux<P, B, Aux>,
  batch: B,
  opts: { readonly hasAux: true },
): StepResult<P, S, Aux>;
export function trainStep(state: TrainState, lossFn: (...args: any[]) => any, batch: unknown, opts: { readonly hasAux?: boolean } = {}): StepResult<any, any, unknown> {
  if (!(state instanceof TrainState)) throw new FlaxenError('', `trainStep(state, lossFn, batch): state must be a TrainState from fx.train.TrainState.create, found ${describeValue(state)}`);
  state.assertLive('trainStep');
  if (typeof lossFn !== 'function') throw new FlaxenError('', `trainStep(state, lossFn, batch): lossFn must be a function (params, batch, state) => scalar, found ${describeValue(lossFn)}`);
  const hasAux = opts.hasAux === true;
  const [out, grads] = hasAux
    ? valueAndGrad((p: unknown, b: unknown) => lossFn(p, b, state) as readonly [tf.Tensor, unknown], { hasAux: true })(state.params, batch)
    : valueAndGrad((p: unknown, b: unknown) => lossFn(p, b, state) as tf.Tensor)(state.params, batch);
  const [value, aux] = hasAux ? (out as [tf.Tensor, unknown]) : [out as tf.Tensor, undefined];
  let next: TrainState;
  try {
    next = state.applyGradients(grads);
  } catch (error) {
    tf.dispose([grads, aux] as tf.TensorContainer);
    value.dispose();
    throw error;
  }
  const loss = value.dataSync()[0]!;
  value.dispose();
  return { state: next, loss, aux };
}
