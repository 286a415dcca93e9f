// The door to tfjs internals (lib/tfjs-internals.ts): the running tfjs has every member flaxen
// reads or writes, each behaves as flaxen assumes, and the probe names what is missing. When tfjs
// is upgraded, this is the spec that fails first, saying what changed.
import * as tf from '@tensorflow/tfjs-core';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../lib/index.js';
import { backendRegistries, engineState, missingInternals, runKernelFunc, tensorFromDataId, underGradient, wasmBackend } from '../lib/tfjs-internals.js';
import { backend, transient } from './setup.js';

test('the running tfjs is the version the door was checked against (review lib/tfjs-internals.ts on an upgrade)', () => {
  assert.is(tf.version_core, '4.22.0', `tfjs-core is ${tf.version_core}, lib/tfjs-internals.ts was written against 4.22.0: run this spec file, fix what the probe names, then update this version`);
  assert.is(version_wasm, '4.22.0', `tfjs-backend-wasm is ${version_wasm}, lib/tfjs-internals.ts was written against 4.22.0`);
});

test('the probe finds every internal flaxen uses, on the wasm and the cpu backend', async () => {
  const previous = tf.getBackend();
  for (const name of ['wasm', 'cpu'] as const) {
    await fx.ready(name);
    const missing = missingInternals();
    assert.equal(missing, [], `tfjs on ${name} lacks or changed: ${missing.join('; ')}`);
  }
  await fx.ready(previous as 'wasm' | 'cpu');
});

test('the probe names each member that is missing or changed', () => {
  const engine = tf.engine() as unknown as Record<string, unknown>;
  const changed = Object.assign(Object.create(engine), { runKernelFunc: undefined, registry: null, state: { gradientDepth: 0, activeTape: 5 } });
  const missing = missingInternals({ engine: changed, backend: { wasm: {} }, backendName: 'wasm' });
  for (const fragment of ['engine.runKernelFunc', 'engine.registry:', 'engine.state.kernelDepth', 'engine.state.activeTape', 'wasm backend.write', 'wasm backend.move', 'wasm backend.wasm._malloc', 'wasm backend.dataIdMap.get', 'wasm backend.wasm.HEAPU8', 'WebAssembly.Memory']) {
    assert.ok(missing.some((line) => line.includes(fragment)), `the probe should name ${fragment}: ${missing.join('; ')}`);
  }
  assert.not.ok(missing.some((line) => line.includes('makeTensorFromDataId')), 'members that are present are not named');
  assert.equal(missingInternals({ engine: {}, backendName: 'cpu' }).length, 5, 'an empty engine lacks the state, two functions and two registries');
});

test('engineState and underGradient follow the gradient tape', () => {
  const state = engineState()!;
  assert.ok(state, 'the engine state is there');
  assert.is(state.gradientDepth, 0);
  assert.is(underGradient(), false, 'no tape outside a gradient');
  let inside: { depth: number; taped: boolean } | undefined;
  const g = tf.grad((x: tf.Tensor) => {
    inside = { depth: engineState()!.gradientDepth, taped: underGradient() };
    return tf.sum(tf.square(x));
  })(transient(tf.tensor([1, 2])));
  assert.equal(inside, { depth: 1, taped: true });
  assert.equal(Array.from(g.dataSync()), [2, 4]);
  assert.is(underGradient(), false, 'and none afterwards');
  g.dispose();
});

test('runKernelFunc records an op with per-input gradient thunks, called only for the inputs needed', () => {
  const run = runKernelFunc()!;
  assert.type(run, 'function');
  const a = tf.tensor([1, 2, 3]), b = tf.tensor([4, 5, 6]);
  const called: number[] = [];
  const g = tf.grad((x: tf.Tensor) =>
    run({
      forwardFunc: (_backend, save) => {
        save([x, b]);
        return tf.mul(x, b);
      },
      backwardsFunc: (dy, [sx, sb]) => ({
        0: () => (called.push(0), tf.mul(dy, sb!)),
        1: () => (called.push(1), tf.mul(dy, sx!)),
      }),
      inputs: { 0: x, 1: b },
    }),
  )(a);
  assert.equal(Array.from(g.dataSync()), [4, 5, 6]);
  assert.equal(called, [0], 'the thunk of the constant input never runs');
  tf.dispose([a, b, g]);
});

test('the backend registries list the started backends', () => {
  const { registry, registryFactory } = backendRegistries();
  assert.ok(registry[backend] !== undefined, `the running backend ${backend} is in the registry`);
  assert.ok(registryFactory[backend] !== undefined, 'and its factory');
  assert.is(registry['no-such-backend'], undefined);
});

test('on wasm: the backend view allocates memory, tensorFromDataId wraps it, dataIdMap finds it', () => {
  const wasm = wasmBackend();
  assert.is(wasm !== undefined, backend === 'wasm', 'the wasm view exists on wasm only');
  if (!wasm) return;
  const before = tf.memory().numTensors;
  const t = tensorFromDataId(wasm.backend.write(null, [3], 'float32'), [3]);
  const offset = wasm.backend.dataIdMap.get(t.dataId)!.memoryOffset;
  new Float32Array(wasm.memory.buffer, offset, 3).set([1.5, -2, 7]);
  assert.equal(Array.from(t.dataSync()), [1.5, -2, 7], 'the tensor reads the memory written at its offset');
  assert.is(tf.memory().numTensors, before + 1, 'a tracked tensor');
  t.dispose();
  assert.is(tf.memory().numTensors, before);
});

test.run();
