/**
 * Custom modules in the compact style: a name and a body that declares parameters and calls
 * submodules as it computes.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { Module, Variables } from '../core/module.js';
import type { Scope } from '../core/scope.js';
import { flatten, isNode } from '../tree/index.js';

/**
 * Defines a module by its body, in Flax's compact style. Inside the body, `scope.param`
 * declares a parameter (its shape may depend on the inputs), `scope.call` runs a submodule
 * (auto-named `Dense_0`, `Dense_1`, … or named with `{name}`; the same name twice shares
 * parameters), `scope.rng(stream)` gives a key, `scope.variable` a non-parameter variable and
 * `scope.train` the mode.
 *
 * The body runs on real tensors in `apply`. During `init`, inputs are shape stand-ins: calls to
 * submodules work on them as they are; if the body does tfjs math on them, flaxen runs it again
 * on zeros to learn the shapes (nothing random is drawn, and the zeros are freed).
 *
 * Give `V` to type the variables: `fx.nn.module<{ params: {...} }>(...)`.
 *
 * @param name - the type name, used for auto-naming (`MLP_0`) and `describe`.
 * @param body - `(scope, ...inputs) => output`.
 * @example
 * ```ts
 * const MLP = fx.nn.module('MLP', (scope, x: tf.Tensor) => {
 *   const h = fx.nn.relu(scope.call(fx.nn.Dense(64), x));
 *   return scope.call(fx.nn.Dense(10), h);
 * });
 * const vars = MLP.init(fx.random.key(0), [1, 784]); // params: { Dense_0: {...}, Dense_1: {...} }
 * ```
 */
export function module<V extends Variables = Variables, In extends unknown[] = [tf.Tensor], Out = tf.Tensor>(
  name: string,
  body: (scope: Scope, ...inputs: In) => Out,
  opts: { readonly abstractSafe?: boolean } = {},
): Module<V, In, Out> {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new FlaxenError('', `module(name, body): name must be an identifier such as 'MLP', found ${describeValue(name)}`);
  }
  if (typeof body !== 'function') throw new FlaxenError('', `module(${name}, body): body must be a function (scope, ...inputs) => output, found ${describeValue(body)}`);
  return new Module<V, In, Out>({
    type: name,
    abstractSafe: opts.abstractSafe === true,
    body: body as (scope: Scope, ...inputs: unknown[]) => unknown,
    summarize: (variables) => {
      const params = variables?.['params'];
      if (!isNode(params)) return { header: name };
      const rows = flatten<{ shape?: number[] }>(params).map(([path, leaf]) => `${path}: ${leaf?.shape ? formatShape(leaf.shape) : '?'}`);
      return { header: rows.length ? `${name} { ${rows.join(', ')} }` : name };
    },
  });
}
