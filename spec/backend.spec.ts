import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { assertThrows } from './setup.js';
import os from 'node:os';

test('ready() sets up wasm with SIMD by default, on as many threads as there are cores', async () => {
  assert.is(await fx.ready(), 'wasm');
  assert.is(tf.getBackend(), 'wasm');
  const cores = Math.min(8, os.availableParallelism());
  // One core: no threads (and no threads field); more: flaxen's kernels on one thread per core.
  assert.equal(fx.backendInfo(), cores > 1 ? { name: 'wasm', simd: true, ownKernels: true, threads: cores } : { name: 'wasm', simd: true, ownKernels: true });
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
