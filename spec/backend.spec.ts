import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { assertThrows } from './setup.js';
import { existsSync, readdirSync } from 'node:fs';

/** The threads of this process (Linux; -1 elsewhere): tfjs's threaded build would add its 8 workers. */
const workerCount = (): number => (existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : -1);

test('ready() sets up wasm with SIMD by default, on one thread (the one-thread build, no workers)', async () => {
  const workersBefore = workerCount();
  assert.is(await fx.ready(), 'wasm');
  assert.is(tf.getBackend(), 'wasm');
  // No threads asked for: no threads field, and nothing of the threaded build started.
  assert.equal(fx.backendInfo(), { name: 'wasm', simd: true, ownKernels: true });
  assert.is(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'), false, 'the one-thread build');
  if (workersBefore >= 0) assert.ok(workerCount() - workersBefore <= 1, `threads before ${workersBefore}, after ${workerCount()}`);
  // The flag tfjs uses to pick the SIMD binary, and the platform really validates SIMD code:
  // a module using v128 (i32x4.splat) only validates on engines with SIMD.
  assert.ok(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'));
  const simdModule = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
  assert.ok(WebAssembly.validate(simdModule));
});

test("ready('cpu') switches to the cpu backend and back", async () => {
  assert.is(await fx.ready('cpu'), 'cpu');
  assert.is(tf.getBackend(), 'cpu');
  assert.is(fx.backendInfo().simd, false);
  assert.is(fx.backendInfo().ownKernels, false, 'the own kernels are WebAssembly: wasm only');
  assert.is(await fx.ready(), 'wasm');
});

test('an unknown backend is a FlaxenError', async () => {
  try {
    await fx.ready('webgl' as 'wasm');
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(e instanceof fx.FlaxenError);
    assert.match((e as Error).message, /'wasm' or 'cpu'/);
  }
  void assertThrows;
});

test.run();
