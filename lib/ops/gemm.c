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

/*
 * Packed B (row-major [K, N]): panels of 8 columns; each panel = 8 bias values, then K rows of 8
 * values. pack_n_rows writes rows k0 <= k < k1 of every panel (and the bias, when k0 == 0): a
 * kernel pool splits the packing by ranges of k, each part writing its own rows (lib/ops/pool/split.ts).
 */
EXPORT("pack_n_rows") void pack_n_rows(const float* b, int K, int N, const float* bias, float* out, int k0, int k1) {
  const int panel = 8 + 8 * K;
  for (int j0 = 0, p = 0; j0 < N; j0 += 8, p++) {
    int w = N - j0 < 8 ? N - j0 : 8;
    float* bp = out + p * panel;
    if (k0 == 0)
      for (int jj = 0; jj < 8; jj++) bp[jj] = (bias && jj < w) ? bias[j0 + jj] : 0.0f;
    bp += 8 + 8 * k0;
    if (w == 8) {
      for (int k = k0; k < k1; k++) {
        wasm_v128_store(bp, wasm_v128_load(b + k * N + j0));
        wasm_v128_store(bp + 4, wasm_v128_load(b + k * N + j0 + 4));
        bp += 8;
      }
    } else {
      for (int k = k0; k < k1; k++) {
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

EXPORT("pack_n") void pack_n(const float* b, int K, int N, const float* bias, float* bp) { pack_n_rows(b, K, N, bias, bp, 0, K); }

/* B = transpose(src), src is [N, K] row-major; rows k0 <= k < k1 of every panel (k0 a multiple of 4 when split). */
EXPORT("pack_t_rows") void pack_t_rows(const float* src, int K, int N, const float* bias, float* out, int k0, int k1) {
  const int panel = 8 + 8 * K;
  for (int j0 = 0, p = 0; j0 < N; j0 += 8, p++) {
    int w = N - j0 < 8 ? N - j0 : 8;
    float* bp = out + p * panel;
    if (k0 == 0)
      for (int jj = 0; jj < 8; jj++) bp[jj] = (bias && jj < w) ? bias[j0 + jj] : 0.0f;
    bp += 8 + 8 * k0;
    if (w == 8) {
      const float* r = src + j0 * K;
      int k = k0;
      for (; k + 4 <= k1; k += 4) {
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
      for (; k < k1; k++) {
        for (int jj = 0; jj < 8; jj++) bp[jj] = r[jj * K + k];
        bp += 8;
      }
    } else {
      for (int k = k0; k < k1; k++) {
        for (int jj = 0; jj < 8; jj++) bp[jj] = jj < w ? src[(j0 + jj) * K + k] : 0.0f;
        bp += 8;
      }
    }
  }
}

EXPORT("pack_t") void pack_t(const float* src, int K, int N, const float* bias, float* bp) { pack_t_rows(src, K, N, bias, bp, 0, K); }

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

/* ======================================================================================== *
 * Shared lane math (used by the recurrent and the softmax cross-entropy sections below).    *
 * ======================================================================================== */

/*
 * e^x = 2^n · e^r for float32 lanes, without libc: n = round(x / ln2), r = x − n·ln2 (ln2 in
 * two parts, so r is exact), e^r by a degree-6 polynomial on |r| <= ln2/2 (Cephes' expf
 * coefficients, about 1 ulp). Returns e^r and sets *n; the callers put 2^n into the exponent
 * bits for their own range of x. Only + − × and conversions: the same bits on every machine.
 */
INLINE v128_t exp_reduced(v128_t x, v128_t* n_out) {
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), wasm_f32x4_splat(1.0f));
  *n_out = n;
  return p;
}

/* ======================================================================================== *
 * Recurrent cells (owned by the recurrent layers; lib/ops/lstm-scan.ts calls these).        *
 * Kept apart from the products above: nothing above calls into this section.               *
 * ======================================================================================== */

/*
 * exp(x) for float32 lanes: e^r from exp_reduced, then 2^n put into the exponent bits. x is
 * clamped to [-87.3, 88.7], where e^x is a normal float.
 */
INLINE v128_t rnn_exp(v128_t x) {
  x = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-87.33654f)), wasm_f32x4_splat(88.72283f));
  v128_t n;
  v128_t p = exp_reduced(x, &n);
  /* 2^n: n in [-126, 128]; 2^128 is split as 2^127 · 2 so the exponent field stays in range. */
  const v128_t ni = wasm_i32x4_trunc_sat_f32x4(n);
  const v128_t big = wasm_i32x4_gt(ni, wasm_i32x4_splat(127));
  const v128_t e = wasm_i32x4_sub(ni, wasm_v128_and(big, wasm_i32x4_splat(1)));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(e, wasm_i32x4_splat(127)), 23);
  p = wasm_f32x4_mul(p, scale);
  return wasm_v128_bitselect(wasm_f32x4_mul(p, wasm_f32x4_splat(2.0f)), p, big);
}

/* σ(z) = 1 / (1 + e^−z) for z >= 0 and e^z / (1 + e^z) below: e = e^−|z| never overflows. */
INLINE v128_t rnn_sigmoid(v128_t z) {
  const v128_t e = rnn_exp(wasm_f32x4_neg(wasm_f32x4_abs(z)));
  const v128_t s = wasm_f32x4_div(wasm_f32x4_splat(1.0f), wasm_f32x4_add(wasm_f32x4_splat(1.0f), e));
  return wasm_v128_bitselect(s, wasm_f32x4_mul(e, s), wasm_f32x4_ge(z, wasm_f32x4_splat(0.0f)));
}

/*
 * tanh(z): for |z| < 0.625 an odd polynomial (Cephes' tanhf, relative error about 1 ulp: no
 * cancellation near 0); above, 1 − 2 / (e^2|z| + 1) with |z| clamped at 10 (tanh of 9.01 and more rounds to 1);
 * the sign of z restored last.
 */
INLINE v128_t rnn_tanh(v128_t z) {
  const v128_t a = wasm_f32x4_abs(z);
  const v128_t z2 = wasm_f32x4_mul(z, z);
  v128_t p = wasm_f32x4_splat(-5.70498872745e-3f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z2), wasm_f32x4_splat(2.06390887954e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z2), wasm_f32x4_splat(-5.37397155531e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z2), wasm_f32x4_splat(1.33314422036e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z2), wasm_f32x4_splat(-3.33332819422e-1f));
  const v128_t small = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, z2), z), z);
  const v128_t e = rnn_exp(wasm_f32x4_mul(wasm_f32x4_min(a, wasm_f32x4_splat(10.0f)), wasm_f32x4_splat(2.0f)));
  const v128_t large = wasm_f32x4_sub(wasm_f32x4_splat(1.0f), wasm_f32x4_div(wasm_f32x4_splat(2.0f), wasm_f32x4_add(e, wasm_f32x4_splat(1.0f))));
  const v128_t signed_large = wasm_v128_or(large, wasm_v128_and(z, wasm_i32x4_splat((int)0x80000000)));
  return wasm_v128_bitselect(small, signed_large, wasm_f32x4_lt(a, wasm_f32x4_splat(0.625f)));
}

/* The first n (<= 4) floats at p, zeros after them (never reads past them); and the store. */
INLINE v128_t rnn_load(const float* p, int n) {
  if (n >= 4) return wasm_v128_load(p);
  return wasm_f32x4_make(p[0], n > 1 ? p[1] : 0.0f, n > 2 ? p[2] : 0.0f, 0.0f);
}
INLINE void rnn_store(float* p, v128_t v, int n) {
  if (n >= 4) { wasm_v128_store(p, v); return; }
  p[0] = wasm_f32x4_extract_lane(v, 0);
  if (n > 1) p[1] = wasm_f32x4_extract_lane(v, 1);
  if (n > 2) p[2] = wasm_f32x4_extract_lane(v, 2);
}

/*
 * One LSTM step for B sequences of H units. xp, zh: [B, 4H] (the input projection with the
 * biases, and h·Wh), gate blocks i, f, g, o. z = xp + zh; i, f, o = σ; g = tanh;
 * c' = f·c + i·g; h' = o·tanh(c'). Writes the gates to acts [B, 4H] and tanh(c') to tc [B, H]
 * (what the backward pass needs), and the carries cn, hn and the output y [B, H]. With a mask
 * ([B], 1 or 0; null: all 1) a sequence past its end keeps its carries (bit for bit) and outputs 0.
 */
EXPORT("lstm_step") void lstm_step(const float* xp, const float* zh, const float* cp, const float* hp, const float* mask,
                                   float* acts, float* tc, float* cn, float* hn, float* y, int B, int H) {
  const int G = 4 * H;
  for (int b = 0; b < B; b++) {
    const v128_t run = wasm_i32x4_splat(mask && mask[b] == 0.0f ? 0 : -1);
    const float* x = xp + b * G; const float* a = zh + b * G; float* s = acts + b * G;
    for (int j = 0; j < H; j += 4) {
      const int n = H - j < 4 ? H - j : 4;
      const v128_t i = rnn_sigmoid(wasm_f32x4_add(rnn_load(x + j, n), rnn_load(a + j, n)));
      const v128_t f = rnn_sigmoid(wasm_f32x4_add(rnn_load(x + H + j, n), rnn_load(a + H + j, n)));
      const v128_t g = rnn_tanh(wasm_f32x4_add(rnn_load(x + 2 * H + j, n), rnn_load(a + 2 * H + j, n)));
      const v128_t o = rnn_sigmoid(wasm_f32x4_add(rnn_load(x + 3 * H + j, n), rnn_load(a + 3 * H + j, n)));
      const v128_t c0 = rnn_load(cp + b * H + j, n), h0 = rnn_load(hp + b * H + j, n);
      const v128_t c1 = wasm_f32x4_add(wasm_f32x4_mul(f, c0), wasm_f32x4_mul(i, g));
      const v128_t t = rnn_tanh(c1);
      const v128_t h1 = wasm_f32x4_mul(o, t);
      rnn_store(s + j, i, n); rnn_store(s + H + j, f, n); rnn_store(s + 2 * H + j, g, n); rnn_store(s + 3 * H + j, o, n);
      rnn_store(tc + b * H + j, t, n);
      rnn_store(cn + b * H + j, wasm_v128_bitselect(c1, c0, run), n);
      rnn_store(hn + b * H + j, wasm_v128_bitselect(h1, h0, run), n);
      rnn_store(y + b * H + j, wasm_v128_and(h1, run), n);
    }
  }
}

/*
 * The backward pass of one LSTM step (the adjoint of lstm_step). In: the step's acts, tc, the
 * cell state entering it (cp), the output's gradient dy, the gradient of the hidden carry
 * leaving it as dh (+ dhd, the part that bypassed a frozen step; null: none), and of the cell
 * carry in dc. Out: dz [B, 4H], the gradients of the gates' pre-activations (of xp and of h·Wh
 * alike); dc is overwritten with the gradient of the cell state entering the step, and dhd (when
 * given) with the part of the entering hidden state's gradient that bypasses the step (the rest
 * is dz·Whᵀ, which the caller adds). Per element, with m the mask:
 *   dh' = m·(dh + dy), dc' = m·dc + dh'·o·(1 − tanh²c'), dzi = dc'·g·i(1−i), dzf = dc'·c·f(1−f),
 *   dzg = dc'·i·(1 − g²), dzo = dh'·tanh c'·o(1−o), dc ← dc'·f + (1−m)·dc, dhd ← (1−m)·dh.
 */
EXPORT("lstm_step_grad") void lstm_step_grad(const float* acts, const float* tc, const float* cp, const float* dy, const float* dh,
                                             float* dhd, float* dc, const float* mask, float* dz, int B, int H) {
  const int G = 4 * H;
  const v128_t one = wasm_f32x4_splat(1.0f);
  for (int b = 0; b < B; b++) {
    const v128_t run = wasm_i32x4_splat(mask && mask[b] == 0.0f ? 0 : -1);
    const float* s = acts + b * G; float* d = dz + b * G;
    for (int j = 0; j < H; j += 4) {
      const int n = H - j < 4 ? H - j : 4;
      const int at = b * H + j;
      v128_t dhAll = rnn_load(dh + at, n);
      if (dhd) dhAll = wasm_f32x4_add(dhAll, rnn_load(dhd + at, n));
      const v128_t dcAll = rnn_load(dc + at, n);
      const v128_t i = rnn_load(s + j, n), f = rnn_load(s + H + j, n), g = rnn_load(s + 2 * H + j, n), o = rnn_load(s + 3 * H + j, n);
      const v128_t t = rnn_load(tc + at, n);
      const v128_t dh1 = wasm_v128_and(wasm_f32x4_add(dhAll, rnn_load(dy + at, n)), run);
      const v128_t dc1 = wasm_f32x4_add(wasm_v128_and(dcAll, run), wasm_f32x4_mul(wasm_f32x4_mul(dh1, o), wasm_f32x4_sub(one, wasm_f32x4_mul(t, t))));
      rnn_store(d + j, wasm_f32x4_mul(wasm_f32x4_mul(dc1, g), wasm_f32x4_mul(i, wasm_f32x4_sub(one, i))), n);
      rnn_store(d + H + j, wasm_f32x4_mul(wasm_f32x4_mul(dc1, rnn_load(cp + at, n)), wasm_f32x4_mul(f, wasm_f32x4_sub(one, f))), n);
      rnn_store(d + 2 * H + j, wasm_f32x4_mul(wasm_f32x4_mul(dc1, i), wasm_f32x4_sub(one, wasm_f32x4_mul(g, g))), n);
      rnn_store(d + 3 * H + j, wasm_f32x4_mul(wasm_f32x4_mul(dh1, t), wasm_f32x4_mul(o, wasm_f32x4_sub(one, o))), n);
      rnn_store(dc + at, wasm_f32x4_add(wasm_f32x4_mul(dc1, f), wasm_v128_andnot(dcAll, run)), n);
      if (dhd) rnn_store(dhd + at, wasm_v128_andnot(dhAll, run), n);
    }
  }
}

/* ======================================================================================== *
 * Softmax cross-entropy with integer labels (owned by the losses; lib/ops/softmax-ce.ts     *
 * calls these). Kept apart from the sections above: nothing above calls into this one, and  *
 * it calls only the shared lane math above.                                                *
 * ======================================================================================== */

/*
 * e^x for float32 lanes with x <= 0 (x − max of a row): e^r from exp_reduced, then 2^n put into
 * the exponent bits. Below −87.33654 (where e^x leaves the normal floats; −Infinity included)
 * the result is 0; NaN stays NaN. e^0 is exactly 1. Only + − × and conversions: the same bits
 * on every machine and run.
 */
INLINE v128_t sce_exp(v128_t x) {
  const v128_t tiny = wasm_f32x4_lt(x, wasm_f32x4_splat(-87.33654f));
  x = wasm_f32x4_max(x, wasm_f32x4_splat(-87.33654f));
  v128_t n;
  v128_t p = exp_reduced(x, &n);
  /* n in [-126, 0] here: 2^n is a normal float. */
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_v128_andnot(wasm_f32x4_mul(p, scale), tiny);
}

/* Lanes i..i+3 of a row of C values; lanes past its end are −Infinity (e^−∞ = 0, max unchanged). */
INLINE v128_t sce_load(const float* x, int i, int C) {
  if (i + 4 <= C) return wasm_v128_load(x + i);
  const float inf = __builtin_inff();
  return wasm_f32x4_make(x[i], i + 1 < C ? x[i + 1] : -inf, i + 2 < C ? x[i + 2] : -inf, -inf);
}

/* The row's maximum (NaN if any value is NaN), or the lowest float when every value is −∞ (so x − max is never −∞ + ∞). */
INLINE float sce_max(const float* x, int C) {
  v128_t m = wasm_f32x4_splat(-__builtin_inff());
  for (int i = 0; i < C; i += 4) m = wasm_f32x4_max(m, sce_load(x, i, C));
  m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
  m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
  const float top = wasm_f32x4_extract_lane(m, 0);
  return top == -__builtin_inff() ? -3.40282347e38f : top;
}

/* Σ e^(x − max) over the row: four lane sums in order, then (l0 + l1) + (l2 + l3). At least 1 unless every value is −∞ (then 0). */
INLINE float sce_sum(const float* x, int C, float max) {
  const v128_t m = wasm_f32x4_splat(max);
  v128_t s = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < C; i += 4) s = wasm_f32x4_add(s, sce_exp(wasm_f32x4_sub(sce_load(x, i, C), m)));
  return (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) + (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
}

/*
 * log s in float64 for s >= 1 (a row's sum; NaN stays NaN): s = m·2^e with m in [√½, √2),
 * log m = 2·atanh(f), f = (m − 1)/(m + 1), |f| <= 0.172, by its series to f^15 (error below
 * 1e-13, far under float32's rounding of the result).
 */
INLINE double sce_log(double s) {
  if (s != s) return s;
  const unsigned long long bits = __builtin_bit_cast(unsigned long long, s);
  int e = (int)(bits >> 52) - 1023;
  double m = __builtin_bit_cast(double, (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const double f = (m - 1.0) / (m + 1.0), f2 = f * f;
  double t = 1.0 / 15;
  t = t * f2 + 1.0 / 13;
  t = t * f2 + 1.0 / 11;
  t = t * f2 + 1.0 / 9;
  t = t * f2 + 1.0 / 7;
  t = t * f2 + 1.0 / 5;
  t = t * f2 + 1.0 / 3;
  t = t * f2 + 1.0;
  return (double)e * 0.69314718055994530942 + 2.0 * f * t;
}

/* log Σ e^(x − max) rounded to float32; 0 for a row of only −∞ (its sum, 0, is taken as 1). */
INLINE float sce_log_sum(float sum) {
  return (float)sce_log(sum == 0.0f ? 1.0 : (double)sum);
}

/*
 * loss[r] = −((x[r, label] − max) − log Σ_c e^(x[r, c] − max)) for each of `rows` rows of C
 * logits: −log softmax(x)[label], with 0·log 0 = 0 for masked (−∞) logits off the label, +∞ for
 * a label on a masked logit, NaN when the row holds a NaN or +∞. Labels are in [0, C) (checked
 * by the caller).
 */
EXPORT("softmax_ce") void softmax_ce(const float* x, const int* labels, float* loss, int rows, int C) {
  for (int r = 0; r < rows; r++, x += C) {
    const float max = sce_max(x, C);
    const float log_sum = sce_log_sum(sce_sum(x, C, max));
    loss[r] = -((x[labels[r]] - max) - log_sum);
  }
}

/*
 * The gradient of `softmax_ce` with respect to x: dx[r, c] = (p[r, c] − [c = label]) · dy[r],
 * with p = e^(x − max) / Σ e^(x − max) (the sum taken as 1 for a row of only −∞: p = 0 there),
 * recomputed from x exactly as the forward pass computes it.
 */
EXPORT("softmax_ce_grad") void softmax_ce_grad(const float* x, const int* labels, const float* dy, float* dx, int rows, int C) {
  const v128_t iota = wasm_i32x4_make(0, 1, 2, 3);
  const v128_t one = wasm_f32x4_splat(1.0f);
  for (int r = 0; r < rows; r++, x += C, dx += C) {
    const float max = sce_max(x, C);
    const float sum = sce_sum(x, C, max);
    const v128_t m = wasm_f32x4_splat(max), s = wasm_f32x4_splat(sum == 0.0f ? 1.0f : sum);
    const v128_t label = wasm_i32x4_splat(labels[r]), g = wasm_f32x4_splat(dy[r]);
    for (int i = 0; i < C; i += 4) {
      const v128_t p = wasm_f32x4_div(sce_exp(wasm_f32x4_sub(sce_load(x, i, C), m)), s);
      const v128_t hot = wasm_v128_and(wasm_i32x4_eq(wasm_i32x4_add(iota, wasm_i32x4_splat(i)), label), one);
      const v128_t d = wasm_f32x4_mul(wasm_f32x4_sub(p, hot), g);
      if (i + 4 <= C) {
        wasm_v128_store(dx + i, d);
      } else {
        dx[i] = wasm_f32x4_extract_lane(d, 0);
        if (i + 1 < C) dx[i + 1] = wasm_f32x4_extract_lane(d, 1);
        if (i + 2 < C) dx[i + 2] = wasm_f32x4_extract_lane(d, 2);
      }
    }
  }
}

/* ======================================================================================== *
 * Column sums (owned by lib/ops/matmul.ts: the bias gradient of a dense layer, sum(dy, 0)). *
 * Kept apart from the sections above: it calls nothing of theirs.                           *
 * ======================================================================================== */

/*
 * out[j] = Σ_i x[i, j] over `rows` rows of `cols` floats, each column summed from 0 in row
 * order, one float32 add per row: the order and the roundings of tfjs's Sum kernel after its
 * transpose (a sequential sum per output), so the same bits. Rows are read in storage order
 * (the sums, `cols` floats, stay in the first-level cache) four columns at a time.
 */
EXPORT("col_sums") void col_sums(const float* x, float* out, int rows, int cols) {
  const int vec = cols & ~3;
  for (int j = 0; j < cols; j++) out[j] = 0.0f;
  for (int i = 0; i < rows; i++, x += cols) {
    int j = 0;
    for (; j + 16 <= vec; j += 16) {
      wasm_v128_store(out + j, wasm_f32x4_add(wasm_v128_load(out + j), wasm_v128_load(x + j)));
      wasm_v128_store(out + j + 4, wasm_f32x4_add(wasm_v128_load(out + j + 4), wasm_v128_load(x + j + 4)));
      wasm_v128_store(out + j + 8, wasm_f32x4_add(wasm_v128_load(out + j + 8), wasm_v128_load(x + j + 8)));
      wasm_v128_store(out + j + 12, wasm_f32x4_add(wasm_v128_load(out + j + 12), wasm_v128_load(x + j + 12)));
    }
    for (; j < vec; j += 4) wasm_v128_store(out + j, wasm_f32x4_add(wasm_v128_load(out + j), wasm_v128_load(x + j)));
    for (; j < cols; j++) out[j] += x[j];
  }
}
