/**
 * `scaleByAdam`: Adam's rescaling of the gradients by bias-corrected first and second moments.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation, Scaling } from '../base.js';
import { fusedAdamLeaf } from '../../ops/fused-adam.js';
import { checkOptions, type OptionKinds } from '../../check-options.js';
import { checkNumber, checkRate, checkState, mapTensors, tidy, zipLeaves, type NamedTree } from '../util.js';

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

/** @internal The options of Adam-like transformations (numbers: ranges are checked by {@link adamOptions}). */
export const ADAM_OPTIONS: OptionKinds<ScaleByAdamOptions> = { b1: 'any', b2: 'any', eps: 'any', epsRoot: 'any' };

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
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @example
 * ```ts
 * const tx = fx.optim.chain(fx.optim.scaleByAdam({ b2: 0.99 }), fx.optim.scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByAdam(opts: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptions<ScaleByAdamOptions>('scaleByAdam', opts, ADAM_OPTIONS);
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
    update: <G>(grads: G, state: ScaleByAdamState): readonly [G, ScaleByAdamState] => adamStep(grads, state, { b1, b2, eps, epsRoot }, { scale: 1 }),
    // `adam` is this followed by scaleByLearningRate: chain folds the learning rate (and adamw's
    // weight decay) into this one pass, which on wasm is one fused kernel per leaf.
    updateScaled: <G>(grads: G, state: ScaleByAdamState, params: unknown, scaling: Scaling): readonly [G, ScaleByAdamState] =>
      adamStep(grads, state, { b1, b2, eps, epsRoot }, scaling, params),
  });
}

/**
 * One Adam step on every leaf, with the result multiplied by `scaling.scale` and, when
 * `scaling.decay` is given, `scaling.decay · param` added: `adam` and `adamw` fold their learning
 * rate (and weight decay) in here, saving a full pass over the parameters per folded stage.
 */
function adamStep<G>(grads: G, state: unknown, hyper: Required<ScaleByAdamOptions>, scaling: Scaling, params?: unknown): readonly [G, ScaleByAdamState] {
  const what = 'scaleByAdam';
  const { b1, b2, eps, epsRoot } = hyper;
  const outScale = scaling.scale;
  const decay = scaling.decay === undefined ? undefined : { params, factor: scaling.decay };
  const { count, mu, nu } = checkState(what, state, ['count', 'mu', 'nu']) as ScaleByAdamState;
  const t = count + 1;
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  // With epsRoot = 0: (mu/bc1) / (sqrt(nu/bc2) + eps) = mu·(sqrt(bc2)/bc1) / (sqrt(nu) + eps·sqrt(bc2)),
  // four ops per leaf instead of six.
  const fast = epsRoot === 0;
  const num = outScale * (fast ? Math.sqrt(bc2) / bc1 : 1 / bc1);
  const epsOut = fast ? eps * Math.sqrt(bc2) : eps;
  const factor = decay?.factor ?? 0;
  return tidy(() => {
    // Scalars made once per call (and only if a leaf takes the tfjs-op path), shared by every leaf.
    let c: Record<'b1' | 'oneMinusB1' | 'b2' | 'oneMinusB2' | 'num' | 'eps' | 'invBc2' | 'epsRoot' | 'decay', tf.Scalar> | undefined;
    const scalars = () =>
      (c ??= {
        b1: tf.scalar(b1),
        oneMinusB1: tf.scalar(1 - b1),
        b2: tf.scalar(b2),
        oneMinusB2: tf.scalar(1 - b2),
        num: tf.scalar(num),
        eps: tf.scalar(epsOut),
        invBc2: tf.scalar(1 / bc2),
        epsRoot: tf.scalar(epsRoot),
        decay: tf.scalar(factor),
      });
    const trees: NamedTree[] = [
      { name: 'grads', tree: grads },
      { name: 'state.mu', tree: mu },
      { name: 'state.nu', tree: nu },
    ];
    if (decay) trees.push({ name: 'params', tree: decay.params });
    const [updates, newMu, newNu] = zipLeaves(what, trees, 3, ([g, m, v, p]) => {
      // One fused pass on wasm, the same float32 operations as the ops below (bit-identical).
      const fused = fast ? fusedAdamLeaf(g!, m!, v!, p, [b1, 1 - b1, b2, 1 - b2, num, epsOut, factor]) : undefined;
      if (fused) return fused;
      const k = scalars();
      const m1 = tf.add(tf.mul(m!, k.b1), tf.mul(g!, k.oneMinusB1));
      const v1 = tf.add(tf.mul(v!, k.b2), tf.mul(tf.square(g!), k.oneMinusB2));
      const root = fast ? tf.sqrt(v1) : tf.sqrt(tf.add(tf.mul(v1, k.invBc2), k.epsRoot));
      const u = tf.div(tf.mul(m1, k.num), tf.add(root, k.eps));
      return [p ? tf.add(u, tf.mul(p, k.decay)) : u, m1, v1];
    });
    return Object.freeze([updates as G, Object.freeze({ count: t, mu: newMu, nu: newNu })] as const);
  });
}
