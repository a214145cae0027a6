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
are the G gate blocks of H units each, in the order given below. The initial
state is zero. Every kernel is called once per minibatch and per layer
direction; it runs without the GIL, allocates nothing, and writes only into the
buffers it is given. The input projection ``X @ W_ih + b``, the weight gradients
and the input gradient are single GEMMs over all N rows outside the time loop;
inside the loop there is only the recurrent product on the active block and the
gate arithmetic.

With ``project=False`` the caller has already put the input projection (bias
included) into the pre-activation buffer (``H`` for the Elman cell, ``G`` for
the gated cells), which is how sparse input enters the first layer; ``X`` and
``W_ih`` are then not read. With ``input_grads=False`` the backward pass leaves
``dW_ih``, ``db`` and ``dX`` to the caller, who finds the gradient of the
pre-activations in the gate-gradient buffer.
"""

from cython cimport floating
from libc.math cimport exp, expf, fabsf, tanh
from libc.string cimport memcpy, memset

from ._blas cimport gemm


cdef extern from "_gates32.h" nogil:
    # float32 gate arithmetic on the rows of one step, vectorised (see the
    # header); the float64 kernels keep the scalar loops below, with libm.
    void skrnn_rnn_forward_block(float *a, Py_ssize_t n, bint relu)
    void skrnn_rnn_backward_block(const float *h, const float *dh,
                                  const float *carry, float *da, Py_ssize_t n,
                                  bint relu)
    void skrnn_lstm_forward_block(float *G, const float *c_prev, float *C,
                                  float *H, Py_ssize_t rows, Py_ssize_t hidden)
    void skrnn_lstm_backward_block(const float *G, const float *C,
                                   const float *c_prev, const float *dH,
                                   const float *carry_h, float *carry_c,
                                   float *dG, Py_ssize_t rows,
                                   Py_ssize_t hidden)
    void skrnn_gru_forward_block(float *G, const float *Hn,
                                 const float *h_prev, float *H,
                                 Py_ssize_t rows, Py_ssize_t hidden)
    void skrnn_gru_backward_block(const float *G, const float *Hn,
                                  const float *h_prev, const float *dH,
                                  float *carry, float *dGx, float *dGh,
                                  Py_ssize_t rows, Py_ssize_t hidden)
    void skrnn_rnn_infer_block(const float *a, float *h, Py_ssize_t n,
                               bint relu)
    void skrnn_lstm_infer_block(const float *G, float *C, float *H,
                                Py_ssize_t rows, Py_ssize_t hidden, bint first)
    void skrnn_gru_infer_block(const float *G, const float *R,
                               const float *b_hn, const float *h_prev,
                               float *h, Py_ssize_t rows, Py_ssize_t hidden,
                               bint first)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    if floating is float:
        return (<float> 1) / ((<float> 1) + expf(-x))
    else:
        return 1.0 / (1.0 + exp(-x))


cdef inline floating _tanh(floating x) noexcept nogil:
    """tanh; in float32 from one expf, since glibc's tanhf (through expm1f)
    took over a third of a whole fit.

    With t = exp(-2|x|) in (0, 1], tanh|x| = (1 - t) / (1 + t): no overflow,
    and an absolute error of about one float32 ulp of 1. float64 keeps libm's
    tanh, so the float64 kernels stay exact to round-off.
    """
    cdef float t
    if floating is float:
        t = expf((<float> -2) * fabsf(x))
        t = ((<float> 1) - t) / ((<float> 1) + t)
        return t if x >= 0 else -t
    else:
        return tanh(x)


cdef void _project(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                   const floating[::1] b, floating[:, ::1] A) noexcept nogil:
    """A = X @ W_ih + b over all rows: the input projection of every step."""
    _project_rows(X, 0, A.shape[0], W_ih, b, A)


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
    gemm(False, False, <int> rows, <int> GH, <int> n_in, <floating> 1.0,
         &X[first, 0], <int> n_in, &W_ih[0, 0], <int> GH, <floating> 1.0,
         &A[0, 0], <int> GH)


cdef void _column_sums(const floating[:, ::1] A, Py_ssize_t first,
                       Py_ssize_t ncols, floating[::1] out) noexcept nogil:
    """out[c] = sum over rows of A[:, first + c]."""
    cdef Py_ssize_t r, c
    for c in range(ncols):
        out[c] = 0
    for r in range(A.shape[0]):
        for c in range(ncols):
            out[c] += A[r, first + c]


cdef void _transpose_into(const floating[:, ::1] W,
                          floating[:, ::1] WT) noexcept nogil:
    """WT = W^T, for the per-step products of the backward pass."""
    cdef Py_ssize_t r, c
    for r in range(W.shape[0]):
        for c in range(W.shape[1]):
            WT[c, r] = W[r, c]


cdef bint _uses_transposed(const floating[:, ::1] W_hh,
                           floating[:, ::1] W_hhT) except -1:
    """Whether a W_hhT work buffer was given; it must fit W_hh transposed."""
    if W_hhT is None:
        return False
    if W_hhT.shape[0] != W_hh.shape[1] or W_hhT.shape[1] != W_hh.shape[0]:
        raise ValueError(
            f"W_hhT has shape {(W_hhT.shape[0], W_hhT.shape[1])}; W_hh "
            f"transposed has shape {(W_hh.shape[1], W_hh.shape[0])}.")
    return True


cdef inline void _state_grad(const floating *dA, int rows, int width,
                             const floating[:, ::1] W_hh, bint transposed,
                             const floating[:, ::1] W_hhT, floating beta,
                             floating *carry) noexcept nogil:
    """carry = dA W_hh^T + beta * carry over one step's rows.

    With W_hh^T already laid out, the product needs no transposition, which
    OpenBLAS runs about twice as fast at 64 units (it repacks a transposed
    operand on every call).
    """
    cdef int hidden = W_hh.shape[0]
    if transposed:
        gemm(False, False, rows, hidden, width, <floating> 1.0, dA, width,
             &W_hhT[0, 0], hidden, beta, carry, hidden)
    else:
        gemm(False, True, rows, hidden, width, <floating> 1.0, dA, width,
             &W_hh[0, 0], width, beta, carry, hidden)


cdef void _recurrent_weight_grad(const floating[:, ::1] H,
                                 const Py_ssize_t[::1] batch_sizes,
                                 const floating[:, ::1] dA,
                                 floating[:, ::1] Hprev,
                                 floating[:, ::1] dW_hh) noexcept nogil:
    """dW_hh = sum_t h_{t-1}^T dA_t, as one GEMM over the packed rows of steps >= 1.

    Hprev is filled so that its rows of step t hold the states of step t - 1.
    """
    cdef Py_ssize_t T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t GH = dA.shape[1], N = dA.shape[0]
    cdef Py_ssize_t t, prev = 0, cur = batch_sizes[0]
    for t in range(1, T):
        memcpy(&Hprev[cur, 0], &H[prev, 0],
               batch_sizes[t] * Hd * sizeof(floating))
        prev = cur
        cur += batch_sizes[t]
    cdef Py_ssize_t first = batch_sizes[0]
    if first == N:
        # A single step: no state feeds back, the gradient is zero.
        memset(&dW_hh[0, 0], 0, Hd * GH * sizeof(floating))
        return
    gemm(True, False, <int> Hd, <int> GH, <int> (N - first), <floating> 1.0,
         &Hprev[first, 0], <int> Hd, &dA[first, 0], <int> GH, <floating> 0.0,
         &dW_hh[0, 0], <int> GH)


cdef void _input_side_grads(const floating[:, ::1] X,
                            const floating[:, ::1] W_ih,
                            const floating[:, ::1] dA,
                            floating[:, ::1] dX, floating[:, ::1] dW_ih,
                            floating[::1] db, bint need_dx) noexcept nogil:
    """dW_ih = X^T dA, db = column sums of dA, dX = dA W_ih^T (if asked)."""
    cdef Py_ssize_t N = dA.shape[0], GH = dA.shape[1], n_in = X.shape[1]
    gemm(True, False, <int> n_in, <int> GH, <int> N, <floating> 1.0,
         &X[0, 0], <int> n_in, &dA[0, 0], <int> GH, <floating> 0.0,
         &dW_ih[0, 0], <int> GH)
    _column_sums(dA, 0, GH, db)
    if need_dx:
        gemm(False, True, <int> N, <int> n_in, <int> GH, <floating> 1.0,
             &dA[0, 0], <int> GH, &W_ih[0, 0], <int> GH, <floating> 0.0,
             &dX[0, 0], <int> n_in)


# --------------------------------------------------------------------------
# Elman cell:  h_t = act(x_t W_ih + b + h_{t-1} W_hh),  act = tanh or relu.
# --------------------------------------------------------------------------

def rnn_forward(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                const floating[:, ::1] W_hh, const floating[::1] b,
                const Py_ssize_t[::1] batch_sizes, floating[:, ::1] H,
                bint relu, bint project=True):
    """Forward pass of the Elman cell; writes the states of every step into H (N, H).

    ``h_t = act(x_t W_ih + b + h_{t-1} W_hh)`` with ``act`` = relu if ``relu``
    else tanh, and ``h_{-1} = 0``. The pre-activations are formed in H and
    overwritten by the states, which are all the backward pass needs.
    """
    cdef Py_ssize_t T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t t, j, u, bs, s = 0, ps = 0
    cdef floating a
    with nogil:
        if project:
            _project(X, W_ih, b, H)
        for t in range(T):
            bs = batch_sizes[t]
            if t > 0:
                gemm(False, False, <int> bs, <int> Hd, <int> Hd, <floating> 1.0,
                     &H[ps, 0], <int> Hd, &W_hh[0, 0], <int> Hd,
                     <floating> 1.0, &H[s, 0], <int> Hd)
            if floating is float:
                skrnn_rnn_forward_block(&H[s, 0], bs * Hd, relu)
            else:
                for j in range(s, s + bs):
                    for u in range(Hd):
                        a = H[j, u]
                        if relu:
                            H[j, u] = a if a > 0 else 0
                        else:
                            H[j, u] = _tanh(a)
            ps = s
            s += bs


def rnn_backward(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                 const floating[:, ::1] W_hh,
                 const Py_ssize_t[::1] batch_sizes,
                 const floating[:, ::1] H, const floating[:, ::1] dH,
                 floating[:, ::1] dA, floating[:, ::1] Hprev,
                 floating[:, ::1] carry, floating[:, ::1] dX,
                 floating[:, ::1] dW_ih, floating[:, ::1] dW_hh,
                 floating[::1] db, bint relu, bint input_grads=True,
                 bint need_dx=True, floating[:, ::1] W_hhT=None):
    """Backward pass of the Elman cell.

    dH (N, H) is the gradient of the loss with respect to every state from
    above (the head or the next layer). Fills dA (N, H) with the gradient of
    the pre-activations, then dW_hh, and unless ``input_grads`` is false dW_ih,
    db and, if ``need_dx``, dX (N, I). Hprev (N, H), carry (B, H) and the
    optional W_hhT (H, H), for W_hh transposed, are work space.
    """
    cdef Py_ssize_t N = H.shape[0], T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t t, j, u, bs, s = N
    cdef floating h, dh
    cdef bint transposed = _uses_transposed(W_hh, W_hhT)
    with nogil:
        if transposed:
            _transpose_into(W_hh, W_hhT)
        memset(&carry[0, 0], 0, carry.shape[0] * Hd * sizeof(floating))
        for t in range(T - 1, -1, -1):
            bs = batch_sizes[t]
            s -= bs
            if floating is float:
                skrnn_rnn_backward_block(&H[s, 0], &dH[s, 0], &carry[0, 0],
                                         &dA[s, 0], bs * Hd, relu)
            else:
                for j in range(bs):
                    for u in range(Hd):
                        dh = dH[s + j, u] + carry[j, u]
                        h = H[s + j, u]
                        if relu:
                            dA[s + j, u] = dh if h > 0 else 0
                        else:
                            dA[s + j, u] = dh * (1 - h * h)
            if t > 0:
                _state_grad(&dA[s, 0], <int> bs, <int> Hd, W_hh, transposed,
                            W_hhT, <floating> 0.0, &carry[0, 0])
        _recurrent_weight_grad(H, batch_sizes, dA, Hprev, dW_hh)
        if input_grads:
            _input_side_grads(X, W_ih, dA, dX, dW_ih, db, need_dx)


# --------------------------------------------------------------------------
# LSTM cell, gate blocks in the order i, f, g, o:
#   i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
#   a = x_t W_ih + b + h_{t-1} W_hh
#   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
# --------------------------------------------------------------------------

def lstm_forward(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                 const floating[:, ::1] W_hh, const floating[::1] b,
                 const Py_ssize_t[::1] batch_sizes, floating[:, ::1] G,
                 floating[:, ::1] C, floating[:, ::1] H, bint project=True):
    """Forward pass of the LSTM cell.

    Writes the activated gates i, f, g, o into G (N, 4H), the cell states into
    C (N, H) and the hidden states into H (N, H); ``h_{-1} = c_{-1} = 0``.
    """
    cdef Py_ssize_t T = batch_sizes.shape[0], Hd = H.shape[1], G4 = 4 * Hd
    cdef Py_ssize_t t, bs, s = 0, ps = 0
    with nogil:
        if project:
            _project(X, W_ih, b, G)
        for t in range(T):
            bs = batch_sizes[t]
            if t > 0:
                gemm(False, False, <int> bs, <int> G4, <int> Hd, <floating> 1.0,
                     &H[ps, 0], <int> Hd, &W_hh[0, 0], <int> G4,
                     <floating> 1.0, &G[s, 0], <int> G4)
            if floating is float:
                skrnn_lstm_forward_block(&G[s, 0], &C[ps, 0] if t > 0 else NULL,
                                         &C[s, 0], &H[s, 0], bs, Hd)
            else:
                _lstm_forward_step(G, C, H, s, ps, t, bs, Hd)
            ps = s
            s += bs


cdef inline void _lstm_forward_step(
        floating[:, ::1] G, floating[:, ::1] C, floating[:, ::1] H,
        Py_ssize_t s, Py_ssize_t ps, Py_ssize_t t, Py_ssize_t bs,
        Py_ssize_t Hd) noexcept nogil:
    """Gates, cell and hidden states of one LSTM step, scalar, for float64."""
    cdef Py_ssize_t j, u
    cdef floating ig, fg, gg, og, c, cp
    for j in range(bs):
        for u in range(Hd):
            ig = _sigmoid(G[s + j, u])
            fg = _sigmoid(G[s + j, Hd + u])
            gg = _tanh(G[s + j, 2 * Hd + u])
            og = _sigmoid(G[s + j, 3 * Hd + u])
            G[s + j, u] = ig
            G[s + j, Hd + u] = fg
            G[s + j, 2 * Hd + u] = gg
            G[s + j, 3 * Hd + u] = og
            cp = C[ps + j, u] if t > 0 else 0
            c = fg * cp + ig * gg
            C[s + j, u] = c
            H[s + j, u] = og * _tanh(c)


def lstm_backward(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                  const floating[:, ::1] W_hh,
                  const Py_ssize_t[::1] batch_sizes,
                  const floating[:, ::1] G, const floating[:, ::1] C,
                  const floating[:, ::1] H, const floating[:, ::1] dH,
                  floating[:, ::1] dG, floating[:, ::1] Hprev,
                  floating[:, ::1] carry_h, floating[:, ::1] carry_c,
                  floating[:, ::1] dX, floating[:, ::1] dW_ih,
                  floating[:, ::1] dW_hh, floating[::1] db,
                  bint input_grads=True, bint need_dx=True,
                  floating[:, ::1] W_hhT=None):
    """Backward pass of the LSTM cell.

    With dh = dH_t + (carried from t + 1) and tc = tanh(c_t)::

        dc      = dc_carry + dh * o * (1 - tc^2)
        da_i    = dc * g * i (1 - i)        da_f = dc * c_{t-1} * f (1 - f)
        da_g    = dc * i * (1 - g^2)        da_o = dh * tc * o (1 - o)
        dc_{t-1} carry = dc * f,            dh_{t-1} carry = dA_t W_hh^T

    Fills dG (N, 4H) with the pre-activation gradients, dW_hh, and unless
    ``input_grads`` is false dW_ih, db and, if ``need_dx``, dX. Hprev (N, H),
    carry_h and carry_c (B, H) and the optional W_hhT (4H, H) are work space.
    """
    cdef Py_ssize_t N = H.shape[0], T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t G4 = 4 * Hd
    cdef Py_ssize_t t, bs, s = N, ps
    cdef bint transposed = _uses_transposed(W_hh, W_hhT)
    with nogil:
        if transposed:
            _transpose_into(W_hh, W_hhT)
        memset(&carry_h[0, 0], 0, carry_h.shape[0] * Hd * sizeof(floating))
        memset(&carry_c[0, 0], 0, carry_c.shape[0] * Hd * sizeof(floating))
        for t in range(T - 1, -1, -1):
            bs = batch_sizes[t]
            s -= bs
            ps = s - batch_sizes[t - 1] if t > 0 else 0
            if floating is float:
                skrnn_lstm_backward_block(
                    &G[s, 0], &C[s, 0], &C[ps, 0] if t > 0 else NULL,
                    &dH[s, 0], &carry_h[0, 0], &carry_c[0, 0], &dG[s, 0], bs,
                    Hd)
            else:
                _lstm_backward_step(G, C, dH, dG, carry_h, carry_c, s, ps, t,
                                    bs, Hd)
            if t > 0:
                _state_grad(&dG[s, 0], <int> bs, <int> G4, W_hh, transposed,
                            W_hhT, <floating> 0.0, &carry_h[0, 0])
        _recurrent_weight_grad(H, batch_sizes, dG, Hprev, dW_hh)
        if input_grads:
            _input_side_grads(X, W_ih, dG, dX, dW_ih, db, need_dx)


cdef inline void _lstm_backward_step(
        const floating[:, ::1] G, const floating[:, ::1] C,
        const floating[:, ::1] dH, floating[:, ::1] dG,
        floating[:, ::1] carry_h, floating[:, ::1] carry_c, Py_ssize_t s,
        Py_ssize_t ps, Py_ssize_t t, Py_ssize_t bs, Py_ssize_t Hd) noexcept nogil:
    """Gate gradients of one LSTM step, scalar, for float64."""
    cdef Py_ssize_t j, u
    cdef floating dh, dc, tc, ig, fg, gg, og, cp
    for j in range(bs):
        for u in range(Hd):
            dh = dH[s + j, u] + carry_h[j, u]
            ig = G[s + j, u]
            fg = G[s + j, Hd + u]
            gg = G[s + j, 2 * Hd + u]
            og = G[s + j, 3 * Hd + u]
            tc = _tanh(C[s + j, u])
            cp = C[ps + j, u] if t > 0 else 0
            dc = carry_c[j, u] + dh * og * (1 - tc * tc)
            dG[s + j, u] = dc * gg * ig * (1 - ig)
            dG[s + j, Hd + u] = dc * cp * fg * (1 - fg)
            dG[s + j, 2 * Hd + u] = dc * ig * (1 - gg * gg)
            dG[s + j, 3 * Hd + u] = dh * tc * og * (1 - og)
            carry_c[j, u] = dc * fg


# --------------------------------------------------------------------------
# GRU cell, gate blocks in the order r, z, n:
#   r = sigmoid(x W_ir + b_r + h_{t-1} W_hr)
#   z = sigmoid(x W_iz + b_z + h_{t-1} W_hz)
#   n = tanh(x W_in + b_n + r * (h_{t-1} W_hn + b_hn))
#   h_t = (1 - z) * n + z * h_{t-1}
# --------------------------------------------------------------------------

def gru_forward(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                const floating[:, ::1] W_hh, const floating[::1] b,
                const floating[::1] b_hn, const Py_ssize_t[::1] batch_sizes,
                floating[:, ::1] G, floating[:, ::1] Hn, floating[:, ::1] H,
                bint project=True):
    """Forward pass of the GRU cell.

    Writes the activated gates r, z, n into G (N, 3H), the recurrent part of
    the candidate, ``h_{t-1} W_hn + b_hn``, into Hn (N, H) and the states into
    H (N, H); ``h_{-1} = 0``.
    """
    cdef Py_ssize_t T = batch_sizes.shape[0], Hd = H.shape[1], G3 = 3 * Hd
    cdef Py_ssize_t t, j, u, bs, s = 0, ps = 0
    with nogil:
        if project:
            _project(X, W_ih, b, G)
        for t in range(T):
            bs = batch_sizes[t]
            for j in range(bs):
                for u in range(Hd):
                    Hn[s + j, u] = b_hn[u]
            if t > 0:
                # r and z take h W_hh directly; n takes it through r, so its
                # block goes to Hn.
                gemm(False, False, <int> bs, <int> (2 * Hd), <int> Hd,
                     <floating> 1.0, &H[ps, 0], <int> Hd, &W_hh[0, 0], <int> G3,
                     <floating> 1.0, &G[s, 0], <int> G3)
                gemm(False, False, <int> bs, <int> Hd, <int> Hd,
                     <floating> 1.0, &H[ps, 0], <int> Hd, &W_hh[0, 2 * Hd],
                     <int> G3, <floating> 1.0, &Hn[s, 0], <int> Hd)
            if floating is float:
                skrnn_gru_forward_block(&G[s, 0], &Hn[s, 0],
                                        &H[ps, 0] if t > 0 else NULL, &H[s, 0],
                                        bs, Hd)
            else:
                _gru_forward_step(G, Hn, H, s, ps, t, bs, Hd)
            ps = s
            s += bs


cdef inline void _gru_forward_step(
        floating[:, ::1] G, const floating[:, ::1] Hn, floating[:, ::1] H,
        Py_ssize_t s, Py_ssize_t ps, Py_ssize_t t, Py_ssize_t bs,
        Py_ssize_t Hd) noexcept nogil:
    """Gates and states of one GRU step, scalar, for float64."""
    cdef Py_ssize_t j, u
    cdef floating rg, zg, ng, hp
    for j in range(bs):
        for u in range(Hd):
            rg = _sigmoid(G[s + j, u])
            zg = _sigmoid(G[s + j, Hd + u])
            ng = _tanh(G[s + j, 2 * Hd + u] + rg * Hn[s + j, u])
            G[s + j, u] = rg
            G[s + j, Hd + u] = zg
            G[s + j, 2 * Hd + u] = ng
            hp = H[ps + j, u] if t > 0 else 0
            H[s + j, u] = (1 - zg) * ng + zg * hp


def gru_backward(const floating[:, ::1] X, const floating[:, ::1] W_ih,
                 const floating[:, ::1] W_hh,
                 const Py_ssize_t[::1] batch_sizes,
                 const floating[:, ::1] G, const floating[:, ::1] Hn,
                 const floating[:, ::1] H, const floating[:, ::1] dH,
                 floating[:, ::1] dGx, floating[:, ::1] dGh,
                 floating[:, ::1] Hprev, floating[:, ::1] carry,
                 floating[:, ::1] dX, floating[:, ::1] dW_ih,
                 floating[:, ::1] dW_hh, floating[::1] db,
                 floating[::1] db_hn, bint input_grads=True,
                 bint need_dx=True, floating[:, ::1] W_hhT=None):
    """Backward pass of the GRU cell.

    With dh = dH_t + (carried from t + 1)::

        da_n = dh (1 - z) (1 - n^2)         da_z = dh (h_{t-1} - n) z (1 - z)
        da_r = da_n * Hn * r (1 - r)
        dh_{t-1} carry = dh * z + dGh_t W_hh^T

    dGx (N, 3H) holds the gradient of the input-side pre-activations
    (da_r, da_z, da_n) and dGh (N, 3H) that of the recurrent products
    (da_r, da_z, r * da_n). Fills both, dW_hh, db_hn, and unless
    ``input_grads`` is false dW_ih, db and, if ``need_dx``, dX. Hprev (N, H),
    carry (B, H) and the optional W_hhT (3H, H) are work space.
    """
    cdef Py_ssize_t N = H.shape[0], T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t G3 = 3 * Hd
    cdef Py_ssize_t t, bs, s = N, ps
    cdef bint transposed = _uses_transposed(W_hh, W_hhT)
    with nogil:
        if transposed:
            _transpose_into(W_hh, W_hhT)
        memset(&carry[0, 0], 0, carry.shape[0] * Hd * sizeof(floating))
        for t in range(T - 1, -1, -1):
            bs = batch_sizes[t]
            s -= bs
            ps = s - batch_sizes[t - 1] if t > 0 else 0
            if floating is float:
                skrnn_gru_backward_block(
                    &G[s, 0], &Hn[s, 0], &H[ps, 0] if t > 0 else NULL,
                    &dH[s, 0], &carry[0, 0], &dGx[s, 0], &dGh[s, 0], bs, Hd)
            else:
                _gru_backward_step(G, Hn, H, dH, dGx, dGh, carry, s, ps, t, bs,
                                   Hd)
            if t > 0:
                _state_grad(&dGh[s, 0], <int> bs, <int> G3, W_hh, transposed,
                            W_hhT, <floating> 1.0, &carry[0, 0])
        _recurrent_weight_grad(H, batch_sizes, dGh, Hprev, dW_hh)
        _column_sums(dGh, 2 * Hd, Hd, db_hn)
        if input_grads:
            _input_side_grads(X, W_ih, dGx, dX, dW_ih, db, need_dx)


cdef inline void _gru_backward_step(
        const floating[:, ::1] G, const floating[:, ::1] Hn,
        const floating[:, ::1] H, const floating[:, ::1] dH,
        floating[:, ::1] dGx, floating[:, ::1] dGh, floating[:, ::1] carry,
        Py_ssize_t s, Py_ssize_t ps, Py_ssize_t t, Py_ssize_t bs,
        Py_ssize_t Hd) noexcept nogil:
    """Gate gradients of one GRU step, scalar, for float64."""
    cdef Py_ssize_t j, u
    cdef floating dh, rg, zg, ng, hp, dan, daz, dar
    for j in range(bs):
        for u in range(Hd):
            dh = dH[s + j, u] + carry[j, u]
            rg = G[s + j, u]
            zg = G[s + j, Hd + u]
            ng = G[s + j, 2 * Hd + u]
            hp = H[ps + j, u] if t > 0 else 0
            dan = dh * (1 - zg) * (1 - ng * ng)
            daz = dh * (hp - ng) * zg * (1 - zg)
            dar = dan * Hn[s + j, u] * rg * (1 - rg)
            dGx[s + j, u] = dar
            dGx[s + j, Hd + u] = daz
            dGx[s + j, 2 * Hd + u] = dan
            dGh[s + j, u] = dar
            dGh[s + j, Hd + u] = daz
            dGh[s + j, 2 * Hd + u] = dan * rg
            carry[j, u] = dh * zg


# --------------------------------------------------------------------------
# Inference (predict): the forward pass without anything kept for backward.
#
# The training forward stores every step's gates for the backward pass; at
# predict that is N * G * H values written and read once more, which stream
# through memory. Here the input projection is formed one chunk of steps at
# a time into a work buffer A that stays in cache, the recurrent product is
# added into its rows, and only the states are written: every step's states
# (``keep_all``, the input of the next layer or of a per-step head), or just
# the current ones, updated in place in B rows, so that after the last step
# row j holds the final state of sequence j. The LSTM's cell state is always
# kept in place in B rows. With ``project=False``, A holds the whole (N, G*H)
# pre-activations already (sparse input); it is then added to in place.
# --------------------------------------------------------------------------

cdef enum _Cell:
    ELMAN, LSTM, GRU


cdef int _check_infer_args(
        const floating[:, ::1] X, const floating[:, ::1] W_ih,
        const floating[:, ::1] W_hh, const floating[::1] b,
        const Py_ssize_t[::1] batch_sizes, const floating[:, ::1] A,
        const floating[:, ::1] H, Py_ssize_t state_rows, Py_ssize_t n_gates,
        bint keep_all, bint project) except -1:
    """Raise ValueError unless the arrays fit each other and the batch: the
    kernel would otherwise read or write past the end of one."""
    cdef Py_ssize_t hidden = W_hh.shape[0], GH = n_gates * W_hh.shape[0]
    cdef Py_ssize_t N = 0, t
    for t in range(batch_sizes.shape[0]):
        N += batch_sizes[t]
    cdef Py_ssize_t B = batch_sizes[0] if batch_sizes.shape[0] else 0
    cdef Py_ssize_t need_a = B if project else N
    if W_hh.shape[1] != GH:
        raise ValueError(f"W_hh has shape {(W_hh.shape[0], W_hh.shape[1])}; "
                         f"it needs {GH} columns.")
    if project and (X.shape[0] < N or X.shape[1] != W_ih.shape[0]
                    or W_ih.shape[1] != GH or b.shape[0] != GH):
        raise ValueError(
            f"X {(X.shape[0], X.shape[1])}, W_ih {(W_ih.shape[0], W_ih.shape[1])} "
            f"and b {(b.shape[0],)} do not fit {N} rows and {GH} gate columns.")
    if A.shape[1] != GH or A.shape[0] < need_a:
        raise ValueError(f"A has shape {(A.shape[0], A.shape[1])}; it needs "
                         f"{GH} columns and at least {need_a} rows.")
    if H.shape[1] != hidden or H.shape[0] < (N if keep_all else B):
        raise ValueError(f"H has shape {(H.shape[0], H.shape[1])}; it needs "
                         f"{hidden} columns and {N if keep_all else B} rows.")
    if state_rows < B:
        raise ValueError(f"The state buffer has {state_rows} rows; it needs "
                         f"one per sequence, {B}.")
    return 0


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


cdef void _infer(_Cell cell, bint relu, const floating[:, ::1] X,
                 const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
                 const floating[::1] b, const floating *b_hn,
                 const Py_ssize_t[::1] batch_sizes, floating[:, ::1] A,
                 floating *state, floating[:, ::1] H, bint keep_all,
                 bint project) noexcept nogil:
    """The inference loop shared by the cells; ``state`` is the LSTM's cell
    state or the GRU's recurrent product, B rows."""
    cdef Py_ssize_t T = batch_sizes.shape[0], Hd = H.shape[1]
    cdef Py_ssize_t GH = W_hh.shape[1]
    cdef Py_ssize_t t = 0, t_end = T, rows, bs, s = 0, ps = 0, a0 = 0
    cdef floating *a
    cdef floating *h
    cdef floating *hp
    while t < T:
        if project:
            t_end = _chunk_end(batch_sizes, t, A.shape[0], &rows)
            _project_rows(X, s, rows, W_ih, b, A)
            a0 = s
        while t < t_end:
            bs = batch_sizes[t]
            a = &A[s - a0, 0]
            h = &H[s, 0] if keep_all else &H[0, 0]
            hp = &H[ps, 0] if keep_all else &H[0, 0]
            if cell == GRU:
                if t > 0:
                    gemm(False, False, <int> bs, <int> GH, <int> Hd,
                         <floating> 1.0, hp, <int> Hd, &W_hh[0, 0], <int> GH,
                         <floating> 0.0, state, <int> GH)
                if floating is float:
                    skrnn_gru_infer_block(a, state, b_hn, hp, h, bs, Hd, t == 0)
                else:
                    _gru_infer_rows(a, state, b_hn, hp, h, bs, Hd, t == 0)
            else:
                if t > 0:
                    gemm(False, False, <int> bs, <int> GH, <int> Hd,
                         <floating> 1.0, hp, <int> Hd, &W_hh[0, 0], <int> GH,
                         <floating> 1.0, a, <int> GH)
                if cell == ELMAN:
                    if floating is float:
                        skrnn_rnn_infer_block(a, h, bs * Hd, relu)
                    else:
                        _rnn_infer_rows(a, h, bs * Hd, relu)
                elif floating is float:
                    skrnn_lstm_infer_block(a, state, h, bs, Hd, t == 0)
                else:
                    _lstm_infer_rows(a, state, h, bs, Hd, t == 0)
            ps = s
            s += bs
            t += 1


cdef inline void _rnn_infer_rows(const floating *a, floating *h, Py_ssize_t n,
                                 bint relu) noexcept nogil:
    """h = act(a), scalar, for float64."""
    cdef Py_ssize_t k
    for k in range(n):
        if relu:
            h[k] = a[k] if a[k] > 0 else 0
        else:
            h[k] = _tanh(a[k])


cdef inline void _lstm_infer_rows(const floating *G, floating *C, floating *H,
                                  Py_ssize_t rows, Py_ssize_t Hd,
                                  bint first) noexcept nogil:
    """LSTM states of one step from its pre-activations, scalar, for float64."""
    cdef Py_ssize_t j, u
    cdef floating ig, fg, gg, og, c
    cdef const floating *g
    for j in range(rows):
        g = G + j * 4 * Hd
        for u in range(Hd):
            ig = _sigmoid(g[u])
            fg = _sigmoid(g[Hd + u])
            gg = _tanh(g[2 * Hd + u])
            og = _sigmoid(g[3 * Hd + u])
            c = fg * C[j * Hd + u] + ig * gg if not first else ig * gg
            C[j * Hd + u] = c
            H[j * Hd + u] = og * _tanh(c)


cdef inline void _gru_infer_rows(const floating *G, const floating *R,
                                 const floating *b_hn, const floating *h_prev,
                                 floating *h, Py_ssize_t rows, Py_ssize_t Hd,
                                 bint first) noexcept nogil:
    """GRU states of one step, scalar, for float64; h may be h_prev."""
    cdef Py_ssize_t j, u, k
    cdef floating rg, zg, ng, hp
    for j in range(rows):
        for u in range(Hd):
            k = j * 3 * Hd + u
            if first:
                rg = _sigmoid(G[k])
                zg = _sigmoid(G[k + Hd])
                ng = _tanh(G[k + 2 * Hd] + rg * b_hn[u])
                hp = 0
            else:
                rg = _sigmoid(G[k] + R[k])
                zg = _sigmoid(G[k + Hd] + R[k + Hd])
                ng = _tanh(G[k + 2 * Hd] + rg * (R[k + 2 * Hd] + b_hn[u]))
                hp = h_prev[j * Hd + u]
            h[j * Hd + u] = (1 - zg) * ng + zg * hp


def rnn_infer(const floating[:, ::1] X, const floating[:, ::1] W_ih,
              const floating[:, ::1] W_hh, const floating[::1] b,
              const Py_ssize_t[::1] batch_sizes, floating[:, ::1] A,
              floating[:, ::1] H, bint relu, bint keep_all,
              bint project=True):
    """Elman states without the backward's trace (see the section comment).

    A is (chunk, H) work space of at least B rows, or the (N, H)
    pre-activations if not ``project``; H is (N, H) if ``keep_all``, else
    (B, H) and holds the final states on return.
    """
    _check_infer_args(X, W_ih, W_hh, b, batch_sizes, A, H, H.shape[0], 1,
                      keep_all, project)
    if batch_sizes.shape[0] == 0:
        return
    with nogil:
        _infer(ELMAN, relu, X, W_ih, W_hh, b, NULL, batch_sizes, A, NULL, H,
               keep_all, project)


def lstm_infer(const floating[:, ::1] X, const floating[:, ::1] W_ih,
               const floating[:, ::1] W_hh, const floating[::1] b,
               const Py_ssize_t[::1] batch_sizes, floating[:, ::1] A,
               floating[:, ::1] C, floating[:, ::1] H, bint keep_all,
               bint project=True):
    """LSTM states without the backward's trace (see the section comment).

    A is (chunk, 4H) work space of at least B rows, or the (N, 4H)
    pre-activations if not ``project``; C (B, H) is work space for the cell
    states; H is (N, H) if ``keep_all``, else (B, H) and holds the final
    states on return.
    """
    _check_infer_args(X, W_ih, W_hh, b, batch_sizes, A, H,
                      C.shape[0] if C.shape[1] == W_hh.shape[0] else 0, 4,
                      keep_all, project)
    if batch_sizes.shape[0] == 0:
        return
    with nogil:
        _infer(LSTM, False, X, W_ih, W_hh, b, NULL, batch_sizes, A, &C[0, 0],
               H, keep_all, project)


def gru_infer(const floating[:, ::1] X, const floating[:, ::1] W_ih,
              const floating[:, ::1] W_hh, const floating[::1] b,
              const floating[::1] b_hn, const Py_ssize_t[::1] batch_sizes,
              floating[:, ::1] A, floating[:, ::1] R, floating[:, ::1] H,
              bint keep_all, bint project=True):
    """GRU states without the backward's trace (see the section comment).

    A is (chunk, 3H) work space of at least B rows, or the (N, 3H)
    pre-activations if not ``project``; R (B, 3H) is work space for the
    recurrent product; H is (N, H) if ``keep_all``, else (B, H) and holds the
    final states on return.
    """
    _check_infer_args(X, W_ih, W_hh, b, batch_sizes, A, H,
                      R.shape[0] if R.shape[1] == W_hh.shape[1] else 0, 3,
                      keep_all, project)
    if b_hn.shape[0] != W_hh.shape[0]:
        raise ValueError(f"b_hn has {b_hn.shape[0]} entries; it needs "
                         f"{W_hh.shape[0]}.")
    if batch_sizes.shape[0] == 0:
        return
    with nogil:
        _infer(GRU, False, X, W_ih, W_hh, b, &b_hn[0], batch_sizes, A,
               &R[0, 0], H, keep_all, project)
