import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows } from '../setup.js';
import { GRADS, all, compareRun, mapFlat, referenceLoop, tree } from './util.js';

test('clip limits every element to [−max, max]', () => {
  const tx = fx.optim.clip(1);
  const grads = { w: tf.tensor([-3, 0.5, 2, -1]) };
  const [u, s] = tx.update(grads, tx.init(grads));
  assertClose(u.w.dataSync(), [-1, 0.5, 1, -1]);
  for (const t of [grads, u]) fx.tree.dispose(t);
  assert.equal(s, {});
});

test('globalNorm is the L2 norm over all leaves', () => {
  const grads = tree(GRADS[0]!);
  const n = fx.optim.globalNorm(grads);
  const expected = Math.sqrt(all(GRADS[0]!).reduce((s, x) => s + x * x, 0));
  assertClose(n.dataSync(), [expected]);
  assert.equal(n.shape, []);
  n.dispose();
  fx.tree.dispose(grads);
});

test('clipByGlobalNorm rescales a tree whose norm is above the max', () => {
  const tx = fx.optim.clipByGlobalNorm(1);
  const grads = { a: tf.tensor([3]), b: { c: tf.tensor([0, 4]) } };
  const [u] = tx.update(grads, tx.init(grads));
  assertClose(u.a.dataSync(), [0.6]);
  assertClose(u.b.c.dataSync(), [0, 0.8]);
  for (const t of [grads, u]) fx.tree.dispose(t);
});

test('clipByGlobalNorm leaves a tree whose norm is below (or at) the max unchanged', () => {
  for (const max of [5, 10]) {
    const tx = fx.optim.clipByGlobalNorm(max);
    const grads = { a: tf.tensor([3]), b: { c: tf.tensor([0, 4]) } };
    const [u] = tx.update(grads, tx.init(grads));
    assertClose(u.a.dataSync(), [3]);
    assertClose(u.b.c.dataSync(), [0, 4]);
    for (const t of [grads, u]) fx.tree.dispose(t);
  }
});

test('chain(clipByGlobalNorm, sgd) clips each step by that step\'s norm', () => {
  const maxNorm = 2;
  const ref = referenceLoop((g, _p, path, t) => {
    const norm = Math.sqrt(all(GRADS[t]!).reduce((s, x) => s + x * x, 0));
    const f = Math.min(1, maxNorm / norm);
    return g.map((x) => -0.1 * x * f);
  });
  // The test data has norms above and below 2 on different steps? Check the first is above.
  assert.ok(Math.sqrt(all(GRADS[0]!).reduce((s, x) => s + x * x, 0)) > maxNorm);
  compareRun(fx.optim.chain(fx.optim.clipByGlobalNorm(maxNorm), fx.optim.sgd(0.1)), ref);
  void mapFlat;
});

test('globalNorm and clipByGlobalNorm do not overflow on gradients of 1e30 (the norm became Infinity and the updates 0)', () => {
  // Hand-derived: ‖[3e30, 4e30]‖ = 5e30; clipped to norm 1 they are [0.6, 0.8].
  const grads = { a: tf.tensor([3e30]), b: tf.tensor([4e30]), empty: tf.zeros([0]) };
  const norm = fx.optim.globalNorm(grads);
  assertClose(norm.dataSync(), [5e30], 0, 1e-6);
  const clipper = fx.optim.clipByGlobalNorm(1);
  const [u] = clipper.update(grads, clipper.init({}));
  assertClose((u.a as tf.Tensor).dataSync(), [0.6], 1e-6);
  assertClose((u.b as tf.Tensor).dataSync(), [0.8], 1e-6);
  // Small trees keep the plain sum of squares: ‖[3, 4]‖ = 5 exactly.
  const smallTree = { a: tf.tensor([3]), b: tf.tensor([4]) };
  const small = fx.optim.globalNorm(smallTree);
  assert.is(small.dataSync()[0], 5);
  for (const t of [grads, u, smallTree]) fx.tree.dispose(t);
  tf.dispose([norm, small]);
});

test('clip arguments are checked', () => {
  assertThrows(() => fx.optim.clipByGlobalNorm(0), fx.FlaxenError, 'clipByGlobalNorm', 'maxNorm', '> 0');
  assertThrows(() => fx.optim.clip(-1), fx.FlaxenError, 'clip', 'maxDelta');
});

test.run();
