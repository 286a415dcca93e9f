// fx.nn.module with a declaration of its variables: init checks that the body creates exactly
// the declared variables; describe nests submodules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, values } from '../setup.js';

const { Dense, relu } = fx.nn;

test('a body that creates exactly the declared variables initializes and applies as an undeclared one', () => {
  const body = (scope: fx.Scope<'scale'>, x: tf.Tensor) => {
    const s = scope.param('scale', fx.initializers.ones, [x.shape[x.rank - 1]!]);
    const h = scope.call(Dense(4), fx.isAbstract(x) ? x : tf.mul(x, s));
    return scope.call(Dense(2), relu(h));
  };
  const Typed = fx.nn.module('Block', { params: { scale: 'tensor', Dense_0: Dense(4), Dense_1: Dense(2) } }, body);
  const Plain = fx.nn.module('Block', body);
  const vt = Typed.init(fx.random.key(0), [1, 3]);
  const vp = Plain.init(fx.random.key(0), [1, 3]);
  fx.tree.mapN([vt, vp], ([a, b]: tf.Tensor[], path) => assert.equal(values(a!), values(b!), path));
  const x = tf.ones([2, 3]);
  const [yt, yp] = [Typed.apply(vt, x), Plain.apply(vp, x)];
  assert.equal(values(yt), values(yp));
  tf.dispose([x, yt, yp]);
  fx.tree.dispose([vt, vp]);
});

test('a declared variable the body never creates is a FlaxenError at init, naming it; nothing leaks', () => {
  const M = fx.nn.module('Affine', { params: { w: 'tensor', b: 'tensor' } }, (scope, x: tf.Tensor) => {
    const w = scope.param('w', fx.initializers.ones, [x.shape[1]!]);
    return fx.isAbstract(x) ? x : tf.mul(x, w);
  });
  const before = tf.memory().numTensors;
  assertThrows(() => M.init(fx.random.key(0), [1, 3]), fx.FlaxenError, 'Affine: the variables differ from the module', 'declared but not created: params/b');
  assertThrows(() => M.initShapes(fx.random.key(0), [1, 3]), fx.FlaxenError, 'declared but not created: params/b');
  assert.is(tf.memory().numTensors, before);
});

test('a variable created but not declared, or a declared submodule never called, is refused too', () => {
  const Extra = fx.nn.module('Extra', { params: { Dense_0: Dense(2) } }, (scope, x: tf.Tensor) => {
    const h = scope.call(Dense(2), x);
    return scope.call(Dense(2), h);
  });
  assertThrows(() => Extra.init(fx.random.key(0), [1, 3]), fx.FlaxenError, 'created but not declared: params/Dense_1/kernel, params/Dense_1/bias');
  const Absent = fx.nn.module('Absent', { params: { enc: Dense(2) } }, (scope, x: tf.Tensor) => scope.call(Dense(2), x));
  const e = assertThrows(() => Absent.init(fx.random.key(0), [1, 3]), fx.FlaxenError, 'declared but not created: params/enc', 'created but not declared: params/Dense_0/kernel');
  assert.is((e as fx.FlaxenError).path, '');
  // Nested: the check runs where the module runs, and names its path.
  const Outer = fx.nn.module('Outer', (scope, x: tf.Tensor) => scope.call(Absent, x));
  assertThrows(() => Outer.init(fx.random.key(0), [1, 3]), fx.FlaxenError, 'Absent_0: Absent: the variables differ');
});

test('other collections are declared and checked alike (batch_stats of a BatchNorm child)', () => {
  const decl = { params: { bn: fx.nn.BatchNorm() }, batch_stats: { bn: fx.nn.BatchNorm() } };
  const Good = fx.nn.module('Good', decl, (scope, x: tf.Tensor) => scope.call(fx.nn.BatchNorm(), x, { name: 'bn' }));
  const v = Good.init(fx.random.key(0), [2, 3]);
  assert.equal(Object.keys(v).sort(), ['batch_stats', 'params']);
  fx.tree.dispose(v);
  const Bad = fx.nn.module('Bad', { params: { bn: fx.nn.BatchNorm() } }, (scope, x: tf.Tensor) => scope.call(fx.nn.BatchNorm(), x, { name: 'bn' }));
  assertThrows(() => Bad.init(fx.random.key(0), [2, 3]), fx.FlaxenError, 'created but not declared: batch_stats/bn/mean, batch_stats/bn/var');
});

test('a malformed declaration is refused when the module is defined', () => {
  assertThrows(() => fx.nn.module('M', { params: { w: 'tensr' } } as never, (_s, x: tf.Tensor) => x), fx.FlaxenError, "module(M, variables, body): variables.params.w must be an object of 'tensor'");
  assertThrows(() => fx.nn.module('M', { params: {} }, 3 as never), fx.FlaxenError, 'body must be a function');
});

test('describe nests the submodules of a custom module: by declaration, else by its variables', () => {
  const body = (scope: fx.Scope, x: tf.Tensor) => {
    const s = scope.param('scale', fx.initializers.ones, [x.shape[x.rank - 1]!]);
    return scope.call(Dense(2), scope.call(Dense(4), fx.isAbstract(x) ? x : tf.mul(x, s)));
  };
  const Plain = fx.nn.module('Block', body);
  const v = Plain.init(fx.random.key(0), [1, 3]);
  assert.is(Plain.describe(), 'Block');
  assert.is(Plain.describe(v), ['Block { scale: [3] }(', '  (Dense_0): { bias: [4], kernel: [3, 4] }', '  (Dense_1): { bias: [2], kernel: [4, 2] }', ')'].join('\n'));
  const Typed = fx.nn.module('Block', { params: { scale: 'tensor', Dense_0: Dense(4), Dense_1: Dense(2) } }, body);
  assert.is(Typed.describe(), ['Block(', '  (Dense_0): Dense(-1 -> 4)', '  (Dense_1): Dense(-1 -> 2)', ')'].join('\n'));
  assert.is(Typed.describe(v), ['Block { scale: [3] }(', '  (Dense_0): Dense(3 -> 4)', '  (Dense_1): Dense(4 -> 2)', ')'].join('\n'));
  // Inside a Sequential the nesting continues.
  const net = fx.nn.Sequential([Typed, relu]);
  const nv = net.init(fx.random.key(0), [1, 3]);
  assert.ok(net.describe(nv).includes('    (Dense_1): Dense(4 -> 2)'), net.describe(nv));
  fx.tree.dispose([v, nv]);
});

test.run();
