/* Gate arithmetic of the recurrent cells on float32 row blocks, written so the compiler vectorises it.
 *
 * The Cython kernels call one of these per time step on the contiguous block
 * of rows active at that step, as they call BLAS for the recurrent product.
 * libm's expf and tanhf are scalar calls the compiler cannot vectorise; they
 * took most of a fit's time. Here exp is a branch-free polynomial inlined in
 * the loops, and each block function is compiled for AVX-512, AVX2 and the
 * baseline, chosen once at load time, so one binary runs everywhere.
 *
 * Accuracy: exp to about 2 ulp over the clamped range; sigmoid and tanh to a
 * few float32 ulp in absolute terms. float64 kernels do not use this file.
 */
#ifndef SKRNN_GATES32_H
#define SKRNN_GATES32_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(SKRNN_NO_TARGET_CLONES)
#define SKRNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SKRNN_CLONES
#endif

/* exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln 2 in two parts
 * (Cody & Waite), exp(r) by the minimax polynomial of Cephes' expf. x is
 * clamped so that 2^n stays a normal float: the results then lie within
 * [1.6e-38, 1.7e38], which is all a sigmoid or tanh needs. Every step is
 * branch-free (the rounding adds and subtracts 1.5 * 2^23), which is what
 * lets gcc vectorise the loops that inline it for every target. */
static inline float skrnn_exp(float x)
{
    x = x < 88.0f ? x : 88.0f;
    x = x > -87.0f ? x : -87.0f;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float skrnn_sigmoid(float x)
{
    return 1.0f / (1.0f + skrnn_exp(-x));
}

/* tanh|x| = (1 - e) / (1 + e) with e = exp(-2|x|) in (0, 1]: no overflow. */
static inline float skrnn_tanh(float x)
{
    float e = skrnn_exp(-2.0f * __builtin_fabsf(x));
    return __builtin_copysignf((1.0f - e) / (1.0f + e), x);
}

/* ---- Elman ---------------------------------------------------------- */

/* a -> act(a) in place over n = rows * hidden values. */
SKRNN_CLONES
static void skrnn_rnn_forward_block(float *restrict a, ptrdiff_t n, int relu)
{
    if (relu) {
        for (ptrdiff_t k = 0; k < n; k++)
            a[k] = a[k] > 0.0f ? a[k] : 0.0f;
    } else {
        for (ptrdiff_t k = 0; k < n; k++)
            a[k] = skrnn_tanh(a[k]);
    }
}

/* dA = (dH + carry) * act'(h), over n values. */
SKRNN_CLONES
static void skrnn_rnn_backward_block(const float *restrict h,
                                     const float *restrict dh,
                                     const float *restrict carry,
                                     float *restrict da, ptrdiff_t n, int relu)
{
    if (relu) {
        for (ptrdiff_t k = 0; k < n; k++)
            da[k] = h[k] > 0.0f ? dh[k] + carry[k] : 0.0f;
    } else {
        for (ptrdiff_t k = 0; k < n; k++)
            da[k] = (dh[k] + carry[k]) * (1.0f - h[k] * h[k]);
    }
}

/* ---- LSTM (gate blocks i, f, g, o) ------------------------------------ */

/* Activate the gates of `rows` rows of G (rows x 4H) in place; write c and
 * h. c_prev holds the previous cell states of the same rows, or is NULL at
 * the first step (zero state). */
SKRNN_CLONES
static void skrnn_lstm_forward_block(float *restrict G,
                                     const float *restrict c_prev,
                                     float *restrict C, float *restrict H,
                                     ptrdiff_t rows, ptrdiff_t hidden)
{
    for (ptrdiff_t j = 0; j < rows; j++) {
        float *g = G + j * 4 * hidden;
        float *c = C + j * hidden;
        float *h = H + j * hidden;
        const float *cp = c_prev ? c_prev + j * hidden : NULL;
        for (ptrdiff_t u = 0; u < hidden; u++) {
            float ig = skrnn_sigmoid(g[u]);
            float fg = skrnn_sigmoid(g[hidden + u]);
            float gg = skrnn_tanh(g[2 * hidden + u]);
            float og = skrnn_sigmoid(g[3 * hidden + u]);
            g[u] = ig;
            g[hidden + u] = fg;
            g[2 * hidden + u] = gg;
            g[3 * hidden + u] = og;
            c[u] = ig * gg;
        }
        if (cp) {
            for (ptrdiff_t u = 0; u < hidden; u++)
                c[u] += g[hidden + u] * cp[u];
        }
        for (ptrdiff_t u = 0; u < hidden; u++)
            h[u] = g[3 * hidden + u] * skrnn_tanh(c[u]);
    }
}

/* Gate gradients dG (rows x 4H) of one step; updates the carried dc and
 * reads the carried dh (the caller then overwrites carry_h with dG W_hh^T). */
SKRNN_CLONES
static void skrnn_lstm_backward_block(const float *restrict G,
                                      const float *restrict C,
                                      const float *restrict c_prev,
                                      const float *restrict dH,
                                      const float *restrict carry_h,
                                      float *restrict carry_c,
                                      float *restrict dG,
                                      ptrdiff_t rows, ptrdiff_t hidden)
{
    for (ptrdiff_t j = 0; j < rows; j++) {
        const float *g = G + j * 4 * hidden;
        const float *c = C + j * hidden;
        const float *dh_in = dH + j * hidden;
        const float *ch = carry_h + j * hidden;
        float *cc = carry_c + j * hidden;
        float *dg = dG + j * 4 * hidden;
        for (ptrdiff_t u = 0; u < hidden; u++) {
            float ig = g[u], fg = g[hidden + u];
            float gg = g[2 * hidden + u], og = g[3 * hidden + u];
            float dh = dh_in[u] + ch[u];
            float tc = skrnn_tanh(c[u]);
            float dc = cc[u] + dh * og * (1.0f - tc * tc);
            dg[u] = dc * gg * ig * (1.0f - ig);
            dg[hidden + u] = dc * fg * (1.0f - fg);   /* times c_prev below */
            dg[2 * hidden + u] = dc * ig * (1.0f - gg * gg);
            dg[3 * hidden + u] = dh * tc * og * (1.0f - og);
            cc[u] = dc * fg;
        }
        if (c_prev) {
            const float *cp = c_prev + j * hidden;
            for (ptrdiff_t u = 0; u < hidden; u++)
                dg[hidden + u] *= cp[u];
        } else {
            for (ptrdiff_t u = 0; u < hidden; u++)
                dg[hidden + u] = 0.0f;
        }
    }
}

/* ---- GRU (gate blocks r, z, n) ---------------------------------------- */

/* G holds the pre-activations of r and z (input and recurrent parts) and of
 * n's input part; Hn the recurrent part of n, h_prev W_hn + b_hn. h_prev is
 * NULL at the first step. */
SKRNN_CLONES
static void skrnn_gru_forward_block(float *restrict G,
                                    const float *restrict Hn,
                                    const float *restrict h_prev,
                                    float *restrict H,
                                    ptrdiff_t rows, ptrdiff_t hidden)
{
    for (ptrdiff_t j = 0; j < rows; j++) {
        float *g = G + j * 3 * hidden;
        const float *hn = Hn + j * hidden;
        float *h = H + j * hidden;
        for (ptrdiff_t u = 0; u < hidden; u++) {
            float rg = skrnn_sigmoid(g[u]);
            float zg = skrnn_sigmoid(g[hidden + u]);
            float ng = skrnn_tanh(g[2 * hidden + u] + rg * hn[u]);
            g[u] = rg;
            g[hidden + u] = zg;
            g[2 * hidden + u] = ng;
            h[u] = (1.0f - zg) * ng;
        }
        if (h_prev) {
            const float *hp = h_prev + j * hidden;
            for (ptrdiff_t u = 0; u < hidden; u++)
                h[u] += g[hidden + u] * hp[u];
        }
    }
}

/* dGx, dGh (rows x 3H) of one step; carry holds the dh carried from the
 * next step on entry and dh * z on exit (the caller adds dGh W_hh^T). */
SKRNN_CLONES
static void skrnn_gru_backward_block(const float *restrict G,
                                     const float *restrict Hn,
                                     const float *restrict h_prev,
                                     const float *restrict dH,
                                     float *restrict carry,
                                     float *restrict dGx, float *restrict dGh,
                                     ptrdiff_t rows, ptrdiff_t hidden)
{
    for (ptrdiff_t j = 0; j < rows; j++) {
        const float *g = G + j * 3 * hidden;
        const float *hn = Hn + j * hidden;
        const float *hp = h_prev ? h_prev + j * hidden : NULL;
        const float *dh_in = dH + j * hidden;
        float *ca = carry + j * hidden;
        float *dx = dGx + j * 3 * hidden;
        float *dhh = dGh + j * 3 * hidden;
        for (ptrdiff_t u = 0; u < hidden; u++) {
            float rg = g[u], zg = g[hidden + u], ng = g[2 * hidden + u];
            float dh = dh_in[u] + ca[u];
            float dan = dh * (1.0f - zg) * (1.0f - ng * ng);
            float dar = dan * hn[u] * rg * (1.0f - rg);
            dx[u] = dar;
            dx[2 * hidden + u] = dan;
            dhh[u] = dar;
            dhh[2 * hidden + u] = dan * rg;
            dx[hidden + u] = -dh * ng * zg * (1.0f - zg);  /* + h_prev part */
            ca[u] = dh * zg;
        }
        if (hp) {
            /* da_z = dh (h_prev - n) z (1 - z); ca now holds dh * z. */
            for (ptrdiff_t u = 0; u < hidden; u++)
                dx[hidden + u] += ca[u] * hp[u] * (1.0f - g[hidden + u]);
        }
        for (ptrdiff_t u = 0; u < hidden; u++)
            dhh[hidden + u] = dx[hidden + u];
    }
}

/* ---- Inference: forward only, nothing kept for a backward pass ---------
 *
 * Predict runs these instead of the forward blocks above: they read the
 * pre-activations without overwriting them and keep only the states, so a
 * predict pass holds the states of one step, not the gates of every step.
 * `first` marks the first step, whose previous state is zero: the state
 * buffers are then not read. */

/* h = act(a) over n values. */
SKRNN_CLONES
static void skrnn_rnn_infer_block(const float *restrict a, float *restrict h,
                                  ptrdiff_t n, int relu)
{
    if (relu) {
        for (ptrdiff_t k = 0; k < n; k++)
            h[k] = a[k] > 0.0f ? a[k] : 0.0f;
    } else {
        for (ptrdiff_t k = 0; k < n; k++)
            h[k] = skrnn_tanh(a[k]);
    }
}

/* G (rows x 4H) holds the pre-activations of i, f, g, o; C (rows x H) the
 * previous cell states, replaced by the new ones; H receives the states. */
SKRNN_CLONES
static void skrnn_lstm_infer_block(const float *restrict G, float *restrict C,
                                   float *restrict H, ptrdiff_t rows,
                                   ptrdiff_t hidden, int first)
{
    for (ptrdiff_t j = 0; j < rows; j++) {
        const float *g = G + j * 4 * hidden;
        float *c = C + j * hidden;
        float *h = H + j * hidden;
        for (ptrdiff_t u = 0; u < hidden; u++) {
            float ig = skrnn_sigmoid(g[u]);
            float fg = skrnn_sigmoid(g[hidden + u]);
            float gg = skrnn_tanh(g[2 * hidden + u]);
            float og = skrnn_sigmoid(g[3 * hidden + u]);
            /* the same operations, in the same order, as the forward block */
            float cu = ig * gg;
            if (!first)
                cu += fg * c[u];
            c[u] = cu;
            h[u] = og * skrnn_tanh(cu);
        }
    }
}

/* G (rows x 3H) holds the input parts x W_ih + b of r, z, n; R (rows x 3H)
 * the recurrent parts h_prev W_hh, not read at the first step. h_prev and h
 * may be the same rows (the state updated in place), so they are not
 * restrict: each value of h_prev is read before the same value of h is
 * written. */
SKRNN_CLONES
static void skrnn_gru_infer_block(const float *restrict G,
                                  const float *restrict R,
                                  const float *restrict b_hn,
                                  const float *h_prev, float *h,
                                  ptrdiff_t rows, ptrdiff_t hidden, int first)
{
    for (ptrdiff_t j = 0; j < rows; j++) {
        const float *g = G + j * 3 * hidden;
        const float *r = R + j * 3 * hidden;
        const float *hp = h_prev + j * hidden;
        float *hj = h + j * hidden;
        if (first) {
            for (ptrdiff_t u = 0; u < hidden; u++) {
                float rg = skrnn_sigmoid(g[u]);
                float zg = skrnn_sigmoid(g[hidden + u]);
                float ng = skrnn_tanh(g[2 * hidden + u] + rg * b_hn[u]);
                hj[u] = (1.0f - zg) * ng;
            }
        } else {
            for (ptrdiff_t u = 0; u < hidden; u++) {
                float rg = skrnn_sigmoid(g[u] + r[u]);
                float zg = skrnn_sigmoid(g[hidden + u] + r[hidden + u]);
                float ng = skrnn_tanh(g[2 * hidden + u]
                                      + rg * (r[2 * hidden + u] + b_hn[u]));
                float hu = (1.0f - zg) * ng;
                hj[u] = hu + zg * hp[u];
            }
        }
    }
}

#endif
