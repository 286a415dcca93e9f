/**
 * Gradients over parameter trees (`fx.valueAndGrad`, `fx.grad`).
 *
 * @module
 */
export {};
