/**
 * How each of flaxen's own kernels (lib/ops/gemm.c) is split across a {@link KernelPool}: every
 * part computes a range of the OUTPUT of its own (rows of a product, images of an im2col, a
 * col2im or a max-pool gradient, elements of a relu gradient) with exactly the operations, in the
 * order, that the one-thread call performs for those outputs. No part ever adds into another's
 * output, so the results are bit-identical for any number of threads.
 *
 * Work below a measured size stays on the calling thread (bench/pool-threshold.ts measures where
 * two threads start to pay; the figures are in docs/performance.md).
 *
 * @module
 */
import type { KernelPool } from './pool.js';

type Kernel = (...args: number[]) => unknown;

/**
 * @internal
 * Where splitting starts. `gemmMacs`: products of fewer multiply-adds run on the calling thread
 * (below it, waking a worker costs more than the half of the product it takes over);
 * `copyFloats`: the copying kernels (im2col, col2im, the max-pool and relu gradients) that move
 * fewer floats run on the calling thread. Measured by bench/pool-threshold.ts (figures in
 * docs/performance.md); writable only for that measurement.
 */
export const splitThresholds = { gemmMacs: 1 << 18, copyFloats: 1 << 16 };

/** Splits `total` items into at most `parts` ranges `[start, count]`, each (but the last) a multiple of `align`. */
export function ranges(total: number, parts: number, align: number): Array<[number, number]> {
  const per = Math.ceil(total / parts / align) * align;
  const out: Array<[number, number]> = [];
  for (let start = 0; start < total; start += per) out.push([start, Math.min(per, total - start)]);
  return out;
}

/**
 * @internal
 * `kernels` with gemm, im2col, col2im, maxpool_grad and relu_grad split across `pool` when the
 * work is large enough; the other functions unchanged.
 */
export function splitKernels<T extends object>(kernels: T, pool: KernelPool): T {
  const k = kernels as unknown as Record<string, Kernel>;
  const threads = pool.threads;
  const out: Record<string, Kernel> = { ...k };
  const gemm = k['gemm']!;
  out['gemm'] = (a, rs, ks, bp, c, m, n, kk, relu, mc, kc) => {
    const parts = Math.min(threads, Math.floor(m! / 4));
    if (m! * n! * kk! < splitThresholds.gemmMacs || parts < 2) return gemm(a!, rs!, ks!, bp!, c!, m!, n!, kk!, relu!, mc!, kc!);
    pool.run('gemm', gemm, ranges(m!, parts, 4).map(([i0, rows]) => [a! + i0 * rs! * 4, rs!, ks!, bp!, c! + i0 * n! * 4, rows, n!, kk!, relu!, mc!, kc!]));
  };
  const im2col = k['im2col']!;
  out['im2col'] = (x, cols, n, h, w, ci, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, xp) => {
    const all = [x!, cols!, n!, h!, w!, ci!, oh!, ow!, kh!, kw!, sh!, sw!, dh!, dw!, pt!, pl!, xp!];
    const parts = Math.min(threads, n!);
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
    const parts = Math.min(threads, n!);
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
    const parts = Math.min(threads, n!);
    if (n! * h! * w! * c! < splitThresholds.copyFloats || parts < 2) return maxpoolGrad(...all);
    pool.run('maxpool_grad', maxpoolGrad, ranges(n!, parts, 1).map(([b0, nb]) => {
      const inBytes = b0 * h! * w! * c! * 4;
      const outBytes = b0 * oh! * ow! * c! * 4;
      return [x! + inBytes, y! + outBytes, dy! + outBytes, dx! + inBytes, nb, h!, w!, c!, oh!, ow!, kh!, kw!, sh!, sw!];
    }));
  };
  const reluGrad = k['relu_grad']!;
  out['relu_grad'] = (y, dy, dz, size) => {
    const parts = Math.min(threads, Math.floor(size! / 4));
    if (size! < splitThresholds.copyFloats || parts < 2) return reluGrad(y!, dy!, dz!, size!);
    pool.run('relu_grad', reluGrad, ranges(size!, parts, 4).map(([i0, count]) => [y! + i0 * 4, dy! + i0 * 4, dz! + i0 * 4, count]));
  };
  return out as unknown as T;
}
