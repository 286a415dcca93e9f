// The child process of spec/ops/pool.spec.ts: on the wasm backend with the thread count given
// (1: the one-thread build; 2 or 3: the threaded build, flaxen's kernels split across a pool of
// workers), it computes products, a convolutional network's gradients and a few training steps
// from fixed data, and prints one JSON line: the sha256 of each result's bytes, how many calls
// of each kernel the pool split, and a product of small integers checked against a JS loop.
// Usage: node pool-child.js <threads>. No process.exit: the workers must not keep it alive.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { currentKernelPool, gemm } from '../../lib/ops/gemm.js';
import { normalArray } from '../../lib/random/samplers.js';

const threads = Number(process.argv[2] ?? 1);
await fx.ready('wasm', { threads });

const randn = (seed: number, shape: number[]): tf.Tensor => tf.tensor(normalArray(fx.random.key(seed), shape.reduce((a, b) => a * b, 1)), shape);
const hashOf = (tree: unknown): string => {
  const h = createHash('sha256');
  for (const [path, t] of fx.tree.flatten(tree)) h.update(path).update(new Uint8Array((t as tf.Tensor).dataSync().buffer));
  return h.digest('hex');
};
const hashes: Record<string, string> = {};

// Products in every layout, with bias and relu, sized so that the pool splits them (rows not a
// multiple of 4 or of the thread count, a sum long enough to be chunked).
const products: Array<[number, number, number]> = [[301, 256, 200], [64, 784, 256], [130, 6000, 40]];
tf.tidy(() => {
  for (const [m, k, n] of products) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true]] as const) {
      const a = randn(m + k, ta ? [k, m] : [m, k]);
      const b = randn(n + k + 1, tb ? [n, k] : [k, n]);
      const bias = randn(n, [n]);
      const c = gemm(a, b, { transposeA: ta, transposeB: tb, bias, relu: !ta });
      if (!c) throw new Error(`the own product declined ${m}x${k}x${n}`);
      hashes[`gemm ${m}x${k}x${n} ta=${ta} tb=${tb}`] = hashOf({ c });
    }
  }
});

// Small integers: every partial sum is exact in float32, so the product equals a JS loop exactly.
const [M, K, N] = [97, 160, 72];
const av = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) - 6);
const bv = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) - 5);
const exact = tf.tidy(() => gemm(tf.tensor2d(av, [M, K]), tf.tensor2d(bv, [K, N]))!.dataSync());
let exactMismatches = 0;
for (let i = 0; i < M; i++) {
  for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += av[i * K + k]! * bv[k * N + j]!;
    if (exact[i * N + j] !== s) exactMismatches++;
  }
}

// LeNet-5: the gradients of one batch (im2col, col2im, the max-pool and relu gradients, products),
// then Adam steps.
const lenet = fx.nn.Sequential([
  fx.nn.Conv(6, [5, 5], { padding: 'SAME' }), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
  fx.nn.Conv(16, [5, 5], { padding: 'VALID' }), fx.nn.relu, fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
  fx.nn.Flatten(), fx.nn.Dense(120), fx.nn.relu, fx.nn.Dense(84), fx.nn.relu, fx.nn.Dense(10),
]);
const batch = 32;
const x = randn(21, [batch, 28, 28, 1]);
const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 3) % 10), 'int32');
const lossFn = (p: fx.tree.Tree, b: { x: tf.Tensor; y: tf.Tensor }, s: { apply: (v: { params: fx.tree.Tree }, x: tf.Tensor) => unknown }) =>
  tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply({ params: p }, b.x) as tf.Tensor, b.y));
let state = fx.train.TrainState.create({ apply: lenet, params: lenet.init(fx.random.key(22), [batch, 28, 28, 1]).params, tx: fx.optim.adam(1e-3) });
const grads = fx.grad((p: fx.tree.Tree) => lossFn(p, { x, y }, state))(state.params);
hashes['lenet gradients'] = hashOf(grads);
fx.tree.leaves(grads).forEach((t) => (t as tf.Tensor).dispose());
const losses: number[] = [];
for (let step = 0; step < 3; step++) {
  const r = fx.train.trainStep(state, lossFn, { x, y });
  state = r.state;
  losses.push(r.loss);
}
hashes['lenet trained'] = hashOf(state.params);

// An MLP at batch 256: Adam steps and inference.
const mlp = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
const mx = randn(31, [256, 784]);
const my = tf.tensor1d(Array.from({ length: 256 }, (_, i) => (i * 7) % 10), 'int32');
let mstate = fx.train.TrainState.create({ apply: mlp, params: mlp.init(fx.random.key(32), [256, 784]).params, tx: fx.optim.adam(1e-3) });
for (let step = 0; step < 3; step++) {
  const r = fx.train.trainStep(mstate, lossFn, { x: mx, y: my });
  mstate = r.state;
  losses.push(r.loss);
}
hashes['mlp trained'] = hashOf(mstate.params);
const out = mlp.apply({ params: mstate.params }, mx) as tf.Tensor;
hashes['mlp inference'] = hashOf({ out });
out.dispose();
tf.dispose([x, y, mx, my]);

process.stdout.write(
  JSON.stringify({
    threads: fx.backendInfo().threads ?? 1,
    poolThreads: currentKernelPool()?.threads ?? 1,
    splitCalls: currentKernelPool()?.splitCalls ?? {},
    workerParts: currentKernelPool()?.workerParts ?? 0,
    hashes,
    losses,
    exactMismatches,
  }) + '\n',
);
