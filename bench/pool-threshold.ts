/**
 * Where splitting a kernel across threads starts to pay: `node dist/bench/pool-threshold.js [threads]`.
 *
 * On the threaded backend (2 threads unless given), each kernel, at each size, is timed with the
 * split forced on (its threshold 0) and forced off (∞), the two taking turns in rounds so that
 * the load of a shared machine hits both alike; the figure is the median over rounds of each
 * round's time per call. It prints the load average before and after, one line per size, and,
 * per kernel, the smallest size from which the split was faster at every larger size measured:
 * the thresholds in lib/ops/pool/split.ts (`splitThresholds`) are set from these lines.
 *
 * @module
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { ownKernels } from '../lib/ops/gemm.js';
import { fusedAdamLeaf } from '../lib/ops/fused-adam.js';
import { splitThresholds } from '../lib/ops/pool/split.js';

type Threshold = keyof typeof splitThresholds;

const ROUNDS = 25;
const threads = Number(process.argv[2] ?? 2);
await fx.ready('wasm', { threads });
if ((fx.backendInfo().threads ?? 1) < 2) throw new Error('no threads here');
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`threads ${threads}, cores ${os.availableParallelism()}, load average before: ${load()}`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** Time per call in µs of `f`, repeated for about 2 ms. */
function perCall(f: () => void): number {
  f();
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) f();
    const ms = performance.now() - t;
    if (ms > 2) return (ms * 1000) / reps;
    reps *= 2;
  }
}
function compare(which: Threshold, f: () => void): Timing {
  const single: number[] = [];
  const split: number[] = [];
  const saved = splitThresholds[which];
  for (let r = 0; r < ROUNDS; r++) {
    splitThresholds[which] = Infinity;
    single.push(perCall(f));
    splitThresholds[which] = 0;
    split.push(perCall(f));
  }
  splitThresholds[which] = saved;
  return { single: median(single), split: median(split), bestSingle: Math.min(...single), bestSplit: Math.min(...split) };
}
/** Medians over rounds, and the best round (the one least disturbed by other work), in µs per call. */
interface Timing {
  single: number;
  split: number;
  bestSingle: number;
  bestSplit: number;
}
function report(kind: string, sizes: Array<{ size: number } & Timing>): void {
  let from: number | undefined;
  for (let i = sizes.length - 1; i >= 0 && sizes[i]!.split < sizes[i]!.single; i--) from = sizes[i]!.size;
  for (const s of sizes) console.log(`${kind} ${String(s.size).padStart(9)}: 1 thread ${s.single.toFixed(1).padStart(8)} µs, split ${s.split.toFixed(1).padStart(8)} µs, ratio ${(s.split / s.single).toFixed(2)}; best ${s.bestSingle.toFixed(1)} vs ${s.bestSplit.toFixed(1)}, ratio ${(s.bestSplit / s.bestSingle).toFixed(2)}`);
  console.log(`${kind}: splitting paid from ${from ?? 'no size measured'} on (load ${load()})`);
}

const own = () => ownKernels()!;
const at = (t: tf.Tensor) => own().heap.offsetOf(t)!;

const gemmShapes: Array<[number, number, number]> = [[32, 32, 64], [32, 64, 64], [64, 64, 64], [64, 128, 64], [64, 256, 64], [64, 256, 256], [256, 256, 256], [64, 784, 256], [256, 784, 256]];
report('gemm (multiply-adds)', gemmShapes.map(([m, k, n]) => {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const { heap, kernels } = own();
  const packed = heap.alloc([Math.ceil(n / 8) * (8 + 8 * k)]);
  const c = heap.alloc([m, n]);
  kernels.pack_n(at(b), k, n, 0, at(packed));
  const r = compare('gemmMacs', () => own().kernels.gemm(at(a), k, 1, at(packed), at(c), m, n, k, 0, 64, k));
  tf.dispose([a, b, packed, c]);
  return { size: m * k * n, ...r };
}));

const packShapes: Array<[number, number]> = [[64, 64], [128, 128], [256, 256], [784, 256], [3136, 64], [50176, 6]];
report('pack_n (floats)', packShapes.map(([k, n]) => {
  const b = tf.randomNormal([k, n]);
  const packed = own().heap.alloc([Math.ceil(n / 8) * (8 + 8 * k)]);
  const r = compare('packFloats', () => own().kernels.pack_n(at(b), k, n, 0, at(packed)));
  tf.dispose([b, packed]);
  return { size: k * n, ...r };
}));

// im2col of a 5×5 convolution of 28×28×1 images (LeNet's first layer), by batch size.
report('im2col (floats)', [1, 2, 4, 8, 16, 32].map((n) => {
  const x = tf.randomNormal([n, 28, 28, 1]);
  const { heap } = own();
  const cols = heap.alloc([n * 24 * 24, 25]);
  const scratch = heap.alloc([n * 28 * 28]);
  const r = compare('copyFloats', () => own().kernels.im2col(at(x), at(cols), n, 28, 28, 1, 24, 24, 5, 5, 1, 1, 1, 1, 0, 0, at(scratch)));
  tf.dispose([x, cols, scratch]);
  return { size: n * 24 * 24 * 25, ...r };
}));

// The relu gradient: the cheapest kernel per float of the copying kind.
report('relu_grad (floats)', [4096, 16384, 65536, 262144, 1048576].map((size) => {
  const y = tf.randomNormal([size]);
  const dy = tf.randomNormal([size]);
  const dz = own().heap.alloc([size]);
  const r = compare('copyFloats', () => own().kernels.relu_grad(at(y), at(dy), at(dz), size));
  tf.dispose([y, dy, dz]);
  return { size, ...r };
}));

report('adam (elements)', [4096, 16384, 65536, 200704, 1048576].map((size) => {
  const g = tf.randomNormal([size]);
  const m = tf.randomNormal([size]);
  const v = tf.abs(tf.randomNormal([size]));
  const c = [0.9, 0.1, 0.999, 0.001, -1e-3, 1e-8, 0];
  const r = compare('adamFloats', () => tf.dispose(fusedAdamLeaf(g, m, v, undefined, c)!));
  tf.dispose([g, m, v]);
  return { size, ...r };
}));
console.log(`load average after: ${load()}`);
