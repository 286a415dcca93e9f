/**
 * Activations that a layer applies itself. `Dense` and `Conv` take an `activation` option; with
 * `relu` they fuse it into their product (see `ops/fused-relu.ts`), saving the `Relu` kernel, its
 * saved copy and its gradient's passes. A layer declares here that it takes the option, so that
 * `Sequential([Dense(n), relu, ...])` asks it for the same layer with the relu built in: no
 * global state, no list of layer types, and a custom module fuses by using the option itself.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../core/module.js';

/** An elementwise function applied to a layer's output. */
type ElementwiseFn = (x: tf.Tensor) => tf.Tensor;

/** The same layer with an activation built in. */
type WithActivation = (activation: ElementwiseFn) => Module<any, any, any>;

// Layers that take an activation option, with how to rebuild each with one. Keyed by the module
// object, so that it says nothing about modules of the same type name.
const declared = new WeakMap<object, WithActivation>();

/**
 * @internal
 * Declares that `layer` takes an activation option: `rebuild(activation)` is the same layer (same
 * parameters, same names) with it built in. Returns `layer`.
 */
export function declareActivationOption<M extends object>(layer: M, rebuild: WithActivation): M {
  declared.set(layer, rebuild);
  return layer;
}

/**
 * @internal
 * `layer` with `activation` built in, when it declared that it takes one; otherwise undefined
 * (and the caller applies the activation itself).
 */
export function withActivation(layer: unknown, activation: ElementwiseFn): Module<any, any, any> | undefined {
  return typeof layer === 'object' && layer !== null ? declared.get(layer)?.(activation) : undefined;
}

/** @internal How `describe` shows a layer's activation option: `, relu`, or nothing without one. */
export function activationText(activation: ElementwiseFn | undefined): string {
  if (activation === undefined) return '';
  const name = (activation as { displayName?: string }).displayName ?? activation.name;
  return `, ${name || 'activation'}`;
}
