/**
 * Measurements that need only tfjs-core (used by both workers): the plain matMul peak.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMulFlops, timeEach } from './protocol.js';

/**
 * The plain (untransposed) `tf.matMul` speed in GFLOPS on square matrices, the best of the
 * per-size medians, by wall and by CPU time (the right operand is the same tensor each call, so XNNPACK's packed
 * weights are reused, as in the best case).
 */
export function matMulPeak(): Record<string, number> {
  const out: Record<string, number> = {};
  let best = 0;
  let bestCpu = 0;
  for (const [size, n] of [[256, 20], [512, 8], [1024, 3]] as const) {
    const a = tf.randomUniform([size, size]);
    const b = tf.randomUniform([size, size]);
    const { ms, cpuMs } = timeEach(() => tf.matMul(a, b).dispose(), n, 2);
    out[`gflops${size}`] = matMulFlops(size, size, size) / ms / 1e6;
    out[`cpuGflops${size}`] = matMulFlops(size, size, size) / cpuMs / 1e6;
    best = Math.max(best, out[`gflops${size}`]!);
    bestCpu = Math.max(bestCpu, out[`cpuGflops${size}`]!);
    tf.dispose([a, b]);
  }
  out['peak'] = best;
  out['cpuPeak'] = bestCpu;
  return out;
}
