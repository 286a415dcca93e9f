/**
 * Optax-style optimizers (`fx.optim`): gradient transformations, their chains and schedules.
 *
 * A transformation is a pair of pure functions, `init(params) -> state` and
 * `update(grads, state, params?) -> [updates, state]`; optimizers are chains of small ones
 * (`adam = chain(scaleByAdam(), scaleByLearningRate(lr))`), and `applyUpdates` adds the updates.
 * See the optimizers guide (docs/optimizers.md).
 *
 * Memory ownership is the same for every transformation: see {@link GradientTransformation}.
 *
 * ```ts
 * const tx = fx.optim.adam(1e-3);
 * let state = tx.init(params);
 * const [updates, next] = tx.update(grads, state, params);
 * const newParams = fx.optim.applyUpdates(params, updates);
 * fx.tree.dispose(grads); fx.tree.dispose(updates); fx.tree.dispose(state); fx.tree.dispose(params);
 * state = next;
 * ```
 *
 * @module
 */
// Types and composition.
export type { GradientTransformation, OptState, Schedule, ScalarOrSchedule, TensorTree } from './base.js';
export { applyUpdates } from './apply-updates.js';
export { chain } from './chain.js';
export type { ChainState } from './chain.js';
export { identity, setToZero } from './identity.js';
export type { EmptyState } from './identity.js';
export { masked, multiTransform } from './masked.js';
export type { Mask, Labels, MaskedState, MultiTransformState } from './masked.js';
export { multiSteps } from './multi-steps.js';
export type { MultiStepsState } from './multi-steps.js';

// Building blocks.
export { scale, scaleBySchedule, scaleByLearningRate } from './scale.js';
export type { ScaleByScheduleState, ScaleByLearningRateOptions } from './scale.js';
export { clip, clipByGlobalNorm, globalNorm } from './clip.js';
export { addDecayedWeights } from './decay.js';
export type { AddDecayedWeightsOptions, DecoupledDecayOptions } from './decay.js';
export { scaleByAdam } from './transforms/scale-by-adam.js';
export type { ScaleByAdamOptions, ScaleByAdamState } from './transforms/scale-by-adam.js';
export { trace } from './transforms/trace.js';
export type { TraceOptions, TraceState } from './transforms/trace.js';
export { scaleByRms, scaleByStddev } from './transforms/scale-by-rms.js';
export type { ScaleByRmsOptions, ScaleByRmsState, ScaleByStddevState } from './transforms/scale-by-rms.js';
export { scaleByRss } from './transforms/scale-by-rss.js';
export type { ScaleByRssOptions, ScaleByRssState } from './transforms/scale-by-rss.js';
export { scaleByLion } from './transforms/scale-by-lion.js';
export type { ScaleByLionOptions, ScaleByLionState } from './transforms/scale-by-lion.js';
export { scaleByTrustRatio } from './transforms/scale-by-trust-ratio.js';
export type { ScaleByTrustRatioOptions } from './transforms/scale-by-trust-ratio.js';

// Optimizers.
export { sgd } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export { adam, adamw } from './adam.js';
export type { AdamOptions, AdamWOptions } from './adam.js';
export { rmsprop } from './rmsprop.js';
export type { RmspropOptions } from './rmsprop.js';
export { adagrad } from './adagrad.js';
export type { AdagradOptions } from './adagrad.js';
export { lion } from './lion.js';
export type { LionOptions } from './lion.js';
export { lamb } from './lamb.js';
export type { LambOptions } from './lamb.js';

// Schedules.
export * as schedules from './schedules.js';
