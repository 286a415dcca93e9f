import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import { isLeft, isRight } from 'fp-ts/lib/Either.js';
import * as fx from '../../lib/index.js';
import { assertThrows, tensorDelta, values } from '../setup.js';
import { fileOf, headerOf, le } from './raw.js';

const { CheckpointError, CheckpointMismatchError } = fx.checkpoint;
const mlp = () => fx.nn.Sequential([fx.nn.Dense(4), fx.nn.relu, fx.nn.Dense(2)]);
const shapesOf = (tree: unknown) => fx.tree.map(tree, (t: tf.Tensor) => [...t.shape]);

test('toBytes lays out the safetensors format: u64 length, JSON header padded to 8, little-endian data', () => {
  const kernel = tf.tensor2d([[1, -2.5, 3], [Math.fround(0.1), 1e-40, -0]]);
  const step = tf.tensor1d([-(2 ** 31), 7, 2 ** 31 - 1], 'int32');
  const mask = tf.tensor1d([true, false, true], 'bool');
  const bytes = fx.checkpoint.toBytes({ params: { kernel }, state: { step, mask } }, { step: '12', note: 'é' });
  const { header, length } = headerOf(bytes);
  assert.is(length % 8, 0, 'the data section starts 8-aligned');
  assert.equal(header['__metadata__'], { step: '12', note: 'é' });
  assert.equal(Object.keys(header).filter((k) => k !== '__metadata__').sort(), ['params/kernel', 'state/mask', 'state/step']);
  assert.equal(header['params/kernel'].dtype, 'F32');
  assert.equal(header['params/kernel'].shape, [2, 3]);
  assert.equal(header['state/step'].dtype, 'I32');
  assert.equal(header['state/mask'].dtype, 'BOOL');
  const data = bytes.subarray(8 + length);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const [kb, ke] = header['params/kernel'].data_offsets;
  assert.is(ke - kb, 24);
  const read = Array.from({ length: 6 }, (_, i) => view.getFloat32(kb + 4 * i, true));
  assert.equal(read, [1, -2.5, 3, Math.fround(0.1), Math.fround(1e-40), -0]);
  assert.ok(Object.is(read[5], -0), 'negative zero kept');
  const [sb] = header['state/step'].data_offsets;
  assert.equal([0, 1, 2].map((i) => view.getInt32(sb + 4 * i, true)), [-(2 ** 31), 7, 2 ** 31 - 1]);
  const [mb, me] = header['state/mask'].data_offsets;
  assert.equal(Array.from(data.subarray(mb, me)), [1, 0, 1]);
  // The offsets tile the data section exactly.
  const spans = Object.keys(header).filter((k) => k !== '__metadata__').map((k) => header[k].data_offsets as number[]).sort((a, b) => a[0]! - b[0]!);
  assert.is(spans[0]![0], 0);
  for (let i = 1; i < spans.length; i++) assert.is(spans[i]![0], spans[i - 1]![1]);
  assert.is(spans[spans.length - 1]![1], data.length);
  fx.tree.dispose([kernel, step, mask]);
});

test('a round trip gives back every value bit for bit, including NaN, infinities, -0 and subnormals', () => {
  const special = [NaN, Infinity, -Infinity, -0, 1e-45, 3.4028234663852886e38, Math.fround(Math.PI)];
  const tree = {
    params: { a: tf.tensor1d(special), b: tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32') },
    stats: { flag: tf.scalar(true, 'bool'), empty: tf.zeros([0, 3]), scalar: tf.scalar(2.5) },
  };
  const back = fx.checkpoint.fromBytes(fx.checkpoint.toBytes(tree));
  assert.equal(shapesOf(back), shapesOf(tree));
  fx.tree.mapN([tree, back], ([x, y]: tf.Tensor[], path) => {
    assert.is(y!.dtype, x!.dtype, path);
    const xa = Array.from(x!.dataSync() as Float32Array);
    const ya = Array.from(y!.dataSync() as Float32Array);
    assert.is(ya.length, xa.length, path);
    xa.forEach((v, i) => assert.ok(Object.is(v, ya[i]), `${path}[${i}]: ${ya[i]} vs ${v}`));
  });
  assert.ok(Object.isFrozen(back) && Object.isFrozen((back as any).params), 'the result is frozen');
  fx.tree.dispose([tree, back]);
});

test('toBytes reads its input without changing it and makes no tensor; fromBytes makes exactly the tensors it returns', () => {
  const vars = mlp().init(fx.random.key(0), [1, 3]);
  const before = values((vars as any).params.layers_0.kernel);
  const { result: bytes, delta } = tensorDelta(() => fx.checkpoint.toBytes(vars));
  assert.is(delta, 0);
  assert.equal(values((vars as any).params.layers_0.kernel), before);
  const { result: back, delta: made } = tensorDelta(() => fx.checkpoint.fromBytes(bytes));
  assert.is(made, 4);
  // The loaded tensors do not alias the bytes they came from.
  bytes.fill(0);
  assert.equal(values((back as any).params.layers_0.kernel), before);
  fx.tree.dispose([vars, back]);
});

test('fromBytes accepts an ArrayBuffer and a Uint8Array view at any offset', () => {
  const t = tf.tensor1d([1, 2, 3]);
  const bytes = fx.checkpoint.toBytes({ x: t });
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const a = fx.checkpoint.fromBytes(shifted.subarray(3)) as any;
  const b = fx.checkpoint.fromBytes(bytes.slice().buffer) as any;
  assert.equal(values(a.x), [1, 2, 3]);
  assert.equal(values(b.x), [1, 2, 3]);
  fx.tree.dispose([t, a, b]);
});

test('readInfo lists metadata, paths, dtypes and shapes without creating a tensor', () => {
  const vars = mlp().init(fx.random.key(0), [1, 3]);
  const bytes = fx.checkpoint.toBytes(vars, { step: '7' });
  const { result: info, delta } = tensorDelta(() => fx.checkpoint.readInfo(bytes));
  assert.is(delta, 0);
  assert.equal(info.metadata, { step: '7' });
  assert.equal(info.tensors.map((t) => [t.path, t.dtype, t.loadedDtype, [...t.shape], t.byteLength]), [
    ['params/layers_0/bias', 'F32', 'float32', [4], 16],
    ['params/layers_0/kernel', 'F32', 'float32', [3, 4], 48],
    ['params/layers_2/bias', 'F32', 'float32', [2], 8],
    ['params/layers_2/kernel', 'F32', 'float32', [4, 2], 32],
  ]);
  fx.tree.dispose(vars);
});

test('float16 is decoded exactly: ones, signs, subnormals, the largest value, infinities and NaN', () => {
  const cases: Array<[number, number]> = [
    [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14], [0x7bff, 65504], [0x7c00, Infinity], [0xfc00, -Infinity], [0x8000, -0], [0x0000, 0], [0x7e00, NaN], [0xfc01, NaN],
  ];
  const bytes = fileOf({ h: { dtype: 'F16', shape: [cases.length], data: le('u16', cases.map(([b]) => b)) } });
  const loaded = fx.checkpoint.fromBytes(bytes) as any;
  assert.is(loaded.h.dtype, 'float32');
  const got = Array.from(loaded.h.dataSync() as Float32Array);
  cases.forEach(([bits, want], i) => assert.ok(Object.is(got[i], want), `0x${bits.toString(16)}: ${got[i]} vs ${want}`));
  fx.tree.dispose(loaded);
});

test('bfloat16 is decoded as the upper half of a float32', () => {
  const cases: Array<[number, number]> = [
    [0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x3e80, 0.25], [0x0001, 2 ** -133], [0x7f7f, 3.3895313892515355e38],
    [0x7f80, Infinity], [0xff80, -Infinity], [0x8000, -0], [0x7fc0, NaN],
  ];
  const bytes = fileOf({ b: { dtype: 'BF16', shape: [2, 5], data: le('u16', cases.map(([b]) => b)) } });
  const loaded = fx.checkpoint.fromBytes(bytes) as any;
  assert.equal(loaded.b.shape, [2, 5]);
  const got = Array.from(loaded.b.dataSync() as Float32Array);
  cases.forEach(([bits, want], i) => assert.ok(Object.is(got[i], want), `0x${bits.toString(16)}: ${got[i]} vs ${want}`));
  fx.tree.dispose(loaded);
});

test('F64 is rounded to float32; I64, U32, I16, U16, I8, U8 become int32; BOOL becomes bool', () => {
  const bytes = fileOf({
    f64: { dtype: 'F64', shape: [3], data: le('f64', [0.1, -1e300, 2 ** -1074]) },
    i64: { dtype: 'I64', shape: [4], data: le('i64', [-1n, 2n ** 31n - 1n, -(2n ** 31n), 5n]) },
    u32: { dtype: 'U32', shape: [2], data: le('i32', [0, 2 ** 31 - 1]) },
    i16: { dtype: 'I16', shape: [2], data: le('u16', [0xffff, 0x7fff]) },
    u16: { dtype: 'U16', shape: [2], data: le('u16', [0xffff, 1]) },
    i8: { dtype: 'I8', shape: [2], data: le('u8', [0xff, 0x80]) },
    u8: { dtype: 'U8', shape: [2], data: le('u8', [0xff, 3]) },
    bool: { dtype: 'BOOL', shape: [3], data: le('u8', [0, 1, 2]) },
  });
  const t = fx.checkpoint.fromBytes(bytes) as any;
  assert.equal(values(t.f64), [Math.fround(0.1), -Infinity, 0]);
  assert.equal([t.i64.dtype, ...values(t.i64)], ['int32', -1, 2 ** 31 - 1, -(2 ** 31), 5]);
  assert.equal(values(t.u32), [0, 2 ** 31 - 1]);
  assert.equal(values(t.i16), [-1, 32767]);
  assert.equal(values(t.u16), [65535, 1]);
  assert.equal(values(t.i8), [-1, -128]);
  assert.equal(values(t.u8), [255, 3]);
  assert.equal([t.bool.dtype, ...values(t.bool)], ['bool', 0, 1, 1]);
  fx.tree.dispose(t);
});

test('a 64-bit integer outside the int32 range is refused by path, and nothing is left allocated', () => {
  const bytes = fileOf({
    a: { dtype: 'F32', shape: [2], data: le('f32', [1, 2]) },
    b: { dtype: 'I64', shape: [2], data: le('i64', [1n, 2n ** 31n]) },
  });
  const { delta } = tensorDelta(() => assertThrows(() => fx.checkpoint.fromBytes(bytes), CheckpointError, 'b:', 'element 1', 'int32'));
  assert.is(delta, 0);
  const u32 = fileOf({ u: { dtype: 'U32', shape: [1], data: le('i32', [-1]) } });
  assertThrows(() => fx.checkpoint.fromBytes(u32), CheckpointError, 'u:', 'int32');
});

test('toBytes refuses what it cannot store, naming the path', () => {
  const t = tf.ones([2]);
  assertThrows(() => fx.checkpoint.toBytes(t as any), CheckpointError, 'a tree of tensors');
  assertThrows(() => fx.checkpoint.toBytes({ params: { w: [1, 2] } }), CheckpointError, 'params/w', 'leaves must be tensors');
  const c = tf.tensor(['text']);
  assertThrows(() => fx.checkpoint.toBytes({ c }), CheckpointError, 'c:', 'a string tensor cannot be stored');
  const gone = tf.ones([1]);
  gone.dispose();
  assertThrows(() => fx.checkpoint.toBytes({ gone }), CheckpointError, 'gone', 'disposed');
  assertThrows(() => fx.checkpoint.toBytes({ 'a/b': t }), CheckpointError, "no '/'");
  assertThrows(() => fx.checkpoint.toBytes({ '': t }), CheckpointError, 'non-empty');
  const proto = {};
  Object.defineProperty(proto, '__proto__', { value: t, enumerable: true });
  assertThrows(() => fx.checkpoint.toBytes(proto), CheckpointError, '__proto__');
  assertThrows(() => fx.checkpoint.toBytes({ __metadata__: t }), CheckpointError, 'reserved');
  assertThrows(() => fx.checkpoint.toBytes({ t }, { step: 3 } as any), CheckpointError, 'metadata["step"] must be a string', 'String(step)');
  fx.tree.dispose([t, c]);
});

test('an empty tree and metadata-only files round-trip', () => {
  const bytes = fx.checkpoint.toBytes({}, { note: 'nothing yet' });
  assert.equal(fx.checkpoint.fromBytes(bytes), {});
  assert.equal(fx.checkpoint.readInfo(bytes).metadata, { note: 'nothing yet' });
});

test('a target is checked before anything is allocated; every difference is listed by path in one error', () => {
  const saved = { params: { a: tf.ones([2, 3]), b: tf.ones([4]), c: tf.ones([1], 'int32'), extra: tf.ones([5]) }, batch_stats: { mean: tf.ones([3]) } };
  const bytes = fx.checkpoint.toBytes(saved);
  const target = {
    params: { a: new fx.ShapeDtype([3, 2]), b: new fx.ShapeDtype([4]), c: new fx.ShapeDtype([1]), missing: new fx.ShapeDtype([7]) },
    batch_stats: { mean: new fx.ShapeDtype([3]) },
  };
  const { result: error, delta } = tensorDelta(() =>
    assertThrows(() => fx.checkpoint.fromBytes(bytes, target), CheckpointMismatchError, '1 missing, 1 unexpected, 1 shape mismatch, 1 dtype mismatch', 'params/missing', 'params/extra', 'float32[3, 2]', 'float32[2, 3]'),
  );
  assert.is(delta, 0);
  assert.ok(error instanceof fx.FlaxenError);
  assert.equal((error as InstanceType<typeof CheckpointMismatchError>).problems, [
    { kind: 'shape', path: 'params/a', expected: 'float32[3, 2]', found: 'float32[2, 3]' },
    { kind: 'dtype', path: 'params/c', expected: 'float32', found: 'int32 (I32 in the file)' },
    { kind: 'unexpected', path: 'params/extra', found: 'float32[5]' },
    { kind: 'missing', path: 'params/missing', expected: 'float32[7]' },
  ]);
  fx.tree.dispose(saved);
});

test('a target from initShapes or from init restores a model whose apply then works; the result is typed like the target', () => {
  const net = mlp();
  const vars = net.init(fx.random.key(3), [1, 3]);
  const bytes = fx.checkpoint.toBytes(vars);
  const fromShapes = fx.checkpoint.fromBytes(bytes, net.initShapes(fx.random.key(0), [1, 3]));
  const fromVars = fx.checkpoint.fromBytes(bytes, vars);
  const x = tf.tensor2d([[1, 2, 3]]);
  const [y0, y1, y2] = [net.apply(vars, x), net.apply(fromShapes, x), net.apply(fromVars, x)];
  assert.equal(values(y1), values(y0));
  assert.equal(values(y2), values(y0));
  // Type-level: the restored tree has the model's structure.
  const k: tf.Tensor = fromShapes.params.layers_0.kernel;
  assert.equal(k.shape, [3, 4]);
  fx.tree.dispose([vars, fromShapes, fromVars, x, y0, y1, y2]);
});

test('a mismatch between a checkpoint and a model made for other inputs names the layer and both shapes', () => {
  const net = mlp();
  const vars = net.init(fx.random.key(0), [1, 3]);
  const bytes = fx.checkpoint.toBytes(vars);
  fx.tree.dispose(vars);
  const { delta } = tensorDelta(() => assertThrows(() => fx.checkpoint.fromBytes(bytes, net.initShapes(fx.random.key(0), [1, 5])), CheckpointMismatchError, 'params/layers_0/kernel', 'float32[5, 4]', 'float32[3, 4]'));
  assert.is(delta, 0, 'a refused restore allocates nothing');
});

test('target leaves must be tensors, {shape, dtype}, numbers or keys', () => {
  const t = tf.ones([1]);
  const bytes = fx.checkpoint.toBytes({ a: t });
  assertThrows(() => fx.checkpoint.fromBytes(bytes, { a: 'float32' }), CheckpointError, 'a:', 'target leaves must be tensors, {shape, dtype} records, numbers or random keys');
  assertThrows(() => fx.checkpoint.fromBytes(bytes, 3 as any), CheckpointError, 'the target must be a tree');
  t.dispose();
});

test('a prefix restores one subtree, relative to the prefix, allocating only that subtree', () => {
  const net = mlp();
  const vars = net.init(fx.random.key(1), [1, 3]);
  const bytes = fx.checkpoint.toBytes(vars);
  const { result: layer, delta } = tensorDelta(() => fx.checkpoint.fromBytes(bytes, undefined, { prefix: 'params/layers_2' }));
  assert.is(delta, 2);
  assert.equal(shapesOf(layer), { bias: [2], kernel: [4, 2] });
  assert.equal(values((layer as any).kernel), values((vars as any).params.layers_2.kernel));
  // With a target for the subtree, and a trailing slash.
  const dense = fx.nn.Dense(2);
  const sub = fx.checkpoint.fromBytes(bytes, dense.initShapes(fx.random.key(0), [1, 4]).params, { prefix: 'params/layers_2/' });
  assert.equal(values(sub.kernel), values((vars as any).params.layers_2.kernel));
  // Grafting into another model: the restored layer becomes Dense's own params.
  const x = tf.ones([1, 4]);
  const y = dense.apply({ params: sub }, x);
  assert.equal(y.shape, [1, 2]);
  assertThrows(() => fx.checkpoint.fromBytes(bytes, dense.initShapes(fx.random.key(0), [1, 9]).params, { prefix: 'params/layers_2' }), CheckpointMismatchError, 'kernel', 'float32[9, 2]');
  fx.tree.dispose([vars, layer, sub, y, x]);
});

test('a prefix that selects nothing, names a tensor or is malformed is refused', () => {
  const vars = mlp().init(fx.random.key(1), [1, 3]);
  const bytes = fx.checkpoint.toBytes(vars);
  assertThrows(() => fx.checkpoint.fromBytes(bytes, undefined, { prefix: 'params/layers_1' }), CheckpointError, "no tensor under the prefix 'params/layers_1'", "'params/layers_0'");
  assertThrows(() => fx.checkpoint.fromBytes(bytes, undefined, { prefix: 'params/layers_0/kernel' }), CheckpointError, 'names a single tensor', "'params/layers_0'");
  assertThrows(() => fx.checkpoint.fromBytes(bytes, undefined, { prefix: 'params//layers_0' }), CheckpointError, 'empty segment');
  assertThrows(() => fx.checkpoint.fromBytes(bytes, undefined, { prefix: '__proto__' }), CheckpointError, '__proto__');
  assertThrows(() => fx.checkpoint.fromBytes(bytes, undefined, { prefix: 3 } as any), CheckpointError, 'prefix');
  // 'params/layers_0' must not select 'params/layers_0x/...'.
  const t = tf.ones([1]);
  const tricky = fx.checkpoint.toBytes({ p: { l: { w: t }, lx: { w: t } } });
  const sub = fx.checkpoint.fromBytes(tricky, undefined, { prefix: 'p/l' });
  assert.equal(Object.keys(sub), ['w']);
  fx.tree.dispose([vars, t, sub]);
});

test('decode and encode are the fp-ts Either forms', () => {
  const t = tf.ones([2]);
  const encoded = fx.checkpoint.encode({ t });
  assert.ok(isRight(encoded));
  const decoded = fx.checkpoint.decode(isRight(encoded) ? encoded.right : new Uint8Array());
  assert.ok(isRight(decoded));
  if (isRight(decoded)) fx.tree.dispose(decoded.right);
  const bad = fx.checkpoint.decode(new Uint8Array(3));
  assert.ok(isLeft(bad) && bad.left instanceof CheckpointError && bad.left.message.includes('8-byte header length'));
  const badEncode = fx.checkpoint.encode({ t: NaN });
  assert.ok(isLeft(badEncode) && badEncode.left instanceof CheckpointError);
  t.dispose();
});

test.run();
