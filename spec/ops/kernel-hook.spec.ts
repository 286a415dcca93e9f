// The instrumentation seam of the own kernels (lib/ops/kernel-hook.ts): a wrapper installed by a
// tool (the benchmark's profile) sees every kernel call, changes no result, and goes away again.
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gemm } from '../../lib/ops/gemm.js';
import { wrapOwnKernels } from '../../lib/ops/kernel-hook.js';
import { backend } from '../setup.js';

test('a wrapper sees each kernel call by name, the results are unchanged, and removing it stops it', () => {
  const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]), b = tf.tensor2d([[1, 0], [0, 1], [2, -1]]);
  const seen: string[] = [];
  wrapOwnKernels((name, fn) => (...args) => {
    seen.push(name);
    return fn(...args);
  });
  let wrapped: tf.Tensor | undefined;
  try {
    wrapped = gemm(a, b);
  } finally {
    wrapOwnKernels(undefined);
  }
  const bare = gemm(a, b);
  assert.is(wrapped !== undefined, backend === 'wasm', 'the own product runs on wasm only');
  if (wrapped && bare) {
    assert.equal(seen, ['pack_n', 'gemm'], 'packing B, then the product');
    assert.equal(Array.from(wrapped.dataSync()), Array.from(bare.dataSync()));
    assert.equal(Array.from(bare.dataSync()), [7, -1, 16, -1]);
  } else assert.equal(seen, []);
  assert.is(seen.length, backend === 'wasm' ? 2 : 0, 'the bare kernels after removal are not wrapped');
  tf.dispose([a, b, wrapped ?? [], bare ?? []]);
});

test.run();
