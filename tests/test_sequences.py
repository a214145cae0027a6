"""X validation and the packed layout's containers (skrnn/_sequences.py):
the Sequences container, the conversion of every X form into it, and the
row helpers; then the same checks through the estimators' fit and predict
(bad X, unusual but valid X, dtypes, memory layouts, sparse input,
equivalent forms), and the X failures the fuzzer found."""

import pickle
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _fuzzing import (
    FUZZ_TINY,
    clean_data,
    fuzz_warnings,
)
from _helpers import (
    CELLS,
    FAST,
    N_FEATURES,
    SEED,
    THREE_ESTIMATORS,
    TINY,
    assert_same_fit,
    data_rng,
    ignore_convergence,
    outputs,
    small_problem,
    tiny_data,
    tiny_fitted,
    tiny_targets,
    with_empty_sequence,
)
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceTagger,
)
from skrnn._packing import PackedBatch
from skrnn._sequences import (
    ArraySequences,
    Sequences,
    block_rows,
    check_sequences,
    check_step_features,
    offsets_from_lengths,
)


def assert_same_container(a, b):
    """Same offsets, same dtype, same values (bitwise), both C-contiguous."""
    assert a.offsets.dtype == np.int64
    assert_array_equal(a.offsets, b.offsets)
    assert a.dtype == b.dtype
    assert a.is_sparse == b.is_sparse
    if a.is_sparse:
        assert_array_equal(a.data.toarray(), b.data.toarray())
    else:
        assert a.data.flags.c_contiguous and b.data.flags.c_contiguous
        assert_array_equal(a.data, b.data)


def ragged(rng, lengths, n_features, dtype=np.float64):
    return [rng.normal(size=(t, n_features)).astype(dtype) for t in lengths]


def object_array_of(arrays):
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a
    return out


# --------------------------------------------------------------------------
# Every form gives the same container


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_univariate_equal_length_forms_agree(rng, dtype):
    pd = pytest.importorskip("pandas")
    X2d = rng.normal(size=(4, 6)).astype(dtype)
    reference, form = check_sequences(list(X2d))
    assert form == "ragged"
    assert reference.dtype == dtype
    assert reference.n_features == 1
    assert_array_equal(reference.lengths, [6, 6, 6, 6])

    forms = {
        "list of 1-D": (list(X2d), "ragged"),
        "list of (T, 1)": ([row[:, None] for row in X2d], "ragged"),
        "tuple of 1-D": (tuple(X2d), "ragged"),
        "object array": (object_array_of(list(X2d)), "ragged"),
        "3-D": (X2d[:, :, None], "3d"),
        "2-D": (X2d, "2d"),
        "DataFrame": (pd.DataFrame(X2d), "2d"),
    }
    for name, (X, expected_form) in forms.items():
        seqs, form = check_sequences(X)
        assert form == expected_form, name
        assert_same_container(seqs, reference)


def test_univariate_list_of_python_lists(rng):
    # Equal-length plain lists are a 2-D array-like to scikit-learn, so they
    # take the 2-D form's bookkeeping; unequal lengths can only be ragged.
    X2d = rng.normal(size=(3, 5))
    from_lists, form = check_sequences([row.tolist() for row in X2d])
    assert form == "2d"
    assert_same_container(from_lists, check_sequences(X2d)[0])

    ragged_lists = [X2d[0].tolist(), X2d[1, :2].tolist()]
    seqs, form = check_sequences(ragged_lists)
    assert form == "ragged"
    assert_array_equal(seqs.lengths, [5, 2])

    arrays, form = check_sequences(list(X2d))
    assert form == "ragged"
    assert_same_container(arrays, from_lists)


def test_multivariate_ragged_forms_agree(rng):
    X = ragged(rng, [3, 1, 5], n_features=2)
    reference, form = check_sequences(X)
    assert form == "ragged"
    assert_array_equal(reference.offsets, [0, 3, 4, 9])
    assert reference.n_features == 2
    for other in (tuple(X), [x.tolist() for x in X], object_array_of(X)):
        seqs, form = check_sequences(other)
        assert form == "ragged"
        assert_same_container(seqs, reference)
    for i, x in enumerate(X):
        assert_array_equal(reference[i], x)


def test_multivariate_equal_length_3d_agrees_with_list(rng):
    X3d = rng.normal(size=(4, 5, 3))
    seqs, form = check_sequences(X3d)
    assert form == "3d"
    assert_same_container(seqs, check_sequences(list(X3d))[0])
    assert_array_equal(seqs.offsets, np.arange(5) * 5)


def test_mixing_1d_and_single_feature_2d_is_univariate(rng):
    a, b = rng.normal(size=4), rng.normal(size=(2, 1))
    seqs, _ = check_sequences([a, b])
    assert_array_equal(seqs.data, np.concatenate([a[:, None], b]))


def test_object_array_of_sparse_matrices_is_sparse_ragged(rng):
    X = [sp.csr_matrix(x) for x in ragged(rng, [2, 3], 4)]
    seqs, form = check_sequences(object_array_of(X))
    assert form == "ragged" and seqs.is_sparse


# --------------------------------------------------------------------------
# dtype policy


@pytest.mark.parametrize(
    "dtypes, expected",
    [
        ([np.float32, np.float32], np.float32),
        ([np.float64, np.float64], np.float64),
        ([np.float32, np.float64], np.float64),
        ([np.float32, np.int32], np.float64),
        ([np.int64, np.int64], np.float64),
        ([np.uint8, np.int16], np.float64),
        ([np.bool_, np.bool_], np.float64),
        ([np.float16, np.float16], np.float64),
        ([np.float16, np.float32], np.float64),
    ],
)
def test_dtype_policy_ragged(rng, dtypes, expected):
    X = [(rng.normal(size=(3, 2)) * 10).astype(dt) for dt in dtypes]
    seqs, _ = check_sequences(X)
    assert seqs.dtype == expected
    assert_array_equal(seqs.data, np.concatenate([x.astype(expected) for x in X]))


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float64),
        (np.bool_, np.float64),
        (np.float16, np.float64),
    ],
)
def test_dtype_policy_array_forms(rng, dtype, expected):
    pd = pytest.importorskip("pandas")
    X3d = (rng.normal(size=(3, 4, 2)) * 10).astype(dtype)
    X2d = X3d[:, :, 0]
    assert check_sequences(X3d)[0].dtype == expected
    assert check_sequences(X2d)[0].dtype == expected
    if dtype is not np.float16:  # pandas has no float16 column type to speak of
        assert check_sequences(pd.DataFrame(X2d))[0].dtype == expected


def test_object_arrays_of_numbers_become_float64():
    X = [np.array([[1, 2.5], [3, True]], dtype=object), np.array([[4, 5]])]
    seqs, _ = check_sequences(X)
    assert seqs.dtype == np.float64
    assert_array_equal(seqs.data, [[1, 2.5], [3, 1], [4, 5]])
    X3d = np.array([[[1], [2]], [[3], [4]]], dtype=object)
    seqs, form = check_sequences(X3d)
    assert form == "3d" and seqs.dtype == np.float64
    assert_array_equal(seqs.data.ravel(), [1, 2, 3, 4])


@pytest.mark.parametrize(
    "dtypes, expected",
    [
        ([np.float32, np.float32], np.float32),
        ([np.float32, np.float64], np.float64),
        ([np.int64, np.float32], np.float64),
    ],
)
def test_dtype_policy_sparse(rng, dtypes, expected):
    X = [sp.csr_matrix(np.eye(3, 2).astype(dt)) for dt in dtypes]
    seqs, _ = check_sequences(X)
    assert seqs.dtype == expected


# --------------------------------------------------------------------------
# Errors


def _seq(t, f=2, value=0.0):
    return np.full((t, f), value)


def _with_bad_value(value, step, feature):
    bad = _seq(7)
    bad[step, feature] = value
    return [_seq(3), _seq(2), bad]


ERROR_CASES = [
    # empty X
    ([], ValueError, r"X is empty.*at least one sequence"),
    ((), ValueError, r"X is empty.*at least one sequence"),
    (
        np.empty((0, 3)),
        ValueError,
        r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1",
    ),
    (np.empty((0, 3, 2)), ValueError, r"Found array with 0 sample\(s\)"),
    # zero-length sequences
    (
        [_seq(2), _seq(2), _seq(4), _seq(0)],
        ValueError,
        r"^Sequence 3 has length 0; every sequence needs at least one time step\.$",
    ),
    ([np.zeros(3), np.array([])], ValueError, r"^Sequence 1 has length 0"),
    (np.zeros((3, 0, 2)), ValueError, r"^Sequence 0 has length 0"),
    # feature counts
    (
        [_seq(2, 3)] * 4 + [_seq(2, 5)],
        ValueError,
        r"^Sequence 4 has 5 features per time step, but sequence 0 has 3",
    ),
    (
        [np.zeros(4), _seq(2, 3)],
        ValueError,
        r"^Sequence 1 has 3 features per time step, but sequence 0 has 1",
    ),
    (
        [np.zeros((5, 0))],
        ValueError,
        r"0 feature\(s\) \(shape=\(5, 0\)\) while a minimum of 1 is required "
        r"\(sequence 0\)\.$",
    ),
    (
        [_seq(2), np.zeros((4, 0))],
        ValueError,
        r"0 feature\(s\) \(shape=\(4, 0\)\).*\(sequence 1\)",
    ),
    (
        np.zeros((3, 4, 0)),
        ValueError,
        r"0 feature\(s\) \(shape=\(4, 0\)\).*\(sequence 0\)",
    ),
    (
        np.zeros((12, 0)),
        ValueError,
        r"0 feature\(s\) \(shape=\(12, 0\)\) while a minimum of 1 is required",
    ),
    # dimensions
    (
        [_seq(2), _seq(2), np.zeros((2, 2, 2))],
        ValueError,
        r"^Sequence 2 has 3 dimensions; expected a 1-D \(T,\) or 2-D "
        r"\(T, n_features\) array\.$",
    ),
    ([_seq(2), np.float64(1.0)], ValueError, r"^Sequence 1 has 0 dimensions"),
    ([[1.0, 2.0], [3.0, [4.0]]], ValueError, r"^Sequence 1 could not be converted"),
    (
        np.zeros((2, 3, 4, 5)),
        ValueError,
        r"^Found array with dim 4\. .*list or tuple of arrays.*3-D array.*2-D array",
    ),
    (np.zeros((1, 1, 1, 1, 1)), ValueError, r"^Found array with dim 5\."),
    (np.arange(3.0), ValueError, r"^Expected 2D array, got 1D array instead"),
    (
        np.array([1, 2], dtype=object),
        ValueError,
        r"^Expected 2D array, got 1D array instead",
    ),
    (3.0, ValueError, r"^Expected 2D array, got scalar array instead"),
    (np.float32(3.0), ValueError, r"^Expected 2D array, got scalar array instead"),
    (np.array(3), ValueError, r"^Expected 2D array, got scalar array instead"),
    # non-numeric and complex data
    (
        [_seq(2)] * 3 + [np.array(["abc", "de"])],
        ValueError,
        r"^Sequence 3 contains non-numeric data \(dtype '<U3'\)",
    ),
    (
        [_seq(2), np.array([[1, "a"]], dtype=object)],
        ValueError,
        r"^Sequence 1 contains non-numeric data \(dtype 'object' holding str\)",
    ),
    (
        [_seq(2), np.array([[1.0, "1.5"]], dtype=object)],
        ValueError,
        r"^Sequence 1 contains non-numeric data",
    ),
    (
        [_seq(2), _seq(2), np.array([[1, {}]], dtype=object)],
        ValueError,
        r"^Sequence 2 contains non-numeric data \(dtype 'object' holding dict\)",
    ),
    (
        [_seq(2), np.array([[None, 1.0]], dtype=object)],
        ValueError,
        r"^Sequence 1 contains non-numeric data",
    ),
    (
        [_seq(2), np.zeros((2, 2), dtype="datetime64[s]")],
        ValueError,
        r"^Sequence 1 contains non-numeric data",
    ),
    (
        [_seq(2), np.ones((2, 2)) * 1j],
        ValueError,
        r"^Complex data not supported \(sequence 1",
    ),
    (
        [_seq(2), np.array([[1.0, 2j]], dtype=object)],
        ValueError,
        r"^Complex data not supported \(sequence 1",
    ),
    (np.ones((2, 3, 1)) * 1j, ValueError, r"^Complex data not supported \(sequence 0"),
    (np.ones((2, 3)) * 1j, ValueError, r"Complex data not supported"),
    (np.full((2, 3, 1), "x"), ValueError, r"^Sequence 0 contains non-numeric data"),
    # NaN and infinity, located
    (
        _with_bad_value(np.nan, 5, 0),
        ValueError,
        r"^Input X contains NaN \(sequence 2, time step 5, feature 0\)\.$",
    ),
    (
        _with_bad_value(np.inf, 5, 1),
        ValueError,
        r"^Input X contains infinity or a value too large for dtype\('float64'\) "
        r"\(sequence 2, time step 5, feature 1\)\.$",
    ),
    (
        _with_bad_value(-np.inf, 0, 1),
        ValueError,
        r"infinity.*\(sequence 2, time step 0, feature 1\)",
    ),
    (
        [np.array([1.0, np.nan], dtype=np.float32)],
        ValueError,
        r"^Input X contains NaN \(sequence 0, time step 1, feature 0\)",
    ),
    (
        [np.array([1.0, np.inf], dtype=np.float32)],
        ValueError,
        r"value too large for dtype\('float32'\) \(sequence 0, time step 1",
    ),
    (
        np.array([[0.0, 1.0], [2.0, np.nan]]),
        ValueError,
        r"^Input X contains NaN \(sequence 1, time step 1, feature 0\)",
    ),
    (
        np.array([[[0.0, 1.0]], [[2.0, 3.0]], [[np.inf, 0.0]]]),
        ValueError,
        r"^Input X contains infinity.*\(sequence 2, time step 0, feature 0\)",
    ),
    # unsupported types
    (None, TypeError, r"NoneType.*list or tuple of arrays.*3-D array"),
    ("abc", TypeError, r"Unsupported type for X: str\."),
    (b"abc", TypeError, r"Unsupported type for X: bytes\."),
    ({"a": [1.0]}, TypeError, r"Unsupported type for X: dict\."),
    ((x for x in [_seq(2)]), TypeError, r"Unsupported type for X: generator\."),
    ({1, 2}, TypeError, r"Unsupported type for X: set\."),
    # sparse misuse
    (
        sp.csr_matrix(np.eye(3)),
        TypeError,
        r"single scipy\.sparse matrix.*list of scipy\.sparse matrices, one",
    ),
    (sp.csr_array(np.eye(3)), TypeError, r"sparse"),
    (
        [sp.csr_matrix(np.eye(2)), sp.csr_matrix(np.eye(2)), np.eye(2)],
        ValueError,
        r"^Sequence 2 is dense.*sequence 0 is a scipy\.sparse matrix",
    ),
    (
        [np.eye(2), sp.csr_matrix(np.eye(2))],
        ValueError,
        r"^Sequence 1 is a scipy\.sparse matrix, but sequence 0 is dense",
    ),
    (
        [sp.csr_matrix(np.eye(2)), sp.csr_matrix((0, 2))],
        ValueError,
        r"^Sequence 1 has length 0",
    ),
    (
        [sp.csr_matrix(np.eye(2)), sp.csr_matrix(np.eye(2, 3))],
        ValueError,
        r"^Sequence 1 has 3 features per time step, but sequence 0 has 2",
    ),
    (
        [sp.csr_matrix((3, 0))],
        ValueError,
        r"0 feature\(s\) \(shape=\(3, 0\)\).*\(sequence 0\)",
    ),
    (
        [sp.csr_matrix(np.eye(2)), sp.csr_matrix(np.eye(2) * 1j)],
        ValueError,
        r"^Complex data not supported \(sequence 1",
    ),
]


@pytest.mark.parametrize(
    "X, exception, match", ERROR_CASES, ids=[str(i) for i in range(len(ERROR_CASES))]
)
def test_errors(X, exception, match):
    with pytest.raises(exception, match=match):
        check_sequences(X)


def test_nan_in_dataframe_is_located():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]])
    with pytest.raises(ValueError, match=r"NaN \(sequence 1, time step 1, feature 0"):
        check_sequences(df)


def test_nan_message_uses_input_name():
    with pytest.raises(ValueError, match=r"^Input X_val contains NaN \(sequence 0"):
        check_sequences([np.array([np.nan])], input_name="X_val")
    with pytest.raises(ValueError, match=r"^X_val is empty"):
        check_sequences([], input_name="X_val")


def test_2d_object_array_keeps_sklearn_type_error():
    # scikit-learn's check_dtype_object expects np.asarray's TypeError here.
    X = np.ones((3, 4), dtype=object)
    X[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        check_sequences(X)


def test_2d_object_array_of_numbers_is_accepted():
    X = np.arange(6.0).reshape(2, 3).astype(object)
    seqs, form = check_sequences(X)
    assert form == "2d" and seqs.dtype == np.float64
    assert_array_equal(seqs.data.ravel(), np.arange(6.0))


def test_accept_sparse_false():
    X = [sp.csr_matrix(np.eye(2))]
    with pytest.raises(TypeError, match="[Ss]parse input is not supported"):
        check_sequences(X, accept_sparse=False)
    with pytest.raises(TypeError, match="[Ss]parse input is not supported"):
        check_sequences(X[0], accept_sparse=False)
    # Dense input is unaffected.
    check_sequences([np.eye(2)], accept_sparse=False)


# --------------------------------------------------------------------------
# Memory layouts and the caller's arrays


def test_layouts_give_the_same_result(rng, tmp_path):
    X3d = rng.normal(size=(3, 6, 4))
    reference = check_sequences(list(X3d))[0]

    fortran = [np.asfortranarray(x) for x in X3d]
    strided_base = rng.normal(size=(3, 12, 8))
    strided_base[:, ::2, ::2] = X3d
    strided = [x[::2, ::2] for x in strided_base]
    readonly = [x.copy() for x in X3d]
    for x in readonly:
        x.flags.writeable = False
    path = tmp_path / "X.dat"
    memmap = np.memmap(path, dtype=np.float64, mode="w+", shape=X3d.shape)
    memmap[:] = X3d
    memmap.flush()
    memmap = np.memmap(path, dtype=np.float64, mode="r", shape=X3d.shape)

    fortran_3d = np.asfortranarray(X3d)
    readonly_3d = X3d.copy()
    readonly_3d.flags.writeable = False
    candidates = [
        fortran,
        strided,
        readonly,
        list(memmap),
        fortran_3d,
        strided_base[:, ::2, ::2],
        readonly_3d,
        memmap,
    ]
    for X in candidates:
        seqs = check_sequences(X)[0]
        assert_same_container(seqs, reference)
        assert type(seqs.data) is np.ndarray
        assert seqs.data.flags.writeable
        for x in X:
            assert not np.shares_memory(seqs.data, x)


def test_2d_layouts_give_the_same_result(rng):
    pd = pytest.importorskip("pandas")
    X2d = rng.normal(size=(4, 5))
    reference = check_sequences(list(X2d))[0]
    readonly = X2d.copy()
    readonly.flags.writeable = False
    base = rng.normal(size=(8, 10))
    base[::2, ::2] = X2d
    for X in [X2d, np.asfortranarray(X2d), readonly, base[::2, ::2], pd.DataFrame(X2d)]:
        seqs = check_sequences(X)[0]
        assert_same_container(seqs, reference)
        assert seqs.data.flags.writeable
        assert not np.shares_memory(seqs.data, np.asarray(X))


def test_caller_arrays_are_not_modified(rng):
    X = [(rng.normal(size=(3, 2)) * 10).astype(np.int64), rng.normal(size=(2, 2))]
    X_copy = [x.copy() for x in X]
    seqs, _ = check_sequences(X)
    seqs.data[:] = -1.0
    for x, x_copy in zip(X, X_copy):
        assert_array_equal(x, x_copy)
        assert x.dtype == x_copy.dtype

    X3d = rng.normal(size=(2, 3, 2))
    X3d_copy = X3d.copy()
    check_sequences(X3d)[0].data[:] = -1.0
    assert_array_equal(X3d, X3d_copy)

    X2d = rng.normal(size=(2, 3))
    X2d_copy = X2d.copy()
    check_sequences(X2d)[0].data[:] = -1.0
    assert_array_equal(X2d, X2d_copy)


def test_caller_sparse_matrix_is_not_canonicalised_in_place():
    # Duplicate, unsorted entries: canonicalising must happen on our copy only.
    data = np.array([1.0, 2.0, 3.0])
    indices = np.array([2, 0, 2], dtype=np.int32)
    indptr = np.array([0, 3, 3], dtype=np.int32)
    x = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    saved = (x.data.copy(), x.indices.copy(), x.indptr.copy())
    seqs, _ = check_sequences([x])
    assert seqs.data.has_canonical_format
    assert_array_equal(seqs.data.toarray(), [[2.0, 0.0, 4.0], [0.0, 0.0, 0.0]])
    for before, after in zip(saved, (x.data, x.indices, x.indptr)):
        assert_array_equal(before, after)
    seqs.data.data[:] = -1.0
    assert_array_equal(x.data, saved[0])


# --------------------------------------------------------------------------
# Sparse lists


@pytest.mark.parametrize(
    "container",
    [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.lil_matrix],
)
def test_sparse_values_equal_dense_conversion(rng, container):
    dense = [x * (rng.random(size=x.shape) < 0.4) for x in ragged(rng, [3, 1, 4], 5)]
    seqs, form = check_sequences([container(x) for x in dense])
    assert form == "ragged"
    assert seqs.is_sparse
    assert isinstance(seqs.data, sp.csr_matrix)
    assert seqs.data.has_canonical_format
    reference = check_sequences(dense)[0]
    assert_array_equal(seqs.offsets, reference.offsets)
    assert seqs.dtype == reference.dtype
    assert_array_equal(seqs.data.toarray(), reference.data)
    for i, x in enumerate(dense):
        assert_array_equal(seqs[i].toarray(), x)


def test_sparse_float32_is_kept(rng):
    X = [sp.csr_matrix(x) for x in ragged(rng, [2, 3], 4, np.float32)]
    seqs, _ = check_sequences(X)
    assert seqs.dtype == np.float32
    assert seqs.data.dtype == np.float32


@pytest.mark.parametrize(
    "value, kind", [(np.nan, "NaN"), (np.inf, "infinity or a value too large")]
)
def test_sparse_non_finite_is_located(value, kind):
    bad = np.zeros((4, 3))
    bad[0, 1] = 1.0
    bad[2, 2] = value
    bad[3, 0] = value  # only the first one is reported
    X = [sp.csr_matrix(np.eye(2, 3)), sp.csr_matrix(np.eye(1, 3)), sp.csr_matrix(bad)]
    with pytest.raises(
        ValueError,
        match=rf"^Input X contains {kind}.*\(sequence 2, time step 2, feature 2\)\.$",
    ):
        check_sequences(X)


# --------------------------------------------------------------------------
# The Sequences container


def test_container_properties(rng):
    X = ragged(rng, [3, 1, 5, 2], n_features=3, dtype=np.float32)
    seqs, _ = check_sequences(X)
    assert seqs.lengths.dtype == np.int64
    assert_array_equal(seqs.lengths, [3, 1, 5, 2])
    assert seqs.n_sequences == len(seqs) == 4
    assert seqs.n_features == 3
    assert seqs.dtype == np.float32
    assert not seqs.is_sparse
    assert seqs.n_steps == 11
    assert isinstance(seqs.n_steps, int)
    assert "n_sequences=4" in repr(seqs)


def test_getitem(rng):
    X = ragged(rng, [3, 1, 5], n_features=2)
    seqs, _ = check_sequences(X)
    assert_array_equal(seqs[1], X[1])
    assert_array_equal(seqs[-1], X[2])
    assert_array_equal(seqs[np.int64(2)], X[2])
    assert np.shares_memory(seqs[0], seqs.data)  # a view, not a copy
    with pytest.raises(IndexError):
        seqs[3]
    with pytest.raises(IndexError):
        seqs[-4]
    with pytest.raises(TypeError, match="take"):
        seqs[[0, 1]]
    with pytest.raises(TypeError, match="take"):
        seqs[0:2]
    for got, expected in zip(seqs, X, strict=True):
        assert_array_equal(got, expected)


@pytest.mark.parametrize("sparse", [False, True])
def test_take(rng, sparse):
    X = ragged(rng, [3, 1, 5, 2, 4], n_features=2)
    if sparse:
        X = [sp.csr_matrix(x) for x in X]
    seqs, _ = check_sequences(X)

    def as_dense(x):
        return x.toarray() if sparse else x

    for indices in (
        [4, 2, 0, 1, 3],
        [3, 0],
        [1],
        [2, 2, 0],
        [-1, 0],
        rng.permutation(5),
    ):
        sub = seqs.take(indices)
        assert sub.offsets.dtype == np.int64
        assert_array_equal(sub.lengths, [X[i].shape[0] for i in indices])
        expected = [as_dense(X[i]) for i in indices]
        got = [as_dense(s) for s in sub.to_list()]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_array_equal(g, e)
        if not sparse:
            assert sub.data.flags.c_contiguous
            assert not np.shares_memory(sub.data, seqs.data)

    mask = np.array([True, False, True, False, False])
    assert_array_equal(seqs.take(mask).lengths, [3, 5])
    empty = seqs.take(np.array([], dtype=np.int64))
    assert len(empty) == 0 and empty.n_steps == 0 and empty.n_features == 2
    with pytest.raises(IndexError):
        seqs.take([5])
    with pytest.raises(IndexError):
        seqs.take([-6])


def test_to_list_round_trip(rng):
    X = ragged(rng, [3, 1, 5], n_features=2)
    seqs, _ = check_sequences(X)
    out = seqs.to_list()
    assert len(out) == 3
    for got, expected in zip(out, X):
        assert_array_equal(got, expected)
        assert np.shares_memory(got, seqs.data)
    assert_same_container(check_sequences(out)[0], seqs)


def test_from_lengths(rng):
    data = rng.normal(size=(6, 2))
    seqs = Sequences.from_lengths(data, np.array([1, 0, 5], dtype=np.int32))
    assert seqs.data is data
    assert seqs.offsets.dtype == np.int64
    assert_array_equal(seqs.offsets, [0, 1, 1, 6])
    with pytest.raises(ValueError, match="sum to 5, but data has 6 rows"):
        Sequences.from_lengths(data, [2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        Sequences.from_lengths(data, [7, -1])
    with pytest.raises(ValueError, match="1-D array of integers"):
        Sequences.from_lengths(data, [[6]])
    with pytest.raises(ValueError, match="1-D array of integers"):
        Sequences.from_lengths(data, [1.5, 4.5])


def test_offsets_do_not_overflow_int32():
    # A zero-stride view stands in for more than 2**31 rows without the memory.
    n_rows = 2**31 + 10
    data = np.broadcast_to(np.zeros((1, 1), dtype=np.float32), (n_rows, 1))
    lengths = np.array([2**30, 2**30, 10], dtype=np.int32)
    seqs = Sequences.from_lengths(data, lengths)
    assert seqs.n_steps == n_rows
    assert_array_equal(seqs.offsets, [0, 2**30, 2**31, n_rows])


def test_pickle_round_trip(rng):
    seqs, _ = check_sequences(ragged(rng, [2, 3], 2))
    loaded = pickle.loads(pickle.dumps(seqs))
    assert_same_container(loaded, seqs)


def test_check_step_features(rng):
    seqs, _ = check_sequences(ragged(rng, [2, 3], 4))
    check_step_features(seqs, 4, "RNNClassifier")
    with pytest.raises(
        ValueError,
        match=r"^X has 4 features, but RNNClassifier is expecting 3 features as "
        r"input\.$",
    ):
        check_step_features(seqs, 3, "RNNClassifier")


# --------------------------------------------------------------------------
# ArraySequences: values deferred to the packing


@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_deferred_values_are_the_same_container(rng, dtype):
    X = ragged(rng, [3, 1, 4], 2) + ragged(rng, [2], 2, np.float32)
    X[1] = np.asfortranarray(X[1])
    seqs, form = check_sequences(X, dtype=dtype, defer_values=True)
    assert isinstance(seqs, ArraySequences) and form == "ragged"
    reference, _ = check_sequences(X, dtype=dtype)
    assert seqs.dtype == reference.dtype and seqs.n_features == 2
    assert_array_equal(seqs.lengths, reference.lengths)
    assert (seqs.n_sequences, seqs.n_steps, len(seqs)) == (4, 10, 4)
    assert not seqs.is_sparse
    assert_same_container(seqs, reference)
    assert_array_equal(seqs[2], reference[2])
    # Its own list: the caller's may change without changing the container.
    X[0] = X[0][:1]
    assert seqs.n_steps == 10 and seqs.arrays[0].shape == (3, 2)


@pytest.mark.parametrize("make", [
    lambda rng: [x.astype(np.int64) for x in ragged(rng, [2, 3], 2)],
    lambda rng: [x.astype(">f8") for x in ragged(rng, [2, 3], 2)],
    lambda rng: [x.astype(np.float16) for x in ragged(rng, [2, 3], 2)],
    lambda rng: [sp.csr_matrix(x) for x in ragged(rng, [2, 3], 2)],
    lambda rng: rng.normal(size=(2, 3, 2)),
    lambda rng: rng.normal(size=(2, 3)),
], ids=["int", "big-endian", "float16", "sparse", "3d", "2d"])
def test_only_lists_of_native_floats_are_deferred(rng, make):
    seqs, _ = check_sequences(make(rng), dtype=np.float32, defer_values=True)
    assert isinstance(seqs, Sequences)


def test_a_deferred_bad_value_is_the_first_of_all_of_x(rng):
    """Whichever block meets a bad value first, the error names the first
    one in X, as validating all of X at once does."""
    X = ragged(rng, [5] * 6 + [9] * 6, 2)
    X[10][7, 1] = np.inf
    X[4][3, 0] = np.nan
    seqs, _ = check_sequences(X, defer_values=True)
    late = [10, 11]  # its block holds only the later bad value
    with pytest.raises(ValueError, match=r"^Input X contains NaN \(sequence 4, "
                                         r"time step 3, feature 0\)\.$"):
        PackedBatch(seqs, late)
    # The other blocks pack, unchecked by values they do not hold.
    assert_array_equal(PackedBatch(seqs, [0, 1]).X[:2], [X[0][0], X[1][0]])


# --------------------------------------------------------------------------
# Performance


def test_many_short_sequences_convert_fast(rng):
    X = list(rng.normal(size=(100_000, 1, 3)))
    check_sequences(X[:100])  # warm up imports and caches
    start = time.perf_counter()
    seqs, _ = check_sequences(X)
    elapsed = time.perf_counter() - start
    assert seqs.n_sequences == 100_000
    assert elapsed < 2.0, f"converting 10**5 length-1 sequences took {elapsed:.2f}s"


# --------------------------------------------------------------------------
# Properties


@st.composite
def ragged_float_lists(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_features = draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, 20), min_size=1, max_size=15))
    elements = st.floats(
        allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8
    )
    return [
        draw(hnp.arrays(dtype, (t, n_features), elements=elements)) for t in lengths
    ]


@seed(SEED)
@settings(max_examples=50, deadline=None)
@given(X=ragged_float_lists())
def test_round_trip_property(X):
    seqs, form = check_sequences(X)
    assert form == "ragged"
    assert seqs.dtype == X[0].dtype
    out = seqs.to_list()
    assert len(out) == len(X)
    for got, expected in zip(out, X):
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)


@seed(SEED)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_take_permutation_property(data):
    X = data.draw(ragged_float_lists())
    permutation = data.draw(st.permutations(range(len(X))))
    taken = check_sequences(X)[0].take(permutation).to_list()
    expected = [X[i] for i in permutation]
    assert len(taken) == len(expected)
    for got, want in zip(taken, expected):
        assert_array_equal(got, want)


def test_2d_array_like_is_copied(rng):
    # An object exposing __array__ may hand check_array the caller's buffer;
    # the container must still never share it.
    class ArrayLike:
        def __init__(self, array):
            self.array = array

        def __array__(self, dtype=None, copy=None):
            return self.array

    X = rng.normal(size=(4, 5))
    seqs, form = check_sequences(ArrayLike(X))
    assert form == "2d"
    assert not np.shares_memory(seqs.data, X)


# --------------------------------------------------------------------------
# Nested tables and panels (sktime's nested_univ and pd-multiindex)


def nested_of(X, columns=None):
    """A 2-D object array (n, n_channels) of 1-D channels, or a nested DataFrame."""
    table = np.empty((len(X), X[0].shape[1]), dtype=object)
    for i, x in enumerate(X):
        for j in range(x.shape[1]):
            table[i, j] = x[:, j]
    if columns is None:
        return table
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({name: [pd.Series(c) for c in table[:, j]]
                         for j, name in enumerate(columns)})


def panel_of(X, columns, ids=None):
    """A DataFrame indexed by (instance, time), one row per step."""
    pd = pytest.importorskip("pandas")
    ids = [f"s{i}" for i in range(len(X))] if ids is None else ids
    index = pd.MultiIndex.from_tuples(
        [(ids[i], t) for i, x in enumerate(X) for t in range(len(x))],
        names=["instance", "time"])
    return pd.DataFrame(np.concatenate(X), index=index, columns=columns)


def test_nested_and_panel_forms_agree(rng):
    X = ragged(rng, [3, 1, 5], n_features=2)
    reference = check_sequences(X)[0]
    one_column = np.empty((3, 1), dtype=object)
    one_column[:, 0] = X
    panel = panel_of(X, ["a", "b"])
    forms = {
        "nested array": (nested_of(X), "nested"),
        "nested DataFrame": (nested_of(X, ["a", "b"]), "nested"),
        "one column of (T_i, F)": (one_column, "nested"),
        "panel": (panel, "panel"),
        # Rows in any order: instances by first appearance, steps by time.
        "shuffled panel": (panel.iloc[[0, 3, 4, 2, 1, 8, 5, 7, 6]], "panel"),
    }
    for name, (table, expected) in forms.items():
        seqs, form = check_sequences(table)
        assert form == expected, name
        assert_same_container(seqs, reference)


def test_panel_instances_in_order_of_first_appearance(rng):
    X = ragged(rng, [2, 3], n_features=1)
    panel = panel_of(X, ["x"], ids=["z", "a"])  # not sorted by label
    seqs, _ = check_sequences(panel.iloc[[2, 0, 3, 1, 4]])
    assert_same_container(seqs, check_sequences([X[1], X[0]])[0])


def test_nested_float32_stays_float32(rng):
    X = ragged(rng, [2, 3], n_features=2, dtype=np.float32)
    assert check_sequences(nested_of(X))[0].dtype == np.float32


def _unequal_channels():
    table = nested_of([_seq(3), _seq(4)])
    table[1, 1] = np.zeros(2)
    return table


def _frame_with_unequal_channels():
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"a": [np.zeros(3), np.zeros(4)],
                         "b": [np.zeros(3), np.zeros(5)]})


def _nested_with_scalar():
    table = nested_of([_seq(3), _seq(4)])
    table[1, 0] = 7.0
    return table


def _panel(index_tuples, values, names=("instance", "time")):
    pd = pytest.importorskip("pandas")
    index = pd.MultiIndex.from_tuples(index_tuples, names=list(names))
    return pd.DataFrame(values, index=index)


def _long_table():
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"id": ["a", "a", "b"], "x": [1.0, 2.0, 3.0]})


TABLE_ERROR_CASES = [
    (_unequal_channels, ValueError,
     r"^Row 1 of X has channels of unequal lengths: column 0 has 4 steps but "
     r"column 1 has 2"),
    (_frame_with_unequal_channels, ValueError,
     r"^Row 1 of X has channels .* column 'a' has 4 steps but column 'b' has 5"),
    (_nested_with_scalar, ValueError,
     r"cell at row 1, column 0 holds the scalar 7\.0.* 1-D series"),
    (lambda: _panel([("a", 0, 0), ("a", 1, 0)], [[1.0], [2.0]],
                    names=("i", "t", "u")),
     ValueError, r"MultiIndex of 3 levels, but a panel needs exactly two"),
    (lambda: _panel([("a", 0), ("b", 0), ("a", 0)], [[1.0], [2.0], [3.0]]),
     ValueError, r"several rows for instance 'a' at time 0; a panel needs one row"),
    (lambda: _panel([("a", 0), ("a", 1)], [[1.0], [np.nan]]),
     ValueError, r"^Input X contains NaN \(sequence 0, time step 1, feature 0\)"),
    (_long_table, ValueError,
     r"^Column 'id' of X holds .* not numbers.*from_long\(X, id=\.\.\., time"),
]


@pytest.mark.parametrize("make, exception, match", TABLE_ERROR_CASES)
def test_table_errors(make, exception, match):
    with pytest.raises(exception, match=match):
        check_sequences(make())


def test_nested_cell_of_two_dimensions_needs_one_column():
    table = nested_of([_seq(2, 3)])
    table[0, 1] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"row 0, column 1 has shape \(2, 2\)"):
        check_sequences(table)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_form_gives_identical_predictions(rng):
    """The same sequences in every accepted form: the same fit, the same predictions."""
    pd = pytest.importorskip("pandas")
    from skrnn import RNNClassifier
    from skrnn.preprocessing import channels_last, from_long

    def long_table(X):
        # Each instance's rows backwards in time: from_long orders them.
        return pd.DataFrame(
            [(f"s{i}", t, *x[t]) for i, x in enumerate(X)
             for t in reversed(range(len(x)))],
            columns=["id", "time", "a", "b"])

    equal = list(rng.normal(size=(12, 6, 2)))
    unequal = ragged(rng, rng.integers(2, 9, size=12), n_features=2)
    y = np.arange(12) % 2
    for X in (equal, unequal):
        forms = {
            "list": X,
            "nested": nested_of(X),
            "nested DataFrame": nested_of(X, [0, 1]),
            "panel": panel_of(X, [0, 1]),
            "from_long panel": from_long(long_table(X), "id", "time").rename(
                columns={"a": 0, "b": 1}),
            "from_long list": from_long(long_table(X), "id", "time", output="list"),
            "channels_last list": channels_last([x.T for x in X]),
        }
        if X is equal:
            forms["3-D"] = np.stack(X)
            forms["channels_last 3-D"] = channels_last(np.stack(X).transpose(0, 2, 1))
        reference = RNNClassifier((4,), max_iter=2, random_state=0).fit(X, y)
        expected = reference.predict_proba(X)
        for name, form in forms.items():
            model = RNNClassifier((4,), max_iter=2, random_state=0).fit(form, y)
            assert model.loss_curve_ == reference.loss_curve_, name
            assert_array_equal(model.predict_proba(form), expected, err_msg=name)
            assert_array_equal(reference.predict_proba(form), expected, err_msg=name)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_panel_and_nested_columns_are_feature_names(rng):
    from skrnn import RNNRegressor

    X = ragged(rng, [3, 4, 2, 5], n_features=2)
    y = np.arange(4.0)
    for table in (panel_of(X, ["a", "b"]), nested_of(X, ["a", "b"])):
        model = RNNRegressor((3,), max_iter=1, random_state=0).fit(table, y)
        assert model.feature_names_in_.tolist() == ["a", "b"]
        assert model.n_features_in_ == 2
        with pytest.raises(ValueError, match="feature names should match"):
            model.predict(table.rename(columns={"a": "c"}))
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            model.predict(X)
    # A later fit on a list forgets them.
    model.fit(X, y)
    assert not hasattr(model, "feature_names_in_")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_long_table_at_predict_gets_a_hint(rng):
    pd = pytest.importorskip("pandas")
    from skrnn import RNNRegressor

    X = ragged(rng, [3, 4], n_features=2)
    model = RNNRegressor((2,), max_iter=1, random_state=0).fit(X, [0.0, 1.0])
    long = pd.DataFrame([(i, t, *row) for i, x in enumerate(X)
                         for t, row in enumerate(x)], columns=["id", "t", "a", "b"])
    with pytest.raises(ValueError, match=r"X has 1 features, but RNNRegressor is "
                       r"expecting 2 .* long table .*from_long"):
        model.predict(long)


# --------------------------------------------------------------------------
# dtype: the cast to a compute precision
# --------------------------------------------------------------------------


def _forms(arrays):
    """The same equal-length sequences in every dense form and as sparse."""
    pd = pytest.importorskip("pandas")
    stacked3d = np.stack(arrays)
    nested = np.empty((len(arrays), 1), dtype=object)
    for i, a in enumerate(arrays):
        nested[i, 0] = a
    panel = pd.DataFrame(
        np.concatenate(arrays),
        index=pd.MultiIndex.from_product([range(len(arrays)),
                                          range(arrays[0].shape[0])]))
    return {"ragged": list(arrays), "3d": stacked3d, "nested": nested,
            "panel": panel, "sparse": [sp.csr_matrix(a) for a in arrays]}


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32])
@pytest.mark.parametrize("form", ["ragged", "3d", "nested", "panel", "sparse"])
def test_dtype_casts_every_form_once(form, dtype):
    arrays = [np.arange(12.0).reshape(4, 3) + i for i in range(3)]
    seqs, _ = check_sequences(_forms(arrays)[form], dtype=dtype)
    assert seqs.dtype == np.dtype(dtype)
    data = seqs.data.toarray() if sp.issparse(seqs.data) else seqs.data
    assert_array_equal(data, np.concatenate(arrays).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_of_2d_input(dtype):
    X = np.arange(12, dtype=np.int64).reshape(3, 4)
    seqs, form = check_sequences(X, dtype=dtype)
    assert form == "2d" and seqs.dtype == dtype
    assert not np.shares_memory(seqs.data, X)
    X32 = X.astype(np.float32)
    seqs, _ = check_sequences(X32, dtype=np.float32)
    assert not np.shares_memory(seqs.data, X32)


def test_dtype_none_keeps_the_input_policy():
    assert check_sequences([np.ones((2, 2), np.float32)])[0].dtype == np.float32
    assert check_sequences([np.ones((2, 2), np.int64)])[0].dtype == np.float64


@pytest.mark.parametrize("form", ["ragged", "3d", "nested", "panel", "sparse"])
def test_value_too_large_for_float32_names_sequence_step_and_feature(form):
    arrays = [np.zeros((4, 3)) for _ in range(3)]
    arrays[2][3, 1] = 5e38
    match = (r"^Input X holds 5e\+38 \(sequence 2, time step 3, feature 1\), "
             r"too large for float32.*dtype='float64'\.$")
    with pytest.raises(ValueError, match=match):
        check_sequences(_forms(arrays)[form], dtype="float32")
    # float64 holds it.
    seqs, _ = check_sequences(_forms(arrays)[form], dtype="float64")
    assert seqs.dtype == np.float64


def test_value_too_large_for_float32_in_2d_input():
    X = np.zeros((3, 5))
    X[1, 4] = -1e300
    with pytest.raises(ValueError, match=r"-1e\+300 \(sequence 1, time step 4, "
                       r"feature 0\), too large for float32"):
        check_sequences(X, dtype="float32")


def test_object_numbers_too_large_for_float32():
    X = [np.array([[1.0], [10**40]], dtype=object)]
    with pytest.raises(ValueError, match=r"1e\+40 \(sequence 0, time step 1, "
                       r"feature 0\), too large for float32"):
        check_sequences(X, dtype="float32")


def test_infinity_is_still_reported_as_such_with_a_dtype():
    X = [np.zeros((2, 2)), np.array([[0.0, np.inf]])]
    with pytest.raises(ValueError, match=r"^Input X contains infinity .*"
                       r"\(sequence 1, time step 0, feature 1\)\.$"):
        check_sequences(X, dtype="float32")


def test_the_cast_warns_nothing():
    X = [np.full((2, 2), 1e39)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large for float32"):
            check_sequences(X, dtype="float32")


# --------------------------------------------------------------------------
# Every X form through the estimators: bad X, unusual but valid X, dtypes and layouts
# --------------------------------------------------------------------------


def _assert_fit_and_predict_raise(Estimator, X, y, match, error=ValueError):
    """Fitting on X and predicting X with a fitted model both raise ``error``
    with a message that matches ``match``."""
    with pytest.raises(error, match=match):
        Estimator(**TINY).fit(X, y)
    with pytest.raises(error, match=match):
        tiny_fitted(Estimator).predict(X)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_empty_X(Estimator):
    with pytest.raises(ValueError, match=r"X is empty \(0 sequences\)"):
        Estimator(**TINY).fit([], [])
    with pytest.raises(ValueError, match=r"0 sample\(s\).*X is empty"):
        Estimator(**TINY).fit(np.empty((0, 4, N_FEATURES)), [])
    with pytest.raises(ValueError, match=r"X is empty \(0 sequences\)"):
        tiny_fitted(Estimator).predict([])


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_zero_length_sequence_in_fit_names_its_index(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    X = with_empty_sequence(X)
    if Estimator is SequenceTagger:
        y[3] = y[3][:0]
    with pytest.raises(ValueError, match=r"^Sequence 3 has length 0"):
        Estimator(**TINY).fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_sequences_with_different_feature_counts(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    X[3] = X[3][:, :2]
    match = (r"^Sequence 3 has 2 features per time step, but sequence 0 has 3; "
             r"every sequence needs the same number of features")
    _assert_fit_and_predict_raise(Estimator, X, y, match)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_zero_features(Estimator, rng):
    X = [np.empty((int(t), 0)) for t in rng.integers(2, 7, size=8)]
    y = tiny_targets(Estimator, [np.ones((len(x), 1)) for x in X])
    match = r"0 feature\(s\) \(shape=\(\d+, 0\)\) while a minimum of 1 is required"
    with pytest.raises(ValueError, match=match + r" \(sequence 0\)"):
        Estimator(**TINY).fit(X, y)
    X3d = np.empty((8, 4, 0))
    y3d = tiny_targets(Estimator, list(np.ones((8, 4, 1))))
    with pytest.raises(ValueError, match=match):
        Estimator(**TINY).fit(X3d, y3d)


# (sequence, time step, feature): the first value, one inside, the last one.
POSITIONS = [(0, 0, 0), (3, 1, 2), (7, -1, 2)]


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "predict"])
@pytest.mark.parametrize("value, kind", [
    (np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_finite_X_is_located(Estimator, method, value, kind, position, dtype,
                                 rng):
    X, y = tiny_data(Estimator, rng)
    X = [x.astype(dtype) for x in X]
    i, t, f = position
    X[i][t, f] = value
    step = t % len(X[i])
    match = (rf"^Input X contains {kind}.*\(sequence {i}, time step {step}, "
             rf"feature {f}\)\.$")
    with pytest.raises(ValueError, match=match):
        if method == "fit":
            Estimator(**TINY).fit(X, y)
        else:
            tiny_fitted(Estimator).predict(X)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_non_finite_X_in_3d_array_is_located(Estimator, rng):
    X = rng.standard_normal((8, 5, N_FEATURES))
    X[6, 4, 1] = np.nan
    match = r"^Input X contains NaN \(sequence 6, time step 4, feature 1\)\.$"
    _assert_fit_and_predict_raise(Estimator, X, tiny_targets(Estimator, list(X)),
                                  match)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_object_arrays_of_numbers_are_converted(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    X[0][:, 0] = np.round(4 * X[0][:, 0])
    # Python ints and floats side by side, as a list of lists would hold them.
    mixed = np.array([[int(row[0])] + [float(v) for v in row[1:]] for row in X[0]],
                     dtype=object)
    as_objects = [mixed] + [x.astype(object) for x in X[1:]]
    reference = Estimator(**TINY).fit(X, y)
    assert_same_fit(Estimator(**TINY).fit(as_objects, y), reference, X)
    assert_array_equal(outputs(reference, as_objects), outputs(reference, X))

    holder = np.empty(len(X), dtype=object)  # a 1-D object array of sequences
    holder[:] = as_objects
    assert_same_fit(Estimator(**TINY).fit(holder, y), reference, X)
    assert_array_equal(outputs(reference, holder), outputs(reference, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("bad, holding", [
    ("abc", "str"), ("1.5", "str"), ({"a": 1}, "dict"), (None, "NoneType")])
def test_object_arrays_of_non_numbers_raise(Estimator, bad, holding, rng):
    X, y = tiny_data(Estimator, rng)
    X[2] = X[2].astype(object)
    X[2][1, 1] = bad
    match = (rf"^Sequence 2 contains non-numeric data \(dtype 'object' holding "
             rf"{holding}\)")
    _assert_fit_and_predict_raise(Estimator, X, y, match)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("bad", [{"a": 1}, None])
def test_object_array_of_non_sequences_names_the_first(Estimator, bad, rng):
    X = np.empty(2, dtype=object)
    X[0], X[1] = bad, bad
    with pytest.raises(ValueError, match=r"^Sequence 0 has 0 dimensions"):
        tiny_fitted(Estimator).predict(X)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_string_arrays_raise(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    X[1] = X[1].astype(str)
    with pytest.raises(ValueError,
                       match=r"^Sequence 1 contains non-numeric data \(dtype '<U"):
        Estimator(**TINY).fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_complex_data_raises(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    X[4] = X[4] + 1j
    match = r"^Complex data not supported \(sequence 4, dtype complex128\)"
    _assert_fit_and_predict_raise(Estimator, X, y, match)
    X3d = rng.standard_normal((8, 4, N_FEATURES)) * 1j
    with pytest.raises(ValueError, match="Complex data not supported"):
        Estimator(**TINY).fit(X3d, tiny_targets(Estimator, list(X3d.real)))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_1d_array_raises(Estimator, rng):
    X = rng.standard_normal(8)
    y = tiny_targets(Estimator, [np.ones((1, 1))] * 8)
    _assert_fit_and_predict_raise(Estimator, X, y,
                                  r"^Expected 2D array, got 1D array instead")


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_4d_array_raises(Estimator, rng):
    X = rng.standard_normal((8, 4, N_FEATURES, 1))
    y = tiny_targets(Estimator, list(X[..., 0]))
    _assert_fit_and_predict_raise(Estimator, X, y,
                                  r"^Found array with dim 4\. X must be")


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_list_of_1d_univariate_sequences(Estimator, rng):
    X, y = tiny_data(Estimator, rng, n_features=1)
    univariate = [x[:, 0] for x in X]
    assert len({len(x) for x in univariate}) > 1
    est = Estimator(**TINY).fit(univariate, y)
    assert est.n_features_in_ == 1
    assert_same_fit(est, Estimator(**TINY).fit(X, y), X)
    assert_array_equal(outputs(est, univariate), outputs(est, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_list_of_sparse_matrices(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    for x in X:  # sparse per-step features
        x[np.abs(x) < 0.7] = 0.0
    X_sparse = [sp.csr_matrix(x) for x in X]
    # float64: the tolerances are float64 round-off.
    est = Estimator(**TINY, dtype="float64").fit(X_sparse, y)
    dense = Estimator(**TINY, dtype="float64").fit(X, y)
    # Same model up to round-off: the input projection goes through scipy.
    assert_allclose(est._params, dense._params, rtol=1e-9, atol=1e-12)
    assert_allclose(outputs(est, X_sparse), outputs(dense, X), rtol=1e-9,
                    atol=1e-12)
    assert_allclose(outputs(dense, X_sparse), outputs(dense, X), rtol=1e-12,
                    atol=1e-14)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("matrix", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
def test_single_sparse_matrix_raises_type_error(Estimator, matrix, rng):
    X = matrix(rng.standard_normal((8, N_FEATURES)))
    y = tiny_targets(Estimator, [np.ones((1, 1))] * 8)
    match = (r"single scipy\.sparse matrix is not accepted as X.*list of "
             r"scipy\.sparse matrices, one \(T_i, n_features\) matrix per sequence")
    _assert_fit_and_predict_raise(Estimator, X, y, match, TypeError)


def _layouts(X3d, tmp_path):
    """The same equal-length sequences in C, Fortran, strided and memmap layouts."""
    strided = np.zeros(X3d.shape[:2] + (2 * X3d.shape[2],))
    strided[:, :, ::2] = X3d
    path = tmp_path / "X.npy"
    np.save(path, X3d)
    memmap = np.load(path, mmap_mode="r")
    assert isinstance(memmap, np.memmap) and not memmap.flags.writeable
    fortran = np.asfortranarray(X3d)
    return {
        "fortran-3d": fortran,
        "fortran-list": [np.asfortranarray(x) for x in X3d],
        "strided-3d": strided[:, :, ::2],
        "strided-list": [x[:, ::2] for x in strided],
        "negative-strides-list": [x[::-1].copy()[::-1] for x in X3d],
        "memmap-3d": memmap,
        "memmap-list": list(memmap),
    }


LAYOUTS = ["fortran-3d", "fortran-list", "strided-3d", "strided-list",
           "negative-strides-list", "memmap-3d", "memmap-list"]


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_memory_layouts_give_the_results_of_c_contiguous_input(Estimator, layout,
                                                               rng, tmp_path):
    X3d = rng.standard_normal((8, 5, N_FEATURES))
    y = tiny_targets(Estimator, list(X3d))
    X = _layouts(X3d, tmp_path)[layout]
    first = X if layout.endswith("3d") else X[0]
    if layout.startswith("memmap"):
        assert not first.flags.writeable
    else:
        assert not first.flags.c_contiguous
    reference = Estimator(**TINY).fit(X3d, y)
    assert_same_fit(Estimator(**TINY).fit(X, y), reference, X3d)
    assert_array_equal(outputs(reference, X), outputs(reference, X3d))


# --------------------------------------------------------------------------
# Equivalent X forms through the estimators: identical fits and predictions
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_input_forms_give_identical_predictions(Estimator):
    X, y = small_problem(Estimator, n=30)
    est = Estimator(**FAST).fit(X, y)
    rng = data_rng(5)
    X3d = rng.standard_normal((6, 7, 3))
    reference = outputs(est, X3d)
    assert_array_equal(outputs(est, list(X3d)), reference)
    assert_array_equal(outputs(est, tuple(X3d)), reference)
    assert_array_equal(outputs(est, [x.tolist() for x in X3d]), reference)
    ragged_reference = outputs(est, X)
    assert_array_equal(outputs(est, tuple(X)), ragged_reference)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_univariate_forms_give_identical_predictions(Estimator):
    X, y = small_problem(Estimator, n=30, n_features=1)
    est = Estimator(**FAST).fit([x[:, 0] for x in X], y)
    X2d = data_rng(6).standard_normal((5, 9))
    reference = outputs(est, X2d)
    assert_array_equal(outputs(est, list(X2d)), reference)
    assert_array_equal(outputs(est, [x[:, None] for x in X2d]), reference)
    assert_array_equal(outputs(est, X2d[:, :, None]), reference)
    assert_array_equal(outputs(est, [x[:, 0] for x in X]), outputs(est, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_fits_on_equivalent_forms_are_identical(Estimator):
    X3d = data_rng(7).standard_normal((20, 6, 2))
    X = list(X3d)
    _, y = small_problem(Estimator, n=20, n_features=2)
    if Estimator is SequenceTagger:
        y = [(x[:, 0] > 0).astype(int) for x in X]
    from_list = Estimator(**FAST).fit(X, y)
    from_3d = Estimator(**FAST).fit(X3d, y)
    from_tuple = Estimator(**FAST).fit(tuple(X), y)
    assert from_3d.n_features_in_ == from_list.n_features_in_ == 2
    assert_array_equal(from_3d.loss_curve_, from_list.loss_curve_)
    assert_array_equal(from_tuple.loss_curve_, from_list.loss_curve_)
    assert_array_equal(outputs(from_3d, X), outputs(from_list, X))
    if Estimator is SequenceTagger:
        # Equal-length tags may also come as one 2-D array.
        from_2d_tags = Estimator(**FAST).fit(X3d, np.array(y))
        assert_array_equal(from_2d_tags.loss_curve_, from_list.loss_curve_)


def _one_hot_tokens(n, vocabulary, stream):
    rng = data_rng(8, stream)
    tokens = [rng.integers(0, vocabulary, int(rng.integers(2, 9))) for _ in range(n)]
    dense = [np.eye(vocabulary)[t] for t in tokens]
    return tokens, dense, [sp.csr_matrix(d) for d in dense]


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("hidden_layer_sizes", [(4,), (4, 3)])
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_sparse_input_trains_and_predicts_like_dense(Estimator, hidden_layer_sizes,
                                                     bidirectional, cell):
    tokens, dense, sparse = _one_hot_tokens(30, 6, stream=0)
    if Estimator is RNNClassifier:
        y = np.array([int(3 in t) for t in tokens])
    elif Estimator is RNNRegressor:
        y = np.array([t.mean() for t in tokens])
    else:
        y = [(t > 2).astype(int) for t in tokens]
    # float64: the tolerances below are float64's (float32's sparse and dense
    # products round differently on some BLAS builds).
    params = dict(FAST, cell=cell, bidirectional=bidirectional, max_iter=4,
                  hidden_layer_sizes=hidden_layer_sizes, dtype="float64")
    from_dense = Estimator(**params).fit(dense, y)
    from_sparse = Estimator(**params).fit(sparse, y)
    assert from_sparse.n_features_in_ == 6
    assert_allclose(from_sparse.loss_curve_, from_dense.loss_curve_,
                    rtol=1e-10, atol=1e-10)
    assert_allclose(from_sparse._params, from_dense._params, rtol=0, atol=1e-10)
    _, new_dense, new_sparse = _one_hot_tokens(10, 6, stream=1)
    assert_allclose(outputs(from_sparse, new_sparse),
                    outputs(from_dense, new_dense), rtol=0, atol=1e-10)
    # A model fitted on dense input predicts sparse input, and vice versa.
    assert_allclose(outputs(from_dense, new_sparse),
                    outputs(from_dense, new_dense), rtol=0, atol=1e-12)
    assert_allclose(outputs(from_sparse, new_dense),
                    outputs(from_sparse, new_sparse), rtol=0, atol=1e-12)


@ignore_convergence
def test_sparse_float32_trains_in_float32():
    tokens, dense, sparse = _one_hot_tokens(30, 6, stream=0)
    y = np.array([int(3 in t) for t in tokens])
    sparse32 = [s.astype(np.float32) for s in sparse]
    clf = RNNClassifier(**FAST).fit(sparse32, y)
    assert clf._params.dtype == np.float32
    assert clf.predict_proba(sparse32).dtype == np.float64
    assert RNNClassifier(**FAST, dtype="float64").fit(
        sparse32, y)._params.dtype == np.float64
    dense32 = RNNClassifier(**FAST).fit([d.astype(np.float32) for d in dense], y)
    assert_allclose(clf.predict_proba(sparse32), dense32.predict_proba(sparse32),
                    rtol=0, atol=1e-5)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("value, shown", [(-1e39, r"-1e\+39"), (1e300, r"1e\+300")])
@pytest.mark.parametrize("form", ["ragged", "3d", "2d", "sparse"])
def test_value_too_large_for_float32_is_named(Estimator, value, shown, form):
    """A float64 value float32 cannot hold is refused at the edge, naming it,
    its place, and what to do (scale it, or compute in float64)."""
    X = [np.zeros((4, 3)) for _ in range(5)]
    X[3][2, 1] = value
    where = r"\(sequence 3, time step 2, feature 1\)"
    if form == "3d":
        X = np.stack(X)
    elif form == "2d":
        X = np.stack(X)[:, :, 1]
        where = r"\(sequence 3, time step 2, feature 0\)"
    elif form == "sparse":
        X = [sp.csr_matrix(x) for x in X]
    y = {RNNClassifier: np.arange(5) % 2, RNNRegressor: np.arange(5.0),
         SequenceTagger: [np.arange(4) % 2] * 5}[Estimator]
    est = Estimator(**FAST)
    match = rf"{shown} {where}, too large for float32.*dtype='float64'"
    with pytest.raises(ValueError, match=match) as info:
        est.fit(X, y)
    assert "StandardScaler" in str(info.value)
    # float64 holds it: the same data fits.
    Estimator(**FAST, dtype="float64").fit(X, y)


@ignore_convergence
def test_value_too_large_for_float32_is_named_at_predict_and_validation():
    X, y = small_problem(RNNClassifier)
    est = RNNClassifier(**FAST).fit(X, y)
    bad = [x.copy() for x in X[:4]]
    bad[1][0, 2] = 4e38
    with pytest.raises(ValueError, match=r"4e\+38 \(sequence 1, time step 0, "
                       r"feature 2\), too large for float32"):
        est.predict(bad)
    with pytest.raises(ValueError, match="too large for float32"):
        RNNClassifier(**FAST).fit(X, y, X_val=bad, y_val=y[:4])
    # An infinity in the input is reported as one, not as an overflow.
    bad[1][0, 2] = np.inf
    with pytest.raises(ValueError, match="contains infinity"):
        est.predict(bad)


# --------------------------------------------------------------------------
# Failures the fuzzer found in the X checks
# --------------------------------------------------------------------------


@fuzz_warnings
@pytest.mark.parametrize("matrix", [sp.dok_matrix, sp.dok_array])
def test_list_of_dok_matrices_fits(matrix):
    # Was AttributeError: 'dok_matrix' object has no attribute 'data'.
    X, y = clean_data(RNNClassifier)
    # float64: the tolerance is float64 round-off.
    est = RNNClassifier(**FUZZ_TINY, dtype="float64").fit([matrix(x) for x in X], y)
    reference = RNNClassifier(**FUZZ_TINY, dtype="float64").fit(X, y)
    np.testing.assert_allclose(est._params, reference._params, rtol=1e-9)


@fuzz_warnings
def test_regression_predict_ragged_rows_in_object_array_named():
    # Fuzz (400 examples): ragged rows as sequence 0 of an object array gave
    # an AttributeError/unnamed "inhomogeneous shape" error.
    X = [np.zeros((2, N_FEATURES)), np.ones((2, N_FEATURES))]
    clf = RNNClassifier(**FUZZ_TINY).fit(X, ["a", "b"])
    holder = np.empty(2, dtype=object)
    holder[0] = [[1.0, 2.0, 3.0], [1.0]]
    holder[1] = X[1]
    with pytest.raises(ValueError, match=r"(?i)sequence 0"):
        clf.predict(holder)


# --------------------------------------------------------------------------
# Row helpers: offsets, block rows and step rows
# --------------------------------------------------------------------------


def test_offsets_and_block_rows_match_a_loop():
    lengths = np.array([3, 0, 2, 4])
    offsets = offsets_from_lengths(lengths)
    assert offsets.dtype == np.int64
    assert_array_equal(offsets, [0, 3, 3, 5, 9])
    assert offsets_from_lengths(lengths, np.intp).dtype == np.intp
    starts = np.array([7, 1, 0, 2])
    rows, row_offsets = block_rows(starts, lengths)
    assert_array_equal(rows, np.concatenate(
        [np.arange(s, s + n) for s, n in zip(starts, lengths)]))
    assert_array_equal(row_offsets, offsets)


def test_step_rows_are_the_rows_take_copies():
    seqs = Sequences.from_lengths(np.arange(18.0).reshape(9, 2), [3, 0, 2, 4])
    indices = np.array([3, 0, 3, 1])
    rows, offsets = seqs.step_rows(indices)
    taken = seqs.take(indices)
    assert_array_equal(seqs.data[rows], taken.data)
    assert_array_equal(offsets, taken.offsets)
