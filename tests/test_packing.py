"""PackedBatch and the minibatch planners (skrnn/_packing.py): the packed
layout the kernels read, the rows of a packed batch, and the bound on the
rows BLAS can index."""

import tracemalloc

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import (
    TINY,
    ignore_convergence,
    tiny_data,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from skrnn._kernels._pack import (
    matrix_shapes,
    pack_arrays,
    packed_gather,
    packed_layout,
    packed_reversal,
    pool_rows,
    spread_rows,
)

from skrnn import RNNClassifier
from skrnn._packing import PackedBatch, minibatch_indices, step_budget_batches
from skrnn._readout import sequence_rows
from skrnn._sequences import ArraySequences, Sequences, check_sequences

PROPERTY = settings(max_examples=50, deadline=None)


def _container(lengths, n_features=2):
    """A Sequences whose every value is distinct, so each row names its origin."""
    lengths = np.asarray(lengths, dtype=np.intp)
    n = int(lengths.sum())
    data = np.arange(n * n_features, dtype=np.float64).reshape(n, n_features)
    return Sequences.from_lengths(data, lengths)


def _slots(batch):
    """(sequence, step) of every packed row, from the documented layout."""
    seq = np.empty(batch.n_steps, dtype=np.intp)
    step = np.empty(batch.n_steps, dtype=np.intp)
    for t, bs in enumerate(batch.batch_sizes):
        rows = slice(batch.starts[t], batch.starts[t] + bs)
        seq[rows] = batch.order[:bs]
        step[rows] = t
    return seq, step


lengths_st = st.lists(st.integers(1, 7), min_size=1, max_size=9)


@st.composite
def container_and_indices(draw):
    """A container and a minibatch of distinct indices into it, in any order."""
    lengths = draw(lengths_st)
    n_features = draw(st.integers(1, 3))
    seqs = _container(lengths, n_features)
    indices = draw(st.permutations(range(len(lengths))))
    size = draw(st.integers(1, len(lengths)))
    return seqs, np.array(indices[:size], dtype=np.intp)


# --------------------------------------------------------------------------
# Hand-checked layouts
# --------------------------------------------------------------------------


def test_hand_checked_layout():
    # seq 0 = rows 0..2, seq 1 = row 3, seq 2 = rows 4..5.
    seqs = _container([3, 1, 2], n_features=1)
    batch = PackedBatch(seqs, [0, 1, 2])
    assert_array_equal(batch.order, [0, 2, 1])
    assert_array_equal(batch.lengths, [3, 2, 1])
    assert_array_equal(batch.batch_sizes, [3, 2, 1])
    assert batch.batch_sizes.dtype == np.intp
    assert_array_equal(batch.starts, [0, 3, 5, 6])
    # step 0: seq 0, 2, 1; step 1: seq 0, 2; step 2: seq 0
    assert_array_equal(batch.gather, [0, 4, 3, 1, 5, 2])
    assert_array_equal(batch.last, [5, 4, 2])
    assert_array_equal(batch.rev, [5, 4, 2, 3, 1, 0])
    assert_array_equal(batch.X[:, 0], [0, 4, 3, 1, 5, 2])
    assert batch.n_sequences == 3
    assert batch.n_steps == 6


def test_hand_checked_subset_and_ties():
    # lengths 2, 3, 2, 1; minibatch [2, 3, 0]: seq 2 and seq 0 tie at length 2
    # and keep the caller's order (2 before 0).
    seqs = _container([2, 3, 2, 1], n_features=1)
    batch = PackedBatch(seqs, [2, 3, 0])
    assert_array_equal(batch.order, [2, 0, 3])
    assert_array_equal(batch.lengths, [2, 2, 1])
    assert_array_equal(batch.batch_sizes, [3, 2])
    assert_array_equal(batch.starts, [0, 3, 5])
    # container rows: seq 0 = 0, 1; seq 1 = 2..4; seq 2 = 5, 6; seq 3 = 7
    assert_array_equal(batch.gather, [5, 0, 7, 6, 1])
    assert_array_equal(batch.last, [3, 4, 2])
    assert_array_equal(batch.rev, [3, 4, 2, 0, 1])
    assert_array_equal(batch.X[:, 0], [5, 0, 7, 6, 1])


def test_equal_lengths_keep_caller_order():
    seqs = _container([4, 4, 4])
    batch = PackedBatch(seqs, [1, 2, 0])
    assert_array_equal(batch.order, [1, 2, 0])
    assert_array_equal(batch.batch_sizes, [3, 3, 3, 3])
    assert_array_equal(batch.last, [9, 10, 11])


def test_single_step_sequences():
    seqs = _container([1, 1, 1])
    batch = PackedBatch(seqs, [2, 0, 1])
    assert_array_equal(batch.batch_sizes, [3])
    assert_array_equal(batch.gather, [2, 0, 1])
    assert_array_equal(batch.rev, [0, 1, 2])
    assert_array_equal(batch.last, [0, 1, 2])


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@PROPERTY
@given(container_and_indices())
def test_layout_matches_reference_pack(case):
    seqs, indices = case
    batch = PackedBatch(seqs, indices)
    P, batch_sizes, order = ref.pack([seqs[i] for i in indices])
    assert_array_equal(batch.order, indices[order])
    assert_array_equal(batch.lengths, seqs.lengths[batch.order])
    assert np.all(np.diff(batch.lengths) <= 0)
    assert_array_equal(batch.batch_sizes, batch_sizes)
    assert_array_equal(batch.starts, np.r_[0, np.cumsum(batch_sizes)])
    assert_array_equal(batch.X, P)
    for name in ("batch_sizes", "starts", "gather", "rev", "last"):
        assert getattr(batch, name).dtype == np.intp, name


@PROPERTY
@given(container_and_indices())
def test_gather_scatters_back_to_the_container(case):
    seqs, indices = case
    batch = PackedBatch(seqs, indices)
    assert_array_equal(batch.X, seqs.data[batch.gather])
    out = np.full_like(seqs.data, np.nan)
    out[batch.gather] = batch.X
    rows = np.concatenate([np.arange(seqs.offsets[i], seqs.offsets[i + 1])
                           for i in indices])
    assert_array_equal(np.sort(batch.gather), np.sort(rows))
    assert_array_equal(out[rows], seqs.data[rows])
    # Unpacking through the reference gives the caller's sequences back.
    for i, seq in zip(batch.order, ref.unpack(batch.X, batch.batch_sizes,
                                              np.arange(batch.n_sequences))):
        assert_array_equal(seq, seqs[i])


@PROPERTY
@given(container_and_indices())
def test_gather_follows_the_documented_slots(case):
    seqs, indices = case
    batch = PackedBatch(seqs, indices)
    seq, step = _slots(batch)
    assert_array_equal(batch.gather, seqs.offsets[seq] + step)


@PROPERTY
@given(container_and_indices())
def test_rev_is_an_involution_that_reverses_every_sequence(case):
    seqs, indices = case
    batch = PackedBatch(seqs, indices)
    assert_array_equal(batch.rev[batch.rev], np.arange(batch.n_steps))
    seq, step = _slots(batch)
    lengths = seqs.lengths
    assert_array_equal(seq[batch.rev], seq)
    assert_array_equal(step[batch.rev], lengths[seq] - 1 - step)
    reversed_seqs = ref.unpack(batch.X[batch.rev], batch.batch_sizes,
                               np.arange(batch.n_sequences))
    for i, seq_rev in zip(batch.order, reversed_seqs):
        assert_array_equal(seq_rev, seqs[i][::-1])


@PROPERTY
@given(container_and_indices())
def test_last_holds_each_last_step_and_the_reversed_first(case):
    seqs, indices = case
    batch = PackedBatch(seqs, indices)
    ends = seqs.offsets[batch.order + 1] - 1
    assert_array_equal(batch.gather[batch.last], ends)
    assert_array_equal(batch.X[batch.last], seqs.data[ends])
    # The reversed sequences' last step is their first step in time, which
    # sits in the first block: row j of step 0.
    assert_array_equal(batch.rev[batch.last], np.arange(batch.n_sequences))
    assert_array_equal(batch.gather[batch.rev[batch.last]],
                       seqs.offsets[batch.order])


@PROPERTY
@given(container_and_indices(), st.randoms(use_true_random=False))
def test_any_caller_order_packs_the_same_content(case, random):
    seqs, indices = case
    permuted = indices.copy()
    random.shuffle(permuted)
    a = PackedBatch(seqs, indices)
    b = PackedBatch(seqs, permuted)
    assert_array_equal(a.lengths, b.lengths)
    assert_array_equal(a.batch_sizes, b.batch_sizes)
    assert_array_equal(a.starts, b.starts)
    # Ties keep the caller's order; otherwise longer sequences come first.
    assert_array_equal(b.order, permuted[ref.pack_order(seqs.lengths[permuted])])
    # Slot j of a is slot where[j] of b; both hold the same sequence, and so
    # the same rows at every step, with only equal-length slots swapped.
    where = np.argsort(b.order)[np.searchsorted(np.sort(b.order), a.order)]
    assert_array_equal(b.order[where], a.order)
    assert_array_equal(b.lengths[where], a.lengths)
    for t, bs in enumerate(a.batch_sizes):
        rows_a = a.starts[t] + np.arange(bs)
        rows_b = b.starts[t] + where[:bs]
        assert_array_equal(a.X[rows_a], b.X[rows_b])
        assert_array_equal(a.gather[rows_a], b.gather[rows_b])
    # Sorted within each packed step, both layouts hold identical blocks.
    for t in range(a.batch_sizes.shape[0]):
        block = slice(a.starts[t], a.starts[t + 1])
        assert_array_equal(np.sort(a.gather[block]), np.sort(b.gather[block]))


@PROPERTY
@given(container_and_indices(), st.floats(0.3, 0.9))
def test_sparse_input_packs_like_dense(case, density):
    seqs, indices = case
    data = seqs.data.copy()
    data[np.random.default_rng(0).random(data.shape) > density] = 0
    dense = Sequences(data, seqs.offsets)
    sparse = Sequences(sp.csr_matrix(data), seqs.offsets)
    a = PackedBatch(dense, indices)
    b = PackedBatch(sparse, indices)
    assert sp.issparse(b.X) and b.X.format == "csr"
    assert_array_equal(b.X.toarray(), a.X)
    for name in ("order", "lengths", "batch_sizes", "starts", "gather", "rev",
                 "last"):
        assert_array_equal(getattr(b, name), getattr(a, name))


# --------------------------------------------------------------------------
# Planners
# --------------------------------------------------------------------------


@PROPERTY
@given(st.integers(1, 60), st.integers(1, 70), st.booleans())
def test_minibatch_indices_cover_every_index_once(n, batch_size, shuffle):
    rng = np.random.default_rng(n) if shuffle else None
    batches = minibatch_indices(n, batch_size, rng)
    assert len(batches) == -(-n // batch_size)
    assert all(b.shape[0] == batch_size for b in batches[:-1])
    assert 1 <= batches[-1].shape[0] <= batch_size
    flat = np.concatenate(batches)
    assert flat.dtype == np.intp
    assert_array_equal(np.sort(flat), np.arange(n))
    if not shuffle:
        assert_array_equal(flat, np.arange(n))


def test_minibatch_indices_shuffle_follows_the_rng():
    first = minibatch_indices(50, 8, np.random.default_rng(3))
    again = minibatch_indices(50, 8, np.random.default_rng(3))
    for a, b in zip(first, again, strict=True):
        assert_array_equal(a, b)
    flat = np.concatenate(first)
    assert not np.array_equal(flat, np.arange(50))
    # The rng moves on, so the next epoch is shuffled differently.
    rng = np.random.default_rng(3)
    epoch1 = np.concatenate(minibatch_indices(50, 8, rng))
    epoch2 = np.concatenate(minibatch_indices(50, 8, rng))
    assert not np.array_equal(epoch1, epoch2)


lengths_long_st = st.lists(st.integers(1, 40), min_size=1, max_size=30)


@PROPERTY
@given(lengths_long_st, st.integers(1, 60))
def test_step_budget_batches_cover_every_index_once_sorted(lengths, max_steps):
    lengths = np.array(lengths)
    chunks = step_budget_batches(lengths, max_steps)
    flat = np.concatenate(chunks)
    assert_array_equal(np.sort(flat), np.arange(lengths.shape[0]))
    assert all(c.shape[0] >= 1 for c in chunks)
    # Longest first, ties in index order (the stable order PackedBatch uses).
    assert_array_equal(flat, ref.pack_order(lengths))
    for c in chunks:
        PackedBatch(_container(lengths, 1), c)


def test_step_budget_batches_default_budget():
    lengths = np.full(10, 7)
    chunks = step_budget_batches(lengths)
    assert len(chunks) == 1
    assert_array_equal(chunks[0], np.arange(10))


@PROPERTY
@given(lengths_long_st, st.integers(1, 60))
def test_step_budget_batches_respect_the_documented_step_budget(lengths, max_steps):
    lengths = np.array(lengths)
    for c in step_budget_batches(lengths, max_steps):
        assert c.shape[0] == 1 or lengths[c].sum() <= max_steps


def test_step_budget_batches_are_as_few_and_even_as_the_budget_allows():
    # Filled to the budget these were 32768, 32768, 32768 and 23341 steps:
    # one thread of two then sat idle through a quarter of the work.
    lengths = np.random.default_rng(0).integers(20, 101, 2000)
    total = int(lengths.sum())
    chunks = step_budget_batches(lengths, 1 << 15)
    steps = [int(lengths[c].sum()) for c in chunks]
    assert len(chunks) == -(-total // (1 << 15)) == 4
    assert max(steps) <= 1 << 15
    assert max(steps) - min(steps) <= 2 * lengths.max()


def test_step_budget_batches_step_budget_example():
    chunks = step_budget_batches([3, 3, 3, 3], 5)
    assert [c.tolist() for c in chunks] == [[0], [1], [2], [3]]
    chunks = step_budget_batches([2, 7, 2, 1], 5)
    assert [c.tolist() for c in chunks] == [[1], [0, 2, 3]]


@PROPERTY
@given(st.lists(st.integers(0, 9), min_size=1, max_size=12))
def test_packed_layout_is_the_counting_construction(lengths):
    # batch_sizes[t] = #{j : L_j > t}, starts their running sum, last each
    # sequence's last row.
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    order = np.array(sorted(range(len(lengths)), key=lambda j: -lengths[j]),
                     dtype=np.intp)
    L = np.array(lengths, dtype=np.int64)[order]
    batch_sizes, starts, last = packed_layout(offsets, order, L)
    expected_sizes = np.array([(L > t).sum() for t in range(L[0])])
    assert_array_equal(batch_sizes, expected_sizes)
    assert_array_equal(starts, np.concatenate([[0], np.cumsum(expected_sizes)]))
    # An empty sequence's is past every row (starts[-1] == starts[T]).
    assert_array_equal(last, starts[L - 1] + np.arange(L.shape[0]))
    assert all(a.dtype == np.intp for a in (batch_sizes, starts, last))


def test_packed_layout_refuses_what_it_cannot_place():
    offsets = np.array([0, 5, 9, 10], dtype=np.int64)
    order = np.array([0, 1, 2], dtype=np.intp)
    with pytest.raises(ValueError, match="entry 1 is 4"):
        packed_layout(offsets, order, np.array([3, 4, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="entry 2 is -1"):
        packed_layout(offsets, order, np.array([5, 4, -1], dtype=np.int64))
    with pytest.raises(ValueError, match="2 lengths for 3 sequences"):
        packed_layout(offsets, order, np.array([5, 4], dtype=np.int64))
    with pytest.raises(ValueError, match="Sequence 3 is not one of the 3"):
        packed_layout(offsets, np.array([0, 3], dtype=np.intp),
                      np.array([5, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="at least one"):
        packed_layout(offsets, order[:0], np.array([], dtype=np.int64))


def test_index_kernels_refuse_buffers_that_do_not_fit():
    offsets = np.array([0, 5, 9], dtype=np.int64)
    lengths = np.array([4, 3, 1], dtype=np.intp)
    batch_sizes = np.array([3, 2, 2, 1], dtype=np.intp)
    starts = np.array([0, 3, 5, 7, 8], dtype=np.intp)
    gather = np.empty(8, dtype=np.intp)
    packed_gather(offsets, batch_sizes, gather)
    assert_array_equal(gather, [0, 5, 9, 1, 6, 2, 7, 3])
    rev = np.empty(8, dtype=np.intp)
    packed_reversal(lengths, starts, batch_sizes, rev)
    assert_array_equal(rev, [7, 6, 2, 5, 4, 3, 1, 0])
    with pytest.raises(ValueError, match="gather has 7 entries; the batch has 8"):
        packed_gather(offsets, batch_sizes, gather[:7])
    with pytest.raises(ValueError, match="2 offsets for 3 sequences"):
        packed_gather(offsets[:2], batch_sizes, gather)
    with pytest.raises(ValueError, match="rev has 9 entries"):
        packed_reversal(lengths, starts, batch_sizes, np.empty(9, dtype=np.intp))
    with pytest.raises(ValueError, match="2 lengths for 3 sequences"):
        packed_reversal(lengths[:2], starts, batch_sizes, rev)
    with pytest.raises(ValueError, match="starts has 4 entries; it needs 5"):
        packed_reversal(lengths, starts[:4], batch_sizes, rev)
    with pytest.raises(ValueError, match="Sequence 1 has length 2, but"):
        packed_reversal(np.array([4, 2, 1], dtype=np.intp), starts, batch_sizes,
                        rev)


def _mixed_arrays(rng, lengths, n_features=3):
    """Arrays of every layout pack_arrays reads: C and Fortran order, strided
    views, a reversed view, float32 and float64."""
    arrays = []
    for i, T in enumerate(lengths):
        base = rng.standard_normal((T, 2 * n_features))
        kind = i % 5
        if kind == 0:
            arrays.append(np.ascontiguousarray(base[:, :n_features]))
        elif kind == 1:
            arrays.append(np.asfortranarray(base[:, :n_features]))
        elif kind == 2:
            arrays.append(base[:, ::2])
        elif kind == 3:
            arrays.append(base[::-1, n_features:].astype(np.float32))
        else:
            arrays.append(np.asfortranarray(base[:, 1::2], dtype=np.float32))
    return arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_arrays_is_the_gather_of_the_stacked_data(rng, dtype):
    lengths = rng.integers(0, 9, size=23)
    arrays = _mixed_arrays(rng, lengths)
    stacked = Sequences.from_lengths(
        np.concatenate([a.astype(dtype) for a in arrays]), lengths)
    indices = rng.permutation(23)[:17]
    batch = PackedBatch(stacked, indices)
    out = np.full((batch.n_steps, 3), np.nan, dtype=dtype)
    assert pack_arrays(arrays, batch.order, batch.batch_sizes, out)
    # The same cast: float64 -> float32 rounds as numpy's astype does.
    assert_array_equal(out, batch.X)


def test_pack_arrays_reports_values_that_are_not_finite(rng):
    lengths = np.array([4, 3, 2])
    order = np.arange(3, dtype=np.intp)
    batch_sizes = np.array([3, 3, 2, 1], dtype=np.intp)
    for bad, dtype in [(np.nan, np.float64), (-np.inf, np.float64),
                       (1e39, np.float32), (np.inf, np.float32)]:
        arrays = [rng.standard_normal((T, 2)) for T in lengths]
        arrays[2][1, 1] = bad
        out = np.empty((9, 2), dtype=dtype)
        assert not pack_arrays(arrays, order, batch_sizes, out), (bad, dtype)
    # 1e39 is finite in float64.
    arrays[2][1, 1] = 1e39
    assert pack_arrays(arrays, order, batch_sizes, np.empty((9, 2)))


def test_pack_arrays_refuses_what_it_cannot_read_or_place():
    arrays = [np.zeros((4, 2)), np.zeros((3, 2)), np.zeros((1, 2))]
    order = np.arange(3, dtype=np.intp)
    batch_sizes = np.array([3, 2, 2, 1], dtype=np.intp)
    out = np.empty((8, 2))
    assert pack_arrays(arrays, order, batch_sizes, out)
    with pytest.raises(ValueError, match="out has 7 rows; the batch has 8"):
        pack_arrays(arrays, order, batch_sizes, out[:7])
    with pytest.raises(ValueError, match=r"batch_sizes\[0\] is 3; the batch "
                                         "has 2 sequences"):
        pack_arrays(arrays, order[:2], batch_sizes, out)
    with pytest.raises(ValueError, match="Sequence 3 has 0 steps, but"):
        pack_arrays(arrays + [np.zeros((0, 2))], np.arange(4, dtype=np.intp),
                    np.array([4, 2, 2, 1], dtype=np.intp), np.empty((9, 2)))
    with pytest.raises(ValueError, match="non-increasing"):
        pack_arrays(arrays, order, np.array([3, 2, 3, 0], dtype=np.intp), out)
    with pytest.raises(ValueError, match="Sequence 1 has 2 steps, but"):
        pack_arrays([arrays[0], np.zeros((2, 2)), arrays[2]], order,
                    batch_sizes, out)
    for bad in (np.zeros((3, 2), dtype=np.int64), np.zeros((3, 3)),
                np.zeros(3), np.zeros((3, 2), dtype=">f8")):
        with pytest.raises(ValueError, match="Sequence 1 is not a 2-D float32 "
                                             "or float64 array of 2 features"):
            pack_arrays([arrays[0], bad, arrays[2]], order, batch_sizes, out)
    with pytest.raises(TypeError):
        pack_arrays([arrays[0], [[0.0, 0.0]] * 3, arrays[2]], order,
                    batch_sizes, out)


def _in_layout(x, layout, dtype):
    """x as an array of ``dtype`` in the given memory layout, same values."""
    x = x.astype(dtype)
    if layout == "fortran":
        return np.asfortranarray(x)
    if layout == "strided":
        wide = np.zeros((x.shape[0] * 2, x.shape[1] * 3), dtype=dtype)
        wide[::2, ::3] = x
        return wide[::2, ::3]
    if layout == "reversed":
        return x[::-1][::-1]
    return x


@PROPERTY
@given(container_and_indices(),
       st.lists(st.sampled_from(["c", "fortran", "strided", "reversed"]),
                min_size=9, max_size=9),
       st.lists(st.sampled_from([np.float32, np.float64]), min_size=9,
                max_size=9),
       st.sampled_from([np.float32, np.float64]))
def test_array_sequences_pack_any_layout_as_the_stacked_data(
        case, layouts, dtypes, dtype):
    seqs, indices = case
    arrays = [_in_layout(x, layouts[i], dtypes[i])
              for i, x in enumerate(seqs.to_list())]
    deferred, _ = check_sequences(arrays, dtype=dtype, defer_values=True)
    stacked, _ = check_sequences(arrays, dtype=dtype)
    assert isinstance(deferred, ArraySequences)
    assert_array_equal(PackedBatch(deferred, indices).X,
                       PackedBatch(stacked, indices).X)


def test_packed_batches_of_array_sequences_are_those_of_the_stacked_data(rng):
    lengths = rng.integers(1, 12, size=30)
    arrays = _mixed_arrays(rng, lengths)
    deferred, _ = check_sequences(arrays, dtype=np.float32, defer_values=True)
    stacked, _ = check_sequences(arrays, dtype=np.float32)
    assert isinstance(deferred, ArraySequences)
    for indices in step_budget_batches(lengths, 40):
        a, b = PackedBatch(deferred, indices), PackedBatch(stacked, indices)
        # Packed from the layout: the gather rows are made only if read.
        assert a._gather is None
        for name in ("order", "batch_sizes", "gather", "last", "X"):
            assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.X.dtype == np.float32


# --------------------------------------------------------------------------
# Rows past what BLAS can index
# --------------------------------------------------------------------------


@ignore_convergence
def test_minibatch_past_blas_index_range_is_refused(rng, monkeypatch):
    # Real minibatches that large cannot be allocated here; lower the bound.
    import skrnn._packing

    monkeypatch.setattr(skrnn._packing, "_MAX_BLAS_ROWS", 10)
    X, y = tiny_data(RNNClassifier, rng)
    with pytest.raises(ValueError, match="exceeds the 10 rows BLAS can index"):
        RNNClassifier(**TINY).fit(X, y)


def _fake_steps(n_rows, n_features=1):
    """(n_rows, n_features) zeros that take no memory: stride 0."""
    return np.lib.stride_tricks.as_strided(
        np.zeros(n_features), shape=(n_rows, n_features),
        strides=(0, 8), writeable=False)


@ignore_convergence
@pytest.mark.parametrize("lengths", [[2**31], [2**30, 2**30, 5]],
                         ids=["one-sequence", "minibatch"])
def test_rows_past_2_31_are_refused_before_any_kernel(lengths, monkeypatch):
    import skrnn._packing
    from skrnn._sequences import Sequences

    def no_kernel(*args):
        raise AssertionError("a kernel ran")

    monkeypatch.setattr(skrnn._packing, "packed_layout", no_kernel)
    seqs = Sequences.from_lengths(_fake_steps(sum(lengths)), lengths)
    assert seqs.offsets.dtype == np.int64 and seqs.offsets[-1] >= 2**31
    with pytest.raises(ValueError, match=r"time steps exceeds the 2147483647 "
                                         r"rows BLAS can index"):
        skrnn._packing.PackedBatch(seqs, np.arange(len(lengths)))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="rows BLAS can index"):
            skrnn._packing.PackedBatch(seqs, np.arange(len(lengths)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1e6, f"{peak / 1e6:.0f} MB allocated before refusing"


# --------------------------------------------------------------------------
# The rows of a packed batch
# --------------------------------------------------------------------------


def test_packed_batch_rows_per_step_and_per_sequence():
    seqs = Sequences.from_lengths(np.zeros((6, 1)), [1, 3, 2])
    batch = PackedBatch(seqs, [0, 1, 2])
    assert batch.rows(per_step=False) is batch.order
    assert batch.rows(per_step=True) is batch.gather


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reversed_rows", [False, True])
def test_pool_rows_reduce_each_sequence_in_time_order(rng, dtype, reversed_rows):
    batch = PackedBatch(_container([4, 1, 7, 3, 7]), np.arange(5))
    # Few distinct values, so maxima tie and the first in time must win.
    S = rng.integers(-3, 3, size=(batch.n_steps, 6)).astype(dtype)
    S += rng.standard_normal(S.shape).astype(dtype) * (rng.random(S.shape) < 0.5)
    index = batch.rev if reversed_rows else None
    source = S[index] if reversed_rows else S
    rows, starts = sequence_rows(batch)
    total = np.empty((5, 6), dtype=dtype)
    pool_rows(False, S, batch.starts, batch.batch_sizes, total, index=index)
    expected = np.zeros((5, 6), dtype=dtype)
    for j in range(5):
        # Added step by step in time order, the order the kernel promises.
        for row in rows[starts[j]:starts[j] + batch.lengths[j]]:
            expected[j] += source[row]
    assert_array_equal(total, expected)
    top = np.empty((5, 6), dtype=dtype)
    arg = np.empty((5, 6), dtype=np.intp)
    pool_rows(True, S, batch.starts, batch.batch_sizes, top, arg, index)
    assert_array_equal(top, np.maximum.reduceat(source[rows], starts, axis=0))
    for j in range(5):
        own = rows[starts[j]:starts[j] + batch.lengths[j]]
        for d in range(6):
            first = own[np.flatnonzero(source[own, d] == top[j, d])[0]]
            assert arg[j, d] == first


def test_spread_rows_copies_each_sequence_row_to_its_steps(rng):
    batch = PackedBatch(_container([2, 5, 3]), np.arange(3))
    src = rng.standard_normal((3, 4))
    out = np.empty((batch.n_steps, 4))
    spread_rows(src, batch.starts, batch.batch_sizes, out)
    rows, starts = sequence_rows(batch)
    assert_array_equal(out[rows], np.repeat(src, batch.lengths, axis=0))


def test_pool_and_spread_refuse_inconsistent_layouts():
    batch = PackedBatch(_container([3, 2]), np.arange(2))
    S = np.zeros((batch.n_steps, 2))
    out = np.empty((2, 2))
    with pytest.raises(ValueError, match="cumulative batch sizes"):
        pool_rows(False, S, batch.starts + 1, batch.batch_sizes, out)
    with pytest.raises(ValueError, match="needs each to have a step"):
        pool_rows(False, S, batch.starts, batch.batch_sizes, np.empty((3, 2)))
    with pytest.raises(ValueError, match="columns"):
        pool_rows(False, S, batch.starts, batch.batch_sizes, np.empty((2, 3)))
    with pytest.raises(ValueError, match="packed rows"):
        pool_rows(False, S[:-1], batch.starts, batch.batch_sizes, out)
    with pytest.raises(ValueError, match="not a row of S"):
        pool_rows(False, S, batch.starts, batch.batch_sizes, out,
                  index=np.full(batch.n_steps, 99, dtype=np.intp))
    with pytest.raises(ValueError, match="arg has shape"):
        pool_rows(True, S, batch.starts, batch.batch_sizes, out,
                  np.empty((1, 2), dtype=np.intp))
    with pytest.raises(ValueError, match="columns of out and arg"):
        pool_rows(False, S, batch.starts, batch.batch_sizes, np.empty((2, 4))[:, ::2])
    with pytest.raises(ValueError, match="columns of out and arg"):
        pool_rows(True, S, batch.starts, batch.batch_sizes, out,
                  np.empty((2, 4), dtype=np.intp)[:, ::2])
    with pytest.raises(ValueError, match="rows"):
        spread_rows(out, batch.starts, batch.batch_sizes, S[:-1].copy())


def test_matrix_shapes_reads_every_shape_and_dtype_in_one_pass():
    arrays = [np.zeros((3, 2)), np.zeros((0, 2), np.float32),
              np.zeros((5, 4), np.int8)[:, ::2], np.asfortranarray(np.ones((2, 2)))]
    shapes, dtypes = matrix_shapes(arrays)
    assert shapes.dtype == np.int64
    assert_array_equal(shapes, [[3, 2], [0, 2], [5, 2], [2, 2]])
    assert dtypes == {np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int8)}
    empty, none = matrix_shapes([])
    assert empty.shape == (0, 2) and none == set()


class _Subclass(np.ndarray):
    pass


@pytest.mark.parametrize("odd", [np.zeros(3), np.zeros((2, 2, 1)), [[0.0, 1.0]],
                                 np.memmap, np.zeros((2, 2)).view(_Subclass)])
def test_matrix_shapes_leaves_anything_but_2d_ndarrays_to_the_general_path(
        odd, tmp_path):
    if odd is np.memmap:
        odd = np.memmap(tmp_path / "m.dat", dtype=np.float64, mode="w+",
                        shape=(2, 2))
    # A subclass (a memmap too) goes the general way, which converts it.
    assert matrix_shapes([np.zeros((2, 2)), odd]) is None
