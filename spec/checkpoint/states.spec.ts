// Whole training states in checkpoints (issue 10): trees whose leaves are tensors, finite JS
// numbers and random keys; every optimizer state; plain records; targets of the same kind; the
// errors for numbers where tensors are expected, for another optimizer's state, for non-finite
// numbers, cycles and disposed tensors; the user's config.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, transient } from '../setup.js';
import { headerOf } from './raw.js';

const { CheckpointError, CheckpointMismatchError } = fx.checkpoint;
const { optim } = fx;

const params = () => ({ dense: { kernel: fx.random.normal(fx.random.key(1), [3, 2]), bias: fx.random.normal(fx.random.key(2), [2]) }, scale: fx.random.normal(fx.random.key(3), [4]) });
const gradsLike = (p: unknown, seed: number) => fx.tree.map(p, (t: tf.Tensor, path: string) => fx.random.normal(fx.random.foldIn(fx.random.key(seed), path), t.shape));

/** Every leaf as something comparable bit for bit: a tensor as [dtype, shape, values], a number as its 8 bytes. */
function bitsOf(tree: unknown): unknown {
  return fx.tree.map(tree, (leaf: unknown) => {
    if (leaf instanceof tf.Tensor) return ['tensor', leaf.dtype, [...leaf.shape], Array.from(new Uint8Array(leaf.dataSync().slice().buffer))];
    if (typeof leaf === 'number') return ['number', Array.from(new Uint8Array(new Float64Array([leaf]).buffer))];
    if (fx.random.isKey(leaf)) return ['key', leaf.hi, leaf.lo];
    return ['other', String(leaf)];
  });
}

/** The structure of a tree including its empty subtrees, with the kind of every leaf. */
function structureOf(tree: unknown): unknown {
  if (fx.tree.isNode(tree)) return Object.fromEntries(Object.keys(tree).sort().map((k) => [k, structureOf(tree[k])]));
  return tree instanceof tf.Tensor ? 'tensor' : typeof tree === 'number' ? 'number' : fx.random.isKey(tree) ? 'key' : typeof tree;
}

/** Advances a state a few steps so that counts, moments and accumulators are not at their start. */
function advanced(tx: fx.optim.GradientTransformation, p: unknown, steps: number): fx.optim.OptState {
  let state = tx.init(p);
  for (let i = 0; i < steps; i++) {
    const grads = gradsLike(p, 100 + i);
    const [updates, next] = tx.update(grads, state, p);
    fx.tree.dispose([grads, updates, state]);
    state = next;
  }
  return state;
}

const OPTIMIZERS: ReadonlyArray<[string, () => fx.optim.GradientTransformation]> = [
  ['sgd', () => optim.sgd(0.1)],
  ['sgd with momentum and a schedule', () => optim.sgd(optim.schedules.exponentialDecay(0.1, 10, 0.5), { momentum: 0.9 })],
  ['adam with a cosine schedule', () => optim.adam(optim.schedules.cosineDecay(1e-3, 100))],
  ['adamw', () => optim.adamw(1e-3)],
  ['rmsprop', () => optim.rmsprop(1e-3)],
  ['adagrad', () => optim.adagrad(0.1)],
  ['lion', () => optim.lion(1e-4)],
  ['lamb', () => optim.lamb(1e-3)],
  ['chain(clipByGlobalNorm, adam)', () => optim.chain(optim.clipByGlobalNorm(1), optim.adam(1e-3))],
  ['masked(adam)', () => optim.masked(optim.adam(1e-3), (path) => path.startsWith('dense'))],
  ['multiSteps(adam, 3)', () => optim.multiSteps(optim.adam(optim.schedules.linear(1e-3, 0, 50)), 3)],
  ['multiTransform', () => optim.multiTransform({ a: optim.adam(1e-3), b: optim.sgd(0.1) }, (path) => (path.startsWith('dense') ? 'a' : 'b'))],
];

for (const [name, make] of OPTIMIZERS) {
  test(`the state of ${name} round-trips: numbers as numbers, exact bits, same structure, with and without a target`, () => {
    const p = params();
    const state = advanced(make(), p, 4);
    const before = tf.memory().numTensors;
    const bytes = fx.checkpoint.toBytes(state);
    const withTarget = fx.checkpoint.fromBytes(bytes, state);
    const without = fx.checkpoint.fromBytes(bytes);
    assert.equal(structureOf(withTarget), structureOf(state), 'with a target: the same structure and leaf kinds');
    assert.equal(structureOf(without), structureOf(state), 'without a target: the same structure (empty subtrees too)');
    assert.equal(bitsOf(withTarget), bitsOf(state));
    assert.equal(bitsOf(without), bitsOf(state));
    assert.ok(Object.isFrozen(withTarget) && Object.isFrozen(without), 'frozen results');
    const tensors = fx.tree.leaves(state).filter((l) => l instanceof tf.Tensor).length;
    assert.is(tf.memory().numTensors - before, 2 * tensors, 'only the restored tensors are new');
    fx.tree.dispose([withTarget, without, state, p]);
  });
}

test('a restored optimizer state continues bit for bit, and the step count is a number again', () => {
  const tx = optim.adam(optim.schedules.warmupCosineDecay(0, 1e-2, 3, 20));
  const p = params();
  const state = advanced(tx as fx.optim.GradientTransformation, p, 5) as fx.optim.ChainState;
  const back = fx.checkpoint.fromBytes(fx.checkpoint.toBytes(state), state) as fx.optim.ChainState;
  const grads = gradsLike(p, 7);
  const [u1, s1] = tx.update(grads, state, p);
  const [u2, s2] = tx.update(grads, back, p);
  assert.equal(bitsOf(u2), bitsOf(u1), 'the same updates');
  assert.equal(bitsOf(s2), bitsOf(s1), 'the same next state');
  fx.tree.dispose([state, back, grads, u1, s1, u2, s2, p]);
});

test('a plain record { params, opt, batch_stats, step, key } comes back as the same kind', () => {
  const p = params();
  const opt = advanced(optim.adam(1e-3), p, 2);
  const record = { params: p, opt, batch_stats: { mean: tf.tensor([0.5, -0.25]), var: tf.tensor([1, 2]) }, step: 2, key: fx.random.foldIn(fx.random.key(5), 2), lr: 1e-3 };
  const bytes = fx.checkpoint.toBytes(record, { note: 'x' });
  const back = fx.checkpoint.fromBytes(bytes, record);
  assert.is(back.step, 2);
  assert.is(back.lr, 1e-3);
  assert.ok(fx.random.isKey(back.key) && back.key.hi === record.key.hi && back.key.lo === record.key.lo, 'the key, exactly');
  assert.equal(bitsOf(back), bitsOf(record));
  const info = fx.checkpoint.readInfo(bytes);
  assert.equal(info.metadata, { note: 'x' }, 'flaxen.* keys are not user metadata');
  assert.is(info.step, 2, 'the root step is readable from the header');
  assert.equal(info.numbers, ['lr', 'opt/0/count', 'step']);
  assert.equal(info.randomKeys, ['key']);
  assert.ok(info.tensors.every((t) => !['lr', 'step', 'key', 'opt/0/count'].includes(t.path)), 'numbers and keys are not listed as tensors');
  fx.tree.dispose([back, record]);
});

test('a Python reader sees a valid file of tensors: numbers are F64 scalars, keys U32[2], and __metadata__ names them', () => {
  const w = tf.tensor([1, 2]);
  const bytes = fx.checkpoint.toBytes({ w, opt: { count: 3, empty: {} }, key: fx.random.key(9) });
  const { header, length } = headerOf(bytes);
  assert.equal(header['opt/count'].dtype, 'F64');
  assert.equal(header['opt/count'].shape, []);
  assert.equal(header['key'].dtype, 'U32');
  assert.equal(header['key'].shape, [2]);
  assert.is(header['__metadata__']['flaxen.numbers'], '["opt/count"]');
  assert.is(header['__metadata__']['flaxen.keys'], '["key"]');
  assert.is(header['__metadata__']['flaxen.empty'], '["opt/empty"]');
  const [begin] = header['opt/count'].data_offsets;
  assert.is(new DataView(bytes.buffer, bytes.byteOffset + 8 + length).getFloat64(begin, true), 3);
  w.dispose();
});

test('numbers keep every bit: fractions, huge and tiny values, -0', () => {
  const numbers = { a: 0.1, b: -0, c: 1e308, d: 5e-324, e: 2 ** 53 + 2, f: -123456.789 };
  const back = fx.checkpoint.fromBytes(fx.checkpoint.toBytes(numbers), numbers);
  for (const k of Object.keys(numbers) as Array<keyof typeof numbers>) assert.ok(Object.is(back[k], numbers[k]), `${k}: ${back[k]} vs ${numbers[k]}`);
});

test('a number where the target has a tensor, and the other way round: a mismatch naming each path', () => {
  const bytes = fx.checkpoint.toBytes({ a: 3, b: transient(tf.scalar(1)) });
  const target = { a: tf.scalar(0), b: 0 };
  const before = tf.memory().numTensors;
  const error = assertThrows(() => fx.checkpoint.fromBytes(bytes, target), CheckpointMismatchError, 'type of a: the target expects float32[], the checkpoint has a JS number', 'type of b: the target expects a JS number, the checkpoint has a float32[] tensor') as InstanceType<typeof CheckpointMismatchError>;
  assert.equal(error.problems.map((p) => [p.kind, p.path]), [['type', 'a'], ['type', 'b']]);
  assert.is(tf.memory().numTensors, before, 'nothing allocated');
  fx.tree.dispose(target);
});

test('an Adam state into an SGD-with-momentum target, and the other way round: every entry listed, nothing loaded', () => {
  const p = params();
  const adam = optim.adam(1e-3).init(p), sgd = optim.sgd(0.1, { momentum: 0.9 }).init(p);
  const before = tf.memory().numTensors;
  const intoSgd = assertThrows(() => fx.checkpoint.fromBytes(fx.checkpoint.toBytes(adam), sgd), CheckpointMismatchError, 'unexpected 0/count', 'missing 0/trace/dense/kernel') as InstanceType<typeof CheckpointMismatchError>;
  assert.ok(intoSgd.problems.length >= 10, `${intoSgd.problems.length} problems`);
  assertThrows(() => fx.checkpoint.fromBytes(fx.checkpoint.toBytes(sgd), adam), CheckpointMismatchError, 'missing 0/count (the target expects a JS number)', 'unexpected 0/trace/scale');
  assert.is(tf.memory().numTensors, before, 'no tensor made by the failed loads');
  fx.tree.dispose([p, adam, sgd]);
});

test('non-finite numbers are refused with their path', () => {
  assertThrows(() => fx.checkpoint.toBytes({ opt: { count: NaN } }), CheckpointError, 'opt/count', 'NaN', 'finite');
  assertThrows(() => fx.checkpoint.toBytes({ lr: -Infinity }), CheckpointError, 'lr', '-Infinity');
});

test('a file whose number entries are not finite, or whose flaxen metadata lies, is refused', () => {
  const bytes = fx.checkpoint.toBytes({ count: 1 });
  const { header, length } = headerOf(bytes);
  const [begin] = header['count'].data_offsets;
  const broken = bytes.slice();
  new DataView(broken.buffer).setFloat64(8 + length + begin, NaN, true);
  assertThrows(() => fx.checkpoint.fromBytes(broken), CheckpointError, 'count', 'NaN');
  const lying = fx.checkpoint.toBytes({ w: transient(tf.tensor([1])) }, undefined);
  const text = new TextDecoder().decode(lying.subarray(8, 8 + headerOf(lying).length));
  const relabel = (json: string) => {
    const body = new TextEncoder().encode(json.padEnd(Math.ceil(json.length / 8) * 8, ' '));
    const out = new Uint8Array(8 + body.length + 4);
    new DataView(out.buffer).setUint32(0, body.length, true);
    out.set(body, 8);
    out.set(lying.subarray(lying.length - 4), 8 + body.length);
    return out;
  };
  const withMeta = (meta: Record<string, string>) => relabel(JSON.stringify({ ...JSON.parse(text), __metadata__: meta }));
  assertThrows(() => fx.checkpoint.fromBytes(withMeta({ 'flaxen.numbers': '["w"]' })), CheckpointError, 'w', 'F64 scalar', 'F32[1]');
  assertThrows(() => fx.checkpoint.fromBytes(withMeta({ 'flaxen.numbers': 'nope' })), CheckpointError, 'flaxen.numbers', 'JSON array of paths');
  assertThrows(() => fx.checkpoint.fromBytes(withMeta({ 'flaxen.empty': '["w"]' })), CheckpointError, 'w', 'empty subtree');
  assertThrows(() => fx.checkpoint.readInfo(withMeta({ 'flaxen.config': '{' })), CheckpointError, 'flaxen.config', 'JSON');
  fx.tree.dispose(fx.checkpoint.fromBytes(lying));
});

test('a config is stored as JSON and read back by readInfo; bad configs and reserved metadata keys are refused', () => {
  const config = { model: 'mlp', lr: 1e-3, layers: [512, 512], nested: { dropout: 0.1, on: true, none: null } };
  const info = fx.checkpoint.readInfo(fx.checkpoint.toBytes({ step: 7 }, { run: 'a' }, { config }));
  assert.equal(info.config, config);
  assert.ok(Object.isFrozen(info.config) && Object.isFrozen((info.config as any).nested), 'frozen');
  assert.is(info.step, 7);
  assert.is(fx.checkpoint.readInfo(fx.checkpoint.toBytes({ step: 7 })).config, undefined);
  assertThrows(() => fx.checkpoint.toBytes({}, {}, { config: { f: () => 1 } }), CheckpointError, 'config/f', 'JSON data');
  assertThrows(() => fx.checkpoint.toBytes({}, {}, { config: { lr: NaN } }), CheckpointError, 'config/lr', 'NaN');
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  assertThrows(() => fx.checkpoint.toBytes({}, {}, { config: cyclic }), CheckpointError, 'cycle');
  assertThrows(() => fx.checkpoint.toBytes({}, { 'flaxen.numbers': '[]' }), CheckpointError, 'reserved');
  assertThrows(() => fx.checkpoint.toBytes({}, {}, { confg: 1 } as any), CheckpointError, "unknown option 'confg'");
});

test('a cyclic tree is a CheckpointError naming both paths, not a stack overflow', () => {
  const w = tf.tensor([1]);
  const tree: Record<string, unknown> = { params: { w } };
  (tree['params'] as Record<string, unknown>)['loop'] = tree;
  assertThrows(() => fx.checkpoint.toBytes(tree), CheckpointError, 'params/loop', 'contain itself', 'cycle');
  // A shared subtree that is not its own ancestor is fine.
  const shared = { w };
  fx.tree.dispose(fx.checkpoint.fromBytes(fx.checkpoint.toBytes({ a: shared, b: shared })));
  w.dispose();
});

test('a disposed tensor is a CheckpointError naming its path', () => {
  const w = tf.tensor([1]);
  w.dispose();
  assertThrows(() => fx.checkpoint.toBytes({ params: { dense: { kernel: w } } }), CheckpointError, 'params/dense/kernel', 'disposed');
});

test('a restore with a prefix and a target of numbers gives that subtree', () => {
  const p = params();
  const opt = advanced(optim.adam(1e-3), p, 3);
  const bytes = fx.checkpoint.toBytes({ params: p, opt, step: 3 });
  const back = fx.checkpoint.fromBytes(bytes, opt, { prefix: 'opt' });
  assert.equal(bitsOf(back), bitsOf(opt));
  fx.tree.dispose([p, opt, back]);
});

test.run();
