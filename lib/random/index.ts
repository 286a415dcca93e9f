/**
 * Explicit random keys (`fx.random`): `key`, `split`, `foldIn` and samplers.
 *
 * @module
 */
export { Key, key, split, foldIn, isKey } from './key.js';
export { normal, uniform, truncatedNormal, bernoulli, permutation, generator } from './samplers.js';
export type { UniformSource } from './samplers.js';
