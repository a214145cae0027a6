"""The CTC kernels against NumPy references: brute force over every alignment,
a log-space forward-backward, finite differences, PyTorch's ctc_loss."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import log_softmax, logsumexp
from skrnn._kernels._ctc import ctc_beam_search, ctc_loss_grad, edit_distances

from skrnn._loss import CTCLoss
from skrnn._network import Workspace
from skrnn._packing import PackedBatch
from skrnn._sequences import Sequences

NEG_INF = -np.inf


def _collapse(path, blank):
    """The labelling of an alignment: repeats merged, then blanks removed."""
    out = []
    previous = None
    for k in path:
        if k != previous and k != blank:
            out.append(k)
        previous = k
    return tuple(out)


def brute_force(logits, labels):
    """-log p(l | x) and its gradient wrt the logits, from every path."""
    T, K = logits.shape
    logp = log_softmax(logits, axis=1)
    path_logp, occupancy = [], []
    for path in itertools.product(range(K), repeat=T):
        if _collapse(path, K - 1) == tuple(labels):
            path_logp.append(logp[np.arange(T), path].sum())
            hot = np.zeros((T, K))
            hot[np.arange(T), path] = 1
            occupancy.append(hot)
    if not path_logp:
        return np.inf, None
    log_z = logsumexp(path_logp)
    weights = np.exp(np.array(path_logp) - log_z)
    gamma = np.tensordot(weights, np.array(occupancy), axes=1)
    return -log_z, np.exp(logp) - gamma


def forward_backward(logits, labels):
    """-log p(l | x) and its gradient from the textbook log-space recursions."""
    T, K = logits.shape
    blank = K - 1
    logp = log_softmax(logits, axis=1)
    ext = [blank]
    for label in labels:
        ext += [label, blank]
    S = len(ext)
    alpha = np.full((T, S), NEG_INF)
    alpha[0, 0] = logp[0, blank]
    if S > 1:
        alpha[0, 1] = logp[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            terms = [alpha[t - 1, s]]
            if s >= 1:
                terms.append(alpha[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[t - 1, s - 2])
            alpha[t, s] = np.logaddexp.reduce(terms) + logp[t, ext[s]]
    # Graves's beta, which includes the emission at t
    beta = np.full((T, S), NEG_INF)
    beta[T - 1, S - 1] = logp[T - 1, blank]
    if S > 1:
        beta[T - 1, S - 2] = logp[T - 1, ext[S - 2]]
    for t in range(T - 2, -1, -1):
        for s in range(S):
            terms = [beta[t + 1, s]]
            if s + 1 < S:
                terms.append(beta[t + 1, s + 1])
            if s + 2 < S and ext[s] != blank and ext[s] != ext[s + 2]:
                terms.append(beta[t + 1, s + 2])
            beta[t, s] = np.logaddexp.reduce(terms) + logp[t, ext[s]]
    log_z = np.logaddexp.reduce(alpha[T - 1, S - 2:])
    gamma = np.zeros((T, K))
    for s in range(S):
        gamma[:, ext[s]] += np.exp(alpha[:, s] + beta[:, s] - logp[:, ext[s]]
                                   - log_z)
    return -log_z, np.exp(logp) - gamma


def packed_ctc(logits, labels, weights=None, dtype=np.float64):
    """The kernel on a ragged batch given per sequence: losses, gradients per
    sequence (unpacked) and the weighted loss."""
    lengths = [x.shape[0] for x in logits]
    seqs = Sequences.from_lengths(np.concatenate(logits).astype(dtype), lengths)
    batch = PackedBatch(seqs, np.arange(len(logits)))
    ordered = [np.asarray(labels[i], dtype=np.intp) for i in batch.order]
    offsets = np.zeros(len(ordered) + 1, dtype=np.intp)
    np.cumsum([len(lab) for lab in ordered], out=offsets[1:])
    codes = (np.concatenate(ordered) if offsets[-1]
             else np.empty(0, dtype=np.intp))
    weights = np.ones(len(logits)) if weights is None else np.asarray(weights)
    loss, dZ = CTCLoss().loss_gradient(batch.X, batch, codes, offsets,
                                       weights[batch.order],
                                       Workspace(np.float64))
    assert dZ.dtype == dtype
    grad = np.empty_like(dZ)
    grad[batch.gather] = dZ
    grads = np.split(grad, seqs.offsets[1:-1])
    return loss, grads


def _case(rng, lengths, labels, K):
    return [rng.standard_normal((T, K)) for T in lengths], labels


# Empty label sequences, repeats, a repeat that needs every step (T = L + r),
# and a sequence exactly as long as its labels.
TINY = [
    ([4, 3, 2, 4, 1], [[0, 1], [], [1], [0, 0], [0]]),
    ([3, 3, 4, 2], [[1, 1], [0, 1, 0], [0, 0, 1], [1, 0]]),
]


@pytest.mark.parametrize("lengths, labels", TINY)
def test_kernel_equals_brute_force_over_alignments(lengths, labels, rng):
    logits, labels = _case(rng, lengths, labels, K=3)
    weights = rng.uniform(0.5, 2.0, len(logits))
    loss, grads = packed_ctc(logits, labels, weights)
    expected = [brute_force(x, lab) for x, lab in zip(logits, labels)]
    assert_allclose(loss, sum(w * e[0] for w, e in zip(weights, expected)),
                    rtol=1e-12)
    for w, grad, (_, expected_grad) in zip(weights, grads, expected):
        assert_allclose(grad, w * expected_grad, rtol=1e-10, atol=1e-12)


def test_numpy_forward_backward_equals_brute_force(rng):
    """The second reference is itself checked against the first."""
    for lengths, labels in TINY:
        for x, lab in zip(*_case(rng, lengths, labels, K=3)):
            loss, grad = forward_backward(x, lab)
            expected_loss, expected_grad = brute_force(x, lab)
            assert_allclose(loss, expected_loss, rtol=1e-12)
            assert_allclose(grad, expected_grad, atol=1e-12)


def _random_batch(rng, n=7, K=6, longest=25):
    lengths, labels = [], []
    for i in range(n):
        T = int(rng.integers(1, longest))
        L = int(rng.integers(0, T // 2 + 1)) if i else 0  # one empty
        lab = rng.integers(0, K - 1, L)
        if L >= 2 and i % 2:
            lab[1] = lab[0]  # a repeat
        lengths.append(T)
        labels.append(lab)
    return _case(rng, lengths, labels, K)


def test_kernel_equals_numpy_forward_backward(rng):
    logits, labels = _random_batch(rng)
    loss, grads = packed_ctc(logits, labels)
    total = 0.0
    for x, lab, grad in zip(logits, labels, grads):
        expected_loss, expected_grad = forward_backward(x, lab)
        total += expected_loss
        assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)
    assert_allclose(loss, total, rtol=1e-12)


def test_gradient_equals_finite_differences(rng):
    logits, labels = _random_batch(rng, n=4, K=4, longest=8)
    weights = rng.uniform(0.5, 2.0, len(logits))
    _, grads = packed_ctc(logits, labels, weights)
    eps = 1e-6
    for i, x in enumerate(logits):
        for t, k in itertools.product(range(x.shape[0]), range(x.shape[1])):
            x[t, k] += eps
            up = packed_ctc(logits, labels, weights)[0]
            x[t, k] -= 2 * eps
            down = packed_ctc(logits, labels, weights)[0]
            x[t, k] += eps
            assert_allclose(grads[i][t, k], (up - down) / (2 * eps),
                            rtol=1e-5, atol=1e-8)


def test_gradient_rows_sum_to_zero_and_weight_scales(rng):
    """Softmax and occupancy each sum to one per step; a weight scales both."""
    logits, labels = _random_batch(rng)
    loss, grads = packed_ctc(logits, labels)
    for grad in grads:
        assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)
    weights = np.full(len(logits), 0.25)
    loss_w, grads_w = packed_ctc(logits, labels, weights)
    assert_allclose(loss_w, 0.25 * loss, rtol=1e-12)
    for g, gw in zip(grads, grads_w):
        assert_allclose(gw, 0.25 * g, rtol=1e-12, atol=1e-15)


def test_packing_invariance(rng):
    """A sequence's loss and gradient are the same alone as in any batch."""
    logits, labels = _random_batch(rng)
    _, grads = packed_ctc(logits, labels)
    for i in range(len(logits)):
        loss, (grad,) = packed_ctc([logits[i]], [labels[i]])
        assert_allclose(loss, forward_backward(logits[i], labels[i])[0],
                        rtol=1e-12)
        assert_allclose(grad, grads[i], rtol=1e-12, atol=1e-15)
    perm = rng.permutation(len(logits))
    _, permuted = packed_ctc([logits[i] for i in perm], [labels[i] for i in perm])
    for j, i in enumerate(perm):
        assert_allclose(permuted[j], grads[i], rtol=1e-12, atol=1e-15)


def test_float32_agrees_with_float64(rng):
    logits, labels = _random_batch(rng)
    loss64, grads64 = packed_ctc(logits, labels)
    loss32, grads32 = packed_ctc(logits, labels, dtype=np.float32)
    assert_allclose(loss32, loss64, rtol=1e-5)
    for g32, g64 in zip(grads32, grads64):
        assert_allclose(g32, g64, atol=1e-5)


def test_large_scores_stay_finite(rng):
    """Log space: scores that would underflow probabilities are no problem."""
    logits, labels = _random_batch(rng)
    logits = [50 * x for x in logits]
    loss, grads = packed_ctc(logits, labels)
    expected = sum(forward_backward(x, lab)[0] for x, lab in zip(logits, labels))
    assert np.isfinite(loss)
    assert_allclose(loss, expected, rtol=1e-10)
    assert all(np.isfinite(g).all() for g in grads)


def test_unalignable_pair_has_infinite_loss_and_zero_occupancy(rng):
    """The estimator refuses such pairs; the kernel itself reports inf."""
    x = rng.standard_normal((2, 3))
    loss, (grad,) = packed_ctc([x], [[0, 0]])
    assert loss == np.inf
    assert_allclose(grad, np.exp(log_softmax(x, axis=1)))


def _raw_arguments(rng):
    Z = rng.standard_normal((5, 3))
    return dict(
        Z=Z, starts=np.array([0, 2, 4, 5], dtype=np.intp),
        lengths=np.array([3, 2], dtype=np.intp),
        labels=np.array([0, 1], dtype=np.intp),
        label_offsets=np.array([0, 1, 2], dtype=np.intp),
        lattice_offsets=np.array([0, 9, 15], dtype=np.intp),
        weights=np.ones(2), logp=np.empty((3, 3)), alpha=np.empty(15),
        beta=np.empty(15), dZ=np.empty_like(Z), losses=np.empty(2))


@pytest.mark.parametrize("change, match", [
    (dict(labels=np.array([0, 2], dtype=np.intp)), "not a class code"),
    (dict(labels=np.array([0, -1], dtype=np.intp)), "not a class code"),
    (dict(dZ=np.empty((4, 3))), "Z and dZ"),
    (dict(weights=np.ones(3)), "weights"),
    (dict(alpha=np.empty(10)), "alpha and beta"),
    (dict(lattice_offsets=np.array([0, 9, 14], dtype=np.intp)), "lattice"),
    (dict(logp=np.empty((2, 3))), "logp"),
    (dict(starts=np.array([0, 2, 4], dtype=np.intp)), "starts"),
])
def test_kernel_checks_its_arguments(change, match, rng):
    arguments = {**_raw_arguments(rng), **change}
    ctc_loss_grad(**_raw_arguments(rng))
    with pytest.raises(ValueError, match=match):
        ctc_loss_grad(**arguments)


# --------------------------------------------------------------------------
# PyTorch as an oracle


def test_torch_ctc_loss_oracle(rng):
    torch = pytest.importorskip("torch")
    logits, labels = _random_batch(rng, n=9, K=7, longest=30)
    loss, grads = packed_ctc(logits, labels)
    T = max(x.shape[0] for x in logits)
    K = logits[0].shape[1]
    padded = np.zeros((T, len(logits), K))
    for i, x in enumerate(logits):
        padded[:x.shape[0], i] = x
    raw = torch.tensor(padded, dtype=torch.float64, requires_grad=True)
    # torch's ctc_loss takes log-softmax outputs: the same numbers, through
    # the same link, differentiated back to the raw scores.
    log_probs = torch.log_softmax(raw, dim=2)
    target_lengths = [len(lab) for lab in labels]
    targets = torch.tensor(np.concatenate(labels), dtype=torch.long)
    losses = torch.nn.functional.ctc_loss(
        log_probs, targets, [x.shape[0] for x in logits], target_lengths,
        blank=K - 1, reduction="none", zero_infinity=False)
    losses.sum().backward()
    ours = [forward_backward(x, lab)[0] for x, lab in zip(logits, labels)]
    assert_allclose(losses.detach().numpy(), ours, rtol=1e-10)
    assert_allclose(loss, losses.sum().item(), rtol=1e-10)
    torch_grad = raw.grad.numpy()
    for i, grad in enumerate(grads):
        assert_allclose(grad, torch_grad[:grad.shape[0], i], atol=1e-10)


# --------------------------------------------------------------------------
# Decoding and edit distance


def _beam(logp_list, width):
    offsets = np.zeros(len(logp_list) + 1, dtype=np.intp)
    np.cumsum([x.shape[0] for x in logp_list], out=offsets[1:])
    logp = np.concatenate(logp_list)
    out = np.empty(logp.shape[0], dtype=np.intp)
    counts = np.empty(len(logp_list), dtype=np.intp)
    ctc_beam_search(logp, offsets, width, out, counts)
    return [tuple(out[offsets[i]:offsets[i] + counts[i]])
            for i in range(len(logp_list))]


def _most_probable_labelling(logits):
    T, K = logits.shape
    logp = log_softmax(logits, axis=1)
    scores = {}
    for path in itertools.product(range(K), repeat=T):
        labelling = _collapse(path, K - 1)
        scores[labelling] = np.logaddexp(scores.get(labelling, NEG_INF),
                                         logp[np.arange(T), path].sum())
    return max(scores, key=scores.get)


def test_wide_beam_finds_the_most_probable_labelling(rng):
    """With a beam wider than the number of prefixes nothing is pruned, so
    prefix beam search is exact: the arg max over labellings, each summed
    over its alignments."""
    logits = [rng.standard_normal((T, 3)) for T in (1, 2, 3, 4, 5, 5, 5)]
    found = _beam([log_softmax(x, axis=1) for x in logits], width=64)
    assert found == [_most_probable_labelling(x) for x in logits]


def _reference_beam(logp, width):
    """Prefix beam search with a dict of prefixes, pruned like the kernel."""
    def add(grown, prefix, b=NEG_INF, nb=NEG_INF):
        old_b, old_nb = grown.get(prefix, (NEG_INF, NEG_INF))
        grown[prefix] = (np.logaddexp(old_b, b), np.logaddexp(old_nb, nb))

    T, K = logp.shape
    blank = K - 1
    beams = {(): (0.0, NEG_INF)}  # prefix -> (log p blank-ending, non-blank)
    for t in range(T):
        grown = {}
        for prefix, (b, nb) in beams.items():
            total = np.logaddexp(b, nb)
            add(grown, prefix, b=total + logp[t, blank])
            if prefix:
                add(grown, prefix, nb=nb + logp[t, prefix[-1]])
            for c in range(blank):
                source = b if prefix and prefix[-1] == c else total
                add(grown, prefix + (c,), nb=source + logp[t, c])
        ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = dict(ranked[:width])
    return max(beams, key=lambda prefix: np.logaddexp(*beams[prefix]))


@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_beam_search_equals_a_reference_with_pruning(width, rng):
    logp = [log_softmax(1.5 * rng.standard_normal((int(T), 4)), axis=1)
            for T in rng.integers(1, 14, 20)]
    assert _beam(logp, width) == [_reference_beam(x, width) for x in logp]


def test_beam_search_can_beat_the_best_path():
    """The classic case: the best path is all blanks, but 'a' is likelier."""
    p = np.array([[0.4, 0.6], [0.4, 0.6]])  # columns: 'a', blank
    logp = np.log(p)
    assert _collapse(logp.argmax(axis=1), 1) == ()  # 0.36
    # p('a') = 0.16 + 0.24 + 0.24; a beam of one has pruned 'a' after step 1
    assert _beam([logp], width=2) == [(0,)]
    assert _beam([logp], width=1) == [()]


def test_beam_search_keeps_repeats_split_by_a_blank():
    hot = np.full((5, 3), np.log(1e-4))
    for t, k in enumerate([0, 2, 0, 0, 1]):
        hot[t, k] = 0.0
    assert _beam([hot], width=3) == [(0, 0, 1)]


def test_beam_search_handles_empty_sequences_and_checks_arguments():
    logp = np.log(np.full((2, 3), 1 / 3))
    assert _beam([logp[:0], logp], width=2)[0] == ()
    with pytest.raises(ValueError, match="beam_width"):
        _beam([logp], width=0)


def _levenshtein(a, b):
    d = np.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        previous, d[0] = d.copy(), i
        for j, z in enumerate(b, 1):
            d[j] = min(previous[j] + 1, d[j - 1] + 1, previous[j - 1] + (x != z))
    return int(d[-1])


def test_edit_distances_equal_a_reference(rng):
    pairs = [(rng.integers(0, 3, int(rng.integers(0, 8))),
              rng.integers(0, 3, int(rng.integers(0, 8)))) for _ in range(50)]
    a = np.concatenate([p[0] for p in pairs]).astype(np.intp)
    b = np.concatenate([p[1] for p in pairs]).astype(np.intp)
    a_offsets = np.concatenate([[0], np.cumsum([len(p[0]) for p in pairs])])
    b_offsets = np.concatenate([[0], np.cumsum([len(p[1]) for p in pairs])])
    out = np.empty(len(pairs), dtype=np.intp)
    edit_distances(a, a_offsets.astype(np.intp), b, b_offsets.astype(np.intp),
                   out)
    assert_array_equal(out, [_levenshtein(*p) for p in pairs])
