/**
 * `Dropout`: random zeroing in training, identity in evaluation, its randomness drawn from the
 * `dropout` rng stream only.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, MissingRngError, describeValue } from '../errors.js';
import { Module } from '../core/module.js';
import { isAbstract } from '../core/shapes.js';
import { bernoulli } from '../random/samplers.js';
import { Input, checkInput, normAxis } from './layer-util.js';
import { checkOptions } from './util.js';
import type { OptionKinds } from '../check-options.js';

/**
 * Options of {@link Dropout}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.DropoutOptions = { broadcastDims: [1] };   // one mask for every position
 * ```
 */
export interface DropoutOptions {
  /** Axes along which the mask is shared (default none), e.g. `[1]` drops whole channels of a sequence. */
  readonly broadcastDims?: readonly number[];
  /** The rng stream the mask is drawn from (default `'dropout'`). */
  readonly rngCollection?: string;
  /** A fixed name inside a parent module (default `Dropout_<k>`). */
  readonly name?: string;
}

const DROPOUT_OPTIONS: OptionKinds<DropoutOptions> = { broadcastDims: 'any', rngCollection: 'string', name: 'string' };

/**
 * Dropout, as Flax's `nn.Dropout`: the identity unless `apply(..., { train: true })`; then each
 * entry is kept with probability `1 - rate` and scaled by `1 / (1 - rate)` (so the expected
 * value is unchanged), and zeroed otherwise. The mask comes from the `dropout` rng stream
 * (`apply(..., { rngs: { dropout: key } })`): the same key gives the same mask; a missing
 * stream in training is a `MissingRngError` naming the layer and the stream.
 *
 * @param rate - the probability of dropping an entry, in `[0, 1]`.
 * @example
 * ```ts
 * const drop = fx.nn.Dropout(0.5);
 * drop.apply({}, tf.ones([2, 4]));                                              // unchanged
 * drop.apply({}, tf.ones([2, 4]), { train: true, rngs: { dropout: fx.random.key(1) } }); // 0s and 2s
 * ```
 */
export function Dropout(rate: number, opts: DropoutOptions = {}): Module<{}> {
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new FlaxenError('', `Dropout(rate): rate must be a number in [0, 1], found ${describeValue(rate)}`);
  checkOptions(opts, DROPOUT_OPTIONS, 'Dropout');
  const { broadcastDims = [], rngCollection = 'dropout' } = opts;
  if (!Array.isArray(broadcastDims) || broadcastDims.some((d) => !Number.isSafeInteger(d))) {
    throw new FlaxenError('', `Dropout: broadcastDims must be an array of axes, found ${describeValue(broadcastDims)}`);
  }
  if (typeof rngCollection !== 'string' || rngCollection === '') throw new FlaxenError('', `Dropout: rngCollection must be a stream name, found ${describeValue(rngCollection)}`);
  return new Module({
    type: 'Dropout',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const shape = checkInput(x, 'Dropout', scope.path, 0);
      const broadcast = broadcastDims.map((d) => normAxis(d, shape.length, 'Dropout', scope.path));
      if (!scope.train || rate === 0 || isAbstract(x)) return x;
      if (rate === 1) return tf.zerosLike(x);
      if (!scope.hasRng(rngCollection)) {
        throw new MissingRngError(scope.path, `Dropout(${rate}) in training mode needs the '${rngCollection}' random stream: pass rngs: { ${rngCollection}: fx.random.key(...) } to apply`);
      }
      const key = scope.rng(rngCollection);
      const maskShape = shape.map((d, i) => (broadcast.includes(i) ? 1 : d));
      return tf.tidy(() => tf.mul(x, tf.mul(tf.cast(bernoulli(key, 1 - rate, maskShape), 'float32'), 1 / (1 - rate))));
    },
    summarize: () => ({ header: `Dropout(${rate})` }),
  });
}
