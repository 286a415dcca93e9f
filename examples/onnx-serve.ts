/**
 * Train in flaxen, serve with ONNX Runtime.
 *
 * A small CNN learns a toy task for a few steps; `fx.interop.toOnnx` writes it as an ONNX model
 * with a free batch size; ONNX Runtime (here `onnxruntime-web`, whose wasm backend runs in Node
 * and in browsers; `onnxruntime-node` and Python's `onnxruntime` read the same file) runs it and
 * gives flaxen's outputs.
 *
 *     npm run build && node dist/examples/onnx-serve.js
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-web';
import * as fx from '../lib/index.js';

/** What {@link trainAndServe} reports. */
export interface ServeResult {
  /** The ONNX model's bytes. */
  readonly onnx: Uint8Array;
  /** The loss of the first and last training steps. */
  readonly losses: readonly [number, number];
  /** The largest difference between ONNX Runtime's outputs and flaxen's, at batch sizes 1 and 5. */
  readonly maxDifference: number;
}

/**
 * Trains a small CNN for `steps` steps on 8×8 images (is the bright square in the left half?),
 * exports it, and runs the file in ONNX Runtime.
 *
 * @example
 * ```ts no-run
 * const { maxDifference } = await trainAndServe(20);   // below 1e-5
 * ```
 */
export async function trainAndServe(steps = 20): Promise<ServeResult> {
  const net = fx.nn.Sequential([
    fx.nn.Conv(8, [3, 3]),
    fx.nn.BatchNorm(),
    fx.nn.relu,
    fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
    fx.nn.Flatten(),
    fx.nn.Dense(2),
  ]);
  const variables = net.init(fx.random.key(0), [1, 8, 8, 1]);
  let batchStats = variables.batch_stats;
  let state = fx.train.TrainState.create({ apply: net, params: variables.params, tx: fx.optim.adam(1e-2) });

  const images = fx.random.normal(fx.random.key(1), [64, 8, 8, 1]);
  const labels = tf.tidy(() => tf.cast(tf.greater(tf.sum(tf.slice(images, [0, 0, 0, 0], [-1, -1, 4, -1]), [1, 2, 3]), 0), 'int32'));
  const batch = { images, labels };
  const lossFn = (params: typeof state.params, b: typeof batch, s: typeof state) => {
    const [logits, updated] = s.apply({ params, batch_stats: batchStats }, b.images, { train: true, mutable: ['batch_stats'] });
    return [tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(logits, b.labels)), updated.batch_stats] as const;
  };
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const result = fx.train.trainStep(state, lossFn, batch, { hasAux: true });
    losses.push(result.loss);
    fx.tree.dispose(batchStats);
    batchStats = result.aux;
    state = result.state;
  }
  const trained = { params: state.params, batch_stats: batchStats };

  // Inference-mode apply (BatchNorm on its running averages) as ONNX, NHWC in and out.
  const onnx = fx.interop.toOnnx(net, trained, [1, 8, 8, 1]);
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(onnx);
  let maxDifference = 0;
  for (const size of [1, 5]) {
    const x = fx.random.normal(fx.random.key(10 + size), [size, 8, 8, 1]);
    const { output } = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
    const expected = net.apply(trained, x);
    const want = expected.dataSync();
    (output!.data as Float32Array).forEach((v, i) => (maxDifference = Math.max(maxDifference, Math.abs(v - want[i]!))));
    tf.dispose([x, expected]);
  }
  await session.release();
  state.dispose();
  fx.tree.dispose(batchStats);
  tf.dispose([images, labels]);
  return { onnx, losses: [losses[0]!, losses[losses.length - 1]!], maxDifference };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await fx.ready();
  const { onnx, losses, maxDifference } = await trainAndServe();
  console.log(`training loss ${losses[0].toFixed(4)} -> ${losses[1].toFixed(4)}`);
  console.log(`ONNX model: ${onnx.length} bytes; ONNX Runtime vs flaxen, largest difference ${maxDifference.toExponential(2)}`);
}
