/**
 * How each of flaxen's own kernels (lib/ops/gemm.c, and the fused Adam step) is split across a
 * {@link KernelPool}: every part computes a range of the OUTPUT of its own (rows of a product,
 * rows of every panel of a packed operand, images of an im2col, a col2im or a max-pool gradient,
 * elements of a relu gradient or of an Adam step) with exactly the operations, in the order,
 * that the one-thread call performs for those outputs. No part ever adds into another's output,
 * so the results are bit-identical for any number of threads.
 *
 * A split call has a few more parts than threads ({@link PARTS_PER_THREAD}): the calling thread
 * and the workers take parts from a queue, so a worker that wakes late (another process holds
 * its core) takes fewer. Work below a measured size stays on the calling thread
 * ({@link splitThresholds}).
 *
 * @module
 */
import type { KernelPool } from './pool.js';

type Kernel = (...args: number[]) => unknown;

/**
 * @internal
 * Where splitting starts, per kind of kernel: below these sizes a call runs on the calling
 * thread (waking a worker and handing it a part costs more than the part saves).
 * `gemmMacs`: multiply-adds of a product; `packFloats`: floats packed by pack_n/pack_t;
 * `copyFloats`: floats written by im2col, col2im, the max-pool and relu gradients;
 * `adamFloats`: elements of a fused Adam step. Writable only for the measurement.
 *
 * Measured (2026-12-02, 17:02 UTC, 2 cores, load average 7.5–8.6 from other sessions' builds
 * and tests, the measuring process's autogroup at nice −10) with
 * `setsid bash -c 'echo -10 > /proc/self/autogroup && node dist/bench/pool-threshold.js 2'`:
 * the smallest size from which the split was faster at every larger size measured. Products:
 * 131,072 multiply-adds (65,536: 1.09× slower, 131,072: 0.72×, 51M: 0.50×); packing: 65,536
 * floats (0.79×); im2col: 28,800 floats (0.59×), the relu gradient: 16,384 (0.96×), so 2^15 for
 * the copying kernels; Adam: 200,704 elements (0.58×; 65,536 was 1.45× by the median, 0.61× by
 * the best round), so 2^17.
 */
export const splitThresholds = { gemmMacs: 1 << 17, packFloats: 1 << 16, copyFloats: 1 << 15, adamFloats: 1 << 17 };

/** @internal Parts per thread of a split call (a queue: late workers take fewer). */
export const PARTS_PER_THREAD = 2;

/** Splits `total` items into at most `parts` ranges `[start, count]`, each (but the last) a multiple of `align`. */
export function ranges(total: number, parts: number, align: number): Array<[number, number]> {
  const per = Math.ceil(total / parts / align) * align;
  const out: Array<[number, number]> = [];
  for (let start = 0; start < total; start += per) out.push([start, Math.min(per, total - start)]);
  return out;
}

/** The number of parts for `total` items of which a part needs at least `least`: up to PARTS_PER_THREAD per thread. */
function partCount(threads: number, total: number, least: number): number {
  return Math.min(threads * PARTS_PER_THREAD, Math.floor(total / least));
}

/**
 * @internal
 * `kernels` with gemm, pack_n, pack_t, im2col, col2im, maxpool_grad and relu_grad split across
 * `pool` when the work is large enough; the other functions unchanged.
 */
export function splitKernels<T extends object>(kernels: T, pool: KernelPool): T {
  const k = kernels as unknown as Record<string, Kernel>;
  const threads = pool.threads;
  const out: Record<string, Kernel> = { ...k };
  const gemm = k['gemm']!;
  out['gemm'] = (a, rs, ks, bp, c, m, n, kk, relu, mc, kc) => {
    const parts = partCount(threads, m!, 16);
    if (m! * n! * kk! < splitThresholds.gemmMacs || parts < 2) return gemm(a!, rs!, ks!, bp!, c!, m!, n!, kk!, relu!, mc!, kc!);
    pool.run('gemm', gemm, ranges(m!, parts, 4).map(([i0, rows]) => [a! + i0 * rs! * 4, rs!, ks!, bp!, c! + i0 * n! * 4, rows, n!, kk!, relu!, mc!, kc!]));
  };
  for (const pack of ['pack_n', 'pack_t'] as const) {
    const rows = k[`${pack}_rows`];
    if (!rows) continue;
    const whole = k[pack]!;
    // Parts are ranges of k (rows of every panel), multiples of 4 (pack_t's shuffles take 4).
    out[pack] = (b, kk, n, bias, bp) => {
      const parts = partCount(threads, kk!, 16);
      if (kk! * n! < splitThresholds.packFloats || parts < 2) return whole(b!, kk!, n!, bias!, bp!);
      pool.run(`${pack}_rows`, rows, ranges(kk!, parts, 4).map(([k0, count]) => [b!, kk!, n!, bias!, bp!, k0, k0 + count]));
    };
  }
  const im2col = k['im2col']!;
  out['im2col'] = (x, cols, n, h, w, ci, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, xp) => {
    const all = [x!, cols!, n!, h!, w!, ci!, oh!, ow!, kh!, kw!, sh!, sw!, dh!, dw!, pt!, pl!, xp!];
    const parts = partCount(threads, n!, 1);
    if (n! * oh! * ow! * kh! * kw! * ci! < splitThresholds.copyFloats || parts < 2) return im2col(...all);
    const hp = (oh! - 1) * sh! + (kh! - 1) * dh! + 1;
    const wp = (ow! - 1) * sw! + (kw! - 1) * dw! + 1;
    pool.run('im2col', im2col, ranges(n!, parts, 1).map(([b0, nb]) => {
      const part = [...all];
      part[0] = x! + b0 * h! * w! * ci! * 4;
      part[1] = cols! + b0 * oh! * ow! * kh! * kw! * ci! * 4;
      part[2] = nb;
      part[16] = xp! + b0 * hp * wp * ci! * 4;
      return part;
    }));
  };
  const col2im = k['col2im']!;
  out['col2im'] = (dcols, dx, n, h, w, ci, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl) => {
    const all = [dcols!, dx!, n!, h!, w!, ci!, oh!, ow!, kh!, kw!, sh!, sw!, dh!, dw!, pt!, pl!];
    const parts = partCount(threads, n!, 1);
    if (n! * oh! * ow! * kh! * kw! * ci! < splitThresholds.copyFloats || parts < 2) return col2im(...all);
    pool.run('col2im', col2im, ranges(n!, parts, 1).map(([b0, nb]) => {
      const part = [...all];
      part[0] = dcols! + b0 * oh! * ow! * kh! * kw! * ci! * 4;
      part[1] = dx! + b0 * h! * w! * ci! * 4;
      part[2] = nb;
      return part;
    }));
  };
  const maxpoolGrad = k['maxpool_grad']!;
  out['maxpool_grad'] = (x, y, dy, dx, n, h, w, c, oh, ow, kh, kw, sh, sw) => {
    const all = [x!, y!, dy!, dx!, n!, h!, w!, c!, oh!, ow!, kh!, kw!, sh!, sw!];
    const parts = partCount(threads, n!, 1);
    if (n! * h! * w! * c! < splitThresholds.copyFloats || parts < 2) return maxpoolGrad(...all);
    pool.run('maxpool_grad', maxpoolGrad, ranges(n!, parts, 1).map(([b0, nb]) => {
      const inBytes = b0 * h! * w! * c! * 4;
      const outBytes = b0 * oh! * ow! * c! * 4;
      return [x! + inBytes, y! + outBytes, dy! + outBytes, dx! + inBytes, nb, h!, w!, c!, oh!, ow!, kh!, kw!, sh!, sw!];
    }));
  };
  const reluGrad = k['relu_grad']!;
  out['relu_grad'] = (y, dy, dz, size) => {
    const parts = partCount(threads, size!, 1024);
    if (size! < splitThresholds.copyFloats || parts < 2) return reluGrad(y!, dy!, dz!, size!);
    pool.run('relu_grad', reluGrad, ranges(size!, parts, 4).map(([i0, count]) => [y! + i0 * 4, dy! + i0 * 4, dz! + i0 * 4, count]));
  };
  return out as unknown as T;
}

/**
 * @internal
 * The fused Adam kernels (`adam`, `adamDecay` of lib/ops/fused-adam.ts) split across `pool` by
 * ranges of elements (multiples of 4 floats: the kernel's vectors), when the leaf is large enough.
 * Arguments: byte offsets g, m, v, u, m1, v1, the byte count, six constants[, p, cDecay].
 */
export function splitAdam<T extends { readonly adam: Kernel; readonly adamDecay: Kernel }>(kernels: T, pool: KernelPool): T {
  const threads = pool.threads;
  const split = (name: 'adam' | 'adamDecay', whole: Kernel): Kernel => (...args) => {
    const bytes = args[6]!;
    const floats = bytes / 4;
    const parts = partCount(threads, floats, 1024);
    if (floats < splitThresholds.adamFloats || parts < 2) return whole(...args);
    pool.run(name, whole, ranges(floats, parts, 4).map(([i0, count]) => {
      const part = [...args];
      for (const at of name === 'adam' ? [0, 1, 2, 3, 4, 5] : [0, 1, 2, 3, 4, 5, 13]) part[at] = args[at]! + i0 * 4;
      part[6] = count * 4;
      return part;
    }));
  };
  return { ...kernels, adam: split('adam', kernels.adam), adamDecay: split('adamDecay', kernels.adamDecay) };
}
