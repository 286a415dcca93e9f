/**
 * `Sequential`: layers applied one after the other, each sized by the output of the one before.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { Describable, Module } from '../core/module.js';
import { RUNNABLE, Scope } from '../core/scope.js';
import { abstractOutput, concreteInputs, isAbstract } from '../core/shapes.js';
import { SHAPE_PRESERVING, relu } from './activations.js';
import { withActivation } from './fusion.js';
import { checkOptions } from './util.js';
import type { OptionKinds } from '../check-options.js';

/** What `Sequential` accepts as a layer: a module or a plain function of the previous output. */
export type Layer = Module<any, any, any> | ((x: any) => any);

/** The variables type of a layer: a module's `V`, or `{}` for a function layer. */
export type ModuleVars<L> = L extends Module<infer V, any, any> ? V : {};
/** The union of the collection names (`'params'`, `'batch_stats'`, …) used by some layer. */
export type CollectionsOf<L extends readonly unknown[]> = { [I in keyof L]: keyof ModuleVars<L[I]> }[number];

/**
 * The variables of `Sequential(layers)` computed from the layers' types: for each collection,
 * `layers_<i>` holds the variables of layer `i`; function layers have none.
 */
export type SequentialVars<L extends readonly unknown[]> = {
  [C in CollectionsOf<L> & string]: {
    [I in keyof L as I extends `${number}` ? (C extends keyof ModuleVars<L[I]> ? `layers_${I}` : never) : never]: ModuleVars<L[I]>[C & keyof ModuleVars<L[I]>];
  };
};

/** The output type of the last layer. */
export type LastOutput<L extends readonly unknown[]> = L extends readonly [...unknown[], infer Last]
  ? Last extends Module<any, any, infer O> ? O : Last extends (...args: any[]) => infer O ? O : tf.Tensor
  : tf.Tensor;
/** The input types of the first layer. */
export type FirstInputs<L extends readonly unknown[]> = L extends readonly [infer First, ...unknown[]]
  ? First extends Module<any, infer I, any> ? I : First extends (...args: infer I) => any ? I : [tf.Tensor]
  : [tf.Tensor];

const SEQUENTIAL_OPTIONS: OptionKinds<{ readonly name?: string }> = { name: 'string' };

/**
 * Applies layers in order. Children are named `layers_<index>`; a function layer (like `relu`)
 * keeps its index and has no parameters, so `Sequential([Dense(256), relu, Dense(10)])` has
 * parameters `layers_0` and `layers_2`. The type of `init`'s result follows the layers.
 *
 * @param layers - modules and functions; the first receives the inputs, each next one the previous output.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
 * const vars = net.init(fx.random.key(0), [2, 20]);
 * vars.params.layers_0.kernel.shape; // [20, 256]
 * ```
 */
export function Sequential<const L extends readonly Layer[]>(
  layers: L,
  opts: { readonly name?: string } = {},
): Module<SequentialVars<L>, FirstInputs<L>, LastOutput<L>> {
  if (!Array.isArray(layers)) throw new FlaxenError('', `Sequential needs an array of layers, found ${describeValue(layers)}`);
  if (layers.length === 0) throw new FlaxenError('', 'Sequential needs at least one layer');
  layers.forEach((layer, i) => {
    if (!(layer instanceof Module) && typeof layer !== 'function') {
      throw new FlaxenError(`layers_${i}`, `a Sequential layer must be a module or a function, found ${describeValue(layer)}`);
    }
  });
  checkOptions(opts, SEQUENTIAL_OPTIONS, 'Sequential');
  const children: readonly Layer[] = Object.freeze([...(layers as readonly Layer[])]);
  // A layer followed by relu that takes an activation option (Dense, Conv) runs with the relu
  // built in (fused into its product); the relu's index is then skipped (nn/fusion.ts).
  const fused = children.map((layer, i) => (children[i + 1] === relu ? withActivation(layer, relu) : undefined));
  return new Module({
    type: 'Sequential',
    name: opts.name,
    abstractSafe: true,
    body: (scope: Scope, ...inputs: unknown[]) => {
      let values = inputs;
      let output: unknown;
      for (let i = 0; i < children.length; i++) {
        const layer = children[i]!;
        const withRelu = fused[i];
        if (withRelu && !values.some(isAbstract)) {
          output = scope.child(`layers_${i}`).run(withRelu[RUNNABLE], values);
          i++;
        } else {
          output = layer instanceof Module ? scope.child(`layers_${i}`).run(layer[RUNNABLE], values) : callFunction(scope, i, layer, values);
        }
        values = Array.isArray(output) ? output : [output];
      }
      return output;
    },
    summarize: () => ({
      header: 'Sequential',
      children: children.map((layer, i) => [`layers_${i}`, layer as Describable] as const),
    }),
  }) as unknown as Module<SequentialVars<L>, FirstInputs<L>, LastOutput<L>>;
}

/** Runs a function layer; while shapes are inferred, a function not written for them runs on zeros. */
function callFunction(scope: Scope, index: number, fn: (...args: any[]) => unknown, inputs: unknown[]): unknown {
  const abstract = inputs.some(isAbstract);
  if (!abstract || (fn as { [SHAPE_PRESERVING]?: boolean })[SHAPE_PRESERVING]) return fn(...inputs);
  try {
    return tf.tidy(() => abstractOutput(fn(...concreteInputs(inputs))) as tf.TensorContainer);
  } catch (error) {
    if (error instanceof FlaxenError) throw error;
    const path = [scope.path, `layers_${index}`].filter(Boolean).join('/');
    throw new FlaxenError(path, `the function layer ${fn.name || '(anonymous)'} failed on an input of shape [${inputs.map((v) => (v as { shape?: number[] }).shape?.join(', ')).join('], [')}]: ${(error as Error).message}`);
  }
}
