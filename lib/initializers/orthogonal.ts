/**
 * The orthogonal initializer (JAX's `orthogonal`, Flax's default for recurrent kernels).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import type { Initializer } from '../core/scope.js';
import { normalArray } from '../random/samplers.js';

/**
 * The Q of a Householder QR decomposition of the `rows × cols` matrix `a` (`rows >= cols`, row
 * major, float64), with each column's sign chosen so that R's diagonal is positive: the
 * distribution is then uniform over orthonormal matrices (as JAX's `Q · sign(diag(R))`).
 * Returns `rows × cols`, row major.
 */
function orthonormalColumns(a: Float64Array, rows: number, cols: number): Float64Array {
  const r = Float64Array.from(a);
  const reflectors: Float64Array[] = [];
  for (let j = 0; j < cols; j++) {
    // v = x + sign(x0)·|x|·e0 on rows j.., then H = I − 2vvᵀ/(vᵀv) zeroes the column below j.
    let norm = 0;
    for (let i = j; i < rows; i++) norm += r[i * cols + j]! ** 2;
    norm = Math.sqrt(norm);
    const v = new Float64Array(rows - j);
    for (let i = j; i < rows; i++) v[i - j] = r[i * cols + j]!;
    const alpha = v[0]! >= 0 ? -norm : norm;
    v[0] = v[0]! - alpha;
    let vv = 0;
    for (let i = 0; i < v.length; i++) vv += v[i]! ** 2;
    if (vv > 0) {
      for (let c = j; c < cols; c++) {
        let dot = 0;
        for (let i = j; i < rows; i++) dot += v[i - j]! * r[i * cols + c]!;
        const f = (2 * dot) / vv;
        for (let i = j; i < rows; i++) r[i * cols + c] = r[i * cols + c]! - f * v[i - j]!;
      }
    }
    reflectors.push(vv > 0 ? v.map((x) => x / Math.sqrt(vv / 2)) : v.fill(0));
  }
  // Q's first `cols` columns: the reflectors applied in reverse order to the identity's columns.
  const q = new Float64Array(rows * cols);
  for (let c = 0; c < cols; c++) q[c * cols + c] = 1;
  for (let j = cols - 1; j >= 0; j--) {
    const v = reflectors[j]!; // scaled so that H = I − v·vᵀ
    for (let c = 0; c < cols; c++) {
      let dot = 0;
      for (let i = j; i < rows; i++) dot += v[i - j]! * q[i * cols + c]!;
      for (let i = j; i < rows; i++) q[i * cols + c] = q[i * cols + c]! - dot * v[i - j]!;
    }
  }
  // R's diagonal is `alpha` for each column; flip the columns where it is negative.
  for (let c = 0; c < cols; c++) {
    if (r[c * cols + c]! < 0) for (let i = 0; i < rows; i++) q[i * cols + c] = -q[i * cols + c]!;
  }
  return q;
}

/**
 * Orthogonal initializer, as JAX's `orthogonal(scale)`: the kernel seen as a matrix
 * `[prod(shape[:-1]), shape[-1]]` has orthonormal columns (or rows, when it is wide), times
 * `scale`. Drawn from a matrix of the key's normals by a QR decomposition in float64 (in
 * JavaScript, so the values are the same on every backend). Flax's default for the hidden
 * kernels of recurrent cells.
 *
 * @param scale - the multiplier (default 1).
 * @example
 * ```ts
 * const w = fx.initializers.orthogonal()(fx.random.key(0), [64, 64]);
 * // w · wᵀ is the identity (to float32 rounding)
 * ```
 */
export function orthogonal(scale = 1): Initializer {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new FlaxenError('', `orthogonal(scale) needs a finite number, found ${describeValue(scale)}`);
  return (key, shape, dtype) => {
    if (dtype !== undefined && dtype !== 'float32') throw new FlaxenError('', `orthogonal draws float32 values, not ${dtype}`);
    if (shape.length < 2) throw new FlaxenError('', `orthogonal needs a shape of rank 2 or more, found ${formatShape(shape)}`);
    const cols = shape[shape.length - 1]!;
    const rows = shape.reduce((a, b) => a * b, 1) / (cols || 1);
    if (rows === 0 || cols === 0) return tf.zeros(shape);
    // A tall matrix gives orthonormal columns; a wide one is drawn transposed and turned back.
    const tall = rows >= cols;
    const [m, n] = tall ? [rows, cols] : [cols, rows];
    const q = orthonormalColumns(Float64Array.from(normalArray(key, m * n)), m, n);
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = scale * (tall ? q[i * n + j]! : q[j * n + i]!);
    return tf.tensor(out, shape, 'float32');
  };
}
