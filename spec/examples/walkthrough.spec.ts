// The walkthrough of `npm start` (without its training part) prints what the seed text shows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import '../setup.js';
import { trainingModel, walkthrough } from '../../examples/walkthrough.js';
import { mlp } from '../../examples/mnist-mlp.js';

test('the walkthrough reproduces the seed step by step and leaks nothing', async () => {
  const lines: string[] = [];
  const log = console.log;
  const before = tf.memory().numTensors;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  try {
    await walkthrough();
  } finally {
    console.log = log;
  }
  const out = lines.join('\n');
  assert.ok(out.includes('(layers_0): Dense(-1 -> 256)'), 'sizes unknown before init');
  assert.ok(out.includes('{params: {layers_0: {bias: [256], kernel: [20, 256]}, layers_2: {bias: [10], kernel: [256, 10]}}}'), 'the Flax tree of the seed');
  assert.ok(out.includes('(layers_2): Dense(256 -> 10)'), 'sizes known after init');
  assert.ok(out.includes('bit for bit: true'));
  assert.match(out, /ShapeError: layers_0: .*20.*30/);
  assert.match(out, /proj_30: \{bias: \[256\], kernel: \[30, 256\]\}/);
  assert.is(tf.memory().numTensors, before);
  // Each printed tree follows the code that made it.
  assert.match(out, /> fx\.tree\.format\(variables\)\n\{params: \{layers_0: \{bias: \[256\], kernel: \[20, 256\]\}/);
  assert.not.match(out, 'tree.map');
  assert.match(out, /> const TwoInputs = fx\.nn\.module\('TwoInputs'[^]*> fx\.tree\.format\(shared\)\n\{params: \{proj_20/);
  assert.match(out, /> const f = TwoInputs\.bind\(shared\);\n[^]*bind\(variables\) gives a plain function/);
});

test('section 4 announces the layer sizes of the model it trains (the name its training log prints)', () => {
  assert.is(trainingModel(), 'An MLP (784-512-512-10)');
  assert.is(mlp.name, 'MLP 784-512-512-10');
});

test.run();
