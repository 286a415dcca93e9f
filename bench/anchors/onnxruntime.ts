/**
 * The ONNX Runtime columns of the anchors table: flaxen's MLP 784-256-10 exported with
 * `fx.interop.toOnnx`, then inference at batch 256 in ONNX Runtime, timed as every anchor is
 * (bench/anchors/timing.ts). Inference only: ONNX Runtime does not train.
 *
 * Usage: node dist/bench/anchors/onnxruntime.js web|node [threads]; prints one JSON line, or
 * `{"skipped": ...}` when that runtime is not installed.
 * - `web`: onnxruntime-web (a devDependency, for the interop specs), its wasm backend, 1 thread
 *   (its threads need Web Workers, which Node lacks).
 * - `node`: onnxruntime-node, the native CPU provider at `threads` intra-op threads. Not a
 *   dependency (about 290 MB): `ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save
 *   onnxruntime-node` brings it for a run (the skip stops its install script fetching GPU
 *   libraries; the CPU library ships in the package).
 *
 * Before timing, the runtime's output is checked against flaxen's own (within 1e-4), so the
 * figure is for the same model.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-web';
import * as fx from '../../lib/index.js';
import { record, timedAsync } from './timing.js';

const which = process.argv[2] === 'node' ? 'node' : 'web';
const threads = which === 'web' ? 1 : Number(process.argv[3] ?? 1);
const pkg = `onnxruntime-${which}`;

let ort: typeof Ort;
try {
  // Both packages expose onnxruntime-common's API; the name is a variable so that the build
  // does not need onnxruntime-node's types.
  ort = (await import(pkg)) as typeof Ort;
} catch (e) {
  const how = which === 'node' ? 'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node' : 'npm ci';
  console.log(JSON.stringify({ skipped: `${pkg} is not installed (${how}): ${(e as Error).message.split('\n')[0]}` }));
  process.exit(0);
}
if (which === 'web') ort.env.wasm.numThreads = 1;

await fx.ready('wasm', { threads: 1 });
const BATCH = 256;
const model = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
const variables = model.init(fx.random.key(0), [BATCH, 784]);
const bytes = fx.interop.toOnnx(model, variables, [BATCH, 784]);
const x = fx.random.normal(fx.random.key(2), [BATCH, 784]);
const expected = tf.tidy(() => (model.apply(variables, x) as tf.Tensor).dataSync());

const options = which === 'node' ? { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 } : { executionProviders: ['wasm'] };
const session = await ort.InferenceSession.create(bytes, options);
const feeds = { input: new ort.Tensor('float32', x.dataSync() as Float32Array, [BATCH, 784]) };
const got = (await session.run(feeds))['output']!.data as Float32Array;
const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
if (got.length !== expected.length || !(worst <= 1e-4)) throw new Error(`${pkg}: the exported MLP disagrees with flaxen (largest difference ${worst})`);

const version = (ort.env as { versions?: { common?: string } }).versions?.common ?? '';
const out: Record<string, number | string> = { engine: `ONNX Runtime ${which === 'web' ? 'Web (wasm)' : 'Node (CPU)'} ${version}`.trim(), threads };
const infer = async (): Promise<void> => {
  const result = await session.run(feeds);
  result['output']!.data;
};
record(out, 'mlpInfer256', await timedAsync(infer, 10));
await session.release();
console.log(JSON.stringify(out));
