/**
 * Where splitting a kernel across threads starts to pay: `node dist/bench/pool-threshold.js`.
 *
 * On the threaded backend (2 threads), each kernel size is timed with the split forced on
 * (thresholds 0) and forced off (thresholds ∞), the two taking turns in rounds so that the load
 * of a shared machine hits both alike; the figure is the median over rounds of each round's
 * time per call. It prints the load average before and after, one line per size, and the
 * smallest size from which the split was faster at every larger size. The thresholds in
 * lib/ops/pool/split.ts come from this (figures in docs/performance.md).
 *
 * @module
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { ownKernels } from '../lib/ops/gemm.js';
import { splitThresholds } from '../lib/ops/pool/split.js';

const ROUNDS = 15;
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
function compare(f: () => void): { single: number; split: number } {
  const single: number[] = [];
  const split: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    splitThresholds.gemmMacs = Infinity;
    splitThresholds.copyFloats = Infinity;
    single.push(perCall(f));
    splitThresholds.gemmMacs = 0;
    splitThresholds.copyFloats = 0;
    split.push(perCall(f));
  }
  return { single: median(single), split: median(split) };
}
function report(kind: string, sizes: Array<{ size: number; single: number; split: number }>): void {
  let from: number | undefined;
  for (let i = sizes.length - 1; i >= 0 && sizes[i]!.split < sizes[i]!.single; i--) from = sizes[i]!.size;
  for (const s of sizes) console.log(`${kind} ${String(s.size).padStart(9)}: 1 thread ${s.single.toFixed(1).padStart(8)} µs, split ${s.split.toFixed(1).padStart(8)} µs, ratio ${(s.split / s.single).toFixed(2)}`);
  console.log(`${kind}: splitting paid from ${from ?? 'no size measured'} on`);
}

const own = () => ownKernels()!;
const gemmShapes: Array<[number, number, number]> = [[16, 32, 32], [32, 32, 64], [32, 64, 64], [64, 64, 64], [64, 128, 64], [64, 256, 64], [64, 256, 256], [64, 784, 256]];
const gemmSizes = gemmShapes.map(([m, k, n]) => {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const { heap, kernels } = own();
  const packed = heap.alloc([Math.ceil(n / 8) * (8 + 8 * k)]);
  const c = heap.alloc([m, n]);
  kernels.pack_n(heap.offsetOf(b)!, k, n, 0, heap.offsetOf(packed)!);
  const r = compare(() => own().kernels.gemm(heap.offsetOf(a)!, k, 1, heap.offsetOf(packed)!, heap.offsetOf(c)!, m, n, k, 0, 64, k));
  tf.dispose([a, b, packed, c]);
  return { size: m * k * n, ...r };
});
report('gemm (multiply-adds)', gemmSizes);

// im2col of a 5×5 convolution of 28×28×1 images (LeNet's first layer), by batch size.
const copySizes = [1, 2, 4, 8, 16, 32].map((n) => {
  const x = tf.randomNormal([n, 28, 28, 1]);
  const { heap } = own();
  const cols = heap.alloc([n * 24 * 24, 25]);
  const scratch = heap.alloc([n * 28 * 28]);
  const r = compare(() => own().kernels.im2col(heap.offsetOf(x)!, heap.offsetOf(cols)!, n, 28, 28, 1, 24, 24, 5, 5, 1, 1, 1, 1, 0, 0, heap.offsetOf(scratch)!));
  tf.dispose([x, cols, scratch]);
  return { size: n * 24 * 24 * 25, ...r };
});
report('im2col (floats)', copySizes);
console.log(`load average after: ${load()}`);
