"""Connectionist temporal classification: loss and gradient, decoding, edit distance.

The network's raw scores Z of a minibatch are in the packed layout (see
:mod:`skrnn._packing`): step t of the j-th sequence in packed order is row
``starts[t] + j``. The last of the K columns is the blank. A label sequence l
of length L is extended with blanks to l' of length S = 2L + 1 (blank, l_1,
blank, ..., l_L, blank); its lattice of T x S log-probabilities is walked
forwards (alpha) and backwards (beta) in log space, with a max-shifted
log-sum-exp (Graves et al. 2006, with beta excluding the emission at t).
"""

from cython cimport floating
from libc.math cimport INFINITY, exp, log, log1p

import numpy as np


cdef inline double _logaddexp(double a, double b) noexcept nogil:
    """log(exp(a) + exp(b)), exact for -inf operands."""
    if a == -INFINITY:
        return b
    if b == -INFINITY:
        return a
    if a > b:
        return a + log1p(exp(b - a))
    return b + log1p(exp(a - b))


cdef inline Py_ssize_t _extended(const Py_ssize_t *labels, Py_ssize_t s,
                                 Py_ssize_t blank) noexcept nogil:
    """The class of position s of the blank-extended label sequence."""
    return blank if s % 2 == 0 else labels[(s - 1) // 2]


cdef void _log_softmax(const floating *z, double *out,
                       Py_ssize_t K) noexcept nogil:
    cdef Py_ssize_t k
    cdef double top = z[0], total = 0.0
    for k in range(1, K):
        if z[k] > top:
            top = z[k]
    for k in range(K):
        total += exp(z[k] - top)
    total = top + log(total)
    for k in range(K):
        out[k] = z[k] - total


cdef double _sequence_loss_grad(
        const floating[:, ::1] Z, const Py_ssize_t[::1] starts, Py_ssize_t j,
        Py_ssize_t T, const Py_ssize_t *labels, Py_ssize_t L, double weight,
        double *logp, double *alpha, double *beta,
        floating[:, ::1] dZ) noexcept nogil:
    """-log p(l | x) of the j-th packed sequence; ``weight`` times its
    gradient with respect to the raw scores goes into its rows of dZ."""
    cdef Py_ssize_t K = Z.shape[1], blank = K - 1, S = 2 * L + 1
    cdef Py_ssize_t t, s, k, c, row
    cdef double a, log_z, occupancy
    for t in range(T):
        _log_softmax(&Z[starts[t] + j, 0], &logp[t * K], K)

    # alpha_t(s): log-probability of the paths through l'_1..l'_s ending at
    # step t in position s.
    for s in range(S):
        alpha[s] = -INFINITY
    alpha[0] = logp[blank]
    if S > 1:
        alpha[1] = logp[labels[0]]
    for t in range(1, T):
        for s in range(S):
            c = _extended(labels, s, blank)
            a = _logaddexp(alpha[(t - 1) * S + s],
                           alpha[(t - 1) * S + s - 1] if s > 0 else -INFINITY)
            # Skipping the blank between two labels is allowed unless they
            # are equal: a repeat needs a blank to be told from one label.
            if s > 1 and c != blank and c != labels[(s - 3) // 2]:
                a = _logaddexp(a, alpha[(t - 1) * S + s - 2])
            alpha[t * S + s] = a + logp[t * K + c]

    # beta_t(s): log-probability of the rest of l' after step t, at s.
    for s in range(S):
        beta[(T - 1) * S + s] = -INFINITY
    beta[(T - 1) * S + S - 1] = 0.0
    if S > 1:
        beta[(T - 1) * S + S - 2] = 0.0
    for t in range(T - 2, -1, -1):
        for s in range(S):
            c = _extended(labels, s, blank)
            a = beta[(t + 1) * S + s] + logp[(t + 1) * K + c]
            if s + 1 < S:
                a = _logaddexp(a, beta[(t + 1) * S + s + 1]
                               + logp[(t + 1) * K
                                      + _extended(labels, s + 1, blank)])
            if s + 2 < S and c != blank and c != labels[(s + 1) // 2]:
                a = _logaddexp(a, beta[(t + 1) * S + s + 2]
                               + logp[(t + 1) * K + labels[(s + 1) // 2]])
            beta[t * S + s] = a

    log_z = alpha[(T - 1) * S + S - 1]
    if S > 1:
        log_z = _logaddexp(log_z, alpha[(T - 1) * S + S - 2])

    # d(-log p)/dz_tk = softmax_tk - sum over s with l'_s = k of the
    # occupancy alpha_t(s) beta_t(s) / p(l | x).
    for t in range(T):
        row = starts[t] + j
        for k in range(K):
            dZ[row, k] = <floating> (weight * exp(logp[t * K + k]))
        if log_z == -INFINITY:
            continue
        for s in range(S):
            occupancy = alpha[t * S + s] + beta[t * S + s] - log_z
            if occupancy != -INFINITY:
                c = _extended(labels, s, blank)
                dZ[row, c] -= <floating> (weight * exp(occupancy))
    return -log_z


def ctc_loss_grad(const floating[:, ::1] Z, const Py_ssize_t[::1] starts,
                  const Py_ssize_t[::1] lengths, const Py_ssize_t[::1] labels,
                  const Py_ssize_t[::1] label_offsets,
                  const Py_ssize_t[::1] lattice_offsets,
                  const double[::1] weights, double[:, ::1] logp,
                  double[::1] alpha, double[::1] beta, floating[:, ::1] dZ,
                  double[::1] losses):
    """CTC loss of every sequence of a packed minibatch, and its gradient.

    Parameters
    ----------
    Z : (N, K) raw scores in packed order; column K - 1 is the blank.
    starts : (T_max + 1,) first packed row of each step.
    lengths : (B,) sequence lengths in packed order, non-increasing.
    labels : (sum L_j,) class codes in [0, K - 1) of the sequences' label
        sequences, one after the other in packed order.
    label_offsets : (B + 1,) where each sequence's labels start in ``labels``.
    lattice_offsets : (B + 1,) where each sequence's T_j x (2 L_j + 1)
        lattice starts in ``alpha`` and ``beta``.
    weights : (B,) weight of each sequence's loss in the gradient.
    logp : (T_max, K) work space for one sequence's log-softmax.
    alpha, beta : (lattice_offsets[B],) work space, the forward and backward
        variables on return.
    dZ : (N, K) receives ``weights[j]`` times the gradient of sequence j's
        loss with respect to its raw scores.
    losses : (B,) receives -log p(l_j | x_j); inf where no alignment exists.
    """
    cdef Py_ssize_t B = lengths.shape[0], K = Z.shape[1], j, T, L
    cdef Py_ssize_t N = 0
    for j in range(B):
        N += lengths[j]
    if K < 1 or Z.shape[0] != N or dZ.shape[0] != N or dZ.shape[1] != K:
        raise ValueError(f"Z and dZ must be ({N}, K) with K >= 1; got "
                         f"({Z.shape[0]}, {K}) and ({dZ.shape[0]}, {dZ.shape[1]}).")
    for name, n, want in (("label_offsets", label_offsets.shape[0], B + 1),
                          ("lattice_offsets", lattice_offsets.shape[0], B + 1),
                          ("weights", weights.shape[0], B),
                          ("losses", losses.shape[0], B),
                          ("starts", starts.shape[0],
                           (lengths[0] if B else 0) + 1)):
        if n != want:
            raise ValueError(f"{name} has {n} entries; it needs {want}.")
    for j in range(B):
        T = lengths[j]
        L = label_offsets[j + 1] - label_offsets[j]
        if T < 1 or L < 0 or label_offsets[j + 1] > labels.shape[0]:
            raise ValueError(f"Sequence {j}: {T} steps and labels "
                             f"[{label_offsets[j]}:{label_offsets[j + 1]}] of "
                             f"{labels.shape[0]}.")
        if lattice_offsets[j + 1] - lattice_offsets[j] != T * (2 * L + 1):
            raise ValueError(f"Sequence {j} needs a lattice of "
                             f"{T * (2 * L + 1)} entries.")
        if logp.shape[0] < T or logp.shape[1] != K:
            raise ValueError(f"logp must be at least ({T}, {K}).")
    if lattice_offsets[B] > alpha.shape[0] or lattice_offsets[B] > beta.shape[0]:
        raise ValueError(f"alpha and beta need {lattice_offsets[B]} entries.")
    for j in range(labels.shape[0]):
        if labels[j] < 0 or labels[j] >= K - 1:
            raise ValueError(f"labels[{j}] = {labels[j]} is not a class code "
                             f"in [0, {K - 1}).")
    # Only read where a sequence has labels: no element to point at if none.
    cdef const Py_ssize_t *codes = &labels[0] if labels.shape[0] else NULL
    with nogil:
        for j in range(B):
            losses[j] = _sequence_loss_grad(
                Z, starts, j, lengths[j], codes + label_offsets[j],
                label_offsets[j + 1] - label_offsets[j], weights[j],
                &logp[0, 0], &alpha[lattice_offsets[j]],
                &beta[lattice_offsets[j]], dZ)


# --------------------------------------------------------------------------
# Decoding


cdef Py_ssize_t _beam_search_one(
        const floating[:, ::1] logp, Py_ssize_t start, Py_ssize_t T,
        Py_ssize_t width, Py_ssize_t *parent, Py_ssize_t *last,
        Py_ssize_t *beam, double *beam_b, double *beam_nb,
        Py_ssize_t *extension, Py_ssize_t *cand_node, Py_ssize_t *cand_parent,
        Py_ssize_t *cand_label, double *cand_b, double *cand_nb,
        Py_ssize_t *out) noexcept nogil:
    """Prefix beam search over rows start..start+T of ``logp``; the best
    prefix goes into ``out``, and its length is returned.

    A prefix is a node of a tree (``parent``, ``last`` label; node 0 is the
    empty prefix), made only for the prefixes a step keeps, so the tree has
    at most 1 + T * width nodes. Each beam keeps the log-probabilities of its
    prefix with the alignments ending in a blank (b) and not (nb).
    """
    cdef Py_ssize_t K = logp.shape[1], blank = K - 1
    cdef Py_ssize_t n_nodes = 1, n_beams = 1, n_cand, t, b, y, c, i, node
    cdef Py_ssize_t best, n_out
    cdef double total, p, score, best_score
    parent[0] = -1
    last[0] = -1
    beam[0] = 0
    beam_b[0] = 0.0
    beam_nb[0] = -INFINITY
    for t in range(T):
        # extension[b * K + c]: the beam whose prefix is beam b's plus c, so
        # that both ways of reaching one prefix add up in one candidate.
        for i in range(n_beams * K):
            extension[i] = -1
        for y in range(n_beams):
            if beam[y] == 0:
                continue
            for b in range(n_beams):
                if beam[b] == parent[beam[y]]:
                    extension[b * K + last[beam[y]]] = y
        # Candidates 0..n_beams-1 are the beams' own prefixes, kept by a
        # blank or by repeating their last label.
        for b in range(n_beams):
            node = beam[b]
            cand_node[b] = node
            cand_b[b] = _logaddexp(beam_b[b], beam_nb[b]) + logp[start + t, blank]
            cand_nb[b] = (beam_nb[b] + logp[start + t, last[node]] if node
                          else -INFINITY)
        n_cand = n_beams
        for b in range(n_beams):
            node = beam[b]
            total = _logaddexp(beam_b[b], beam_nb[b])
            for c in range(blank):
                p = logp[start + t, c]
                # A repeated label extends the prefix only after a blank.
                p += beam_b[b] if c == last[node] else total
                y = extension[b * K + c]
                if y >= 0:
                    cand_nb[y] = _logaddexp(cand_nb[y], p)
                else:
                    cand_node[n_cand] = -1
                    cand_parent[n_cand] = node
                    cand_label[n_cand] = c
                    cand_b[n_cand] = -INFINITY
                    cand_nb[n_cand] = p
                    n_cand += 1
        # Keep the `width` most probable prefixes, most probable first (ties:
        # the first candidate); only they become nodes.
        n_beams = 0
        while n_beams < width and n_beams < n_cand:
            best = -1
            best_score = -INFINITY
            for i in range(n_cand):
                if cand_node[i] == -2:
                    continue
                score = _logaddexp(cand_b[i], cand_nb[i])
                if best < 0 or score > best_score:
                    best, best_score = i, score
            node = cand_node[best]
            if node < 0:
                node = n_nodes
                n_nodes += 1
                parent[node] = cand_parent[best]
                last[node] = cand_label[best]
            beam[n_beams] = node
            beam_b[n_beams] = cand_b[best]
            beam_nb[n_beams] = cand_nb[best]
            cand_node[best] = -2  # taken
            n_beams += 1
    n_out = 0
    node = beam[0]
    while node > 0:
        n_out += 1
        node = parent[node]
    node = beam[0]
    for i in range(n_out - 1, -1, -1):
        out[i] = last[node]
        node = parent[node]
    return n_out


def ctc_beam_search(const floating[:, ::1] logp, const Py_ssize_t[::1] offsets,
                    Py_ssize_t beam_width, Py_ssize_t[::1] out,
                    Py_ssize_t[::1] out_lengths):
    """Prefix beam search decoding of every sequence.

    Parameters
    ----------
    logp : (N, K) per-step log-posteriors, the rows of each sequence in time
        order one after the other; column K - 1 is the blank.
    offsets : (n + 1,) first row of each sequence.
    beam_width : prefixes kept after every step, >= 1.
    out : (N,) receives each sequence's decoded class codes at its offset.
    out_lengths : (n,) receives the number of decoded codes of each.
    """
    cdef Py_ssize_t n = out_lengths.shape[0], K = logp.shape[1], i, T
    cdef Py_ssize_t longest = 0
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1; got {beam_width}.")
    if offsets.shape[0] != n + 1 or out.shape[0] != logp.shape[0] or K < 1:
        raise ValueError("offsets, out and out_lengths do not match logp.")
    for i in range(n):
        T = offsets[i + 1] - offsets[i]
        if T < 0 or offsets[i] < 0 or offsets[i + 1] > logp.shape[0]:
            raise ValueError(f"offsets[{i}:{i + 2}] is not a row range of logp.")
        longest = max(longest, T)
    # The work space of the longest sequence, reused for every sequence.
    n_nodes = 1 + longest * beam_width
    n_cand = beam_width * K
    cdef Py_ssize_t[::1] parent = np.empty(n_nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] last = np.empty(n_nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] beam = np.empty(beam_width, dtype=np.intp)
    cdef double[::1] beam_b = np.empty(beam_width)
    cdef double[::1] beam_nb = np.empty(beam_width)
    cdef Py_ssize_t[::1] extension = np.empty(n_cand, dtype=np.intp)
    cdef Py_ssize_t[::1] cand_node = np.empty(n_cand, dtype=np.intp)
    cdef Py_ssize_t[::1] cand_parent = np.empty(n_cand, dtype=np.intp)
    cdef Py_ssize_t[::1] cand_label = np.empty(n_cand, dtype=np.intp)
    cdef double[::1] cand_b = np.empty(n_cand)
    cdef double[::1] cand_nb = np.empty(n_cand)
    with nogil:
        for i in range(n):
            if offsets[i + 1] == offsets[i]:
                out_lengths[i] = 0  # and no row of out to point at
                continue
            out_lengths[i] = _beam_search_one(
                logp, offsets[i], offsets[i + 1] - offsets[i], beam_width,
                &parent[0], &last[0], &beam[0], &beam_b[0], &beam_nb[0],
                &extension[0], &cand_node[0], &cand_parent[0], &cand_label[0],
                &cand_b[0], &cand_nb[0], &out[offsets[i]])


# --------------------------------------------------------------------------
# Edit distance


def edit_distances(const Py_ssize_t[::1] a, const Py_ssize_t[::1] a_offsets,
                   const Py_ssize_t[::1] b, const Py_ssize_t[::1] b_offsets,
                   Py_ssize_t[::1] out):
    """Levenshtein distance of every pair of code sequences a_i, b_i.

    ``a_offsets`` and ``b_offsets`` (n + 1,) delimit the sequences in the
    flat ``a`` and ``b``; ``out`` (n,) receives the distances.
    """
    cdef Py_ssize_t n = out.shape[0], i, p, q, la, lb, longest = 0
    cdef Py_ssize_t diagonal, above, here
    if a_offsets.shape[0] != n + 1 or b_offsets.shape[0] != n + 1:
        raise ValueError("a_offsets and b_offsets need n + 1 entries.")
    if (n and (a_offsets[n] > a.shape[0] or b_offsets[n] > b.shape[0])):
        raise ValueError("The offsets run past the sequences.")
    for i in range(n):
        if a_offsets[i + 1] < a_offsets[i] or b_offsets[i + 1] < b_offsets[i]:
            raise ValueError(f"Offsets of pair {i} decrease.")
        longest = max(longest, b_offsets[i + 1] - b_offsets[i])
    cdef Py_ssize_t[::1] row = np.empty(longest + 1, dtype=np.intp)
    with nogil:
        for i in range(n):
            la = a_offsets[i + 1] - a_offsets[i]
            lb = b_offsets[i + 1] - b_offsets[i]
            # One row of the dynamic programme, overwritten in place.
            for q in range(lb + 1):
                row[q] = q
            for p in range(1, la + 1):
                diagonal = row[0]
                row[0] = p
                for q in range(1, lb + 1):
                    above = row[q]
                    here = diagonal + (a[a_offsets[i] + p - 1]
                                       != b[b_offsets[i] + q - 1])
                    here = min(here, above + 1, row[q - 1] + 1)
                    row[q] = here
                    diagonal = above
            out[i] = row[lb]
