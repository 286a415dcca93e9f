import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, tensorDelta } from '../setup.js';
import { collectTensors } from '../../lib/tree/index.js';

import * as __tf from '@tensorflow/tfjs-core';
let __n = 0;
test.before.each(() => { __n = __tf.memory().numTensors; });
test.after.each((ctx: any) => { const d = __tf.memory().numTensors - __n; if (d !== 0) console.log('LEAK', 'spec/tree/tree.spec.ts', ctx.__test__, d); });


test('map keeps the structure, visits leaves in sorted path order, and freezes the result', () => {
  const seen: string[] = [];
  const out = fx.tree.map({ b: { y: 1, x: 2 }, a: 3 }, (leaf: number, path) => {
    seen.push(path);
    return leaf * 10;
  });
  assert.equal(seen, ['a', 'b/x', 'b/y']);
  assert.equal(out, { a: 30, b: { x: 20, y: 10 } });
  assert.ok(Object.isFrozen(out) && Object.isFrozen(out.b));
});

test('mapN combines trees and names the path where their structures differ', () => {
  assert.equal(fx.tree.mapN([{ a: 1, b: { c: 2 } }, { a: 10, b: { c: 20 } }], ([x, y]) => x + y), { a: 11, b: { c: 22 } });
  assertThrows(() => fx.tree.mapN([{ a: 1, b: { c: 2 } }, { a: 1, b: { d: 2 } }], ([x]) => x), fx.FlaxenError, 'b:', '[c]', '[d]');
  assertThrows(() => fx.tree.mapN([{ a: { c: 1 } }, { a: 2 }], ([x]) => x), fx.FlaxenError, 'a:');
});

test('flatten and unflatten are inverses with /-joined paths', () => {
  const tree = { params: { layers_0: { kernel: 1, bias: 2 }, layers_2: { kernel: 3 } } };
  const flat = fx.tree.flatten<number>(tree);
  assert.equal(flat, [
    ['params/layers_0/bias', 2],
    ['params/layers_0/kernel', 1],
    ['params/layers_2/kernel', 3],
  ]);
  assert.equal(fx.tree.unflatten(flat), tree);
  assert.equal(fx.tree.leaves(tree), [2, 1, 3]);
});

test('unflatten refuses conflicting and empty paths, and keeps __proto__ as plain data', () => {
  assertThrows(() => fx.tree.unflatten([['a', 1], ['a/b', 2]]), fx.FlaxenError, 'a/b');
  assertThrows(() => fx.tree.unflatten([['a/b', 1], ['a', 2]]), fx.FlaxenError, 'a');
  assertThrows(() => fx.tree.unflatten([['a//b', 1]]), fx.FlaxenError, 'empty');
  const hostile = fx.tree.unflatten([['__proto__/polluted', 1], ['constructor/prototype/x', 2]]);
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(Object.keys(hostile), ['__proto__', 'constructor']);
  assert.is(fx.tree.get(hostile, '__proto__/polluted'), 1);
  assert.is(fx.tree.get({}, 'constructor'), undefined);
});

test('trees built by map keep keys on the prototype chain as plain data, in sorted order whatever the input order', () => {
  const setter: string[] = [];
  Object.defineProperty(Object.prototype, 'trapKey', { configurable: true, set(v: unknown) { setter.push(String(v)); }, get() { return undefined; } });
  try {
    const mapped = fx.tree.map({ z: 1, trapKey: 2, constructor: 3, a: { toString: 4, b: 5 } }, (v: number) => v * 10);
    assert.equal(setter, [], 'no prototype setter ran');
    assert.equal(Object.keys(mapped), ['a', 'constructor', 'trapKey', 'z']);
    assert.equal(Object.keys(mapped.a), ['b', 'toString']);
    assert.ok(Object.prototype.hasOwnProperty.call(mapped, 'trapKey') && Object.prototype.hasOwnProperty.call(mapped, 'constructor'));
    assert.equal([mapped.trapKey, mapped.constructor, mapped.a.toString, mapped.z], [20, 30, 40, 10]);
    assert.ok(Object.isFrozen(mapped) && Object.isFrozen(mapped.a));
  } finally {
    delete (Object.prototype as Record<string, unknown>)['trapKey'];
  }
  // Keys sort by UTF-16 code units, as Array.prototype.sort does.
  assert.equal(fx.tree.flatten({ b: 1, B: 2, 'é': 3, a10: 4, a2: 5 }).map(([p]) => p), ['B', 'a10', 'a2', 'b', 'é']);
});

test('collectTensors lists every tensor of a tree (shared subtrees as often as they appear), and a cycle gets the error naming it', () => {
  const a = tf.zeros([1]), b = tf.ones([2]);
  const shared = { w: b };
  const found = collectTensors({ x: a, y: shared, z: { again: shared }, n: 3, s: 'text' });
  assert.equal(found.map((t) => t.id).sort(), [a.id, b.id, b.id].sort());
  const cyclic: Record<string, unknown> = { t: a };
  cyclic['self'] = cyclic;
  assertThrows(() => collectTensors({ top: cyclic }), fx.FlaxenError, 'must not contain itself');
  tf.dispose([a, b]);
});

test('count sums the sizes of tensors and of {shape} leaves', () => {
  const t = { a: tf.zeros([2, 3]), b: { c: tf.zeros([4]) } };
  assert.is(fx.tree.count(t), 10);
  assert.is(fx.tree.count({ k: new fx.ShapeDtype([1000, 1000]) }), 1e6);
  assertThrows(() => fx.tree.count({ a: 'x' }), fx.FlaxenError, 'a:');
  fx.tree.dispose(t);
});

test('dispose frees every tensor in a tree', () => {
  const { result, delta } = tensorDelta(() => ({ a: tf.ones([2]), b: { c: tf.ones([3]), d: 5 } }));
  assert.is(delta, 2);
  const { delta: after } = tensorDelta(() => fx.tree.dispose(result));
  assert.is(after, -2);
  assert.ok(result.a.isDisposed && result.b.c.isDisposed);
});

test('dispose walks arrays: a list of trees, a tuple [updates, state], nested arrays', () => {
  const { result, delta } = tensorDelta(() => [{ a: tf.ones([2]) }, tf.ones([3]), [tf.ones([1]), { b: [tf.ones([4])] }], 'label', 7] as const);
  assert.is(delta, 4);
  const { delta: after } = tensorDelta(() => fx.tree.dispose(result));
  assert.is(after, -4);
  // the same tensor at two places, or disposed already, is fine
  const t = tf.ones([2]);
  const { delta: twice } = tensorDelta(() => fx.tree.dispose([t, { again: t }, [t]]));
  assert.is(twice, -1);
  fx.tree.dispose([t]);
  // a cyclic array is a FlaxenError naming the path, and nothing is disposed
  const kept = tf.ones([2]);
  const loop: unknown[] = [kept];
  loop.push({ inner: loop });
  assertThrows(() => fx.tree.dispose(loop), fx.FlaxenError, 'dispose: a tree must not contain itself', "at '1/inner'");
  assert.not.ok(kept.isDisposed);
  kept.dispose();
});

test('format renders a tree on one line like Flax prints shape trees', () => {
  const t = { params: { layers_2: { kernel: new fx.ShapeDtype([256, 10]), bias: new fx.ShapeDtype([10]) }, layers_0: { kernel: new fx.ShapeDtype([20, 256]) } } };
  assert.is(fx.tree.format(t), '{params: {layers_0: {kernel: [20, 256]}, layers_2: {bias: [10], kernel: [256, 10]}}}');
  assert.is(fx.tree.format({ a: 1, b: 'x' }), '{a: 1, b: x}');
});

test('a cyclic tree is a FlaxenError naming both paths in every walk, not a stack overflow', () => {
  const leaf = tf.ones([2]);
  const inner: Record<string, unknown> = { w: leaf };
  const cyclic = { params: { block: inner } };
  inner['again'] = cyclic.params; // params/block/again is params itself
  const walks: Array<[string, () => unknown]> = [
    ['map', () => fx.tree.map(cyclic, (t) => t)],
    ['mapN', () => fx.tree.mapN([cyclic, cyclic], ([t]) => t)],
    ['flatten', () => fx.tree.flatten(cyclic)],
    ['flatten', () => fx.tree.leaves(cyclic)],
    ['flatten', () => fx.tree.count(cyclic)],
    ['dispose', () => fx.tree.dispose(cyclic)],
    ['format', () => fx.tree.format(cyclic)],
    ['freeze', () => fx.tree.freeze(cyclic)],
  ];
  for (const [name, walk] of walks) {
    const error = assertThrows(walk, fx.FlaxenError, `${name}: a tree must not contain itself`, "at 'params/block/again'", "the one at 'params'", 'cycle');
    assert.is((error as fx.FlaxenError).treePath, 'params/block/again');
  }
  assert.not.ok(leaf.isDisposed, 'dispose stopped before disposing anything');
  assert.not.ok(Object.isFrozen(cyclic.params), 'freeze stopped before freezing the cycle');
  leaf.dispose();
});

test('a shared subtree (not a cycle) is walked at each of its places; nesting past 1000 levels is a FlaxenError', () => {
  const shared = { k: 1 };
  assert.equal(fx.tree.flatten({ a: shared, b: { c: shared } }), [['a/k', 1], ['b/c/k', 1]]);
  let deep: Record<string, unknown> = { leaf: 0 };
  for (let i = 0; i < 5000; i++) deep = { d: deep };
  assertThrows(() => fx.tree.leaves(deep), fx.FlaxenError, 'trees nest at most 1000 levels');
  let fine: Record<string, unknown> = { leaf: 0 };
  for (let i = 0; i < 998; i++) fine = { d: fine };
  assert.equal(fx.tree.leaves(fine), [0]);
});

test("a key that is empty or holds '/' is a FlaxenError in flatten (two trees would flatten to the same paths)", () => {
  // Before: { 'a/b': 1 } and { a: { b: 1 } } both flattened to [['a/b', 1]], and { '': { a: 1 } } to [['a', 1]].
  assertThrows(() => fx.tree.flatten({ 'a/b': 1 }), fx.FlaxenError, 'free of \'/\'', '"a/b"');
  assertThrows(() => fx.tree.leaves({ x: { '': { a: 1 } } }), fx.FlaxenError, 'non-empty', "at 'x'");
  assert.equal(fx.tree.flatten({ a: { b: 1 } }), [['a/b', 1]]);
});

test.run();
