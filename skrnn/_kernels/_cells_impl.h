/* One time step of every cell, for the real type REAL (included by _cells.h
 * once per type, with SFX naming the functions and EXPM1 the exponential).
 *
 * Layout: a step's rows are contiguous; row j of every argument belongs to
 * the same sequence. G holds a row's G*H pre-activations (gate blocks of H
 * units side by side), states hold H values a row. A previous state of NULL
 * is the zero state. In-place updates (h == h_prev, c == c_prev) are allowed:
 * every loop reads a unit's inputs before it writes that unit, which is what
 * the ivdep pragmas promise the vectoriser.
 *
 * Cells (gate order in brackets):
 *   Elman       h = act(a),  a = x W_ih + b + h_prev W_hh
 *   LSTM [ifgo] c = f c_prev + i g,  h = o tanh(c)
 *   GRU  [rzn]  n = tanh(a_n + r (h_prev W_hn + b_hn)),  h = (1 - z) n + z h_prev
 */

static inline REAL SFX(skrnn_sigmoid)(REAL x)
{
    return (REAL)1 / ((REAL)2 + EXPM1(-x));
}

/* tanh|x| = -m / (2 + m) with m = expm1(-2|x|) in (-1, 0]: no overflow and
 * no cancellation near 0. */
static inline REAL SFX(skrnn_tanh)(REAL x)
{
    REAL m = EXPM1((REAL)-2 * FABS(x));
    return COPYSIGN(-m / ((REAL)2 + m), x);
}

/* ---- forward: the gates and states of one unit ----------------------- */

static inline void SFX(skrnn_lstm_unit)(REAL *g, ptrdiff_t u, ptrdiff_t H,
                                        REAL cp, int store, REAL *c, REAL *h)
{
    REAL i = SFX(skrnn_sigmoid)(g[u]);
    REAL f = SFX(skrnn_sigmoid)(g[H + u]);
    REAL gg = SFX(skrnn_tanh)(g[2 * H + u]);
    REAL o = SFX(skrnn_sigmoid)(g[3 * H + u]);
    REAL cu = f * cp + i * gg;
    if (store) {
        g[u] = i;
        g[H + u] = f;
        g[2 * H + u] = gg;
        g[3 * H + u] = o;
    }
    c[u] = cu;
    h[u] = o * SFX(skrnn_tanh)(cu);
}

/* a_r, a_z: full pre-activations; hn = h_prev W_hn + b_hn; a_n the input
 * part of n's pre-activation. */
static inline void SFX(skrnn_gru_unit)(REAL *g, ptrdiff_t u, ptrdiff_t H,
                                       REAL ar, REAL az, REAL an, REAL hn,
                                       REAL hp, int store, REAL *h,
                                       REAL *hn_out)
{
    REAL r = SFX(skrnn_sigmoid)(ar);
    REAL z = SFX(skrnn_sigmoid)(az);
    REAL n = SFX(skrnn_tanh)(an + r * hn);
    if (store) {
        g[u] = r;
        g[H + u] = z;
        g[2 * H + u] = n;
        hn_out[u] = hn;
    }
    h[u] = ((REAL)1 - z) * n + z * hp;
}

/* One step over `rows` rows. G: pre-activations (x W_ih + b, and for Elman
 * and LSTM + h_prev W_hh already); R: the GRU's h_prev W_hh (rows x 3H), read
 * only with h_prev. With `store`, the activated gates replace G (the Elman
 * cell's G may be h itself) and the GRU's recurrent candidate part goes to
 * hn, for the backward pass; c is the LSTM's cell state. */
static inline SKRNN_INLINE void SFX(skrnn_step)(int cell, int relu, int store, REAL *G,
                                   const REAL *R, const REAL *b_hn,
                                   const REAL *h_prev, const REAL *c_prev,
                                   REAL *h, REAL *c, REAL *hn, ptrdiff_t rows,
                                   ptrdiff_t H)
{
    ptrdiff_t j, u, k, n = rows * H;
    if (cell == SKRNN_ELMAN) {
        if (relu) {
#pragma GCC ivdep
            for (k = 0; k < n; k++)
                h[k] = G[k] > (REAL)0 ? G[k] : (REAL)0;
        } else {
#pragma GCC ivdep
            for (k = 0; k < n; k++)
                h[k] = SFX(skrnn_tanh)(G[k]);
        }
    } else if (cell == SKRNN_LSTM) {
        for (j = 0; j < rows; j++) {
            REAL *g = G + j * 4 * H;
            REAL *cj = c + j * H, *hj = h + j * H;
            if (c_prev) {
                const REAL *cp = c_prev + j * H;
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_lstm_unit)(g, u, H, cp[u], store, cj, hj);
            } else {
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_lstm_unit)(g, u, H, (REAL)0, store, cj, hj);
            }
        }
    } else {
        for (j = 0; j < rows; j++) {
            REAL *g = G + j * 3 * H;
            REAL *hj = h + j * H;
            REAL *hnj = store ? hn + j * H : NULL;
            if (h_prev) {
                const REAL *r = R + j * 3 * H, *hp = h_prev + j * H;
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_gru_unit)(g, u, H, g[u] + r[u],
                                        g[H + u] + r[H + u], g[2 * H + u],
                                        r[2 * H + u] + b_hn[u], hp[u], store,
                                        hj, hnj);
            } else {
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_gru_unit)(g, u, H, g[u], g[H + u], g[2 * H + u],
                                        b_hn[u], (REAL)0, store, hj, hnj);
            }
        }
    }
}

/* The training forward's step: keeps the gates for the backward pass. */
SKRNN_CLONES
static void SFX(skrnn_forward_block)(int cell, int relu, REAL *G,
                                     const REAL *R, const REAL *b_hn,
                                     const REAL *h_prev, const REAL *c_prev,
                                     REAL *h, REAL *c, REAL *hn,
                                     ptrdiff_t rows, ptrdiff_t H)
{
    SFX(skrnn_step)(cell, relu, 1, G, R, b_hn, h_prev, c_prev, h, c, hn, rows,
                    H);
}

/* The predict step: the same arithmetic, keeping only the states. */
SKRNN_CLONES
static void SFX(skrnn_infer_block)(int cell, int relu, REAL *G, const REAL *R,
                                   const REAL *b_hn, const REAL *h_prev,
                                   const REAL *c_prev, REAL *h, REAL *c,
                                   ptrdiff_t rows, ptrdiff_t H)
{
    SFX(skrnn_step)(cell, relu, 0, G, R, b_hn, h_prev, c_prev, h, c, NULL, rows,
                    H);
}

/* ---- backward --------------------------------------------------------- */

static inline void SFX(skrnn_lstm_unit_grad)(const REAL *g, ptrdiff_t u,
                                             ptrdiff_t H, REAL c, REAL cp,
                                             REAL dh, REAL *cc, REAL *dg)
{
    REAL i = g[u], f = g[H + u], gg = g[2 * H + u], o = g[3 * H + u];
    REAL tc = SFX(skrnn_tanh)(c);
    REAL dc = cc[u] + dh * o * ((REAL)1 - tc * tc);
    dg[u] = dc * gg * i * ((REAL)1 - i);
    dg[H + u] = dc * cp * f * ((REAL)1 - f);
    dg[2 * H + u] = dc * i * ((REAL)1 - gg * gg);
    dg[3 * H + u] = dh * tc * o * ((REAL)1 - o);
    cc[u] = dc * f;
}

static inline void SFX(skrnn_gru_unit_grad)(const REAL *g, ptrdiff_t u,
                                            ptrdiff_t H, REAL hn, REAL hp,
                                            REAL dh, REAL *ca, REAL *dg,
                                            REAL *dgh)
{
    REAL r = g[u], z = g[H + u], n = g[2 * H + u];
    REAL dan = dh * ((REAL)1 - z) * ((REAL)1 - n * n);
    REAL daz = dh * (hp - n) * z * ((REAL)1 - z);
    REAL dar = dan * hn * r * ((REAL)1 - r);
    dg[u] = dar;
    dg[H + u] = daz;
    dg[2 * H + u] = dan;
    dgh[u] = dar;
    dgh[H + u] = daz;
    dgh[2 * H + u] = dan * r;
    ca[u] = dh * z;
}

/* The gradient reaching a state: from above (dH, none if NULL) and from
 * the next step (carry). The NULL test is loop-invariant: the compiler
 * takes it out of the unit loops. */
static inline REAL SFX(skrnn_arriving)(const REAL *dH, const REAL *carry,
                                       ptrdiff_t k)
{
    return dH ? dH[k] + carry[k] : carry[k];
}

/* Gradients of one step's pre-activations. dH: the gradient arriving from
 * above, NULL for none (a loss on the final states only, which enters
 * through carry_h); carry_h: the gradient carried from the next step (read;
 * for the GRU replaced by dh * z, to which the caller adds dGh W_hh^T);
 * carry_c: the LSTM's cell gradient, read and replaced. dG: the
 * pre-activation gradient
 * (for the GRU of the input side); dGh: the GRU's recurrent side, which
 * differs in the n block (r * da_n). G holds the activated gates, h this
 * step's states (all the Elman cell needs), c its cell states, hn the GRU's
 * stored h_prev W_hn + b_hn. */
SKRNN_CLONES
static void SFX(skrnn_backward_block)(int cell, int relu, const REAL *G,
                                      const REAL *h, const REAL *c,
                                      const REAL *h_prev, const REAL *c_prev,
                                      const REAL *hn, const REAL *dH,
                                      REAL *carry_h, REAL *carry_c, REAL *dG,
                                      REAL *dGh, ptrdiff_t rows, ptrdiff_t H)
{
    ptrdiff_t j, u, k, n = rows * H;
    if (cell == SKRNN_ELMAN) {
        if (relu) {
#pragma GCC ivdep
            for (k = 0; k < n; k++)
                dG[k] = h[k] > (REAL)0 ? SFX(skrnn_arriving)(dH, carry_h, k)
                                       : (REAL)0;
        } else {
#pragma GCC ivdep
            for (k = 0; k < n; k++)
                dG[k] = SFX(skrnn_arriving)(dH, carry_h, k)
                        * ((REAL)1 - h[k] * h[k]);
        }
    } else if (cell == SKRNN_LSTM) {
        for (j = 0; j < rows; j++) {
            const REAL *g = G + j * 4 * H, *cj = c + j * H;
            const REAL *dh = dH ? dH + j * H : NULL, *ch = carry_h + j * H;
            REAL *cc = carry_c + j * H, *dg = dG + j * 4 * H;
            if (c_prev) {
                const REAL *cp = c_prev + j * H;
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_lstm_unit_grad)(g, u, H, cj[u], cp[u],
                                              SFX(skrnn_arriving)(dh, ch, u),
                                              cc, dg);
            } else {
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_lstm_unit_grad)(g, u, H, cj[u], (REAL)0,
                                              SFX(skrnn_arriving)(dh, ch, u),
                                              cc, dg);
            }
        }
    } else {
        for (j = 0; j < rows; j++) {
            const REAL *g = G + j * 3 * H, *hnj = hn + j * H;
            const REAL *dh = dH ? dH + j * H : NULL;
            REAL *ca = carry_h + j * H;
            REAL *dg = dG + j * 3 * H, *dgh = dGh + j * 3 * H;
            if (h_prev) {
                const REAL *hp = h_prev + j * H;
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_gru_unit_grad)(g, u, H, hnj[u], hp[u],
                                             SFX(skrnn_arriving)(dh, ca, u),
                                             ca, dg, dgh);
            } else {
#pragma GCC ivdep
                for (u = 0; u < H; u++)
                    SFX(skrnn_gru_unit_grad)(g, u, H, hnj[u], (REAL)0,
                                             SFX(skrnn_arriving)(dh, ca, u),
                                             ca, dg, dgh);
            }
        }
    }
}

/* out[c] = sum over the rows of A (row stride lda) of A[r, c], summed row
 * after row; each row is contiguous, so it is one vector pass. */
SKRNN_CLONES
static void SFX(skrnn_column_sums)(const REAL *A, ptrdiff_t rows,
                                   ptrdiff_t lda, ptrdiff_t ncols, REAL *out)
{
    ptrdiff_t r, c;
    for (c = 0; c < ncols; c++)
        out[c] = (REAL)0;
    for (r = 0; r < rows; r++) {
        const REAL *a = A + r * lda;
#pragma GCC ivdep
        for (c = 0; c < ncols; c++)
            out[c] += a[c];
    }
}
