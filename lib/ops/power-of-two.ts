/**
 * `overflowScale`: the power of two that sums of squares are scaled by when they would pass
 * float32's range (a global norm of gradients of 1e30, the variance of a row of 1e20).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Magnitudes below this are not scaled: n squares of them sum to at most n·2^64, far inside
 * float32's range (2^128) for any n a tensor can have, so plain formulas are exact as they are.
 */
const SCALED_FROM = 2 ** 32;

/**
 * @internal For each magnitude `m` (>= 0, e.g. `max |x|` over some axes): 1 when `m < 2^32`,
 * otherwise (from 2^32) the power of two `2^floor(log2 m)`, at most 2^127, so that `|x| / s < 4` whatever
 * the rounding of the logarithm. Dividing by a power of two is exact, so sums of squares of
 * `x / s` are those of `x` scaled exactly, bit for bit, without overflowing; below 2^32 nothing
 * changes at all. `floor` has a zero gradient, so `s` is a constant to autodiff, and the
 * logarithm never sees 0.
 */
export function overflowScale(magnitude: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const exponent = tf.minimum(tf.floor(tf.div(tf.log(tf.maximum(magnitude, 1)), Math.LN2)), 127);
    // exponent · step(exponent − 31.5): 0 below 2^32 (not tf.where, whose condition has no gradient).
    return tf.pow(2, tf.mul(exponent, tf.step(tf.sub(exponent, Math.log2(SCALED_FROM) - 0.5))));
  });
}
