/**
 * Layers and module building blocks (`fx.nn`).
 *
 * @module
 */
export { Dense } from './dense.js';
export type { DenseOptions, DenseParams, DenseParamsNoBias } from './dense.js';
export { Sequential } from './sequential.js';
export type { Layer, SequentialVars } from './sequential.js';
export { module } from './module.js';
export { activation, relu, gelu, sigmoid, tanh, silu, softmax, logSoftmax } from './activations.js';
export type { Activation } from './activations.js';
