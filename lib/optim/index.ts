/**
 * Optax-style optimizers (`fx.optim`): gradient transformations, their chains and schedules.
 *
 * A transformation is a pair of pure functions, `init(params) -> state` and
 * `update(grads, state, params?) -> [updates, state]`; optimizers are chains of small ones
 * (`adam = chain(scaleByAdam(), scaleByLearningRate(lr))`), and `applyUpdates` adds the updates.
 *
 * Memory ownership: `init` and `update` never dispose nor change their inputs. What they return
 * (state, updates) is new and owned by the caller, who disposes the old state, the grads and the
 * updates once used (`fx.tree.dispose`). States are frozen records; step counts are JS numbers.
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
export type { GradientTransformation, OptState, Schedule, ScalarOrSchedule, TensorTree } from './base.js';
export { applyUpdates } from './apply-updates.js';
export { chain } from './chain.js';
export type { ChainState } from './chain.js';
export { identity, setToZero } from './identity.js';
export type { EmptyState } from './identity.js';
export { scale, scaleBySchedule, scaleByLearningRate } from './scale.js';
export type { ScaleByScheduleState, ScaleByLearningRateOptions } from './scale.js';
export { scaleByAdam } from './transforms/scale-by-adam.js';
export type { ScaleByAdamOptions, ScaleByAdamState } from './transforms/scale-by-adam.js';
export { trace } from './transforms/trace.js';
export type { TraceOptions, TraceState } from './transforms/trace.js';
export { sgd } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export { adam } from './adam.js';
export type { AdamOptions } from './adam.js';
export * as schedules from './schedules.js';
