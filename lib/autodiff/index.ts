/**
 * Gradients over parameter trees (`fx.valueAndGrad`, `fx.grad`).
 *
 * @module
 */
export { valueAndGrad, grad } from './grad.js';
export type { Grads, GradOptions, LossFn, LossFnWithAux } from './grad.js';
