/**
 * `scaleByAdam`: Adam's rescaling of the gradients by bias-corrected first and second moments.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation } from '../base.js';
import { checkNumber, checkOptions, checkRate, checkState, mapTensors, tidy, zipLeaves, type NamedTree } from '../util.js';

/**
 * Options of {@link scaleByAdam} (and of `adam`, `adamw`): Optax's names and defaults.
 *
 * @example
 * ```ts
 * const opts: fx.optim.ScaleByAdamOptions = { b1: 0.9, b2: 0.98, eps: 1e-9 };
 * ```
 */
export interface ScaleByAdamOptions {
  /** Decay of the first moment (mean of gradients), in [0, 1); default 0.9. */
  readonly b1?: number;
  /** Decay of the second moment (mean of squared gradients), in [0, 1); default 0.999. */
  readonly b2?: number;
  /** Added to the denominator outside the square root; default 1e-8. */
  readonly eps?: number;
  /** Added inside the square root (to the bias-corrected second moment); default 0. */
  readonly epsRoot?: number;
}

/**
 * The state of {@link scaleByAdam}: the step count and the two moment trees.
 *
 * @example
 * ```ts
 * const s: fx.optim.ScaleByAdamState = fx.optim.scaleByAdam().init({ w: tf.ones([2]) });
 * s.count;   // 0
 * ```
 */
export interface ScaleByAdamState {
  readonly [key: string]: unknown;
  /** Updates done so far (a JS number). */
  readonly count: number;
  /** First moments, shaped like the parameters. */
  readonly mu: unknown;
  /** Second moments, shaped like the parameters. */
  readonly nu: unknown;
}

/** @internal The option names of Adam-like transformations. */
export const ADAM_OPTIONS = ['b1', 'b2', 'eps', 'epsRoot'] as const;

/** @internal Validates Adam's options and fills in the defaults. */
export function adamOptions(fn: string, opts: ScaleByAdamOptions): Required<ScaleByAdamOptions> {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0 } = opts;
  return {
    b1: checkRate(fn, 'b1', b1),
    b2: checkRate(fn, 'b2', b2),
    eps: checkNumber(fn, 'eps', eps, { min: 0 }),
    epsRoot: checkNumber(fn, 'epsRoot', epsRoot, { min: 0 }),
  };
}

/**
 * Rescales updates as Adam does (Optax's `scale_by_adam`; Kingma & Ba, 2014,
 * https://arxiv.org/abs/1412.6980). With `t` the step (from 1):
 * `mu = b1·mu + (1−b1)·g`, `nu = b2·nu + (1−b2)·g²`,
 * `update = (mu / (1−b1^t)) / (sqrt(nu / (1−b2^t) + epsRoot) + eps)`.
 * It does not multiply by the learning rate: chain it with {@link scaleByLearningRate}
 * (that is what `adam` does).
 *
 * Ownership: `update` disposes nothing it is given; the updates and the new moments are new tensors.
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByAdam({ b2: 0.99 }), fx.optim.scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByAdam(opts: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptions('scaleByAdam', opts, ADAM_OPTIONS);
  const { b1, b2, eps, epsRoot } = adamOptions('scaleByAdam', opts);
  return Object.freeze({
    init: (params: unknown): ScaleByAdamState =>
      tidy(() =>
        Object.freeze({
          count: 0,
          mu: mapTensors('scaleByAdam.init', 'params', params, (p) => tf.zerosLike(p)),
          nu: mapTensors('scaleByAdam.init', 'params', params, (p) => tf.zerosLike(p)),
        }),
      ),
    update: <G>(grads: G, state: ScaleByAdamState): readonly [G, ScaleByAdamState] => adamStep('scaleByAdam', grads, state, { b1, b2, eps, epsRoot }, 1),
  });
}

/**
 * @internal
 * One Adam step on every leaf, with the result multiplied by `outScale` and, when `decay` is
 * given, `decay.factor · param` added: `adam` and `adamw` fold their learning rate (and weight
 * decay) in here, saving a full pass over the parameters per stage. Same numbers as the chain.
 */
export function adamStep<G>(
  what: string,
  grads: G,
  state: unknown,
  hyper: Required<ScaleByAdamOptions>,
  outScale: number,
  decay?: { readonly params: unknown; readonly factor: number },
): readonly [G, ScaleByAdamState] {
  const { b1, b2, eps, epsRoot } = hyper;
  const { count, mu, nu } = checkState(what, state, ['count', 'mu', 'nu']) as ScaleByAdamState;
  const t = count + 1;
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  return tidy(() => {
    // Scalars made once per call, shared by every leaf.
    const cB1 = tf.scalar(b1);
    const c1mB1 = tf.scalar(1 - b1);
    const cB2 = tf.scalar(b2);
    const c1mB2 = tf.scalar(1 - b2);
    // With epsRoot = 0: (mu/bc1) / (sqrt(nu/bc2) + eps) = mu·(sqrt(bc2)/bc1) / (sqrt(nu) + eps·sqrt(bc2)),
    // four ops per leaf instead of six.
    const fast = epsRoot === 0;
    const cNum = tf.scalar(outScale * (fast ? Math.sqrt(bc2) / bc1 : 1 / bc1));
    const cEps = tf.scalar(fast ? eps * Math.sqrt(bc2) : eps);
    const cInvBc2 = tf.scalar(1 / bc2);
    const cEpsRoot = tf.scalar(epsRoot);
    const cDecay = tf.scalar(decay?.factor ?? 0);
    const trees: NamedTree[] = [
      { name: 'grads', tree: grads },
      { name: 'state.mu', tree: mu },
      { name: 'state.nu', tree: nu },
    ];
    if (decay) trees.push({ name: 'params', tree: decay.params });
    const [updates, newMu, newNu] = zipLeaves(what, trees, 3, ([g, m, v, p]) => {
      const m1 = tf.add(tf.mul(m!, cB1), tf.mul(g!, c1mB1));
      const v1 = tf.add(tf.mul(v!, cB2), tf.mul(tf.square(g!), c1mB2));
      const root = fast ? tf.sqrt(v1) : tf.sqrt(tf.add(tf.mul(v1, cInvBc2), cEpsRoot));
      const u = tf.div(tf.mul(m1, cNum), tf.add(root, cEps));
      return [p ? tf.add(u, tf.mul(p, cDecay)) : u, m1, v1];
    });
    return Object.freeze([updates as G, Object.freeze({ count: t, mu: newMu, nu: newNu })] as const);
  });
}
