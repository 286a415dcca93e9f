/**
 * `Embed`: a lookup table of vectors indexed by integer ids, with `attend` for weight tying.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, describeValue, formatShape } from '../errors.js';
import { Module } from '../core/module.js';
import type { Initializer, Scope } from '../core/scope.js';
import { ShapeDtype, isAbstract } from '../core/shapes.js';
import { varianceScaling } from '../initializers/index.js';
import { Input, checkInput } from './layer-util.js';
import { checkFeatures, checkOptions } from './util.js';
import type { OptionKinds } from '../check-options.js';

/**
 * Options of {@link Embed}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.EmbedOptions = { embeddingInit: fx.initializers.normal(0.02), name: 'embed' };
 * ```
 */
export interface EmbedOptions {
  /** Initializer of the table (default Flax's `variance_scaling(1, 'fan_in', 'normal', out_axis=0)`: std `1/sqrt(features)`). */
  readonly embeddingInit?: Initializer;
  /** A fixed name inside a parent module (default `Embed_<k>`); `attend` runs under the same name. */
  readonly name?: string;
}

const EMBED_OPTIONS: OptionKinds<EmbedOptions> = { embeddingInit: 'function', name: 'string' };

/**
 * The variables of an `Embed` layer.
 *
 * @example
 * ```ts
 * const vars: fx.nn.EmbedParams = fx.nn.Embed(10, 4).init(fx.random.key(0), [1, 3]);
 * ```
 */
export type EmbedParams = {
  /** The trainable parameters. */
  params: {
    /** The table `[numEmbeddings, features]`: row `i` is the vector of id `i`. */
    embedding: tf.Tensor;
  };
};

/**
 * An `Embed` module, which also offers {@link EmbedModule.attend | attend}: the same table used
 * as an output projection.
 *
 * @example
 * ```ts
 * const embed: fx.nn.EmbedModule = fx.nn.Embed(1000, 64, { name: 'embed' });
 * ```
 */
export class EmbedModule extends Module<EmbedParams, [tf.Tensor], tf.Tensor> {
  /**
   * A module computing `query · embeddingᵀ` (`[..., features] -> [..., numEmbeddings]`) with
   * this layer's `embedding` parameter, as Flax's `Embed.attend`: the usual way to tie input
   * and output embeddings. It has the same type and name as the `Embed`, so inside a parent
   * module both share one table when they run under the same name: give the `Embed` a `name`,
   * or call `scope.call(embed.attend, h, { name: 'Embed_0' })`.
   *
   * @example
   * ```ts
   * const embed = fx.nn.Embed(100, 16, { name: 'embed' });
   * const LM = fx.nn.module('LM', (scope, ids: tf.Tensor) => {
   *   const h = scope.call(embed, ids);              // [batch, length, 16]
   *   return scope.call(embed.attend, h);            // [batch, length, 100], same table
   * });
   * ```
   */
  get attend(): Module<EmbedParams, [tf.Tensor], tf.Tensor> {
    return ATTEND.get(this)!;
  }
}

const ATTEND = new WeakMap<EmbedModule, Module<EmbedParams, [tf.Tensor], tf.Tensor>>();

/** Gathers rows with a gradient that works on wasm (which lacks `UnsortedSegmentSum`): a `scatterND` sum. */
function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [t, i, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([i]);
    return {
      value: tf.gather(t, i) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const idx = saved[0] as tf.Tensor1D;
        return [tf.scatterND(tf.reshape(idx, [-1, 1]), dy, t.shape), tf.zerosLike(idx)];
      },
    };
  });
  return f(table, ids) as tf.Tensor2D;
}

/**
 * Integer-indexed embeddings, as Flax's `nn.Embed`: parameter `embedding`
 * `[numEmbeddings, features]`, drawn by default from a normal with std `1/sqrt(features)`
 * (Flax's `variance_scaling(1.0, 'fan_in', 'normal', out_axis=0)`). Input: int32 ids of any shape;
 * output `[...ids.shape, features]`. Ids that are not integers, or outside
 * `[0, numEmbeddings)`, are a `FlaxenError` (the ids are read during `apply` to check them)
 * rather than silently wrong rows. `embed.attend` shares the table for weight tying.
 *
 * @param numEmbeddings - the number of rows (vocabulary size).
 * @param features - the size of each vector.
 * @example
 * ```ts
 * const embed = fx.nn.Embed(1000, 64);
 * const vars = embed.init(fx.random.key(0), tf.zeros([2, 8], 'int32'));
 * vars.params.embedding.shape;                                   // [1000, 64]
 * embed.apply(vars, tf.tensor2d([[1, 2, 3]], [1, 3], 'int32')).shape; // [1, 3, 64]
 * ```
 */
export function Embed(numEmbeddings: number, features: number, opts: EmbedOptions = {}): EmbedModule {
  checkFeatures(numEmbeddings, 'Embed(numEmbeddings)');
  checkFeatures(features, 'Embed(features)');
  checkOptions(opts, EMBED_OPTIONS, 'Embed');
  const { embeddingInit = varianceScaling(1, 'fan_in', 'normal', { outAxis: 0 }) } = opts;
  const table = (scope: Scope) => scope.param('embedding', embeddingInit, [numEmbeddings, features]);
  const summarize = () => ({ header: `Embed(${numEmbeddings} -> ${features})` });
  const module = new EmbedModule({
    type: 'Embed',
    name: opts.name,
    abstractSafe: true,
    body: (scope, ids: Input) => {
      if (!(ids instanceof tf.Tensor) && !isAbstract(ids)) throw new FlaxenError(scope.path, `Embed needs a tensor of integer ids, found ${describeValue(ids)}`);
      const embedding = table(scope);
      const outShape = [...ids.shape, features];
      // Shapes given to init as plain arrays carry no dtype, so the dtype is checked on tensors only.
      if (isAbstract(ids)) return new ShapeDtype(outShape) as unknown as tf.Tensor;
      if (ids.dtype !== 'int32') throw new FlaxenError(scope.path, `Embed needs integer ids (an int32 tensor), found dtype ${ids.dtype}; convert with tf.cast(ids, 'int32')`);
      const values = ids.dataSync();
      let bad = -1;
      for (let i = 0; i < values.length; i++) if (!(values[i]! >= 0 && values[i]! < numEmbeddings)) { bad = i; break; }
      if (bad >= 0) {
        throw new FlaxenError(scope.path, `Embed(${numEmbeddings}, ${features}): ids must be in [0, ${numEmbeddings}), found ${values[bad]} at flat index ${bad} of ids ${formatShape(ids.shape)}`);
      }
      return tf.tidy(() => tf.reshape(gatherRows(embedding as tf.Tensor2D, tf.reshape(ids, [-1]) as tf.Tensor1D), outShape));
    },
    summarize,
  });
  const attend = new Module<EmbedParams, [tf.Tensor], tf.Tensor>({
    type: 'Embed',
    name: opts.name,
    abstractSafe: true,
    body: (scope, query: Input) => {
      const shape = checkInput(query, 'Embed.attend', scope.path, 1);
      const embedding = table(scope);
      if (shape[shape.length - 1] !== features) {
        throw new ShapeError(scope.path, `Embed.attend: the query must have ${features} features (the embedding size), found shape ${formatShape(shape)}`);
      }
      const outShape = [...shape.slice(0, -1), numEmbeddings];
      if (isAbstract(query)) return new ShapeDtype(outShape) as unknown as tf.Tensor;
      return tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(query, [-1, features]), tf.transpose(embedding)), outShape));
    },
    summarize: () => ({ header: `Embed.attend(${features} -> ${numEmbeddings})` }),
  });
  ATTEND.set(module, attend);
  return module;
}
