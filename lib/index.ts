/**
 * flaxen: Flax-style functional neural networks for TypeScript, on tfjs-core with WASM SIMD.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import * as fx from 'flaxen';
 * await fx.ready();
 * const net = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
 * const variables = net.init(fx.random.key(0), [2, 20]);
 * const y = net.apply(variables, tf.ones([8, 20]));
 * ```
 *
 * @module flaxen
 */
export { ready, backendInfo } from './backend.js';
export type { BackendName, BackendInfo, ThreadCount } from './backend.js';
export {
  FlaxenError,
  ShapeError,
  MissingVariableError,
  UnexpectedVariableError,
  MissingRngError,
  ImmutableCollectionError,
  BackendNotReadyError,
  OutOfMemoryError,
} from './errors.js';
export type { ErrorLocation } from './errors.js';
export { checkOptions } from './check-options.js';
export type { OptionKind, OptionKinds } from './check-options.js';
export { options } from './core/options.js';
export { CheckpointError, CheckpointMismatchError } from './checkpoint/errors.js';
export { Module } from './core/module.js';
export type { ApplyOptions, MutableApplyOptions, InitInput, Rngs, Variables, Description, Describable, DescribableModule } from './core/module.js';
export { Scope } from './core/scope.js';
export type { Initializer, VariableRef, CallOptions, CallableModule } from './core/scope.js';
export { ShapeDtype, isAbstract } from './core/shapes.js';
export type { Value } from './core/shapes.js';
export type { Tree, MapLeaves, DeepReadonly } from './tree/index.js';
export * as random from './random/index.js';
export * as tree from './tree/index.js';
export * as nn from './nn/index.js';
export * as initializers from './initializers/index.js';
export * as optim from './optim/index.js';
export * as losses from './losses/index.js';
export * as train from './train/index.js';
export * as checkpoint from './checkpoint/index.js';
export * as interop from './interop/index.js';
export * as data from './data/index.js';
export * from './autodiff/index.js';
export * from './inspect/index.js';
