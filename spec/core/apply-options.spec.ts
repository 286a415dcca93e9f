// Options versus inputs: inputs may be plain objects and tuples; options are a trailing object
// of option names only, or made by fx.options; trailing undefineds are dropped; option values
// have their types checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, collectLeaks, tensorDelta, values } from '../setup.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

const { Dense } = fx.nn;

test('apply(v, x, undefined) is apply(v, x), for init, apply and scope.call alike', () => {
  const net = Dense(3);
  const v = (net.init as (...args: unknown[]) => ReturnType<typeof net.init>)(fx.random.key(0), [2, 4], undefined);
  const x = tf.ones([2, 4]);
  const y = net.apply(v, x);
  const y2 = net.apply(v, x, undefined as unknown as fx.ApplyOptions);
  const y3 = (net.apply as unknown as (...args: unknown[]) => tf.Tensor)(v, x, undefined, { train: false });
  assert.equal(values(y2), values(y));
  assert.equal(values(y3), values(y));
  const Outer = fx.nn.module('Outer', (scope, t: tf.Tensor) => scope.call<tf.Tensor>(Dense(3), t, undefined));
  const vo = Outer.init(fx.random.key(0), [2, 4]);
  tf.dispose([Outer.apply(vo, x)]);
  tf.dispose([x, y, y2, y3]);
  fx.tree.dispose([v, vo]);
});

test('a module whose input is a record {a, b} needs no trailing {} (and may still take options)', () => {
  const Sum = fx.nn.module('Sum', (scope, inp: { a: tf.Tensor; b: tf.Tensor }) => {
    const a = scope.call(Dense(3, { name: 'fa' }), inp.a);
    const b = scope.call(Dense(3, { name: 'fb' }), inp.b);
    return fx.isAbstract(a) ? a : tf.add(a, b);
  });
  // init takes shapes inside the record, as it does at the top level.
  const example = tf.zeros([1, 5]);
  const v = Sum.init(fx.random.key(0), { a: [1, 2], b: example });
  example.dispose();
  assert.equal(v.params.fa.kernel.shape, [2, 3]);
  assert.equal(v.params.fb.kernel.shape, [5, 3]);
  const a = tf.ones([4, 2]);
  const b = tf.ones([4, 5]);
  const { result: y, delta } = tensorDelta(() => Sum.apply(v, { a, b }));
  assert.is(delta, 1);
  assert.equal(y.shape, [4, 3]);
  const y2 = Sum.apply(v, { a, b }, { train: true });
  const y3 = Sum.apply(v, { a, b }, fx.options({ train: true }));
  assert.equal(values(y2), values(y));
  assert.equal(values(y3), values(y));
  tf.dispose([a, b, y, y2, y3]);
  fx.tree.dispose(v);
});

test('a module whose input is a tuple [a, b] of tensors', () => {
  const Pair = fx.nn.module('Pair', (scope, [a, b]: [tf.Tensor, tf.Tensor]) => {
    const h = scope.call(Dense(2), a);
    return fx.isAbstract(h) ? h : tf.mul(h, tf.sum(b));
  });
  const examples: [tf.Tensor, tf.Tensor] = [tf.zeros([1, 3]), tf.zeros([1, 1])];
  const v = Pair.init(fx.random.key(0), examples);
  fx.tree.dispose(examples);
  assert.equal(v.params.Dense_0.kernel.shape, [3, 2]);
  const a = tf.ones([2, 3]);
  const b = tf.tensor2d([[2]]);
  const y = Pair.apply(v, [a, b]);
  const plain = Dense(2).apply({ params: v.params.Dense_0 }, a);
  assert.equal(values(y), values(plain).map((t) => t * 2));
  // A shape is still refused by apply, with the reason.
  assertThrows(() => Pair.apply(v, [2, 3] as unknown as [tf.Tensor, tf.Tensor]), fx.FlaxenError, 'input 0 is a shape [2, 3]', 'apply takes tensors');
  tf.dispose([a, b, y, plain]);
  fx.tree.dispose(v);
});

test('an input record whose keys are all option names is told apart by fx.options', () => {
  const Pick = fx.nn.module('Pick', (scope, inp: { train: tf.Tensor }) => scope.call(Dense(2), inp.train));
  const v = Pick.init(fx.random.key(0), { train: [1, 3] });
  const x = tf.ones([1, 3]);
  const y = Pick.apply(v, { train: x }, fx.options({}));
  assert.equal(y.shape, [1, 2]);
  tf.dispose([x, y]);
  fx.tree.dispose(v);
});

test('scope.call: {name} names the child; fx.options({name}) too; a record input is not options', () => {
  const Twice = fx.nn.module('Twice', (scope, x: tf.Tensor) => {
    const d = Dense(4);
    const h = scope.call(d, x, { name: 'shared' });
    return scope.call(d, h, fx.options({ name: 'shared' }));
  });
  const v = Twice.init(fx.random.key(0), [1, 4]);
  assert.equal(Object.keys(v.params), ['shared']);
  const Rec = fx.nn.module('Rec', (scope, x: tf.Tensor) => scope.call(fx.nn.module('Inner', (_s, r: { name: tf.Tensor; other: tf.Tensor }) => tf.add(r.name, r.other)), { name: x, other: x }));
  const vr = Rec.init(fx.random.key(0), [1, 2]);
  const x = tf.ones([1, 2]);
  const y = Rec.apply(vr, x);
  assert.equal(values(y), [2, 2]);
  const BadName = fx.nn.module('BadName', (scope, t: tf.Tensor) => scope.call<tf.Tensor>(Dense(2), t, fx.options({ name: 3 })));
  assertThrows(() => BadName.init(fx.random.key(0), [1, 4]), fx.FlaxenError, 'name must be a non-empty string', 'number 3');
  tf.dispose([x, y]);
  fx.tree.dispose(v);
});

test('option values of the wrong type are refused, naming the option and the expected type', () => {
  const net = Dense(2);
  const v = net.init(fx.random.key(0), [1, 3]);
  const x = tf.ones([1, 3]);
  const before = tf.memory().numTensors;
  assertThrows(() => net.apply(v, x, { train: 'yes' } as unknown as fx.ApplyOptions), fx.FlaxenError, "apply: option 'train' must be a boolean", 'the string "yes"');
  assertThrows(() => net.apply(v, x, fx.options({ train: 1 }) as unknown as fx.ApplyOptions), fx.FlaxenError, "option 'train' must be a boolean", 'number 1');
  // A misspelt option is not silently an input: the layer takes one input.
  assertThrows(() => net.apply(v, x, { trian: true } as unknown as fx.ApplyOptions), fx.FlaxenError, "apply: unknown option 'trian'", 'train, rngs, mutable');
  assert.is(tf.memory().numTensors, before);
  tf.dispose(x);
  fx.tree.dispose(v);
});

test('every layer refuses a non-boolean for its boolean options', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['Dense', () => Dense(4, { useBias: 'no' as unknown as boolean }), 'useBias'],
    ['Conv', () => fx.nn.Conv(4, [3, 3], { useBias: 0 as unknown as boolean }), 'useBias'],
    ['ConvTranspose', () => fx.nn.ConvTranspose(4, [3, 3], { transposeKernel: 'true' as unknown as boolean }), 'transposeKernel'],
    ['AvgPool', () => fx.nn.AvgPool([2, 2], { countIncludePad: 1 as unknown as boolean }), 'countIncludePad'],
    ['BatchNorm', () => fx.nn.BatchNorm({ useRunningAverage: 'yes' as unknown as boolean }), 'useRunningAverage'],
    ['LayerNorm', () => fx.nn.LayerNorm({ useScale: null as unknown as boolean }), 'useScale'],
    ['MultiHeadDotProductAttention', () => fx.nn.MultiHeadDotProductAttention({ numHeads: 2, useBias: 'no' as unknown as boolean }), 'useBias'],
  ];
  for (const [layer, make, option] of cases) {
    assertThrows(make, fx.FlaxenError, `${layer}: option '${option}' must be a boolean (true or false)`);
  }
  // A function option must be a function.
  assertThrows(() => Dense(4, { kernelInit: 3 as unknown as fx.Initializer }), fx.FlaxenError, "Dense: option 'kernelInit' must be a function", 'number 3');
});

test('fx.checkOptions: unknown names, wrong kinds, undefined as not given', () => {
  interface O {
    readonly flag?: boolean;
    readonly n?: number;
  }
  const kinds: fx.OptionKinds<O> = { flag: 'boolean', n: 'number' };
  assert.equal(fx.checkOptions<O>('f', { flag: true, n: 2 }, kinds), { flag: true, n: 2 });
  assert.equal(fx.checkOptions<O>('f', undefined, kinds), {});
  assert.equal(fx.checkOptions<O>('f', { flag: undefined }, kinds), { flag: undefined });
  assertThrows(() => fx.checkOptions('f', { flg: true }, kinds), fx.FlaxenError, "f: unknown option 'flg'; known options are flag, n");
  assertThrows(() => fx.checkOptions('f', { n: NaN }, kinds), fx.FlaxenError, "f: option 'n' must be a number");
  assertThrows(() => fx.checkOptions('f', [1], kinds), fx.FlaxenError, 'f: options must be an object');
  const e = assertThrows(() => fx.checkOptions('f', { flag: 'x' }, kinds), fx.FlaxenError);
  // Not about a module: no path and no '<root>:' prefix.
  assert.is(e.message.startsWith('f: '), true);
  assert.is((e as fx.FlaxenError).path, '');
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
