/**
 * `DivergenceError`: a training step met a non-finite loss or gradient.
 *
 * @module
 */
import { FlaxenError } from '../errors.js';

/**
 * A training step met a NaN or infinite loss, or gradients holding NaN or ±Infinity
 * (`fx.train.trainStep` checks both before it updates anything). The state given to the step
 * is still live and unchanged: save it, restore an earlier checkpoint, or lower the learning
 * rate. `step` is the state's step, `loss` the loss read back, `gradients` the paths of the
 * parameters whose gradient is not finite.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(1);
 * const state = fx.train.TrainState.create({ apply: net, params: net.init(fx.random.key(0), [1, 2]).params, tx: fx.optim.sgd(0.1) });
 * const lossFn = (params: typeof state.params) => tf.sum(tf.log(tf.neg(state.apply({ params }, tf.ones([1, 2])).abs())));
 * try { fx.train.trainStep(state, lossFn, undefined); }
 * catch (e) { if (e instanceof fx.train.DivergenceError) console.log(e.step, e.loss); }   // 0 NaN
 * ```
 */
export class DivergenceError extends FlaxenError {
  /** The step of the state the failed step started from. */
  readonly step: number;
  /** The loss of that step, as read back (NaN, ±Infinity, or finite when only gradients diverged). */
  readonly loss: number;
  /** The `/`-joined paths of the parameters whose gradient holds NaN or ±Infinity. */
  readonly gradients: readonly string[];
  /**
   * @param step - the state's step.
   * @param loss - the loss value.
   * @param gradients - the paths of the non-finite gradients.
   */
  constructor(step: number, loss: number, gradients: readonly string[]) {
    const what = [
      ...(Number.isFinite(loss) ? [] : [`the loss is ${loss}`]),
      ...(gradients.length ? [`the gradient of ${gradients.slice(0, 5).map((p) => `'${p}'`).join(', ')}${gradients.length > 5 ? ` and ${gradients.length - 5} more` : ''} holds NaN or ±Infinity`] : []),
    ].join(', and ');
    super('', `trainStep at step ${step}: ${what}; training diverged, so nothing was updated and the state of step ${step} is still usable (restore a checkpoint or lower the learning rate, or pass { onNonFinite: 'skip' } to skip such steps)`, gradients.length ? { treePath: gradients[0] } : {});
    this.step = step;
    this.loss = loss;
    this.gradients = Object.freeze([...gradients]);
  }
}
