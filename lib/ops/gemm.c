/*
 * flaxen's float32 matrix product for the WebAssembly SIMD backend of tfjs (compiled by
 * scripts/build-gemm.mjs into lib/ops/gemm-wasm.ts; lib/ops/gemm.ts loads it).
 *
 * Why: tfjs-backend-wasm 4.22 computes matMul with XNNPACK, which packs its right operand anew
 * for every new tensor (the weights after every optimizer step) and runs transposed products in
 * a scalar loop. These functions work on the backend's own memory (imported, never copied):
 * `pack_n`/`pack_t` lay B (or the transpose of a row-major matrix) out in panels of 8 columns,
 * with the bias in front of each panel, and `gemm` multiplies by it with a 4x8 register tile,
 * reading A with any row and column stride, so transpose(A) costs nothing either.
 *
 * Numbers: every output starts from its bias (0 without one) and adds a[i,k]*b[k,j] for
 * k = 0, 1, ..., K-1, one float32 multiply then one float32 add each, as XNNPACK's
 * f32 GEMM microkernels do; the results are bit-identical to tf.matMul (a spec checks this).
 *
 * Rules for this file: no static data and no address-taken locals (the module imports tfjs's
 * memory and must not touch it outside the buffers it is given; the build checks that the
 * code never reads __stack_pointer), no libc.
 */
#include <wasm_simd128.h>
#define EXPORT(name) __attribute__((export_name(name)))
#define INLINE static inline __attribute__((always_inline))

/* Packed B (row-major [K, N]): panels of 8 columns; each panel = 8 bias values, then K rows of 8 values. */
EXPORT("pack_n") void pack_n(const float* b, int K, int N, const float* bias, float* bp) {
  for (int j0 = 0; j0 < N; j0 += 8) {
    int w = N - j0 < 8 ? N - j0 : 8;
    for (int jj = 0; jj < 8; jj++) bp[jj] = (bias && jj < w) ? bias[j0 + jj] : 0.0f;
    bp += 8;
    if (w == 8) {
      for (int k = 0; k < K; k++) {
        wasm_v128_store(bp, wasm_v128_load(b + k * N + j0));
        wasm_v128_store(bp + 4, wasm_v128_load(b + k * N + j0 + 4));
        bp += 8;
      }
    } else {
      for (int k = 0; k < K; k++) {
        const float* row = b + k * N + j0;
        int jj = 0;
        if (w >= 4) { wasm_v128_store(bp, wasm_v128_load(row)); jj = 4; }
        for (; jj < w; jj++) bp[jj] = row[jj];
        for (; jj < 8; jj++) bp[jj] = 0.0f;
        bp += 8;
      }
    }
  }
}

/* B = transpose(src), src is [N, K] row-major. */
EXPORT("pack_t") void pack_t(const float* src, int K, int N, const float* bias, float* bp) {
  for (int j0 = 0; j0 < N; j0 += 8) {
    int w = N - j0 < 8 ? N - j0 : 8;
    for (int jj = 0; jj < 8; jj++) bp[jj] = (bias && jj < w) ? bias[j0 + jj] : 0.0f;
    bp += 8;
    if (w == 8) {
      const float* r = src + j0 * K;
      int k = 0;
      for (; k + 4 <= K; k += 4) {
        v128_t r0 = wasm_v128_load(r + 0 * K + k), r1 = wasm_v128_load(r + 1 * K + k);
        v128_t r2 = wasm_v128_load(r + 2 * K + k), r3 = wasm_v128_load(r + 3 * K + k);
        v128_t r4 = wasm_v128_load(r + 4 * K + k), r5 = wasm_v128_load(r + 5 * K + k);
        v128_t r6 = wasm_v128_load(r + 6 * K + k), r7 = wasm_v128_load(r + 7 * K + k);
        v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
        v128_t t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
        v128_t u0 = wasm_i32x4_shuffle(r4, r5, 0, 4, 1, 5), u1 = wasm_i32x4_shuffle(r6, r7, 0, 4, 1, 5);
        v128_t u2 = wasm_i32x4_shuffle(r4, r5, 2, 6, 3, 7), u3 = wasm_i32x4_shuffle(r6, r7, 2, 6, 3, 7);
        wasm_v128_store(bp + 0, wasm_i64x2_shuffle(t0, t1, 0, 2));
        wasm_v128_store(bp + 4, wasm_i64x2_shuffle(u0, u1, 0, 2));
        wasm_v128_store(bp + 8, wasm_i64x2_shuffle(t0, t1, 1, 3));
        wasm_v128_store(bp + 12, wasm_i64x2_shuffle(u0, u1, 1, 3));
        wasm_v128_store(bp + 16, wasm_i64x2_shuffle(t2, t3, 0, 2));
        wasm_v128_store(bp + 20, wasm_i64x2_shuffle(u2, u3, 0, 2));
        wasm_v128_store(bp + 24, wasm_i64x2_shuffle(t2, t3, 1, 3));
        wasm_v128_store(bp + 28, wasm_i64x2_shuffle(u2, u3, 1, 3));
        bp += 32;
      }
      for (; k < K; k++) {
        for (int jj = 0; jj < 8; jj++) bp[jj] = r[jj * K + k];
        bp += 8;
      }
    } else {
      for (int k = 0; k < K; k++) {
        for (int jj = 0; jj < 8; jj++) bp[jj] = jj < w ? src[(j0 + jj) * K + k] : 0.0f;
        bp += 8;
      }
    }
  }
}

INLINE v128_t act(v128_t v, int relu) { return relu ? wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f)) : v; }

INLINE void store8(float* c, v128_t lo, v128_t hi, int w) {
  if (w == 8) { wasm_v128_store(c, lo); wasm_v128_store(c + 4, hi); return; }
  if (w >= 4) {
    wasm_v128_store(c, lo);
    float t4 = wasm_f32x4_extract_lane(hi, 0), t5 = wasm_f32x4_extract_lane(hi, 1), t6 = wasm_f32x4_extract_lane(hi, 2);
    if (w > 4) c[4] = t4; if (w > 5) c[5] = t5; if (w > 6) c[6] = t6;
    return;
  }
  float t0 = wasm_f32x4_extract_lane(lo, 0), t1 = wasm_f32x4_extract_lane(lo, 1), t2 = wasm_f32x4_extract_lane(lo, 2);
  c[0] = t0; if (w > 1) c[1] = t1; if (w > 2) c[2] = t2;
}

/* The first w (<= 8) values of a row of C, zeros after them (never reads past them). */
INLINE void load8(const float* c, int w, v128_t* lo, v128_t* hi) {
  if (w == 8) { *lo = wasm_v128_load(c); *hi = wasm_v128_load(c + 4); return; }
  float t[8];
  for (int j = 0; j < 8; j++) t[j] = j < w ? c[j] : 0.0f;
  *lo = wasm_f32x4_make(t[0], t[1], t[2], t[3]);
  *hi = wasm_f32x4_make(t[4], t[5], t[6], t[7]);
}

/*
 * C[M, N] = A · Bp (+bias, relu), a(i, k) = a[i*rs + k*ks]. The sum over k runs in chunks of kc
 * terms (kc >= K: one chunk, the order of XNNPACK); after the first chunk a tile starts from the
 * partial sums it stored, so the order stays k = 0, 1, ... and deterministic, but the partial
 * sums are rounded to float32 in C between chunks, as they are in registers anyway. Chunks keep
 * a long product (a convolution's kernel gradient sums over every output pixel) in cache.
 */
EXPORT("gemm") void gemm(const float* a, int rs, int ks, const float* bp, float* c, int M, int N, int K, int relu, int mc, int kc) {
  const int panel = 8 + 8 * K;
  for (int k0 = 0; k0 < K || k0 == 0; k0 += kc) {
    const int kn = K - k0 < kc ? K - k0 : kc;
    const int first = k0 == 0, fuse = relu && k0 + kn >= K;
    for (int i0 = 0; i0 < M; i0 += mc) {
      int i1 = i0 + mc < M ? i0 + mc : M;
      for (int j0 = 0, p = 0; j0 < N; j0 += 8, p++) {
        int w = N - j0 < 8 ? N - j0 : 8;
        const float* pb = bp + p * panel;
        v128_t bias0 = wasm_v128_load(pb), bias1 = wasm_v128_load(pb + 4);
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
          const float* a0 = a + i * rs + k0 * ks; const float* a1 = a0 + rs; const float* a2 = a1 + rs; const float* a3 = a2 + rs;
          float* cr = c + i * N + j0;
          v128_t c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1, c30 = bias0, c31 = bias1;
          if (!first) {
            load8(cr, w, &c00, &c01); load8(cr + N, w, &c10, &c11);
            load8(cr + 2 * N, w, &c20, &c21); load8(cr + 3 * N, w, &c30, &c31);
          }
          const float* b = pb + 8 + 8 * k0;
          for (int k = 0; k < kn; k++) {
            v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4); b += 8;
            v128_t v0 = wasm_v128_load32_splat(a0); a0 += ks;
            v128_t v1 = wasm_v128_load32_splat(a1); a1 += ks;
            v128_t v2 = wasm_v128_load32_splat(a2); a2 += ks;
            v128_t v3 = wasm_v128_load32_splat(a3); a3 += ks;
            c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(v0, b0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(v0, b1));
            c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(v1, b0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(v1, b1));
            c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(v2, b0)); c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(v2, b1));
            c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(v3, b0)); c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(v3, b1));
          }
          store8(cr, act(c00, fuse), act(c01, fuse), w); cr += N;
          store8(cr, act(c10, fuse), act(c11, fuse), w); cr += N;
          store8(cr, act(c20, fuse), act(c21, fuse), w); cr += N;
          store8(cr, act(c30, fuse), act(c31, fuse), w);
        }
        for (; i < i1; i++) {
          const float* a0 = a + i * rs + k0 * ks;
          float* cr = c + i * N + j0;
          v128_t c00 = bias0, c01 = bias1;
          if (!first) load8(cr, w, &c00, &c01);
          const float* b = pb + 8 + 8 * k0;
          for (int k = 0; k < kn; k++) {
            v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4); b += 8;
            v128_t v0 = wasm_v128_load32_splat(a0); a0 += ks;
            c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(v0, b0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(v0, b1));
          }
          store8(cr, act(c00, fuse), act(c01, fuse), w);
        }
      }
    }
    if (K == 0) break;
  }
}

/*
 * Convolution as a product: im2col copies, for every output pixel (n, oy, ox), the input window
 * it reads (kh x kw pixels of ci channels, zeros where it falls in the padding) into one row of
 * `cols` [n*oh*ow, kh*kw*ci]; the HWIO kernel is then a [kh*kw*ci, co] matrix. col2im is its
 * adjoint: it adds every row of `dcols` back into the window it came from (the input gradient),
 * rows in order, so the sums are deterministic.
 */

INLINE void copy_floats(float* dst, const float* src, int count) {
  int c = 0;
  for (; c + 4 <= count; c += 4) wasm_v128_store(dst + c, wasm_v128_load(src + c));
  for (; c < count; c++) dst[c] = src[c];
}

INLINE void add_floats(float* dst, const float* src, int count) {
  int c = 0;
  for (; c + 4 <= count; c += 4) wasm_v128_store(dst + c, wasm_f32x4_add(wasm_v128_load(dst + c), wasm_v128_load(src + c)));
  for (; c < count; c++) dst[c] += src[c];
}

/*
 * im2col reads a zero-padded copy `xp` [n, hp, wp, ci] of x (hp = (oh-1)*sh + (kh-1)*dh + 1 rows,
 * wp likewise), made first in scratch memory the caller provides, so that the main loop copies
 * whole window rows with no bounds checks.
 */
EXPORT("im2col") void im2col(const float* x, float* cols, int n, int h, int w, int ci, int oh, int ow,
                             int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl, float* xp) {
  const int hp = (oh - 1) * sh + (kh - 1) * dh + 1, wp = (ow - 1) * sw + (kw - 1) * dw + 1;
  float* dst = xp;
  for (int b = 0; b < n; b++)
    for (int yy = 0; yy < hp; yy++) {
      const int iy = yy - pt;
      if (iy < 0 || iy >= h) {
        for (int i = 0; i < wp * ci; i++) dst[i] = 0.0f;
      } else {
        const int left = pl < wp ? pl : wp;                           /* padded columns before x */
        const int inner = (w < wp - left ? w : wp - left);             /* columns of x used */
        for (int i = 0; i < left * ci; i++) dst[i] = 0.0f;
        copy_floats(dst + left * ci, x + ((b * h + iy) * w) * ci, inner * ci);
        for (int i = (left + inner) * ci; i < wp * ci; i++) dst[i] = 0.0f;
      }
      dst += wp * ci;
    }
  const int run = kw * ci;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        for (int ky = 0; ky < kh; ky++) {
          const float* src = xp + ((b * hp + oy * sh + ky * dh) * wp + ox * sw) * ci;
          if (dw == 1) {
            /* one run of kw*ci floats; the last 4 overlap the previous ones when run % 4 != 0 */
            if (run >= 4) {
              int c = 0;
              for (; c + 4 <= run; c += 4) wasm_v128_store(cols + c, wasm_v128_load(src + c));
              if (c < run) wasm_v128_store(cols + run - 4, wasm_v128_load(src + run - 4));
            } else {
              for (int c = 0; c < run; c++) cols[c] = src[c];
            }
          } else {
            for (int kx = 0; kx < kw; kx++) copy_floats(cols + kx * ci, src + kx * dw * ci, ci);
          }
          cols += run;
        }
}

EXPORT("col2im") void col2im(const float* dcols, float* dx, int n, int h, int w, int ci, int oh, int ow,
                             int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl) {
  const int run = kw * ci;
  for (int i = 0, size = n * h * w * ci; i < size; i++) dx[i] = 0.0f;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        const int ix0 = ox * sw - pl;
        const int inside = dw == 1 && ix0 >= 0 && ix0 + kw <= w;
        for (int ky = 0; ky < kh; ky++) {
          const int iy = oy * sh + ky * dh - pt;
          if (iy >= 0 && iy < h) {
            if (inside) {
              add_floats(dx + ((b * h + iy) * w + ix0) * ci, dcols, run);
            } else {
              for (int kx = 0; kx < kw; kx++) {
                const int ix = ix0 + kx * dw;
                if (ix >= 0 && ix < w) add_floats(dx + ((b * h + iy) * w + ix) * ci, dcols + kx * ci, ci);
              }
            }
          }
          dcols += run;
        }
      }
}

/*
 * The gradient of a VALID max pool: each output's gradient goes to the first element of its
 * window (row-major) that equals the pooled maximum, as tfjs's cpu kernel and TensorFlow route
 * it; overlapping windows add up. Four channels at a time, with a mask of the channels whose
 * maximum has been found. dx is zeroed first.
 */
EXPORT("maxpool_grad") void maxpool_grad(const float* x, const float* y, const float* dy, float* dx, int n, int h, int w, int c,
                                         int oh, int ow, int kh, int kw, int sh, int sw) {
  if (kh == sh && kw == sw && c >= 4) {
    /*
     * Windows that tile the input (the common 2x2, stride 2): every element belongs to one
     * window at most, so dx is written, not accumulated, and only the part no window covers is
     * zeroed. The last group of 4 channels overlaps the one before when c % 4 != 0: it computes
     * the same values for the shared channels, so writing them twice is harmless.
     */
    for (int b = 0; b < n; b++)
      for (int yy = 0; yy < h; yy++)
        for (int xx = (yy < oh * kh ? ow * kw : 0); xx < w; xx++)
          for (int ch = 0; ch < c; ch++) dx[((b * h + yy) * w + xx) * c + ch] = 0.0f;
    for (int b = 0; b < n; b++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          const int out = ((b * oh + oy) * ow + ox) * c;
          for (int ch0 = 0;; ch0 += 4) {
            const int ch = ch0 + 4 > c ? c - 4 : ch0;
            const v128_t ym = wasm_v128_load(y + out + ch), g = wasm_v128_load(dy + out + ch);
            v128_t open = wasm_i32x4_splat(-1);
            for (int ky = 0; ky < kh; ky++)
              for (int kx = 0; kx < kw; kx++) {
                const int at = ((b * h + oy * kh + ky) * w + ox * kw + kx) * c + ch;
                const v128_t hit = wasm_v128_and(open, wasm_f32x4_eq(wasm_v128_load(x + at), ym));
                wasm_v128_store(dx + at, wasm_v128_and(hit, g));
                open = wasm_v128_andnot(open, hit);
              }
            if (ch + 4 >= c) break;
          }
        }
    return;
  }
  for (int i = 0, size = n * h * w * c; i < size; i++) dx[i] = 0.0f;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        const int out = ((b * oh + oy) * ow + ox) * c;
        int ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          const v128_t ym = wasm_v128_load(y + out + ch), g = wasm_v128_load(dy + out + ch);
          v128_t open = wasm_i32x4_splat(-1); /* lanes still looking for their maximum */
          for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
              const int at = ((b * h + oy * sh + ky) * w + ox * sw + kx) * c + ch;
              const v128_t hit = wasm_v128_and(open, wasm_f32x4_eq(wasm_v128_load(x + at), ym));
              wasm_v128_store(dx + at, wasm_f32x4_add(wasm_v128_load(dx + at), wasm_v128_and(hit, g)));
              open = wasm_v128_andnot(open, hit);
            }
        }
        for (; ch < c; ch++) {
          const float ym = y[out + ch];
          int found = 0;
          for (int ky = 0; ky < kh && !found; ky++)
            for (int kx = 0; kx < kw && !found; kx++) {
              const int at = ((b * h + oy * sh + ky) * w + ox * sw + kx) * c + ch;
              if (x[at] == ym) { dx[at] += dy[out + ch]; found = 1; }
            }
        }
      }
}

/* The gradient of y = relu(z) from its output: dz = dy where y > 0, else 0. */
EXPORT("relu_grad") void relu_grad(const float* y, const float* dy, float* dz, int size) {
  int i = 0;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (; i + 4 <= size; i += 4)
    wasm_v128_store(dz + i, wasm_v128_and(wasm_f32x4_gt(wasm_v128_load(y + i), zero), wasm_v128_load(dy + i)));
  for (; i < size; i++) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
