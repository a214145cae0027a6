"""Forward, inference and backward (BPTT) passes of the recurrent cells, packed.

Packed layout
-------------
A minibatch of B sequences is sorted by length, longest first. Its N = sum(T_i)
time steps are stored time-major: the rows of step t are the contiguous block
``[start[t], start[t] + batch_sizes[t])``, where ``batch_sizes[t]`` is the number
of sequences longer than t and ``start[t] = sum(batch_sizes[:t])``. Row j of
every block belongs to the j-th sequence, so the previous state of the rows of
step t is the first ``batch_sizes[t]`` rows of step t - 1, and every step is one
dense product on a contiguous block with no padding.

Conventions
-----------
Matrices are row-major; a layer maps its input x (I features) and the previous
state h (H units) through ``W_ih`` (I, G*H) and ``W_hh`` (H, G*H), whose columns
are the G gate blocks of H units each (the equations and gate order are in
``_cells_impl.h``). ``cell`` is one of ``ELMAN``, ``LSTM``, ``GRU``.

Every pass takes optional initial states ``h0`` (and for the LSTM ``c0``),
(B, H) in packed order, zero when not given, and hands the final states back:
the forward passes into ``h_n`` / ``c_n`` (B, H), the backward pass through its
``dh`` / ``dc`` buffers, which hold the gradient with respect to the final
states on entry and with respect to the initial states on return. So a
sequence can be run in chunks, each started from the last one's final state.

Every kernel is called once per minibatch and per layer direction; it checks
its arguments, then runs without the GIL, allocates nothing but one packed
copy of W_hh (``_gemm.h``; where that has no SIMD path, BLAS is used) and
writes only into the buffers it is given. The input projection
``X @ W_ih + b``, the weight gradients and the input gradient are single
GEMMs over all N rows outside the time loop; inside the loop there is only
the recurrent product on the active block, from the packed W_hh, and the
gate arithmetic.

With ``project=False`` the caller has already put the input projection (bias
included) into the pre-activation buffer, which is how sparse input enters the
first layer; ``X``, ``W_ih`` and ``b`` are then not read. With
``input_grads=False`` the backward pass leaves ``dW_ih``, ``db`` and ``dX`` to
the caller, who finds the gradient of the pre-activations in ``dG``.

Recurrent dropout: with a ``mask`` (B, H) the training passes replace the
previous state in the recurrent product by ``h_{t-1} * mask`` (row j of the
mask belongs to the j-th sequence, the same at every step), formed into the
work space ``Hm`` (B, H) step by step. Only the product sees the mask: the
GRU's carried ``z * h_{t-1}`` and the LSTM's cell state do not. The backward
pass given the same mask forms dW_hh from the masked states and multiplies
the gradient flowing to h_{t-1} through the product by the mask.
"""

from cython cimport floating
from libc.limits cimport INT_MAX
from libc.string cimport memcpy, memset

from ._blas cimport gemm, pack, packed_gemm, skrnn_packed_free


cdef extern from "_cells.h" nogil:
    void skrnn_forward_block_f(int cell, bint relu, float *G, const float *R,
                               const float *b_hn, const float *h_prev,
                               const float *c_prev, float *h, float *c,
                               float *hn, Py_ssize_t rows, Py_ssize_t H)
    void skrnn_forward_block_d(int cell, bint relu, double *G, const double *R,
                               const double *b_hn, const double *h_prev,
                               const double *c_prev, double *h, double *c,
                               double *hn, Py_ssize_t rows, Py_ssize_t H)
    void skrnn_infer_block_f(int cell, bint relu, float *G, const float *R,
                             const float *b_hn, const float *h_prev,
                             const float *c_prev, float *h, float *c,
                             Py_ssize_t rows, Py_ssize_t H)
    void skrnn_infer_block_d(int cell, bint relu, double *G, const double *R,
                             const double *b_hn, const double *h_prev,
                             const double *c_prev, double *h, double *c,
                             Py_ssize_t rows, Py_ssize_t H)
    void skrnn_backward_block_f(int cell, bint relu, const float *G,
                                const float *h, const float *c,
                                const float *h_prev, const float *c_prev,
                                const float *hn, const float *dH,
                                float *carry_h, float *carry_c, float *dG,
                                float *dGh, Py_ssize_t rows, Py_ssize_t H)
    void skrnn_backward_block_d(int cell, bint relu, const double *G,
                                const double *h, const double *c,
                                const double *h_prev, const double *c_prev,
                                const double *hn, const double *dH,
                                double *carry_h, double *carry_c, double *dG,
                                double *dGh, Py_ssize_t rows, Py_ssize_t H)
    void skrnn_column_sums_f(const float *A, Py_ssize_t rows, Py_ssize_t lda,
                             Py_ssize_t ncols, float *out)
    void skrnn_column_sums_d(const double *A, Py_ssize_t rows, Py_ssize_t lda,
                             Py_ssize_t ncols, double *out)


cdef enum _Cell:
    _ELMAN = 0
    _LSTM = 1
    _GRU = 2

ELMAN, LSTM, GRU = _ELMAN, _LSTM, _GRU


# --------------------------------------------------------------------------
# The three passes
# --------------------------------------------------------------------------

def forward(int cell, bint relu, const floating[:, ::1] X,
            const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
            const floating[::1] b, const Py_ssize_t[::1] batch_sizes,
            floating[:, ::1] G, floating[:, ::1] H, *,
            const floating[::1] b_hn=None, floating[:, ::1] C=None,
            floating[:, ::1] Hn=None, floating[:, ::1] R=None,
            const floating[:, ::1] h0=None, const floating[:, ::1] c0=None,
            floating[:, ::1] h_n=None, floating[:, ::1] c_n=None,
            const floating[:, ::1] mask=None, floating[:, ::1] Hm=None,
            bint project=True):
    """Training forward pass: the states of every step and what BPTT needs.

    Writes the states into H (N, H) and the activated gates into G (N, G*H),
    where the pre-activations are formed; the Elman cell's G may be H itself.
    The LSTM writes its cell states into C (N, H); the GRU writes
    ``h_{t-1} W_hn + b_hn`` into Hn (N, H) and needs b_hn (H,) and the work
    space R (B, 3H). The final states go to h_n and c_n (B, H) if given.
    With a recurrent-dropout ``mask`` (B, H), Hm (B, H) is its work space.
    """
    cdef Py_ssize_t N = _check_pass(cell, X, W_ih, W_hh, b, b_hn, batch_sizes,
                                    project, h0, c0)
    cdef Py_ssize_t T = batch_sizes.shape[0], B = batch_sizes[0] if T else 0
    cdef Py_ssize_t hidden = W_hh.shape[0], gH = W_hh.shape[1]
    _fits(G, "G", N, gH)
    _fits(H, "H", N, hidden)
    if cell == _LSTM:
        _fits(C, "C", N, hidden)
    if cell == _GRU:
        _fits(Hn, "Hn", N, hidden)
        _fits(R, "R", B, gH)
    _fits_optional(h_n, "h_n", B, hidden)
    if cell == _LSTM:
        _fits_optional(c_n, "c_n", B, hidden)
    _check_mask(mask, Hm, B, hidden)
    if T == 0:
        return
    cdef const floating *mb = &mask[0, 0] if mask is not None else NULL
    cdef floating *Hmb = &Hm[0, 0] if mask is not None else NULL
    cdef floating *Gb = &G[0, 0]
    cdef floating *Hb = &H[0, 0]
    cdef floating *Cb = &C[0, 0] if cell == _LSTM else NULL
    cdef floating *Hnb = &Hn[0, 0] if cell == _GRU else NULL
    cdef floating *Rb = &R[0, 0] if cell == _GRU else NULL
    cdef const floating *bhn = &b_hn[0] if cell == _GRU else NULL
    cdef const floating *hp = &h0[0, 0] if h0 is not None else NULL
    cdef const floating *cp = (&c0[0, 0] if cell == _LSTM and c0 is not None
                               else NULL)
    cdef floating *hn_out = &h_n[0, 0] if h_n is not None else NULL
    cdef floating *cn_out = (&c_n[0, 0] if cell == _LSTM and c_n is not None
                             else NULL)
    cdef Py_ssize_t t, bs, ended, s = 0
    cdef floating *Wp
    with nogil:
        if project:
            _project_rows(X, 0, N, W_ih, b, G)
        # Without a step that has a previous state, nothing reads W_hh.
        Wp = (pack(&W_hh[0, 0], <int> gH, <int> hidden, <int> gH, False)
              if T > 1 or hp != NULL else NULL)
        for t in range(T):
            bs = batch_sizes[t]
            if hp != NULL:
                _recurrent_product(cell, _masked(hp, mb, Hmb, bs * hidden), bs,
                                   W_hh, Wp, Gb + s * gH, Rb)
            _forward_block(cell, relu, Gb + s * gH, Rb, bhn, hp, cp,
                           Hb + s * hidden, _at(Cb, s * hidden),
                           _at(Hnb, s * hidden), bs, hidden)
            # Rows [ended, bs) are the sequences whose last step this is.
            ended = batch_sizes[t + 1] if t + 1 < T else 0
            _copy_ended(Hb + s * hidden, hn_out, ended, bs, hidden)
            _copy_ended(_at(Cb, s * hidden), cn_out, ended, bs, hidden)
            hp = Hb + s * hidden
            cp = _at(Cb, s * hidden)
            s += bs
        skrnn_packed_free(Wp)


def infer(int cell, bint relu, const floating[:, ::1] X,
          const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
          const floating[::1] b, const Py_ssize_t[::1] batch_sizes,
          floating[:, ::1] A, floating[:, ::1] H, *,
          const floating[::1] b_hn=None, floating[:, ::1] C=None,
          floating[:, ::1] R=None, const floating[:, ::1] h0=None,
          const floating[:, ::1] c0=None, floating[:, ::1] h_n=None,
          bint keep_all=True, bint project=True):
    """Predict pass: the states, without anything kept for a backward pass.

    The input projection is formed one chunk of steps at a time into the work
    space A (at least B rows, G*H columns), which stays in cache while the
    time loop reads it; with ``project=False`` A holds all N rows of it
    already. H receives every step's states (N, H) if ``keep_all``, else it
    is (B, H), updated in place, and holds the final states on return. The
    LSTM keeps its cell state in C (B, H), which holds the final cell states
    on return; the GRU needs b_hn and the work space R (B, 3H). With
    ``keep_all``, the final states also go to h_n (B, H) if given.
    """
    cdef Py_ssize_t N = _check_pass(cell, X, W_ih, W_hh, b, b_hn, batch_sizes,
                                    project, h0, c0)
    cdef Py_ssize_t T = batch_sizes.shape[0], B = batch_sizes[0] if T else 0
    cdef Py_ssize_t hidden = W_hh.shape[0], gH = W_hh.shape[1]
    if A is None or A.shape[1] != gH or A.shape[0] < (B if project else N):
        raise ValueError(
            f"A has shape {_shape(A)}; it needs {gH} columns and at least "
            f"{B if project else N} rows.")
    _fits(H, "H", N if keep_all else B, hidden)
    if cell == _LSTM:
        _fits(C, "C", B, hidden)
    if cell == _GRU:
        _fits(R, "R", B, gH)
    _fits_optional(h_n, "h_n", B, hidden)
    if T == 0:
        return
    cdef floating *Ab = &A[0, 0]
    cdef floating *Hb = &H[0, 0]
    cdef floating *Cb = &C[0, 0] if cell == _LSTM else NULL
    cdef floating *Rb = &R[0, 0] if cell == _GRU else NULL
    cdef const floating *bhn = &b_hn[0] if cell == _GRU else NULL
    cdef const floating *h0b = &h0[0, 0] if h0 is not None else NULL
    cdef const floating *c0b = (&c0[0, 0] if cell == _LSTM and c0 is not None
                                else NULL)
    cdef floating *hn_out = &h_n[0, 0] if h_n is not None else NULL
    cdef const floating *hp = h0b
    cdef const floating *cp = NULL
    cdef floating *h
    cdef Py_ssize_t t = 0, t_end = T, rows, bs, ended, s = 0, a0 = 0
    cdef floating *Wp
    with nogil:
        # Without a step that has a previous state, nothing reads W_hh.
        Wp = (pack(&W_hh[0, 0], <int> gH, <int> hidden, <int> gH, False)
              if T > 1 or h0b != NULL else NULL)
        if h0b != NULL and not keep_all:
            memcpy(Hb, h0b, B * hidden * sizeof(floating))
            hp = Hb
        if c0b != NULL:
            memcpy(Cb, c0b, B * hidden * sizeof(floating))
            cp = Cb
        while t < T:
            if project:
                t_end = _chunk_end(batch_sizes, t, A.shape[0], &rows)
                # A[:rows] = X[s:s + rows] @ W_ih + b   (rows x I) @ (I x gH)
                _project_rows(X, s, rows, W_ih, b, A)
                a0 = s
            while t < t_end:
                bs = batch_sizes[t]
                h = Hb + s * hidden if keep_all else Hb
                if hp != NULL:
                    _recurrent_product(cell, hp, bs, W_hh, Wp,
                                       Ab + (s - a0) * gH, Rb)
                _infer_block(cell, relu, Ab + (s - a0) * gH, Rb, bhn, hp, cp,
                             h, Cb, bs, hidden)
                if keep_all:
                    ended = batch_sizes[t + 1] if t + 1 < T else 0
                    _copy_ended(h, hn_out, ended, bs, hidden)
                hp = h
                cp = Cb
                s += bs
                t += 1
        if hn_out != NULL and not keep_all:
            memcpy(hn_out, Hb, B * hidden * sizeof(floating))
        skrnn_packed_free(Wp)


def backward(int cell, bint relu, const floating[:, ::1] X,
             const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
             const Py_ssize_t[::1] batch_sizes, const floating[:, ::1] G,
             const floating[:, ::1] H, const floating[:, ::1] dH,
             floating[:, ::1] dG, floating[:, ::1] Hprev, floating[:, ::1] dh,
             floating[:, ::1] dX, floating[:, ::1] dW_ih,
             floating[:, ::1] dW_hh, floating[::1] db, *,
             const floating[:, ::1] C=None, const floating[:, ::1] Hn=None,
             floating[:, ::1] dGh=None, floating[:, ::1] dc=None,
             floating[::1] db_hn=None, const floating[:, ::1] h0=None,
             const floating[:, ::1] c0=None, floating[:, ::1] W_hhT=None,
             const floating[:, ::1] mask=None, floating[:, ::1] Hm=None,
             bint input_grads=True, bint need_dx=True):
    """Backward pass through time, from what :func:`forward` stored.

    dH (N, H) is the gradient of the loss with respect to every state from
    above (the head or the next layer), None for none (a loss on the final
    states only, which then enters through dh); dh (B, H) holds the gradient with
    respect to the final states on entry (zero for none) and with respect to
    the initial states h0 on return; the LSTM's dc (B, H) likewise for the
    cell states. h0 and c0 are the initial states the forward pass was given.
    Fills dG (N, G*H) with the gradient of the pre-activations (the GRU's
    recurrent side, which differs in the n block, goes to dGh (N, 3H)),
    dW_hh, the GRU's db_hn, and unless ``input_grads`` is false dW_ih, db
    and, if ``need_dx``, dX (N, I). Hprev (N, H) and the optional W_hhT
    (G*H, H), for W_hh transposed, are work space; so is Hm (B, H) with
    the recurrent-dropout ``mask`` (B, H) the forward pass was given.
    """
    cdef Py_ssize_t N = _batch_rows(batch_sizes)
    cdef Py_ssize_t T = batch_sizes.shape[0], B = batch_sizes[0] if T else 0
    cdef Py_ssize_t hidden = W_hh.shape[0], gH = _gate_columns(cell, W_hh)
    _fits(G, "G", N, gH)
    _fits(H, "H", N, hidden)
    _fits_optional(dH, "dH", N, hidden)
    _fits(dG, "dG", N, gH)
    _fits(Hprev, "Hprev", N, hidden)
    _fits(dh, "dh", B, hidden)
    _fits(dW_hh, "dW_hh", hidden, gH)
    if cell == _LSTM:
        _fits(C, "C", N, hidden)
        _fits(dc, "dc", B, hidden)
    if cell == _GRU:
        _fits(Hn, "Hn", N, hidden)
        _fits(dGh, "dGh", N, gH)
        _fits1(db_hn, "db_hn", hidden)
    if input_grads:
        _fits(X, "X", N, X.shape[1] if X is not None else 0)
        _fits(W_ih, "W_ih", X.shape[1], gH)
        _fits(dW_ih, "dW_ih", X.shape[1], gH)
        _fits1(db, "db", gH)
        if need_dx:
            _fits(dX, "dX", N, X.shape[1])
    _check_initial_states(cell, h0, c0, B, hidden)
    cdef bint transposed = W_hhT is not None
    if transposed:
        _fits(W_hhT, "W_hhT", gH, hidden)
    _check_mask(mask, Hm, B, hidden)
    if T == 0:
        return
    cdef const floating *mb = &mask[0, 0] if mask is not None else NULL
    cdef floating *Hmb = &Hm[0, 0] if mask is not None else NULL
    cdef const floating *Gb = &G[0, 0]
    cdef const floating *Hb = &H[0, 0]
    cdef const floating *dHb = &dH[0, 0] if dH is not None else NULL
    cdef floating *dGb = &dG[0, 0]
    cdef const floating *Cb = &C[0, 0] if cell == _LSTM else NULL
    cdef const floating *Hnb = &Hn[0, 0] if cell == _GRU else NULL
    cdef floating *dGhb = &dGh[0, 0] if cell == _GRU else NULL
    cdef floating *dhb = &dh[0, 0]
    cdef floating *dcb = &dc[0, 0] if cell == _LSTM else NULL
    cdef const floating *h0b = &h0[0, 0] if h0 is not None else NULL
    cdef const floating *c0b = (&c0[0, 0] if cell == _LSTM and c0 is not None
                                else NULL)
    # What the recurrent product saw: the GRU's has its own gradient.
    cdef floating *dRb = dGhb if cell == _GRU else dGb
    cdef const floating *hp
    cdef const floating *cp
    cdef Py_ssize_t t, bs, ps, s = N
    cdef floating *Wp
    with nogil:
        # W_hh^T (gH, H), packed, or else laid out in W_hhT if given.
        Wp = pack(&W_hh[0, 0], <int> gH, <int> gH, <int> hidden, True)
        if transposed and Wp == NULL:
            _transpose_into(W_hh, W_hhT)
        for t in range(T - 1, -1, -1):
            bs = batch_sizes[t]
            s -= bs
            if t > 0:
                ps = s - batch_sizes[t - 1]
                hp = Hb + ps * hidden
                cp = _at_const(Cb, ps * hidden)
            else:
                hp = h0b
                cp = c0b
            _backward_block(cell, relu, Gb + s * gH, Hb + s * hidden,
                            _at_const(Cb, s * hidden), hp, cp,
                            _at_const(Hnb, s * hidden),
                            _at_const(dHb, s * hidden), dhb,
                            dcb, dGb + s * gH, _at(dGhb, s * gH), bs, hidden)
            if mb == NULL:
                # dh[:bs] = dR_t @ W_hh^T (+ dh[:bs], the GRU's dh * z)
                #           (bs x gH) @ (gH x H)
                _state_grad(dRb + s * gH, bs, gH, W_hh, Wp, transposed, W_hhT,
                            1 if cell == _GRU else 0, dhb)
            else:
                # Hm[:bs] = dR_t @ W_hh^T   (bs x gH) @ (gH x H), then
                # dh[:bs] = mask[:bs] * Hm[:bs] (+ dh[:bs], the GRU's dh * z)
                _state_grad(dRb + s * gH, bs, gH, W_hh, Wp, transposed, W_hhT,
                            0, Hmb)
                _add_masked(Hmb, mb, dhb, bs * hidden, cell == _GRU)
        skrnn_packed_free(Wp)
        _recurrent_weight_grad(H, h0b, batch_sizes, dRb, Hprev, dW_hh, mb)
        if cell == _GRU:
            _column_sums(dGh, 2 * hidden, hidden, db_hn)
        if input_grads:
            _input_side_grads(X, W_ih, dG, dX, dW_ih, db, need_dx)


# --------------------------------------------------------------------------
# Argument checks: raised before any loop, so no mismatched array is read or
# written past its end.
# --------------------------------------------------------------------------

cdef Py_ssize_t _check_pass(int cell, const floating[:, ::1] X,
                            const floating[:, ::1] W_ih,
                            const floating[:, ::1] W_hh,
                            const floating[::1] b, const floating[::1] b_hn,
                            const Py_ssize_t[::1] batch_sizes, bint project,
                            const floating[:, ::1] h0,
                            const floating[:, ::1] c0) except -1:
    """The checks the forward passes share; returns N."""
    cdef Py_ssize_t N = _batch_rows(batch_sizes)
    cdef Py_ssize_t B = batch_sizes[0] if batch_sizes.shape[0] else 0
    cdef Py_ssize_t hidden = W_hh.shape[0], gH = _gate_columns(cell, W_hh)
    if project:
        if X is None or W_ih is None or b is None:
            raise ValueError("X, W_ih and b are needed to project the input.")
        if (X.shape[0] != N or W_ih.shape[0] != X.shape[1]
                or W_ih.shape[1] != gH or b.shape[0] != gH):
            raise ValueError(
                f"X {_shape(X)}, W_ih {_shape(W_ih)} and b ({b.shape[0]},) do "
                f"not fit {N} rows and {gH} gate columns.")
    if cell == _GRU:
        _fits1(b_hn, "b_hn", hidden)
    _check_initial_states(cell, h0, c0, B, hidden)
    return N


cdef Py_ssize_t _batch_rows(const Py_ssize_t[::1] batch_sizes) except -1:
    """N = sum(batch_sizes), once the sizes are checked to be a packed layout."""
    cdef Py_ssize_t t, n = 0
    if batch_sizes is None:
        raise ValueError("batch_sizes is needed.")
    for t in range(batch_sizes.shape[0]):
        if batch_sizes[t] <= 0 or (t and batch_sizes[t] > batch_sizes[t - 1]):
            raise ValueError(
                f"batch_sizes must be positive and non-increasing; entry {t} "
                f"is {batch_sizes[t]}.")
        n += batch_sizes[t]
    if n > INT_MAX:
        raise ValueError(f"{n} rows exceed the {INT_MAX} rows BLAS can index.")
    return n


cdef Py_ssize_t _gate_columns(int cell, const floating[:, ::1] W_hh) except -1:
    """G*H, once W_hh is checked to have G gate blocks of H columns."""
    if cell not in (_ELMAN, _LSTM, _GRU):
        raise ValueError(f"Unknown cell {cell}.")
    if W_hh is None:
        raise ValueError("W_hh is needed.")
    cdef Py_ssize_t gH = (1 if cell == _ELMAN else 4 if cell == _LSTM
                          else 3) * W_hh.shape[0]
    if W_hh.shape[1] != gH or gH == 0:
        raise ValueError(f"W_hh has shape {_shape(W_hh)}; it needs "
                         f"{gH} columns and at least one unit.")
    return gH


cdef int _check_initial_states(int cell, const floating[:, ::1] h0,
                               const floating[:, ::1] c0, Py_ssize_t B,
                               Py_ssize_t hidden) except -1:
    _fits_optional(h0, "h0", B, hidden)
    if c0 is not None and cell != _LSTM:
        raise ValueError("c0 is an initial cell state: only the LSTM has one.")
    _fits_optional(c0, "c0", B, hidden)
    return 0


cdef int _check_mask(const floating[:, ::1] mask, const floating[:, ::1] Hm,
                     Py_ssize_t B, Py_ssize_t hidden) except -1:
    if mask is not None:
        _fits(mask, "mask", B, hidden)
        _fits(Hm, "Hm", B, hidden)
    return 0


cdef int _fits(const floating[:, ::1] a, str name, Py_ssize_t rows,
               Py_ssize_t cols) except -1:
    if a is None:
        raise ValueError(f"{name} is needed: ({rows}, {cols}).")
    if a.shape[0] != rows or a.shape[1] != cols:
        raise ValueError(f"{name} has shape {_shape(a)}; it needs "
                         f"{(rows, cols)}.")
    return 0


cdef int _fits_optional(const floating[:, ::1] a, str name, Py_ssize_t rows,
                        Py_ssize_t cols) except -1:
    if a is not None:
        _fits(a, name, rows, cols)
    return 0


cdef int _fits1(const floating[::1] a, str name, Py_ssize_t n) except -1:
    if a is None:
        raise ValueError(f"{name} is needed: ({n},).")
    if a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} entries; it needs {n}.")
    return 0


cdef int _within(Py_ssize_t offset, Py_ssize_t size, Py_ssize_t n_params,
                 str name, Py_ssize_t layer) except -1:
    if offset < 0 or offset + size > n_params:
        where = f"layer {layer}'s " if layer >= 0 else "the head's "
        raise ValueError(f"{where}{name} ({size} entries at {offset}) lies "
                         f"outside params ({n_params} entries).")
    return 0


cdef tuple _shape(const floating[:, ::1] a):
    return None if a is None else (a.shape[0], a.shape[1])


# --------------------------------------------------------------------------
# Pieces of the passes
# --------------------------------------------------------------------------

cdef inline floating *_at(floating *base, Py_ssize_t offset) noexcept nogil:
    """base + offset, or NULL for a buffer the cell does not have."""
    return base + offset if base != NULL else NULL


cdef inline const floating *_at_const(const floating *base,
                                      Py_ssize_t offset) noexcept nogil:
    return base + offset if base != NULL else NULL


cdef inline void _forward_block(int cell, bint relu, floating *G,
                                const floating *R, const floating *b_hn,
                                const floating *hp, const floating *cp,
                                floating *h, floating *c, floating *hn,
                                Py_ssize_t rows, Py_ssize_t hidden) noexcept nogil:
    if floating is float:
        skrnn_forward_block_f(cell, relu, G, R, b_hn, hp, cp, h, c, hn, rows,
                              hidden)
    else:
        skrnn_forward_block_d(cell, relu, G, R, b_hn, hp, cp, h, c, hn, rows,
                              hidden)


cdef inline void _infer_block(int cell, bint relu, floating *G,
                              const floating *R, const floating *b_hn,
                              const floating *hp, const floating *cp,
                              floating *h, floating *c, Py_ssize_t rows,
                              Py_ssize_t hidden) noexcept nogil:
    if floating is float:
        skrnn_infer_block_f(cell, relu, G, R, b_hn, hp, cp, h, c, rows, hidden)
    else:
        skrnn_infer_block_d(cell, relu, G, R, b_hn, hp, cp, h, c, rows, hidden)


cdef inline void _backward_block(int cell, bint relu, const floating *G,
                                 const floating *h, const floating *c,
                                 const floating *hp, const floating *cp,
                                 const floating *hn, const floating *dH,
                                 floating *carry_h, floating *carry_c,
                                 floating *dG, floating *dGh, Py_ssize_t rows,
                                 Py_ssize_t hidden) noexcept nogil:
    if floating is float:
        skrnn_backward_block_f(cell, relu, G, h, c, hp, cp, hn, dH, carry_h,
                               carry_c, dG, dGh, rows, hidden)
    else:
        skrnn_backward_block_d(cell, relu, G, h, c, hp, cp, hn, dH, carry_h,
                               carry_c, dG, dGh, rows, hidden)


cdef inline void _recurrent_product(int cell, const floating *hp,
                                    Py_ssize_t rows,
                                    const floating[:, ::1] W_hh,
                                    const floating *Wp, floating *g,
                                    floating *r) noexcept nogil:
    """The recurrent product of one step's rows, where its cell reads it;
    from Wp, W_hh packed, unless that is NULL."""
    cdef int hidden = <int> W_hh.shape[0], gH = <int> W_hh.shape[1]
    if Wp != NULL:
        if cell == _GRU:
            packed_gemm(<int> rows, gH, hidden, hp, hidden, Wp, False, r, gH)
        else:
            packed_gemm(<int> rows, gH, hidden, hp, hidden, Wp, True, g, gH)
    elif cell == _GRU:
        # R = h_prev @ W_hh   (rows x H) @ (H x 3H): n takes its block through r
        gemm(False, False, <int> rows, gH, hidden, <floating> 1.0, hp, hidden,
             &W_hh[0, 0], gH, <floating> 0.0, r, gH)
    else:
        # G[rows] += h_prev @ W_hh   (rows x H) @ (H x gH)
        gemm(False, False, <int> rows, gH, hidden, <floating> 1.0, hp, hidden,
             &W_hh[0, 0], gH, <floating> 1.0, g, gH)


cdef inline const floating *_masked(const floating *hp, const floating *mask,
                                    floating *out, Py_ssize_t n) noexcept nogil:
    """hp, or out = hp * mask over one step's n entries (recurrent dropout)."""
    cdef Py_ssize_t k
    if mask == NULL:
        return hp
    for k in range(n):
        out[k] = hp[k] * mask[k]
    return out


cdef inline void _add_masked(const floating *d, const floating *mask,
                             floating *carry, Py_ssize_t n,
                             bint accumulate) noexcept nogil:
    """carry = mask * d (+ carry): the gradient through the masked product."""
    cdef Py_ssize_t k
    if accumulate:
        for k in range(n):
            carry[k] += mask[k] * d[k]
    else:
        for k in range(n):
            carry[k] = mask[k] * d[k]


cdef inline void _copy_ended(const floating *step, floating *out,
                             Py_ssize_t first, Py_ssize_t stop,
                             Py_ssize_t hidden) noexcept nogil:
    """out[first:stop] = step[first:stop]: the final states of the sequences
    whose last step this is."""
    if out != NULL and stop > first:
        memcpy(out + first * hidden, step + first * hidden,
               (stop - first) * hidden * sizeof(floating))


cdef void _project_rows(const floating[:, ::1] X, Py_ssize_t first,
                        Py_ssize_t rows, const floating[:, ::1] W_ih,
                        const floating[::1] b, floating[:, ::1] A) noexcept nogil:
    """A[:rows] = X[first:first + rows] @ W_ih + b."""
    cdef Py_ssize_t GH = A.shape[1], n_in = X.shape[1]
    cdef Py_ssize_t r
    if rows <= 0:
        return
    # b is contiguous: a row copy, which the element loop was not compiled to
    for r in range(rows):
        memcpy(&A[r, 0], &b[0], GH * sizeof(floating))
    # A[:rows] += X[first:first + rows] @ W_ih   (rows x I) @ (I x GH)
    gemm(False, False, <int> rows, <int> GH, <int> n_in, <floating> 1.0,
         &X[first, 0] if n_in else NULL, <int> n_in,
         &W_ih[0, 0] if n_in else NULL, <int> GH, <floating> 1.0, &A[0, 0],
         <int> GH)


cdef Py_ssize_t _chunk_end(const Py_ssize_t[::1] batch_sizes, Py_ssize_t t,
                           Py_ssize_t max_rows,
                           Py_ssize_t *rows) noexcept nogil:
    """End of the chunk of steps from t whose rows fit max_rows (one step at
    least); its number of rows goes to rows."""
    rows[0] = batch_sizes[t]
    t += 1
    while t < batch_sizes.shape[0] and rows[0] + batch_sizes[t] <= max_rows:
        rows[0] += batch_sizes[t]
        t += 1
    return t


cdef void _column_sums(const floating[:, ::1] A, Py_ssize_t first,
                       Py_ssize_t ncols, floating[::1] out) noexcept nogil:
    """out[c] = sum over rows of A[:, first + c]."""
    if A.shape[0] == 0:
        memset(&out[0], 0, ncols * sizeof(floating))
    elif floating is float:
        skrnn_column_sums_f(&A[0, first], A.shape[0], A.shape[1], ncols,
                            &out[0])
    else:
        skrnn_column_sums_d(&A[0, first], A.shape[0], A.shape[1], ncols,
                            &out[0])


cdef void _transpose_into(const floating[:, ::1] W,
                          floating[:, ::1] WT) noexcept nogil:
    """WT = W^T, for the per-step products of the backward pass; in tiles,
    so the strided writes of one tile stay in cache."""
    cdef Py_ssize_t rows = W.shape[0], cols = W.shape[1]
    cdef Py_ssize_t r0, c0, r, c, r1, c1
    cdef const floating *w = &W[0, 0]
    cdef floating *wt = &WT[0, 0]
    for r0 in range(0, rows, 16):
        r1 = min(r0 + 16, rows)
        for c0 in range(0, cols, 16):
            c1 = min(c0 + 16, cols)
            for r in range(r0, r1):
                for c in range(c0, c1):
                    wt[c * rows + r] = w[r * cols + c]


cdef inline void _state_grad(const floating *dR, Py_ssize_t rows, Py_ssize_t width,
                             const floating[:, ::1] W_hh, const floating *Wp,
                             bint transposed, const floating[:, ::1] W_hhT,
                             floating beta, floating *carry) noexcept nogil:
    """carry = dR W_hh^T + beta * carry over one step's rows (beta 0 or 1).

    From Wp, W_hh^T packed, unless that is NULL; else with W_hh^T laid out
    once per call, the product needs no transposition, which OpenBLAS would
    otherwise repack on every step.
    """
    cdef int hidden = <int> W_hh.shape[0]
    if Wp != NULL:
        # carry = dR @ W_hh^T (+ carry)   (rows x gH) @ (gH x H)
        packed_gemm(<int> rows, hidden, <int> width, dR, <int> width, Wp,
                    beta != 0, carry, hidden)
    elif transposed:
        # carry = dR @ W_hhT + beta carry   (rows x gH) @ (gH x H)
        gemm(False, False, <int> rows, hidden, <int> width, <floating> 1.0, dR,
             <int> width, &W_hhT[0, 0], hidden, beta, carry, hidden)
    else:
        # carry = dR @ W_hh^T + beta carry   (rows x gH) @ (H x gH)^T
        gemm(False, True, <int> rows, hidden, <int> width, <floating> 1.0, dR,
             <int> width, &W_hh[0, 0], <int> width, beta, carry, hidden)


cdef void _recurrent_weight_grad(const floating[:, ::1] H, const floating *h0,
                                 const Py_ssize_t[::1] batch_sizes,
                                 const floating *dR, floating[:, ::1] Hprev,
                                 floating[:, ::1] dW_hh,
                                 const floating *mask) noexcept nogil:
    """dW_hh = sum_t h_{t-1}^T dR_t, one GEMM over the packed rows.

    Hprev is filled so that its rows of step t hold the states of step t - 1,
    and those of step 0 the initial states, each times the recurrent-dropout
    mask if there is one (the product saw the masked states); without h0 the
    zero initial states add nothing and step 0 is left out.
    """
    cdef Py_ssize_t T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t GH = dW_hh.shape[1], N = H.shape[0]
    cdef Py_ssize_t t, k, prev = 0, cur = batch_sizes[0]
    cdef Py_ssize_t first = batch_sizes[0]
    cdef floating *row
    for t in range(1, T):
        memcpy(&Hprev[cur, 0], &H[prev, 0],
               batch_sizes[t] * Hd * sizeof(floating))
        if mask != NULL:
            row = &Hprev[cur, 0]
            for k in range(batch_sizes[t] * Hd):
                row[k] *= mask[k]
        prev = cur
        cur += batch_sizes[t]
    if h0 != NULL:
        memcpy(&Hprev[0, 0], h0, first * Hd * sizeof(floating))
        if mask != NULL:
            row = &Hprev[0, 0]
            for k in range(first * Hd):
                row[k] *= mask[k]
        first = 0
    if first == N:
        # A single step from the zero state: no state feeds back.
        memset(&dW_hh[0, 0], 0, Hd * GH * sizeof(floating))
        return
    # dW_hh = Hprev[first:]^T @ dR[first:]   (H x n) @ (n x gH)
    gemm(True, False, <int> Hd, <int> GH, <int> (N - first), <floating> 1.0,
         &Hprev[first, 0], <int> Hd, dR + first * GH, <int> GH, <floating> 0.0,
         &dW_hh[0, 0], <int> GH)


cdef void _input_side_grads(const floating[:, ::1] X,
                            const floating[:, ::1] W_ih,
                            const floating[:, ::1] dA,
                            floating[:, ::1] dX, floating[:, ::1] dW_ih,
                            floating[::1] db, bint need_dx) noexcept nogil:
    """dW_ih = X^T dA, db = column sums of dA, dX = dA W_ih^T (if asked)."""
    cdef Py_ssize_t N = dA.shape[0], GH = dA.shape[1], n_in = X.shape[1]
    _column_sums(dA, 0, GH, db)
    if n_in == 0:
        return
    # dW_ih = X^T @ dA   (I x N) @ (N x gH)
    gemm(True, False, <int> n_in, <int> GH, <int> N, <floating> 1.0,
         &X[0, 0], <int> n_in, &dA[0, 0], <int> GH, <floating> 0.0,
         &dW_ih[0, 0], <int> GH)
    if need_dx:
        # dX = dA @ W_ih^T   (N x gH) @ (I x gH)^T
        gemm(False, True, <int> N, <int> n_in, <int> GH, <floating> 1.0,
             &dA[0, 0], <int> GH, &W_ih[0, 0], <int> GH, <floating> 0.0,
             &dX[0, 0], <int> n_in)


# --------------------------------------------------------------------------
# Generation: a stacked per-step network fed its own outputs
# --------------------------------------------------------------------------


def generate(int cell, bint relu, const floating[::1] params,
             const Py_ssize_t[:, ::1] layers, Py_ssize_t W_out, Py_ssize_t b_out,
             floating[::1] h, floating[::1] c, const floating[:, ::1] y0,
             const floating[:, :, ::1] exog, floating[:, :, ::1] Y,
             floating[:, ::1] x, floating[:, ::1] A, floating[:, ::1] R):
    """Run a unidirectional per-step network ``n_steps = Y.shape[0]`` steps on
    its own outputs: the input of step k is ``[y_{k-1}, exog[k]]``, with
    ``y_{-1} = y0`` (B, n_out), and its output goes to ``Y[k]`` (B, n_out).

    ``params`` is the network's flat vector; row l of ``layers`` holds layer
    l's offsets of W_ih, W_hh, b and b_hn (-1 without), its input width and
    its units. ``h`` (and for the LSTM ``c``) hold every layer's state, layer
    after layer, each (B, H_l) row-major: the initial states on entry and the
    final ones on return. ``x`` (B, n_out + n_exog), ``A`` and for the GRU
    ``R`` (B, the widest G*H) are work space.
    """
    cdef Py_ssize_t n_steps = Y.shape[0], B = y0.shape[0], n_out = y0.shape[1]
    cdef Py_ssize_t n_exog = exog.shape[2], n_layers = layers.shape[0]
    cdef Py_ssize_t n_gates = 4 if cell == _LSTM else (3 if cell == _GRU else 1)
    cdef Py_ssize_t layer, k, r, n_in, hidden, gH, state_size = 0, widest = 0
    cdef Py_ssize_t n_params = params.shape[0]
    if cell not in (_ELMAN, _LSTM, _GRU):
        raise ValueError(f"cell must be ELMAN, LSTM or GRU; got {cell}.")
    if layers.shape[1] != 6 or n_layers == 0:
        raise ValueError(f"layers has {n_layers} rows of {layers.shape[1]}; it "
                         "needs one row of 6 per layer.")
    for layer in range(n_layers):
        n_in, hidden = layers[layer, 4], layers[layer, 5]
        gH = n_gates * hidden
        if n_in != (n_out + n_exog if layer == 0 else layers[layer - 1, 5]):
            raise ValueError(f"layer {layer} reads {n_in} inputs; the layer "
                             "below it gives another number.")
        _within(layers[layer, 0], n_in * gH, n_params, "W_ih", layer)
        _within(layers[layer, 1], hidden * gH, n_params, "W_hh", layer)
        _within(layers[layer, 2], gH, n_params, "b", layer)
        if cell == _GRU:
            _within(layers[layer, 3], hidden, n_params, "b_hn", layer)
        state_size += B * hidden
        widest = max(widest, gH)
    _within(W_out, layers[n_layers - 1, 5] * n_out, n_params, "W_out", -1)
    _within(b_out, n_out, n_params, "b_out", -1)
    if h.shape[0] != state_size or (cell == _LSTM and c.shape[0] != state_size):
        raise ValueError(f"h (and c) need {state_size} entries: every layer's "
                         "(B, H_l) state.")
    if exog.shape[0] != n_steps or exog.shape[1] != B:
        raise ValueError(f"exog has {exog.shape[0]} x {exog.shape[1]} rows; it "
                         f"needs {n_steps} steps of {B}.")
    if Y.shape[1] != B or Y.shape[2] != n_out:
        raise ValueError(f"Y has rows of {Y.shape[1]} x {Y.shape[2]}; it needs "
                         f"{B} x {n_out}.")
    _fits(x, "x", B, n_out + n_exog)
    _fits(A, "A", B, widest)
    if cell == _GRU:
        _fits(R, "R", B, widest)
    if n_steps == 0 or B == 0:
        return
    cdef const floating *p = &params[0]
    cdef const floating *inp
    cdef floating *hl
    cdef floating *cl
    cdef floating *Ab = &A[0, 0]
    cdef floating *Rb = &R[0, 0] if cell == _GRU else NULL
    cdef floating *xb = &x[0, 0]
    cdef Py_ssize_t offset, width = n_out + n_exog
    with nogil:
        for k in range(n_steps):
            for r in range(B):
                memcpy(xb + r * width, &y0[r, 0] if k == 0 else &Y[k - 1, r, 0],
                       n_out * sizeof(floating))
                if n_exog:
                    memcpy(xb + r * width + n_out, &exog[k, r, 0],
                           n_exog * sizeof(floating))
            inp = xb
            n_in = width
            offset = 0
            for layer in range(n_layers):
                hidden = layers[layer, 5]
                gH = n_gates * hidden
                hl = &h[offset]
                cl = &c[offset] if cell == _LSTM else NULL
                # A = inp @ W_ih + b   (B x I) @ (I x gH)
                for r in range(B):
                    memcpy(Ab + r * gH, p + layers[layer, 2], gH * sizeof(floating))
                gemm(False, False, <int> B, <int> gH, <int> n_in, <floating> 1.0,
                     inp, <int> n_in, p + layers[layer, 0], <int> gH, <floating> 1.0,
                     Ab, <int> gH)
                # GRU: R = h @ W_hh; else A += h @ W_hh   (B x H) @ (H x gH)
                gemm(False, False, <int> B, <int> gH, <int> hidden,
                     <floating> 1.0, hl, <int> hidden, p + layers[layer, 1], <int> gH,
                     <floating> (0.0 if cell == _GRU else 1.0),
                     Rb if cell == _GRU else Ab, <int> gH)
                # In place, as the inference pass updates its states.
                _infer_block(cell, relu, Ab, Rb,
                             p + layers[layer, 3] if cell == _GRU else NULL, hl, cl,
                             hl, cl, B, hidden)
                inp = hl
                n_in = hidden
                offset += B * hidden
            # Y[k] = h_top @ W_out + b_out   (B x H) @ (H x n_out)
            for r in range(B):
                memcpy(&Y[k, r, 0], p + b_out, n_out * sizeof(floating))
            gemm(False, False, <int> B, <int> n_out, <int> n_in, <floating> 1.0,
                 inp, <int> n_in, p + W_out, <int> n_out, <floating> 1.0,
                 &Y[k, 0, 0], <int> n_out)
