// Checks that run in child processes: a program that forgot `await fx.ready()`, and models too
// large for the backend (refused before any allocation; the child runs under a memory limit
// and a timeout, so a regression cannot take the machine down).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { assertThrows } from './setup.js';

const index = fileURLToPath(new URL('../lib/index.js', import.meta.url));

/** Runs an ES module program in a child process limited to `memoryKb` of address space. */
function runChild(body: string, memoryKb?: number): { status: number | null; stdout: string; stderr: string } {
  const script = `import * as tf from '@tensorflow/tfjs-core';\nimport * as fx from ${JSON.stringify(index)};\n${body}`;
  const node = JSON.stringify(process.execPath);
  const command = memoryKb === undefined ? `exec ${node} --input-type=module` : `ulimit -v ${memoryKb}; exec ${node} --input-type=module`;
  const run = spawnSync('bash', ['-c', command], { input: script, encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('forgetting await fx.ready() is a BackendNotReadyError that says what to call', () => {
  const run = runChild(`
    const report = (f) => { try { f(); console.log('no error'); } catch (e) { console.log(e.constructor.name + ' | ' + e.message); } };
    report(() => fx.nn.Dense(2).init(fx.random.key(0), [1, 3]));
    fx.ready();                       // not awaited: the backend is still loading
    report(() => fx.nn.Dense(2).init(fx.random.key(0), [1, 3]));
  `);
  assert.is(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.is(lines.length, 2, run.stdout);
  assert.ok(lines[0]!.startsWith('BackendNotReadyError | init: no tfjs backend is set up; call `await fx.ready()`'), lines[0]);
  assert.ok(lines[1]!.startsWith('BackendNotReadyError | init: the backend is still starting; `await fx.ready()`'), lines[1]);
  for (const line of lines) assert.not.ok(line.includes('registry'), line);
});

test('a backend set up through tfjs directly is accepted without fx.ready', () => {
  const run = runChild(`
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const v = fx.nn.Dense(2).init(fx.random.key(0), [1, 3]);
    console.log(v.params.kernel.shape.join(','));
  `);
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim(), '3,2');
});

test('on cpu, Dense(4).init on [1, 1e9] (a 16 GB kernel) is an OutOfMemoryError before any allocation', () => {
  // 3 GB of address space: the 16 GB fill this replaces would fail on its first allocation.
  const run = runChild(
    `
    await fx.ready('cpu');
    const before = tf.memory().numTensors;
    try { fx.nn.Dense(4).init(fx.random.key(0), [1, 1e9]); console.log('no error'); }
    catch (e) { console.log(e.constructor.name + ' | ' + e.message + ' | ' + (tf.memory().numTensors - before)); }
  `,
    3_000_000,
  );
  assert.is(run.status, 0, run.stderr);
  const line = run.stdout.trim();
  assert.ok(line.startsWith('OutOfMemoryError | init: the 2 variables'), line);
  assert.ok(line.includes("'params/kernel' float32[1000000000, 4], takes 16 GB"), line);
  assert.ok(line.includes('nothing was allocated'), line);
  assert.ok(line.endsWith('| 0'), line);
});

test('on the current backend, variables beyond its limit are refused before anything is drawn', () => {
  const before = tf.memory().numTensors;
  // 2 × 1.5e9 floats: 12 GB, over the wasm heap's 4.29 GB and over half of any test machine.
  const net = fx.nn.Sequential([fx.nn.Dense(30_000), fx.nn.Dense(50_000)]);
  assertThrows(() => net.init(fx.random.key(0), [1, 50_000]), fx.OutOfMemoryError, 'init: the 4 variables', 'needed, but only', 'nothing was allocated');
  assert.is(tf.memory().numTensors, before);
  // initShapes still describes it: it allocates nothing.
  assert.ok(fx.tree.count(net.initShapes(fx.random.key(0), [1, 50_000])) > 3e9);
});

test('a custom body doing tfjs math on a huge input is refused before its zero stand-ins', () => {
  const Scale = fx.nn.module('Scale', (scope, x: tf.Tensor) => tf.mul(x, scope.param('s', fx.initializers.ones, [1])));
  const before = tf.memory().numTensors;
  assertThrows(() => Scale.init(fx.random.key(0), [4e9]), fx.OutOfMemoryError, 'a zero stand-in for input 0 float32[4000000000]');
  assert.is(tf.memory().numTensors, before);
});

test('an initializer that returns int32 is refused at init, naming the parameter', () => {
  const intInit: fx.Initializer = (_key, shape) => tf.zeros(shape, 'int32');
  const before = tf.memory().numTensors;
  assertThrows(() => fx.nn.Dense(2, { kernelInit: intInit }).init(fx.random.key(0), [1, 3]), fx.FlaxenError, "the initializer of 'params/kernel' returned an int32 tensor, expected float32");
  assert.is(tf.memory().numTensors, before);
});

test.run();
