"""Connectionist temporal classification: the loss, its gradient, decoding, edit distance.

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
    with nogil:
        for j in range(B):
            losses[j] = _sequence_loss_grad(
                Z, starts, j, lengths[j], &labels[label_offsets[j]],
                label_offsets[j + 1] - label_offsets[j], weights[j],
                &logp[0, 0], &alpha[lattice_offsets[j]],
                &beta[lattice_offsets[j]], dZ)


# --------------------------------------------------------------------------
# Decoding


cdef Py_ssize_t _child(Py_ssize_t node, Py_ssize_t label, Py_ssize_t *parent,
                       Py_ssize_t *last, Py_ssize_t *first_child,
                       Py_ssize_t *sibling, Py_ssize_t *n_nodes) noexcept nogil:
    """The trie node of prefix ``node`` + ``label``, made if new: a prefix is
    one node, so beams that reach the same prefix merge by node identity."""
    cdef Py_ssize_t c = first_child[node]
    while c >= 0:
        if last[c] == label:
            return c
        c = sibling[c]
    c = n_nodes[0]
    n_nodes[0] += 1
    parent[c] = node
    last[c] = label
    first_child[c] = -1
    sibling[c] = first_child[node]
    first_child[node] = c
    return c


cdef Py_ssize_t _beam_search_one(
        const floating[:, ::1] logp, Py_ssize_t start, Py_ssize_t T,
        Py_ssize_t width, Py_ssize_t *parent, Py_ssize_t *last,
        Py_ssize_t *first_child, Py_ssize_t *sibling, Py_ssize_t *slot,
        Py_ssize_t *beam, double *beam_b, double *beam_nb,
        Py_ssize_t *cand, double *cand_b, double *cand_nb,
        Py_ssize_t *out) noexcept nogil:
    """Prefix beam search over rows start..start+T of ``logp``; the best
    prefix goes into ``out``, and its length is returned.

    ``slot[node]`` is the candidate of a trie node during a step, -1 outside
    one (and for every node the step makes, whose slots were reset).
    """
    cdef Py_ssize_t K = logp.shape[1], blank = K - 1
    cdef Py_ssize_t n_nodes = 1, n_beams = 1, n_cand, t, b, c, i, node, child
    cdef Py_ssize_t best, n_out
    cdef double total, p, score, best_score
    parent[0] = -1
    last[0] = -1
    first_child[0] = -1
    sibling[0] = -1
    slot[0] = -1
    beam[0] = 0
    beam_b[0] = 0.0
    beam_nb[0] = -INFINITY
    for t in range(T):
        n_cand = 0
        for b in range(n_beams):
            node = beam[b]
            total = _logaddexp(beam_b[b], beam_nb[b])
            for c in range(K):
                p = logp[start + t, c]
                if c == blank:
                    child = node
                elif c == last[node]:
                    # A repeat without a blank collapses into the prefix ...
                    child = node
                else:
                    child = _child(node, c, parent, last, first_child, sibling,
                                   &n_nodes)
                if slot[child] < 0:
                    slot[child] = n_cand
                    cand[n_cand] = child
                    cand_b[n_cand] = -INFINITY
                    cand_nb[n_cand] = -INFINITY
                    n_cand += 1
                i = slot[child]
                if c == blank:
                    cand_b[i] = _logaddexp(cand_b[i], total + p)
                elif child == node:
                    cand_nb[i] = _logaddexp(cand_nb[i], beam_nb[b] + p)
                    # ... and after a blank it extends it by the same label.
                    child = _child(node, c, parent, last, first_child,
                                   sibling, &n_nodes)
                    if slot[child] < 0:
                        slot[child] = n_cand
                        cand[n_cand] = child
                        cand_b[n_cand] = -INFINITY
                        cand_nb[n_cand] = -INFINITY
                        n_cand += 1
                    i = slot[child]
                    cand_nb[i] = _logaddexp(cand_nb[i], beam_b[b] + p)
                else:
                    cand_nb[i] = _logaddexp(cand_nb[i], total + p)
        # Keep the `width` most probable prefixes (ties: the first made).
        n_beams = 0
        while n_beams < width and n_beams < n_cand:
            best = -1
            best_score = -INFINITY
            for i in range(n_cand):
                if cand[i] < 0:
                    continue
                score = _logaddexp(cand_b[i], cand_nb[i])
                if best < 0 or score > best_score:
                    best, best_score = i, score
            beam[n_beams] = cand[best]
            beam_b[n_beams] = cand_b[best]
            beam_nb[n_beams] = cand_nb[best]
            slot[cand[best]] = -1
            cand[best] = -1
            n_beams += 1
        for i in range(n_cand):
            if cand[i] >= 0:
                slot[cand[i]] = -1
    # The beams are kept most probable first.
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
    # Every step makes at most beam_width * (K - 1) prefixes of the longest
    # sequence's trie, which is rebuilt for each sequence.
    n_nodes = 1 + longest * beam_width * max(K - 1, 1)
    n_cand = beam_width * K
    cdef Py_ssize_t[::1] parent = np.empty(n_nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] last = np.empty(n_nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] first_child = np.empty(n_nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] sibling = np.empty(n_nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] slot = np.full(n_nodes, -1, dtype=np.intp)
    cdef Py_ssize_t[::1] beam = np.empty(beam_width, dtype=np.intp)
    cdef double[::1] beam_b = np.empty(beam_width)
    cdef double[::1] beam_nb = np.empty(beam_width)
    cdef Py_ssize_t[::1] cand = np.empty(n_cand, dtype=np.intp)
    cdef double[::1] cand_b = np.empty(n_cand)
    cdef double[::1] cand_nb = np.empty(n_cand)
    with nogil:
        for i in range(n):
            out_lengths[i] = _beam_search_one(
                logp, offsets[i], offsets[i + 1] - offsets[i], beam_width,
                &parent[0], &last[0], &first_child[0], &sibling[0], &slot[0],
                &beam[0], &beam_b[0], &beam_nb[0], &cand[0], &cand_b[0],
                &cand_nb[0], &out[offsets[i]])


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
