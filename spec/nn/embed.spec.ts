import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, collectLeaks, tensorDelta } from '../setup.js';
import { checkGradients, numbers, stats, t32 } from './layer-helpers.js';

// Every test leaves tf.memory() as it found it (the last test checks).
const leaks = collectLeaks(test);

const k0 = fx.random.key(0);
const ids = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0]!.length], 'int32');

test('Embed: embedding [numEmbeddings, features], Flax default init: normal with std 1/sqrt(features)', () => {
  const embed = fx.nn.Embed(2000, 64);
  const vars = embed.init(k0, [1, 2]);
  assert.equal(vars.params.embedding.shape, [2000, 64]);
  const { mean, std } = stats(vars.params.embedding);
  assert.ok(Math.abs(mean) < 0.005, `mean ${mean}`);
  assert.ok(Math.abs(std - 1 / 8) < 0.125 * 0.02, `std ${std}`);
  // a normal, not a truncated one: values beyond 2 std exist (≈ 4.6% of 128k)
  const beyond = vars.params.embedding.dataSync().filter((v) => Math.abs(v) > 2 / 8).length / 128000;
  assert.ok(beyond > 0.04 && beyond < 0.052, `fraction beyond 2 std: ${beyond}`);
  fx.tree.dispose(vars);
});

test('Embed looks rows up: output [...ids.shape, features]; init also accepts a shape', () => {
  const embed = fx.nn.Embed(5, 3);
  const vars = embed.init(k0, [2, 4]);
  const table = Array.from(vars.params.embedding.dataSync());
  const input = [[4, 0, 2], [1, 1, 3]];
  const x = ids(input);
  const y = embed.apply(vars, x);
  assert.equal(y.shape, [2, 3, 3]);
  assertClose(y.dataSync(), input.flat().flatMap((i) => table.slice(i * 3, i * 3 + 3)));
  fx.tree.dispose([vars, x, y]);
});

test('Embed gradient sums the output gradients of repeated ids into their rows (works on wasm)', () => {
  const embed = fx.nn.Embed(4, 2);
  const input = ids([[1, 3, 1]]);
  checkGradients(
    (table) => embed.apply({ params: { embedding: table! } }, input),
    (table) => Float64Array.from([1, 3, 1].flatMap((i) => [table![i * 2]!, table![i * 2 + 1]!])),
    [{ values: numbers(1, 8), shape: [4, 2] }],
  );
  input.dispose();
});

test('Embed.attend shares the table for weight tying: logits = query · embeddingᵀ, one parameter', () => {
  const embed = fx.nn.Embed(6, 4, { name: 'embed' });
  const LM = fx.nn.module('LM', (scope, tokens: tf.Tensor) => scope.call(embed.attend, scope.call(embed, tokens)));
  const vars = LM.init(k0, [1, 3]);
  assert.equal(fx.tree.map(vars, (t: tf.Tensor) => t.shape), { params: { embed: { embedding: [6, 4] } } });
  const E: number[] = Array.from((vars.params.embed as { embedding: tf.Tensor }).embedding.dataSync());
  const tokens = ids([[2, 5]]);
  const logits = LM.apply(vars, tokens);
  assert.equal(logits.shape, [1, 2, 6]);
  const expected = [2, 5].flatMap((t) => [0, 1, 2, 3, 4, 5].map((v) => [0, 1, 2, 3].reduce((s, f) => s + E[t * 4 + f]! * E[v * 4 + f]!, 0)));
  assertClose(logits.dataSync(), expected, 1e-5, 1e-4);
  // attend's gradient with respect to the table and the query, vs finite differences
  const q = numbers(2, 8);
  checkGradients(
    (table, query) => embed.attend.apply({ params: { embedding: table! } }, query!),
    (table, query) => Float64Array.from([0, 1].flatMap((r) => [0, 1, 2, 3, 4, 5].map((v) => [0, 1, 2, 3].reduce((s: number, f) => s + query![r * 4 + f]! * table![v * 4 + f]!, 0)))),
    [{ values: numbers(3, 24), shape: [6, 4] }, { values: q, shape: [2, 4] }],
  );
  fx.tree.dispose([vars, tokens, logits]);
});

test('Embed errors: out-of-range ids, float ids, a query of the wrong size', () => {
  const net = fx.nn.Sequential([fx.nn.Embed(5, 2)]);
  const vars = net.init(k0, [1, 2]);
  const [tooLarge, negative, floats] = [ids([[1, 5]]), ids([[-1, 0]]), tf.tensor2d([[1, 2]])];
  assertThrows(() => net.apply(vars, tooLarge), fx.FlaxenError, 'layers_0', '[0, 5)', 'found 5');
  assertThrows(() => net.apply(vars, negative), fx.FlaxenError, 'layers_0', 'found -1');
  assertThrows(() => net.apply(vars, floats), fx.FlaxenError, 'layers_0', 'int32', 'float32');
  fx.tree.dispose([tooLarge, negative, floats]);
  assertThrows(() => fx.nn.Embed(5, 2).attend.init(k0, [2, 3]), fx.ShapeError, 'Embed.attend', '2 features');
  assertThrows(() => fx.nn.Embed(0, 2), fx.FlaxenError, 'numEmbeddings');
  assertThrows(() => fx.nn.Embed(3, 2, { init: 1 } as fx.nn.EmbedOptions), fx.FlaxenError, "'init'");
  fx.tree.dispose(vars);
});

test('Embed: initShapes allocates nothing; apply leaves one tensor; works in Sequential; describe', () => {
  const net = fx.nn.Sequential([fx.nn.Embed(10, 4), fx.nn.Dense(3)]);
  assert.is(net.describe(), 'Sequential(\n  (layers_0): Embed(10 -> 4)\n  (layers_1): Dense(-1 -> 3)\n)');
  const { result: shapes, delta } = tensorDelta(() => net.initShapes(k0, [2, 7]));
  assert.is(delta, 0);
  assert.equal(shapes.params.layers_1.kernel.shape, [4, 3]);
  const vars = net.init(k0, [2, 7]);
  const x = ids([[1, 2, 3]]);
  const { result: y, delta: d } = tensorDelta(() => net.apply(vars, x));
  assert.is(d, 1);
  assert.equal(y.shape, [1, 3, 3]);
  fx.tree.dispose([vars, x, y]);
  void t32;
});

test('no test above leaves a tensor behind', () => {
  assert.equal(leaks, []);
});

test.run();
