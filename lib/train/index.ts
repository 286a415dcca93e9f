/**
 * Training helpers (`fx.train`): the train state and a training step.
 *
 * ```ts
 * let state = fx.train.TrainState.create({ apply: net, params: variables.params, tx: fx.optim.adam(1e-3) });
 * for (const batch of batches) ({ state } = fx.train.trainStep(state, lossFn, batch));
 * ```
 *
 * @module
 */
export { TrainState } from './train-state.js';
export type { ApplyFn, Appliable, Collections, CollectionsOf, ParamsOf, StateVariables, TrainStateConfig, TrainStateFromVariables } from './train-state.js';
export { trainStep } from './train-step.js';
export type { StepLossFn, StepLossFnWithAux, StepLossFnWithCollections, StepLossFnWithCollectionsAndAux, StepOptions, StepResult } from './train-step.js';
export { DivergenceError } from './divergence.js';
