import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, collectLeaks, tensorDelta, values } from '../setup.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

const { Dense, Sequential, relu } = fx.nn;
const mlp = () => Sequential([Dense(256), relu, Dense(10)]);
const shapesOf = (tree: unknown) => fx.tree.map(tree, (t: { shape: readonly number[] }) => [...t.shape]);

test('init infers every shape from the input, layer after layer (the seed’s Flax tree)', () => {
  const x = tf.zeros([2, 20]);
  const variables = mlp().init(fx.random.key(0), x);
  assert.equal(shapesOf(variables), {
    params: { layers_0: { bias: [256], kernel: [20, 256] }, layers_2: { bias: [10], kernel: [256, 10] } },
  });
  fx.tree.dispose([x, variables]);
});

test('init accepts a plain shape instead of a dummy tensor, with identical values', () => {
  const fromShape = mlp().init(fx.random.key(0), [2, 20]);
  const x = tf.zeros([7, 20]);
  const fromTensor = mlp().init(fx.random.key(0), x);
  fx.tree.mapN([fromShape, fromTensor], ([a, b]: tf.Tensor[], path) => assert.equal(values(a!), values(b!), path));
  fx.tree.dispose([x, fromShape, fromTensor]);
});

test('the same key gives the same parameters bit for bit; another key other ones', () => {
  const a = mlp().init(fx.random.key(42), [1, 20]);
  const b = mlp().init(fx.random.key(42), [1, 20]);
  const c = mlp().init(fx.random.key(43), [1, 20]);
  assert.equal(values(a.params.layers_0.kernel), values(b.params.layers_0.kernel));
  assert.not.equal(values(a.params.layers_0.kernel), values(c.params.layers_0.kernel));
  fx.tree.dispose([a, b, c]);
});

test('appending a layer leaves the earlier layers’ values unchanged (keys derive from paths)', () => {
  const short = Sequential([Dense(8), relu, Dense(4)]).init(fx.random.key(0), [1, 5]);
  const long = Sequential([Dense(8), relu, Dense(4), relu, Dense(3)]).init(fx.random.key(0), [1, 5]);
  assert.equal(values(long.params.layers_0.kernel), values(short.params.layers_0.kernel));
  assert.equal(values(long.params.layers_2.kernel), values(short.params.layers_2.kernel));
  // Two layers of the same shape at different paths still get different values.
  const twin = Sequential([Dense(5), Dense(5)]).init(fx.random.key(0), [1, 5]);
  assert.not.equal(values(twin.params.layers_0.kernel), values(twin.params.layers_1.kernel));
  fx.tree.dispose([short, long, twin]);
});

test('the returned tree is deeply frozen', () => {
  const v = mlp().init(fx.random.key(0), [1, 20]);
  assert.ok(Object.isFrozen(v) && Object.isFrozen(v.params) && Object.isFrozen(v.params.layers_0));
  assert.throws(() => {
    (v.params as Record<string, unknown>)['layers_0'] = null;
  });
  fx.tree.dispose(v);
});

test('init leaves exactly the parameter tensors alive; apply leaves exactly its output', () => {
  const net = mlp();
  const { result: v, delta } = tensorDelta(() => net.init(fx.random.key(0), [3, 20]));
  assert.is(delta, 4);
  const x = tf.ones([5, 20]);
  const { result: y, delta: applied } = tensorDelta(() => net.apply(v, x));
  assert.is(applied, 1);
  assert.equal(y.shape, [5, 10]);
  tf.dispose([x, y]);
  fx.tree.dispose(v);
});

test('initShapes gives {shape, dtype} leaves, allocates nothing, and describes a 1B-parameter model', () => {
  const net = mlp();
  const { result: shapes, delta } = tensorDelta(() => net.initShapes(fx.random.key(0), [2, 20]));
  assert.is(delta, 0);
  assert.ok(shapes.params.layers_0.kernel instanceof fx.ShapeDtype);
  assert.equal(shapes.params.layers_0.kernel.shape, [20, 256]);
  assert.is(shapes.params.layers_0.kernel.dtype, 'float32');
  const big = Sequential([Dense(32768), relu, Dense(32768)]);
  const { result: bigShapes, delta: bigDelta } = tensorDelta(() => big.initShapes(fx.random.key(0), [1, 32768]));
  assert.is(bigDelta, 0);
  assert.is(fx.tree.count(bigShapes), 2 * 32768 * 32768 + 2 * 32768);
  assert.ok(fx.tree.count(bigShapes) > 1e9);
});

test('apply works for any batch size and never changes its arguments', () => {
  const net = mlp();
  const v = net.init(fx.random.key(0), [1, 20]);
  const before = values(v.params.layers_0.kernel);
  for (const batch of [1, 3, 64]) {
    const x = tf.ones([batch, 20]);
    const y = net.apply(v, x);
    assert.equal(y.shape, [batch, 10]);
    assert.not.ok(x.isDisposed);
    tf.dispose([x, y]);
  }
  assert.equal(values(v.params.layers_0.kernel), before);
  fx.tree.dispose(v);
});

test('apply computes the composition of the layers (checked by hand with plain arrays)', () => {
  const net = Sequential([Dense(3), relu, Dense(2)]);
  const v = net.init(fx.random.key(9), [1, 4]);
  const x = [0.5, -1, 2, 0.25];
  const k0 = v.params.layers_0.kernel.arraySync() as number[][];
  const k2 = v.params.layers_2.kernel.arraySync() as number[][];
  const h = [0, 1, 2].map((j) => Math.max(0, x.reduce((s, xi, i) => s + xi * k0[i]![j]!, 0)));
  const expected = [0, 1].map((j) => h.reduce((s, hi, i) => s + hi * k2[i]![j]!, 0));
  const xt = tf.tensor2d([x]);
  const y = net.apply(v, xt);
  const got = values(y);
  expected.forEach((e, i) => assert.ok(Math.abs(got[i]! - e) < 1e-5, `${got[i]} vs ${e}`));
  tf.dispose([xt, y]);
  fx.tree.dispose(v);
});

test('exercise 1: a size given to the first layer only is checked, the rest is still inferred', () => {
  const net = Sequential([Dense(256, { inFeatures: 20 }), relu, Dense(10)]);
  assert.match(net.describe(), /Dense\(20 -> 256\)[\s\S]*Dense\(-1 -> 10\)/);
  const v = net.init(fx.random.key(0), [1, 20]);
  assert.equal(v.params.layers_2.kernel.shape, [256, 10]);
  fx.tree.dispose(v);
});

test('exercise 2: mismatched sizes fail at init and at apply, naming layers_0, 20 and 30', () => {
  const declared = Sequential([Dense(256, { inFeatures: 20 }), relu, Dense(10)]);
  const e = assertThrows(() => declared.init(fx.random.key(0), [2, 30]), fx.ShapeError, 'layers_0', '20', '30');
  assert.is((e as fx.FlaxenError).path, 'layers_0');
  const net = mlp();
  const v = net.init(fx.random.key(0), [2, 20]);
  const x = tf.ones([2, 30]);
  const { delta } = tensorDelta(() => assertThrows(() => net.apply(v, x), fx.ShapeError, 'layers_0', '[20, 256]', '[30, 256]'));
  assert.is(delta, 0);
  tf.dispose(x);
  fx.tree.dispose(v);
});

test('exercise 3: inputs of another size need their own parameters or a shared trunk bound by name', () => {
  // One input projection per input size; the trunk is called with the same name, so it is shared.
  const trunk = Sequential([Dense(16), relu, Dense(4)], { name: 'trunk' });
  const TwoSizes = fx.nn.module('TwoSizes', (scope, a: tf.Tensor, b: tf.Tensor) => {
    const ya = scope.call(trunk, scope.call(Dense(8, { name: 'proj_a' }), a));
    const yb = scope.call(trunk, scope.call(Dense(8, { name: 'proj_b' }), b));
    return [ya, yb];
  });
  const v = TwoSizes.init(fx.random.key(0), [1, 20], [1, 30]);
  assert.equal(Object.keys(v.params as object).sort(), ['proj_a', 'proj_b', 'trunk']);
  assert.equal(shapesOf(v.params), {
    proj_a: { bias: [8], kernel: [20, 8] },
    proj_b: { bias: [8], kernel: [30, 8] },
    trunk: { layers_0: { bias: [16], kernel: [8, 16] }, layers_2: { bias: [4], kernel: [16, 4] } },
  });
  const [a, b] = [tf.ones([2, 20]), tf.ones([3, 30])];
  const [ya, yb] = TwoSizes.apply(v, a, b) as unknown as tf.Tensor[];
  assert.equal(ya!.shape, [2, 4]);
  assert.equal(yb!.shape, [3, 4]);
  tf.dispose([a, b, ya!, yb!]);
  fx.tree.dispose(v);
});

test('custom modules: auto-naming Dense_0, Dense_1, explicit names, and sharing by name', () => {
  const Block = fx.nn.module('Block', (scope, x: tf.Tensor) => {
    const h = scope.call(Dense(6), x);
    const shared1 = scope.call(Dense(6), h, { name: 'shared' });
    const shared2 = scope.call(Dense(6), shared1, { name: 'shared' });
    return scope.call(Dense(2), shared2);
  });
  const v = Block.init(fx.random.key(0), [1, 6]);
  assert.equal(Object.keys(v.params as object).sort(), ['Dense_0', 'Dense_1', 'shared']);
  const x = tf.ones([1, 6]);
  const y = Block.apply(v, x);
  // By hand: the shared layer applied twice with the same parameters.
  const p = v.params as Record<string, { kernel: tf.Tensor; bias: tf.Tensor }>;
  const dense = (t: tf.Tensor, q: { kernel: tf.Tensor; bias: tf.Tensor }) => tf.add(tf.matMul(t, q.kernel), q.bias);
  const expected = tf.tidy(() => dense(dense(dense(dense(x, p['Dense_0']!), p['shared']!), p['shared']!), p['Dense_1']!));
  const [got, want] = [values(y), values(expected)];
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) < 1e-5));
  tf.dispose([x, y, expected]);
  fx.tree.dispose(v);
});

test('custom modules with their own parameters whose shape follows the input', () => {
  const Scale = fx.nn.module('Scale', (scope, x: tf.Tensor) => {
    const w = scope.param('w', fx.initializers.constant(2), [x.shape[x.shape.length - 1]!]);
    return fx.isAbstract(x) ? x : tf.mul(x, w);
  });
  const v = Scale.init(fx.random.key(0), [3, 5]);
  assert.equal(v.params['w'] !== undefined && (v.params['w'] as tf.Tensor).shape, [5]);
  const x = tf.ones([1, 5]);
  const y = Scale.apply(v, x);
  assert.equal(values(y), [2, 2, 2, 2, 2]);
  tf.dispose([x, y]);
  fx.tree.dispose(v);
});

test('a custom module that does tfjs math on its inputs still initializes, without leaking', () => {
  const Odd = fx.nn.module('Odd', (scope, x: tf.Tensor) => {
    const doubled = tf.concat([x, x], 1); // the size after this is only known by running it
    return scope.call(Dense(3), tf.tanh(doubled));
  });
  const { result: v, delta } = tensorDelta(() => Odd.init(fx.random.key(0), [2, 4]));
  assert.is(delta, 2);
  assert.equal((v.params as Record<string, Record<string, tf.Tensor>>)['Dense_0']!['kernel']!.shape, [8, 3]);
  const { delta: shapesDelta } = tensorDelta(() => Odd.initShapes(fx.random.key(0), [2, 4]));
  assert.is(shapesDelta, 0);
  fx.tree.dispose(v);
});

test('rng streams: scope.rng depends on the stream key and the path; a missing stream is a MissingRngError', () => {
  const Noise = fx.nn.module('Noise', (scope, x: tf.Tensor) => {
    const k = scope.rng('noise');
    return fx.isAbstract(x) ? x : tf.tidy(() => tf.add(x, fx.random.normal(k, [...x.shape])));
  });
  assertThrows(() => Noise.init(fx.random.key(0), [2]), fx.MissingRngError, "'noise'");
  const v = Noise.init({ params: fx.random.key(0), noise: fx.random.key(5) }, [2]);
  const x = tf.zeros([4]);
  const a = Noise.apply(v, x, { rngs: { noise: fx.random.key(1) } });
  const b = Noise.apply(v, x, { rngs: { noise: fx.random.key(1) } });
  const c = Noise.apply(v, x, { rngs: { noise: fx.random.key(2) } });
  assert.equal(values(a), values(b));
  assert.not.equal(values(a), values(c));
  const e = assertThrows(() => Noise.apply(v, x), fx.MissingRngError, "'noise'", 'rngs');
  assert.ok(e instanceof fx.FlaxenError);
  tf.dispose([x, a, b, c]);
});

test('mutable collections: variables update only when listed in mutable, and apply returns them', () => {
  const Counter = fx.nn.module('Counter', (scope, x: tf.Tensor) => {
    const n = scope.variable('counts', 'n', fx.initializers.zeros, []);
    if (!scope.isInitializing) n.value = tf.add(n.value, 1);
    return x;
  });
  const v = Counter.init(fx.random.key(0), [1]);
  assert.equal(Object.keys(v), ['counts']);
  const x = tf.ones([1]);
  const [y, updated] = Counter.apply(v, x, { mutable: ['counts'] });
  assert.equal(values((updated as Record<string, Record<string, tf.Tensor>>)['counts']!['n']!), [1]);
  assert.equal(values((v as Record<string, Record<string, tf.Tensor>>)['counts']!['n']!), [0]);
  assertThrows(() => Counter.apply(v, x), fx.ImmutableCollectionError, "'counts'", 'mutable');
  tf.dispose([x, y as tf.Tensor]);
  fx.tree.dispose([v, updated]);
});

test('updated collections are owned by the caller: unchanged entries are copies', () => {
  const Keep = fx.nn.module('Keep', (scope, x: tf.Tensor) => {
    scope.variable('stats', 'a', fx.initializers.ones, [2]);
    return x;
  });
  const v = Keep.init(fx.random.key(0), [1]);
  const x = tf.ones([1]);
  const [, updated] = Keep.apply(v, x, { mutable: true });
  const copy = (updated as Record<string, Record<string, tf.Tensor>>)['stats']!['a']!;
  assert.ok(copy !== (v as Record<string, Record<string, tf.Tensor>>)['stats']!['a']);
  fx.tree.dispose(updated);
  assert.equal(values((v as Record<string, Record<string, tf.Tensor>>)['stats']!['a']!), [1, 1]);
  tf.dispose(x);
  fx.tree.dispose(v);
});

test('missing, unexpected, mis-shaped and disposed variables are FlaxenErrors naming the path', () => {
  const net = mlp();
  const v = net.init(fx.random.key(0), [1, 20]);
  const x = tf.ones([1, 20]);
  const { layers_2: _dropped, ...rest } = v.params;
  void _dropped;
  assertThrows(() => net.apply({ params: rest } as unknown as typeof v, x), fx.MissingVariableError, 'layers_2', "'params/layers_2/kernel'");
  const extra = { params: { ...v.params, layers_9: { kernel: tf.ones([1]) } } };
  assertThrows(() => net.apply(extra as unknown as typeof v, x), fx.UnexpectedVariableError, 'params/layers_9/kernel');
  const wrong = { params: { ...v.params, layers_2: { kernel: tf.ones([256, 11]), bias: tf.ones([10]) } } };
  assertThrows(() => net.apply(wrong as typeof v, x), fx.ShapeError, 'layers_2', '[256, 11]', '[256, 10]');
  assertThrows(() => net.apply(null as unknown as typeof v, x), fx.FlaxenError, 'variables tree');
  assertThrows(() => net.apply({ params: { ...v.params, layers_0: { kernel: 'x', bias: 1 } } } as unknown as typeof v, x), fx.FlaxenError, 'params/layers_0/bias');
  assertThrows(() => net.apply(v, [1, 20] as unknown as tf.Tensor), fx.FlaxenError, 'apply takes tensors');
  assertThrows(() => net.apply(v, x, { tain: true } as fx.ApplyOptions), fx.FlaxenError, "keys 'tain'", 'apply takes train, rngs, mutable');
  tf.dispose([x, extra.params.layers_9.kernel, wrong.params.layers_2.kernel, wrong.params.layers_2.bias]);
  fx.tree.dispose(v);
});

test('bad arguments raise FlaxenError, never a TypeError from tfjs', () => {
  assertThrows(() => Dense(0), fx.FlaxenError, 'positive integer');
  assertThrows(() => Dense(2.5), fx.FlaxenError, 'positive integer', '2.5');
  assertThrows(() => Dense('3' as unknown as number), fx.FlaxenError, 'positive integer');
  assertThrows(() => Dense(3, { usebias: false } as fx.nn.DenseOptions), fx.FlaxenError, "'usebias'");
  assertThrows(() => Sequential('x' as unknown as []), fx.FlaxenError, 'array of layers');
  assertThrows(() => Sequential([Dense(2), 3 as unknown as fx.nn.Layer]), fx.FlaxenError, 'layers_1', 'module or a function');
  assertThrows(() => mlp().init(fx.random.key(0), [0, 20]), fx.FlaxenError, 'zero-size');
  assertThrows(() => mlp().init(fx.random.key(0), [2, -3]), fx.FlaxenError, 'input 0');
  assertThrows(() => mlp().init(7 as unknown as fx.random.Key, [2, 20]), fx.FlaxenError, 'rngs', 'number 7');
  assertThrows(() => mlp().init({ params: 'k' } as unknown as fx.random.Key, [2, 20]), fx.FlaxenError, 'rngs.params');
  assertThrows(() => mlp().init({ dropout: fx.random.key(0) }, [2, 20]), fx.FlaxenError, "'params' random stream");
  const [ints, scalar] = [tf.zeros([2, 20], 'int32'), tf.scalar(1)];
  assertThrows(() => mlp().init(fx.random.key(0), ints as tf.Tensor), fx.FlaxenError, 'float32', 'int32');
  assertThrows(() => Dense(3).init(fx.random.key(0), scalar), fx.ShapeError, 'rank');
  tf.dispose([ints, scalar]);
  // The types already refuse an extra input; at run time it is an error too, not ignored.
  const untyped = mlp() as unknown as { init(...a: unknown[]): unknown; apply(...a: unknown[]): unknown };
  assertThrows(() => untyped.init(fx.random.key(0), [1, 20], [2, 20]), fx.FlaxenError, 'layers_0', 'takes one input, found 2');
  const x = tf.ones([1, 20]);
  const v = mlp().init(fx.random.key(0), [1, 20]);
  assertThrows(() => untyped.apply(v, x, x), fx.FlaxenError, 'layers_0', 'takes one input, found 2');
  tf.dispose(x);
  fx.tree.dispose(v);
});

test('describe prints unknown sizes as -1 before init and real sizes after, like the seed', () => {
  const net = mlp();
  assert.is(net.describe(), 'Sequential(\n  (layers_0): Dense(-1 -> 256)\n  (layers_1): relu\n  (layers_2): Dense(-1 -> 10)\n)');
  const v = net.init(fx.random.key(0), [1, 20]);
  assert.is(net.describe(v), 'Sequential(\n  (layers_0): Dense(20 -> 256)\n  (layers_1): relu\n  (layers_2): Dense(256 -> 10)\n)');
  const nested = Sequential([net, Dense(3)]);
  assert.match(nested.describe(), /\(layers_0\): Sequential\(\n {4}\(layers_0\): Dense\(-1 -> 256\)/);
  fx.tree.dispose(v);
});

test('bind fixes the variables: a plain function of the inputs', () => {
  const net = mlp();
  const v = net.init(fx.random.key(0), [1, 20]);
  const f = net.bind(v);
  const x = tf.ones([2, 20]);
  const [a, b] = [f(x), net.apply(v, x)];
  assert.equal(values(a), values(b));
  tf.dispose([a, b, x]);
  fx.tree.dispose(v);
});

test('Dense on inputs of rank 3 acts on the last axis', () => {
  const layer = Dense(4);
  const v = layer.init(fx.random.key(0), [2, 3, 5]);
  const x = fx.random.normal(fx.random.key(1), [2, 3, 5]);
  const y = layer.apply(v, x);
  assert.equal(y.shape, [2, 3, 4]);
  const flat = tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [6, 5]), v.params.kernel), v.params.bias));
  const [got, want] = [values(y), values(flat)];
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) < 1e-5));
  tf.dispose([x, y, flat]);
  fx.tree.dispose(v);
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
