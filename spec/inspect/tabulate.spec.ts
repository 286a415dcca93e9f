import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows, tensorDelta, transient } from '../setup.js';

const { Dense, Sequential, relu } = fx.nn;

test('tabulate prints one row per module with shapes, own parameters, counts and bytes, then totals', () => {
  const net = Sequential([Dense(3), relu, Dense(2)]);
  // Counts by hand: layers_0 = 4·3 + 3 = 15 scalars (60 B), layers_2 = 3·2 + 2 = 8 (32 B).
  const expected = [
    '                               Sequential summary',
    '┌──────────┬────────────┬───────────────┬───────────────┬───────────────────────┐',
    '│ path     │ module     │ inputs        │ outputs       │ params                │',
    '├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤',
    '│          │ Sequential │ float32[1, 4] │ float32[1, 2] │                       │',
    '├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤',
    '│ layers_0 │ Dense      │ float32[1, 4] │ float32[1, 3] │ bias: float32[3]      │',
    '│          │            │               │               │ kernel: float32[4, 3] │',
    '│          │            │               │               │                       │',
    '│          │            │               │               │ 15 (60 B)             │',
    '├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤',
    '│ layers_2 │ Dense      │ float32[1, 3] │ float32[1, 2] │ bias: float32[2]      │',
    '│          │            │               │               │ kernel: float32[3, 2] │',
    '│          │            │               │               │                       │',
    '│          │            │               │               │ 8 (32 B)              │',
    '├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤',
    '│          │            │               │ Total         │ 23 (92 B)             │',
    '└──────────┴────────────┴───────────────┴───────────────┴───────────────────────┘',
    '',
    'Total parameters: 23 (92 B)',
    'By collection:',
    '  params  23 (92 B)',
  ].join('\n');
  const { result: table, delta } = tensorDelta(() => fx.tabulate(net, fx.random.key(0), [1, 4]));
  assert.fixture(table, expected);
  assert.is(delta, 0, 'no tensor allocated');
});

test('every line of the table has the same width', () => {
  const net = Sequential([Dense(300), relu, Dense(10)]);
  const lines = fx.tabulate(net, fx.random.key(0), transient(tf.zeros([8, 784]))).split('\n').filter((l) => /^[│┌├└]/.test(l));
  const widths = new Set(lines.map((l) => l.length));
  assert.is(widths.size, 1, `widths ${[...widths]}`);
});

test('custom modules: nested rows in call order, parents first, full paths, shared calls counted once', () => {
  const Block = fx.nn.module('Block', (scope, x: tf.Tensor) => {
    const shared = Dense(4, { name: 'shared' });
    return scope.call(shared, scope.call(shared, x));
  });
  const Model = fx.nn.module('Model', (scope, x: tf.Tensor) => {
    const h = scope.call(Block, x);
    const w = scope.param('w', fx.initializers.ones, [2]);
    const y = scope.call(Dense(2), h);
    return fx.isAbstract(y) ? y : tf.mul(y, w);
  });
  const summary = fx.modelSummary(Model, fx.random.key(0), [3, 4]);
  assert.equal(
    summary.rows.map((r) => [r.path, r.type, r.depth, r.shared, r.inputs, r.output]),
    [
      ['', 'Model', 0, false, ['float32[3, 4]'], 'float32[3, 2]'],
      ['Block_0', 'Block', 1, false, ['float32[3, 4]'], 'float32[3, 4]'],
      ['Block_0/shared', 'Dense', 2, false, ['float32[3, 4]'], 'float32[3, 4]'],
      ['Block_0/shared', 'Dense', 2, true, ['float32[3, 4]'], 'float32[3, 4]'],
      ['Dense_0', 'Dense', 1, false, ['float32[3, 4]'], 'float32[3, 2]'],
    ],
  );
  assert.equal(summary.rows[0]!.variables.map((v) => [v.name, [...v.shape], v.count, v.bytes]), [['w', [2], 2, 8]]);
  assert.equal(summary.rows[2]!.variables.map((v) => v.name), ['bias', 'kernel']);
  assert.equal(summary.rows[3]!.variables, []);
  // Totals agree with an independent count over initShapes: 2 + (16 + 4) + (8 + 2) = 32.
  const shapes = Model.initShapes(fx.random.key(0), [3, 4]);
  assert.is(summary.total.count, fx.tree.count(shapes));
  assert.is(summary.total.count, 32);
  const table = fx.tabulate(Model, fx.random.key(0), [3, 4]);
  assert.ok(table.includes('(shared)'));
  assert.ok(table.includes('Block_0/shared'));
  assert.ok(table.includes('Total parameters: 32 (128 B)'));
});

test('a custom module doing tfjs math on its inputs (re-run on zeros to find shapes) gets one row per child', () => {
  const Naive = fx.nn.module('Naive', (scope, x: tf.Tensor) => {
    const h = scope.call(Dense(4), x);
    const w = scope.param('w', fx.initializers.ones, [4, 2]);
    return tf.matMul(h, w);
  });
  const { result: summary, delta } = tensorDelta(() => fx.modelSummary(Naive, fx.random.key(0), [2, 3]));
  assert.is(delta, 0);
  assert.equal(summary.rows.map((r) => [r.path, r.shared, r.inputs, r.output]), [
    ['', false, ['float32[2, 3]'], 'float32[2, 2]'],
    ['Dense_0', false, ['float32[2, 3]'], 'float32[2, 4]'],
  ]);
  assert.is(summary.total.count, 3 * 4 + 4 + 8);
});

test('a convolutional network with batch norm: a column and a total per collection', () => {
  const cnn = Sequential([fx.nn.Conv(8, [3, 3]), fx.nn.BatchNorm(), relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }), fx.nn.Flatten(), Dense(10)]);
  const summary = fx.modelSummary(cnn, fx.random.key(0), [2, 28, 28, 1]);
  assert.equal(summary.rows.map((r) => r.type), ['Sequential', 'Conv', 'BatchNorm', 'MaxPool', 'Flatten', 'Dense']);
  // Conv: 3·3·1·8 + 8 = 80; BatchNorm: scale and bias 8 + 8 and batch_stats mean, var 8 + 8;
  // SAME padding keeps 28×28, the 2×2 pool halves it: Dense sees 14·14·8 = 1568 features.
  const dense = 14 * 14 * 8 * 10 + 10;
  assert.equal(summary.collections, [
    { collection: 'params', count: 80 + 16 + dense, bytes: 4 * (80 + 16 + dense) },
    { collection: 'batch_stats', count: 16, bytes: 64 },
  ]);
  assert.is(summary.rows[4]!.output, 'float32[2, 1568]');
  const table = fx.tabulate(cnn, fx.random.key(0), [2, 28, 28, 1]);
  assert.match(table, /│ params\s+│ batch_stats\s+│/);
  assert.match(table, /mean: float32\[8\]/);
  assert.ok(table.includes(`params       ${(80 + 16 + dense).toLocaleString('en-US')} (63.1 KB)`), table);
  assert.ok(table.includes('batch_stats  16 (64 B)'));
  assert.ok(table.includes(`all          ${(80 + 16 + dense + 16).toLocaleString('en-US')} (63.2 KB)`));
});

test('every layer of fx.nn gets a row with its shapes, and the totals match initShapes', () => {
  const text = Sequential([fx.nn.Embed(100, 16), fx.nn.LayerNorm(), fx.nn.SelfAttention({ numHeads: 2 }), fx.nn.Dropout(0.1), fx.nn.RMSNorm(), Dense(8)]);
  const image = Sequential([
    fx.nn.Conv(4, [3, 3]), fx.nn.BatchNorm(), fx.nn.GroupNorm(2), fx.nn.MaxPool([2, 2], { strides: [2, 2] }), fx.nn.AvgPool([2, 2]),
    fx.nn.ConvTranspose(2, [3, 3]), fx.nn.GlobalAvgPool(), Dense(3),
  ]);
  const cases: Array<[fx.Module<any, any, any>, unknown, string[]]> = [
    [text, tf.zeros([2, 5], 'int32'), ['Sequential', 'Embed', 'LayerNorm', 'SelfAttention', 'Dropout', 'RMSNorm', 'Dense']],
    [image, [2, 8, 8, 1], ['Sequential', 'Conv', 'BatchNorm', 'GroupNorm', 'MaxPool', 'AvgPool', 'ConvTranspose', 'GlobalAvgPool', 'Dense']],
  ];
  for (const [model, input, types] of cases) {
    const { result: summary, delta } = tensorDelta(() => fx.modelSummary(model, fx.random.key(0), input));
    assert.is(delta, 0);
    // Children of the attention layer (its query/key/value/out projections, if modules) may add rows.
    assert.equal(summary.rows.filter((r) => r.depth <= 1).map((r) => r.type), types);
    assert.is(summary.total.count, fx.tree.count(model.initShapes(fx.random.key(0), input as number[])));
    for (const row of summary.rows) assert.ok(/^(float32|int32)\[/.test(row.output), `${row.path}: ${row.output}`);
    assert.ok(fx.tabulate(model, fx.random.key(0), input).includes('Total parameters'));
  }
  (cases[0]![1] as tf.Tensor).dispose();
});

test('a model with a billion parameters is tabulated without allocating anything', () => {
  const big = Sequential([Dense(50_000), relu, Dense(20_000)]);
  const before = process.memoryUsage().arrayBuffers;
  const { result: table, delta } = tensorDelta(() => fx.tabulate(big, fx.random.key(0), [1, 10_000]));
  assert.is(delta, 0);
  assert.ok(process.memoryUsage().arrayBuffers - before < 50_000_000);
  // 10,000·50,000 + 50,000 + 50,000·20,000 + 20,000 = 1,500,070,000 scalars, 6.0 GB.
  assert.ok(table.includes('Total parameters: 1,500,070,000 (6.0 GB)'), table);
  assert.ok(table.includes('kernel: float32[10000, 50000]'));
});

test('outputs that are tuples or objects, and non-tensor inputs, are formatted', () => {
  const Split = fx.nn.module('Split', (scope, x: tf.Tensor, scale: number) => {
    const h = scope.call(Dense(4), x);
    return { a: h, pair: [x, h], scale };
  });
  const summary = fx.modelSummary(Split, fx.random.key(0), [2, 3], 0.5);
  assert.equal(summary.rows[0]!.inputs, ['float32[2, 3]', '0.5']);
  assert.is(summary.rows[0]!.output, '{a: float32[2, 4], pair: (float32[2, 3], float32[2, 4]), scale: 0.5}');
});

test('bad arguments are FlaxenErrors', () => {
  assertThrows(() => fx.tabulate({} as any, fx.random.key(0), [1, 2]), fx.FlaxenError, 'needs a module');
  assertThrows(() => fx.tabulate(Dense(2), 3 as any, [1, 2]), fx.FlaxenError, 'rngs');
  assertThrows(() => fx.tabulate(Dense(2, { inFeatures: 3 }), fx.random.key(0), [1, 2]), fx.ShapeError, 'inFeatures 3');
});

test.run();
