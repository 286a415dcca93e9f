import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, tensorDelta, values } from '../setup.js';

/** The Gram matrix of the columns (`aᵀa`, cols × cols) of a row-major rows × cols matrix, in float64. */
function gram(a: number[], rows: number, cols: number): number[] {
  const g: number[] = [];
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += a[r * cols + i]! * a[r * cols + j]!;
      g.push(s);
    }
  }
  return g;
}
const identity = (n: number, scale = 1) => Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? scale : 0));
/** The values `init` draws for `key` and `shape`, with the tensor disposed. */
function draw(init: fx.initializers.Initializer, key: fx.random.Key, shape: number[]): number[] {
  const t = init(key, shape);
  const v = values(t);
  t.dispose();
  return v;
}
const transposed = (a: number[], rows: number, cols: number) => Array.from({ length: rows * cols }, (_, i) => a[(i % rows) * cols + Math.floor(i / rows)]!);

test('a square orthogonal matrix has orthonormal columns and rows', () => {
  const w = draw(fx.initializers.orthogonal(), fx.random.key(0), [64, 64]);
  assertClose(gram(w, 64, 64), identity(64), 1e-5, 0, 'wᵀw');
  assertClose(gram(transposed(w, 64, 64), 64, 64), identity(64), 1e-5, 0, 'wwᵀ');
});

test('a tall matrix has orthonormal columns, a wide one orthonormal rows, times the scale', () => {
  const tall = draw(fx.initializers.orthogonal(2), fx.random.key(1), [50, 20]);
  assertClose(gram(tall, 50, 20), identity(20, 4), 1e-5, 0, 'tall');
  const wide = draw(fx.initializers.orthogonal(), fx.random.key(2), [8, 30]);
  assertClose(gram(transposed(wide, 8, 30), 30, 8), identity(8), 1e-5, 0, 'wide');
});

test('higher ranks are the matrix [prod(shape[:-1]), shape[-1]]', () => {
  const w = draw(fx.initializers.orthogonal(), fx.random.key(3), [3, 4, 5, 6]);
  assertClose(gram(w, 60, 6), identity(6), 1e-5, 0, 'rank 4');
});

test('the values depend only on the key and are not a trivial matrix', () => {
  const init = fx.initializers.orthogonal();
  const a = draw(init, fx.random.key(7), [16, 16]);
  assert.equal(draw(init, fx.random.key(7), [16, 16]), a);
  assert.not.equal(draw(init, fx.random.key(8), [16, 16]), a);
  // Not a signed permutation: most entries are non-zero.
  assert.ok(a.filter((x) => Math.abs(x) > 1e-3).length > 200);
});

test('orthogonal draws on every call a fresh tensor and leaves nothing else alive', () => {
  const { result, delta } = tensorDelta(() => fx.initializers.orthogonal()(fx.random.key(0), [4, 4]));
  assert.is(delta, 1);
  result.dispose();
});

test('bad shapes, scales and dtypes are refused', () => {
  assertThrows(() => fx.initializers.orthogonal()(fx.random.key(0), [5]), fx.FlaxenError, 'rank 2', '[5]');
  assertThrows(() => fx.initializers.orthogonal(Number.NaN), fx.FlaxenError, 'finite number');
  assertThrows(() => fx.initializers.orthogonal()(fx.random.key(0), [2, 2], 'int32'), fx.FlaxenError, 'int32');
});

test.run();
