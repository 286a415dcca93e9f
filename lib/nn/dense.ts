/**
 * `Dense`: a fully connected layer whose input size is inferred from the data.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, formatShape } from '../errors.js';
import { Module } from '../core/module.js';
import type { Initializer } from '../core/scope.js';
import { ShapeDtype, isAbstract } from '../core/shapes.js';
import { lecunNormal, zeros } from '../initializers/index.js';
import { dense } from '../ops/matmul.js';
import { reshape } from '../ops/reshape.js';
import { relu } from './activations.js';
import { activationText, declareActivationOption } from './fusion.js';
import { checkInput } from './layer-util.js';
import { checkFeatures, checkOptions, shapeOfLeaf } from './util.js';
import type { OptionKinds } from '../check-options.js';

/**
 * Options of {@link Dense}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.DenseOptions = { useBias: false, kernelInit: fx.initializers.heNormal() };
 * ```
 */
export interface DenseOptions {
  /** Add a bias (default true). */
  readonly useBias?: boolean;
  /** Kernel initializer (default `lecunNormal()`, as in Flax). */
  readonly kernelInit?: Initializer;
  /** Bias initializer (default `zeros`). */
  readonly biasInit?: Initializer;
  /** The input size, when known in advance; an input of another size is then a `ShapeError`. */
  readonly inFeatures?: number;
  /**
   * An elementwise function applied to the output, e.g. `fx.nn.relu` (default none). The relu is
   * fused into the product: faster than a separate relu, with the same numbers.
   */
  readonly activation?: (x: tf.Tensor) => tf.Tensor;
  /** A fixed name inside a parent module (default `Dense_<k>`). */
  readonly name?: string;
}

const DENSE_OPTIONS: OptionKinds<DenseOptions> = { useBias: 'boolean', kernelInit: 'function', biasInit: 'function', inFeatures: 'any', activation: 'function', name: 'string' };

/** The variables of a `Dense` layer with a bias. */
export interface DenseParams {
  /** The trainable parameters. */
  params: {
    /** `[inFeatures, features]`. */
    kernel: tf.Tensor;
    /** `[features]`. */
    bias: tf.Tensor;
  };
}
/** The variables of a `Dense` layer without a bias. */
export interface DenseParamsNoBias {
  /** The trainable parameters. */
  params: {
    /** `[inFeatures, features]`. */
    kernel: tf.Tensor;
  };
}

/**
 * A fully connected layer `y = x · kernel + bias` over the last axis of an input of any rank.
 * The kernel is `[inFeatures, features]` with `inFeatures` taken from the first input seen by
 * `init`; bias `[features]`. Defaults as in Flax: LeCun-normal kernel, zero bias.
 *
 * `Dense(n, { activation: fx.nn.relu })` applies the relu within the product (also what
 * `Sequential([Dense(n), relu, ...])` runs).
 *
 * @param features - the output size.
 * @example
 * ```ts
 * const layer = fx.nn.Dense(256);
 * layer.describe();                                  // 'Dense(-1 -> 256)'
 * const vars = layer.init(fx.random.key(0), [2, 20]);
 * vars.params.kernel.shape;                          // [20, 256]
 * layer.describe(vars);                              // 'Dense(20 -> 256)'
 * ```
 */
export function Dense(features: number, opts?: DenseOptions & { readonly useBias?: true }): Module<DenseParams>;
/** Without a bias (`useBias: false`), the variables hold the kernel only. */
export function Dense(features: number, opts: DenseOptions & { readonly useBias: false }): Module<DenseParamsNoBias>;
/** @internal `useBias` not known at compile time (a `boolean`): typed as with a bias, as before. */
export function Dense(features: number, opts: DenseOptions): Module<DenseParams>;
export function Dense(features: number, opts: DenseOptions = {}): Module<DenseParams> {
  checkFeatures(features, 'Dense(features)');
  checkOptions(opts, DENSE_OPTIONS, 'Dense');
  const { useBias = true, kernelInit = lecunNormal(), biasInit = zeros, inFeatures } = opts;
  if (inFeatures !== undefined) checkFeatures(inFeatures, 'Dense: inFeatures');
  const activation = opts.activation;
  const fusedRelu = activation === relu;
  const layer: Module<DenseParams> = new Module({
    type: 'Dense',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: tf.Tensor | ShapeDtype) => {
      checkInput(x, 'Dense', scope.path, 1);
      const inputFeatures = x.shape[x.shape.length - 1]!;
      if (inFeatures !== undefined && inputFeatures !== inFeatures) {
        throw new ShapeError(scope.path, `Dense(${features}) was given inFeatures ${inFeatures}, but the input has ${inputFeatures} features (input shape ${formatShape(x.shape)})`);
      }
      const kernel = scope.param('kernel', kernelInit, [inputFeatures, features]);
      const bias = useBias ? scope.param('bias', biasInit, [features]) : undefined;
      const outShape = [...x.shape.slice(0, -1), features];
      if (isAbstract(x)) return new ShapeDtype(outShape);
      return tf.tidy(() => {
        const flat = x.rank === 2 ? x : reshape(x, [x.size / inputFeatures, inputFeatures]);
        // x·kernel + bias with a gradient on the fast untransposed matMul kernel (lib/ops/matmul.ts).
        const y = dense(flat as tf.Tensor2D, kernel as tf.Tensor2D, bias as tf.Tensor1D | undefined, { relu: fusedRelu });
        const out = x.rank === 2 ? y : reshape(y, outShape);
        return activation === undefined || fusedRelu ? out : activation(out);
      });
    },
    summarize: (variables) => {
      const kernel = shapeOfLeaf(variables, 'params', 'kernel');
      const inSize = kernel?.[0] ?? inFeatures ?? -1;
      return { header: `Dense(${inSize} -> ${features}${useBias ? '' : ', no bias'}${activationText(activation)})` };
    },
  });
  // Sequential([Dense(n), relu]) runs Dense(n, { activation: relu }) (nn/fusion.ts).
  return activation === undefined ? declareActivationOption(layer, (act) => Dense(features, { ...opts, activation: act })) : layer;
}
