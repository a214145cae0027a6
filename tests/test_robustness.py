"""Robustness: bad X, y and sample_weight, unusual but valid input, faults during
training, and properties of predict that must hold for any input.

Every fit is tiny (8 sequences of 2 to 6 steps, 3 features, 4 hidden units, 2
epochs), so each error case costs milliseconds; the fault tests that need size
(a 10**5-step sequence, 10**5 sequences) still run in about a second each.
"""

import copy
import functools
import os
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import outputs, per_sequence, stacked, take
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import (
    ConvergenceWarning,
    DataConversionWarning,
    NotFittedError,
)
from sklearn.neural_network import MLPClassifier
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import RNNClassifier, RNNRegressor, SequenceTagger
from skrnn._optimizers import Adam

SEED = int(os.environ.get("SKRNN_TEST_SEED", "0"))
N_FEATURES = 3
SMALL = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=SEED)
ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger]
CLASSIFIERS = [RNNClassifier, SequenceTagger]

# Two epochs never converge; the warning says nothing these tests look at.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

# The overflow on the way to a non-finite loss is expected where marked.
overflow_expected = pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning",
    "ignore:invalid value encountered:RuntimeWarning")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


def _ragged(rng, n=8, n_features=N_FEATURES, low=2, high=7):
    return [rng.standard_normal((int(rng.integers(low, high)), n_features))
            for _ in range(n)]


def _targets(Estimator, X):
    """Targets for X: both classes present for every seed and every n >= 2
    (a tagger needs only one sequence of 2 or more steps)."""
    n = len(X)
    if Estimator is RNNClassifier:
        return np.array(["neg", "pos"] * (n // 2) + ["neg"] * (n % 2))
    if Estimator is RNNRegressor:
        return np.array([x[:, 0].mean() for x in X])
    y = [np.where(np.asarray(x)[:, 0] > 0, "pos", "neg") for x in X]
    y[0][0], y[-1][-1] = "pos", "neg"
    return y


def _data(Estimator, rng, n=8, **kwargs):
    X = _ragged(rng, n, **kwargs)
    return X, _targets(Estimator, X)


def _labels(est, X):
    return stacked(est.predict(X))


@functools.cache
def _fitted(Estimator):
    """One fitted model per estimator, shared by the tests that only predict."""
    X, y = _data(Estimator, np.random.default_rng(SEED), n=16)
    # float64: the predict properties compare outputs to float64 round-off.
    return Estimator(**SMALL, dtype="float64").fit(X, y)


def _assert_same_fit(a, b, X):
    assert a._params.dtype == b._params.dtype
    assert_array_equal(a._params, b._params)
    assert_array_equal(outputs(a, X), outputs(b, X))


# --------------------------------------------------------------------------
# Bad X: empty, zero-length sequences, feature counts
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_empty_X(Estimator):
    with pytest.raises(ValueError, match=r"X is empty \(0 sequences\)"):
        Estimator(**SMALL).fit([], [])
    with pytest.raises(ValueError, match=r"0 sample\(s\).*X is empty"):
        Estimator(**SMALL).fit(np.empty((0, 4, N_FEATURES)), [])
    with pytest.raises(ValueError, match=r"X is empty \(0 sequences\)"):
        _fitted(Estimator).predict([])


def _with_empty_sequence(X, index=3):
    X = list(X)
    X[index] = np.empty((0, N_FEATURES))
    return X


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_length_sequence_in_fit_names_its_index(Estimator, rng):
    X, y = _data(Estimator, rng)
    X = _with_empty_sequence(X)
    if Estimator is SequenceTagger:
        y[3] = y[3][:0]
    with pytest.raises(ValueError, match=r"^Sequence 3 has length 0"):
        Estimator(**SMALL).fit(X, y)


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_zero_length_sequence_in_predict_raises(Estimator, rng):
    # A many-to-one model has no state to read a prediction from.
    X = _with_empty_sequence(_ragged(rng))
    with pytest.raises(ValueError, match=r"^Sequence 3 has length 0"):
        _fitted(Estimator).predict(X)
    if Estimator is RNNClassifier:
        with pytest.raises(ValueError, match=r"^Sequence 3 has length 0"):
            _fitted(Estimator).predict_proba(X)


def test_tagger_predicts_empty_array_for_zero_length_sequence(rng):
    tagger = _fitted(SequenceTagger)
    X = _ragged(rng)
    with_empty = _with_empty_sequence(X)
    others = [i for i in range(len(X)) if i != 3]
    predicted = tagger.predict(with_empty)
    proba = tagger.predict_proba(with_empty)
    assert len(predicted) == len(X) and len(proba) == len(X)
    assert predicted[3].shape == (0,)
    assert proba[3].shape == (0, tagger.classes_.shape[0])
    expected = tagger.predict(take(X, others))
    for got, want in zip(take(predicted, others), expected):
        assert_array_equal(got, want)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sequences_with_different_feature_counts(Estimator, rng):
    X, y = _data(Estimator, rng)
    X[3] = X[3][:, :2]
    match = (r"^Sequence 3 has 2 features per time step, but sequence 0 has 3; "
             r"every sequence needs the same number of features")
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=match):
        _fitted(Estimator).predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("n_features", [1, 5])
def test_predict_with_other_feature_count_than_fit(Estimator, n_features, rng):
    message = (f"X has {n_features} features, but {Estimator.__name__} is "
               f"expecting {N_FEATURES} features as input.")
    est = _fitted(Estimator)
    for X in (_ragged(rng, n_features=n_features),
              rng.standard_normal((4, 5, n_features))):
        with pytest.raises(ValueError, match=f"^{message}$"):
            est.predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_features(Estimator, rng):
    X = [np.empty((int(t), 0)) for t in rng.integers(2, 7, size=8)]
    y = _targets(Estimator, [np.ones((len(x), 1)) for x in X])
    match = r"0 feature\(s\) \(shape=\(\d+, 0\)\) while a minimum of 1 is required"
    with pytest.raises(ValueError, match=match + r" \(sequence 0\)"):
        Estimator(**SMALL).fit(X, y)
    X3d = np.empty((8, 4, 0))
    y3d = _targets(Estimator, list(np.ones((8, 4, 1))))
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X3d, y3d)


# --------------------------------------------------------------------------
# Bad X: non-finite, huge, non-numeric and complex values
# --------------------------------------------------------------------------

# (sequence, time step, feature): the first value, one inside, the last one.
POSITIONS = [(0, 0, 0), (3, 1, 2), (7, -1, 2)]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "predict"])
@pytest.mark.parametrize("value, kind", [
    (np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_finite_X_is_located(Estimator, method, value, kind, position, dtype,
                                 rng):
    X, y = _data(Estimator, rng)
    X = [x.astype(dtype) for x in X]
    i, t, f = position
    X[i][t, f] = value
    step = t % len(X[i])
    match = (rf"^Input X contains {kind}.*\(sequence {i}, time step {step}, "
             rf"feature {f}\)\.$")
    with pytest.raises(ValueError, match=match):
        if method == "fit":
            Estimator(**SMALL).fit(X, y)
        else:
            _fitted(Estimator).predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_non_finite_X_in_3d_array_is_located(Estimator, rng):
    X = rng.standard_normal((8, 5, N_FEATURES))
    X[6, 4, 1] = np.nan
    match = r"^Input X contains NaN \(sequence 6, time step 4, feature 1\)\.$"
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, _targets(Estimator, list(X)))
    with pytest.raises(ValueError, match=match):
        _fitted(Estimator).predict(X)


HUGE_CASES = [
    pytest.param("lstm", "tanh", "adam", id="lstm-adam"),
    pytest.param("gru", "tanh", "adam", id="gru-adam"),
    pytest.param("rnn", "tanh", "adam", id="rnn-tanh-adam"),
    pytest.param("rnn", "relu", "adam", id="rnn-relu-adam"),
    pytest.param("lstm", "tanh", "lbfgs", id="lstm-lbfgs"),
    pytest.param("rnn", "relu", "lbfgs", id="rnn-relu-lbfgs"),
]


@overflow_expected
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("cell, activation, solver", HUGE_CASES)
def test_huge_finite_values_fit_or_fail_clearly(Estimator, cell, activation,
                                                solver, rng):
    X, y = _data(Estimator, rng)
    X = [1e300 * x for x in X]
    # float64 holds 1e300, so the network itself meets the huge values (a
    # float32 fit refuses them at the edge: test_huge_values_for_float32_...).
    est = Estimator(cell=cell, activation=activation, solver=solver,
                    dtype="float64", **SMALL)
    try:
        est.fit(X, y)
    except ValueError as exc:
        # The only acceptable failure says what happened and what to do.
        assert "diverged" in str(exc) or "non-finite" in str(exc)
        assert "StandardScaler" in str(exc) or "preprocessed" in str(exc)
        return
    assert np.isfinite(est.loss_)
    assert np.isfinite(est._params).all()
    assert np.isfinite(outputs(est, X)).all()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_huge_values_for_float32_are_refused_clearly(Estimator, rng):
    X, y = _data(Estimator, rng)
    X = [1e300 * x for x in X]
    with pytest.raises(ValueError, match=r"\(sequence 0, time step 0, feature "
                       r"0\), too large for float32.*StandardScaler"):
        Estimator(**SMALL).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_object_arrays_of_numbers_are_converted(Estimator, rng):
    X, y = _data(Estimator, rng)
    X[0][:, 0] = np.round(4 * X[0][:, 0])
    # Python ints and floats side by side, as a list of lists would hold them.
    mixed = np.array([[int(row[0])] + [float(v) for v in row[1:]] for row in X[0]],
                     dtype=object)
    as_objects = [mixed] + [x.astype(object) for x in X[1:]]
    reference = Estimator(**SMALL).fit(X, y)
    _assert_same_fit(Estimator(**SMALL).fit(as_objects, y), reference, X)
    assert_array_equal(outputs(reference, as_objects), outputs(reference, X))

    holder = np.empty(len(X), dtype=object)  # a 1-D object array of sequences
    holder[:] = as_objects
    _assert_same_fit(Estimator(**SMALL).fit(holder, y), reference, X)
    assert_array_equal(outputs(reference, holder), outputs(reference, X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("bad, holding", [
    ("abc", "str"), ("1.5", "str"), ({"a": 1}, "dict"), (None, "NoneType")])
def test_object_arrays_of_non_numbers_raise(Estimator, bad, holding, rng):
    X, y = _data(Estimator, rng)
    X[2] = X[2].astype(object)
    X[2][1, 1] = bad
    match = (rf"^Sequence 2 contains non-numeric data \(dtype 'object' holding "
             rf"{holding}\)")
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=match):
        _fitted(Estimator).predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_string_arrays_raise(Estimator, rng):
    X, y = _data(Estimator, rng)
    X[1] = X[1].astype(str)
    with pytest.raises(ValueError,
                       match=r"^Sequence 1 contains non-numeric data \(dtype '<U"):
        Estimator(**SMALL).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_complex_data_raises(Estimator, rng):
    X, y = _data(Estimator, rng)
    X[4] = X[4] + 1j
    match = r"^Complex data not supported \(sequence 4, dtype complex128\)"
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=match):
        _fitted(Estimator).predict(X)
    X3d = rng.standard_normal((8, 4, N_FEATURES)) * 1j
    with pytest.raises(ValueError, match="Complex data not supported"):
        Estimator(**SMALL).fit(X3d, _targets(Estimator, list(X3d.real)))


# --------------------------------------------------------------------------
# dtypes, shapes and forms of X
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [bool, np.int64, np.int32, np.uint8, np.float16])
@pytest.mark.parametrize("compute", ["float32", "float64"])
def test_other_dtypes_train_in_the_dtype_parameter(Estimator, dtype, compute,
                                                   rng):
    # Any numeric input is cast once to the estimator's dtype.
    X, y = _data(Estimator, rng)
    # abs: negative floats have no unsigned value (the cast would warn).
    X = [(4 * (np.abs(x) if dtype == np.uint8 else x)).astype(dtype) for x in X]
    if Estimator is not RNNClassifier:
        y = _targets(Estimator, [x.astype(np.float64) for x in X])
    est = Estimator(**SMALL, dtype=compute).fit(X, y)
    assert est._params.dtype == compute
    assert outputs(est, X).dtype == np.float64
    reference = Estimator(**SMALL, dtype=compute).fit(
        [x.astype(compute) for x in X], y)
    _assert_same_fit(est, reference, X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_is_kept(Estimator, rng):
    X, y = _data(Estimator, rng)
    X = [x.astype(np.float32) for x in X]
    est = Estimator(**SMALL).fit(X, y)
    assert est._params.dtype == np.float32
    # Computed in float32, read as float64 (scikit-learn's outputs).
    assert outputs(est, X).dtype == np.float64
    # float64 input to a float32 model is predicted in float32.
    assert_array_equal(outputs(est, [x.astype(np.float64) for x in X]),
                       outputs(est, X))
    if Estimator is not RNNRegressor:
        log_proba = est.predict_log_proba(X)
        log_proba = (np.concatenate(list(log_proba)) if per_sequence(log_proba)
                     else log_proba)
        assert log_proba.dtype == np.float64


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_1d_array_raises(Estimator, rng):
    X = rng.standard_normal(8)
    y = _targets(Estimator, [np.ones((1, 1))] * 8)
    with pytest.raises(ValueError, match=r"^Expected 2D array, got 1D array instead"):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"^Expected 2D array, got 1D array instead"):
        _fitted(Estimator).predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_4d_array_raises(Estimator, rng):
    X = rng.standard_normal((8, 4, N_FEATURES, 1))
    y = _targets(Estimator, list(X[..., 0]))
    with pytest.raises(ValueError, match=r"^Found array with dim 4\. X must be"):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"^Found array with dim 4\. X must be"):
        _fitted(Estimator).predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_list_of_1d_univariate_sequences(Estimator, rng):
    X, y = _data(Estimator, rng, n_features=1)
    univariate = [x[:, 0] for x in X]
    assert len({len(x) for x in univariate}) > 1
    est = Estimator(**SMALL).fit(univariate, y)
    assert est.n_features_in_ == 1
    _assert_same_fit(est, Estimator(**SMALL).fit(X, y), X)
    assert_array_equal(outputs(est, univariate), outputs(est, X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_list_of_sparse_matrices(Estimator, rng):
    X, y = _data(Estimator, rng)
    for x in X:  # sparse per-step features
        x[np.abs(x) < 0.7] = 0.0
    X_sparse = [sp.csr_matrix(x) for x in X]
    # float64: the tolerances are float64 round-off.
    est = Estimator(**SMALL, dtype="float64").fit(X_sparse, y)
    dense = Estimator(**SMALL, dtype="float64").fit(X, y)
    # Same model up to round-off: the input projection goes through scipy.
    assert_allclose(est._params, dense._params, rtol=1e-9, atol=1e-12)
    assert_allclose(outputs(est, X_sparse), outputs(dense, X), rtol=1e-9,
                    atol=1e-12)
    assert_allclose(outputs(dense, X_sparse), outputs(dense, X), rtol=1e-12,
                    atol=1e-14)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("matrix", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
def test_single_sparse_matrix_raises_type_error(Estimator, matrix, rng):
    X = matrix(rng.standard_normal((8, N_FEATURES)))
    y = _targets(Estimator, [np.ones((1, 1))] * 8)
    match = (r"single scipy\.sparse matrix is not accepted as X.*list of "
             r"scipy\.sparse matrices, one \(T_i, n_features\) matrix per sequence")
    with pytest.raises(TypeError, match=match):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(TypeError, match=match):
        _fitted(Estimator).predict(X)


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


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_memory_layouts_give_the_results_of_c_contiguous_input(Estimator, layout,
                                                               rng, tmp_path):
    X3d = rng.standard_normal((8, 5, N_FEATURES))
    y = _targets(Estimator, list(X3d))
    X = _layouts(X3d, tmp_path)[layout]
    first = X if layout.endswith("3d") else X[0]
    if layout.startswith("memmap"):
        assert not first.flags.writeable
    else:
        assert not first.flags.c_contiguous
    reference = Estimator(**SMALL).fit(X3d, y)
    _assert_same_fit(Estimator(**SMALL).fit(X, y), reference, X3d)
    assert_array_equal(outputs(reference, X), outputs(reference, X3d))


# --------------------------------------------------------------------------
# Bad y
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("n_targets", [7, 9])
def test_len_X_differs_from_len_y(Estimator, n_targets, rng):
    X, _ = _data(Estimator, rng)
    y = _targets(Estimator, _ragged(rng, n_targets))
    match = (r"^Found input variables with inconsistent numbers of samples: "
             rf"X has 8 sequences but y has {n_targets} targets")
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y)


@pytest.mark.parametrize("change", [-1, 1])
def test_tagger_label_count_differs_from_sequence_length(change, rng):
    X, y = _data(SequenceTagger, rng)
    y[5] = np.resize(y[5], len(X[5]) + change)
    match = (rf"^y\[5\] must be a 1-D array with one label per time step of "
             rf"sequence 5 \({len(X[5])} steps\); got shape \({len(X[5]) + change},\)")
    with pytest.raises(ValueError, match=match):
        SequenceTagger(**SMALL).fit(X, y)


@pytest.mark.parametrize("value, kind", [
    (np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_non_finite_regression_target(value, kind, n_outputs, rng):
    X, y = _data(RNNRegressor, rng)
    y = np.column_stack([y] * n_outputs) if n_outputs > 1 else y.copy()
    y[5] = value
    with pytest.raises(ValueError, match=rf"^Input y contains {kind}"):
        RNNRegressor(**SMALL).fit(X, y)


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_continuous_y_for_a_classifier(Estimator, rng):
    X, _ = _data(Estimator, rng)
    y = _targets(RNNRegressor, X)
    if Estimator is SequenceTagger:
        y = [x[:, 0] for x in X]
    with pytest.raises(ValueError, match=r"^Unknown label type: continuous"):
        Estimator(**SMALL).fit(X, y)


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_one_class_only(Estimator, rng):
    X, _ = _data(Estimator, rng)
    y = (np.full(len(X), "pos") if Estimator is RNNClassifier
         else [np.full(len(x), "pos") for x in X])
    match = r"needs samples of at least 2 classes.*only one class: np\.str_\('pos'\)"
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y)


def _outcome(fit):
    """('classes', classes_) of a successful fit, or ('raises', exception type)."""
    try:
        return "classes", fit().classes_
    except (TypeError, ValueError) as exc:
        return "raises", type(exc)


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
@pytest.mark.parametrize("container", ["list", "object-array"])
def test_labels_mixing_strings_and_numbers_like_mlp(Estimator, container, rng):
    # MLPClassifier's behaviour is the reference: a Python list becomes an
    # array of strings (classes '1' and 'a'); an object array keeps Python
    # objects, which np.unique cannot sort (TypeError).
    X, _ = _data(Estimator, rng)
    as_container = (list if container == "list"
                    else (lambda v: np.array(v, dtype=object)))
    flat = ["a", 1] * 20
    if Estimator is RNNClassifier:
        y = as_container(flat[:len(X)])
    else:
        offsets = np.cumsum([0] + [len(x) for x in X])
        y = [as_container(flat[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    n_labels = len(X) if Estimator is RNNClassifier else int(offsets[-1])
    mlp_y = as_container(flat[:n_labels])
    mlp = _outcome(lambda: MLPClassifier((2,), max_iter=1).fit(
        np.ones((n_labels, 2)), mlp_y))
    ours = _outcome(lambda: Estimator(**SMALL).fit(X, y))
    assert ours[0] == mlp[0]
    if mlp[0] == "raises":
        assert ours[1] is mlp[1] is TypeError
    else:
        assert_array_equal(ours[1], mlp[1])
        assert_array_equal(ours[1], ["1", "a"])


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_column_vector_y_warns_and_equals_1d(Estimator, rng):
    X, y = _data(Estimator, rng)
    with pytest.warns(DataConversionWarning, match="column-vector y was passed"):
        column = Estimator(**SMALL).fit(X, y.reshape(-1, 1))
    flat = Estimator(**SMALL).fit(X, y)
    _assert_same_fit(column, flat, X)
    assert_array_equal(column.predict(X), flat.predict(X))
    assert column.predict(X).shape == (len(X),)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_y_none(Estimator, rng):
    X, _ = _data(Estimator, rng)
    match = rf"^{Estimator.__name__} requires y to be passed, but the target y is None"
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, None)


# --------------------------------------------------------------------------
# sample_weight, tiny data sets, hyperparameters, unfitted models
# --------------------------------------------------------------------------

BAD_WEIGHTS = {
    "short": (np.ones(7), r"sample_weight has shape \(7,\), expected \(8,\)"),
    "long": (np.ones(9), r"sample_weight has shape \(9,\), expected \(8,\)"),
    "2d": (np.ones((8, 2)), r"sample_weight has shape \(8, 2\), expected \(8,\)"),
    "negative": (np.r_[np.ones(7), -1.0], r"finite and non-negative"),
    "nan": (np.r_[np.ones(7), np.nan], r"finite and non-negative"),
    "all-zero": (np.zeros(8), r"sums to zero"),
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_WEIGHTS))
def test_bad_sample_weight(Estimator, case, rng):
    X, y = _data(Estimator, rng)
    weights, match = BAD_WEIGHTS[case]
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_one_sequence(Estimator, rng):
    X, y = _data(Estimator, rng, n=1, low=4)
    est = Estimator(**SMALL)
    if Estimator is RNNClassifier:
        with pytest.raises(ValueError, match=r"at least 2 classes.*only one class"):
            est.fit(X, y)
        return
    est.fit(X, y)
    assert np.isfinite(outputs(est, X)).all()
    assert len(est.predict(X)) == 1


@pytest.mark.parametrize("Estimator, n, validation_fraction, match", [
    (RNNRegressor, 1, 0.1, "early_stopping needs at least one training and one "
                           "validation sequence; 1 sequences"),
    (SequenceTagger, 1, 0.1, "early_stopping needs at least one training and "
                             "one validation sequence; 1 sequences"),
    (RNNClassifier, 3, 0.9, "early_stopping needs at least one training and "
                            "one validation sequence; 3 sequences"),
    (RNNRegressor, 3, 0.9, "early_stopping needs at least one training"),
    (SequenceTagger, 3, 0.9, "early_stopping needs at least one training"),
    # A stratified split needs a validation sequence per class.
    (RNNClassifier, 4, 0.1, "fewer than the 2 classes. Raise validation_fraction"),
])
def test_early_stopping_with_too_few_sequences(Estimator, n, validation_fraction,
                                               match, rng):
    X, y = _data(Estimator, rng, n=n, low=4)
    est = Estimator(early_stopping=True, validation_fraction=validation_fraction,
                    **SMALL)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


INVALID_PARAMETERS = [
    ("hidden_layer_sizes", "abc"), ("cell", "transformer"),
    ("activation", "sigmoid"), ("bidirectional", 1), ("dropout", 1.0),
    ("dropout", -0.1), ("clip_norm", 0.0), ("solver", "bfgs"), ("alpha", -1.0),
    ("batch_size", 0), ("batch_size", "all"), ("learning_rate", "cyclic"),
    ("learning_rate_init", 0.0), ("power_t", -0.5), ("max_iter", 0),
    ("max_iter", 2.5), ("shuffle", "yes"), ("random_state", "seed"),
    ("tol", -1.0), ("verbose", "loud"), ("warm_start", None),
    ("momentum", 1.5), ("nesterovs_momentum", 0), ("early_stopping", "no"),
    ("validation_fraction", 1.0), ("validation_fraction", 0.0),
    ("beta_1", 1.0), ("beta_2", -0.1), ("epsilon", 0.0),
    ("n_iter_no_change", 0), ("max_fun", 0),
]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("name, value", INVALID_PARAMETERS,
                         ids=[f"{n}={v!r}" for n, v in INVALID_PARAMETERS])
def test_invalid_hyperparameter_raises_at_fit(Estimator, name, value, rng):
    X, y = _data(Estimator, rng)
    est = Estimator(**{**SMALL, name: value})  # __init__ only stores
    match = rf"^The '{name}' parameter of {Estimator.__name__} must be"
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
@pytest.mark.parametrize("value", ["auto", 3, ["pos"]])
def test_invalid_class_weight_raises_at_fit(Estimator, value, rng):
    X, y = _data(Estimator, rng)
    est = Estimator(class_weight=value, **SMALL)
    with pytest.raises(InvalidParameterError,
                       match="The 'class_weight' parameter of"):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("value", [(0,), (-1,), (), (4, 0), (2.5,), ("4",)],
                         ids=repr)
def test_invalid_hidden_layer_sizes_names_the_parameter(Estimator, value, rng):
    # The constraint "array-like" cannot see the entries; their check raises
    # the same InvalidParameterError as every other parameter.
    X, y = _data(Estimator, rng)
    est = Estimator(**{**SMALL, "hidden_layer_sizes": value})
    with pytest.raises(InvalidParameterError,
                       match=r"^The 'hidden_layer_sizes' parameter of "
                             rf"{Estimator.__name__} must be a positive int"):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_before_fit(Estimator, rng):
    X, y = _data(Estimator, rng)
    est = Estimator(**SMALL)
    methods = ["predict", "score"]
    if Estimator is not RNNRegressor:
        methods += ["predict_proba", "predict_log_proba"]
    for method in methods:
        args = (X, y) if method == "score" else (X,)
        with pytest.raises(NotFittedError, match=rf"This {Estimator.__name__} "
                                                 r"instance is not fitted yet"):
            getattr(est, method)(*args)


def _assert_deep_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.c_contiguous == b.flags.c_contiguous
        assert_array_equal(a, b)
    elif sp.issparse(a):
        _assert_deep_equal(a.toarray(), b.toarray())
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_deep_equal(u, v)
    else:
        assert a == b


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("form", ["list", "3d", "float32-list", "sparse"])
def test_X_y_and_sample_weight_are_not_modified(Estimator, form, rng):
    X3d = rng.standard_normal((8, 5, N_FEATURES))
    X = {"list": list(X3d), "3d": X3d,
         "float32-list": [x.astype(np.float32) for x in X3d],
         "sparse": [sp.csr_matrix(x) for x in X3d]}[form]
    y = _targets(Estimator, list(X3d))
    if Estimator is SequenceTagger:
        y = [list(yi) for yi in y[:4]] + y[4:]  # lists and arrays
    weights = np.linspace(0.5, 2.0, 8)
    copies = copy.deepcopy((X, y, weights))
    est = Estimator(**SMALL).fit(X, y, sample_weight=weights)
    _assert_deep_equal((X, y, weights), copies)
    est.predict(X)
    outputs(est, X)
    est.score(X, y, sample_weight=weights)
    if hasattr(est, "partial_fit"):
        est.partial_fit(X, y, sample_weight=weights)
    _assert_deep_equal((X, y, weights), copies)


# --------------------------------------------------------------------------
# Faults: size, divergence, interruption
# --------------------------------------------------------------------------


def _long_sequence_data(Estimator, n_steps, rng):
    X = [rng.standard_normal((n_steps, 1))]
    if Estimator is RNNClassifier:
        # A classifier needs a second class, hence a second (short) sequence.
        return X + [rng.standard_normal((3, 1))], np.array([0, 1])
    if Estimator is RNNRegressor:
        return X, np.array([0.5])
    return X, [np.arange(n_steps) % 2]


def _predict_peak_bytes(est, X):
    tracemalloc.start()
    try:
        est.predict(X)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_very_long_sequence_trains_and_predicts_in_linear_memory(Estimator, rng):
    n_steps, hidden = 100_000, 4
    X, y = _long_sequence_data(Estimator, n_steps, rng)
    est = Estimator((hidden,), max_iter=1, random_state=SEED).fit(X, y)
    long = X[:1]
    assert len(_labels(est, long)) == (n_steps if Estimator is SequenceTagger else 1)
    assert np.isfinite(outputs(est, long)).all()

    peak = _predict_peak_bytes(est, long)
    # predict keeps, per step, the input copy, the packed input, row indices,
    # the states for a per-step head and its outputs, a few H + 10 floats; the
    # gates of one cache-sized chunk only. The bound, 3 arrays of n_steps x 4H
    # floats, is about what the training forward's trace of gates and states
    # takes; predict must stay under it.
    bound = 3 * n_steps * 4 * hidden * 8
    assert peak < bound, f"predict peak {peak / 1e6:.1f} MB > {bound / 1e6:.1f} MB"
    # At most linear in the length: a fifth of the steps takes no less than
    # a sixth (a long sequence now runs in chunks of time, so only per-step
    # outputs and the input copy grow with it; see the 10**6-step test).
    short_peak = _predict_peak_bytes(est, [long[0][: n_steps // 5]])
    assert peak / short_peak < 6.0, (peak, short_peak)


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_fit_memory_beyond_the_data_does_not_grow_with_n(Estimator, rng):
    # The data is copied once, by validation; training adds the work space
    # of one minibatch, whatever N. (A copy of the training set made for
    # every fit, even without a validation split, once doubled it.)
    def fit_peak(n):
        lengths = rng.integers(20, 40, n)
        X = [rng.standard_normal((L, 3)).astype(np.float32) for L in lengths]
        y = rng.integers(0, 2, n)
        est = Estimator((8,), max_iter=1, batch_size=16, random_state=SEED)
        est.fit(X[:40], y[:40])  # first-use allocations outside the count
        tracemalloc.start()
        try:
            est.fit(X, y)
            return tracemalloc.get_traced_memory()[1], sum(x.nbytes for x in X)
        finally:
            tracemalloc.stop()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        peak_small, data_small = fit_peak(500)
        peak_large, data_large = fit_peak(4000)
    extra_small, extra_large = peak_small - data_small, peak_large - data_large
    assert extra_large - extra_small < 0.5 * (data_large - data_small), (
        extra_small, extra_large, data_small, data_large)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_many_length_one_sequences_fit_one_epoch_fast(Estimator, rng):
    n = 100_000
    X3d = rng.standard_normal((n, 1, 2))
    X = list(X3d)
    values = X3d.sum(axis=(1, 2))
    labels = (values > 0).astype(int)
    y = {RNNClassifier: labels, RNNRegressor: values,
         SequenceTagger: list(labels.reshape(n, 1))}[Estimator]
    start = time.perf_counter()
    est = Estimator((4,), max_iter=1, batch_size=256, random_state=SEED).fit(X, y)
    elapsed = time.perf_counter() - start
    print(f"{Estimator.__name__}: one epoch over {n} length-1 sequences "
          f"in {elapsed:.2f} s")
    assert est.n_iter_ == 1 and est.t_ == n
    assert elapsed < 30.0, f"one epoch took {elapsed:.1f} s"


EXPLODING = dict(cell="rnn", activation="relu", clip_norm=None,
                 learning_rate_init=1e100, max_iter=5, random_state=SEED)


@overflow_expected
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_diverging_fit_stops_with_a_clear_message(Estimator, solver, rng):
    X, y = _data(Estimator, rng)
    X = [1e3 * x for x in X]
    est = Estimator((4,), solver=solver, **EXPLODING)
    with pytest.raises(ValueError, match=r"^Training diverged: the loss or its "
                                         r"gradient became non-finite at epoch "
                                         r"\d+, minibatch \d+\. Scale the input"):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_keyboard_interrupt_mid_epoch(Estimator, rng, monkeypatch):
    X, y = _data(Estimator, rng)
    original = Adam.step
    calls, applied = [0], []

    def step(self, params, grad):
        calls[0] += 1
        if calls[0] == 3:  # epoch 2 (of 2 minibatches each), minibatch 1
            raise KeyboardInterrupt
        original(self, params, grad)
        applied.append(params.copy())

    monkeypatch.setattr(Adam, "step", step)
    est = Estimator((4,), batch_size=4, max_iter=5, learning_rate_init=0.05,
                    random_state=SEED)
    with pytest.warns(UserWarning, match=r"interrupted by user after 1 complete "
                                         r"epochs"):
        est.fit(X, y)
    monkeypatch.undo()
    assert calls[0] == 3 and len(applied) == 2
    assert est.n_iter_ == 1
    assert est.t_ == len(X)
    assert len(est.loss_curve_) == 1
    assert_array_equal(est._params, applied[-1])
    assert np.isfinite(outputs(est, X)).all()
    assert len(est.predict(X)) == len(X)


# --------------------------------------------------------------------------
# Properties of predict
# --------------------------------------------------------------------------


@st.composite
def ragged_inputs(draw):
    """Ragged X of the fitted feature count: 1 to 8 sequences of 1 to 15 steps,
    float32 or float64, finite values within +-1e3."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    lengths = draw(st.lists(st.integers(1, 15), min_size=1, max_size=8))
    elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False,
                         width=np.dtype(dtype).itemsize * 8)
    return [draw(hnp.arrays(dtype, (t, N_FEATURES), elements=elements))
            for t in lengths]


def _assert_outputs_close(got, want):
    # A sequence's minibatch neighbours change the BLAS blocking of its rows,
    # hence the last bits of its outputs (a few ulps), never more.
    assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def _assert_predictions_equal(est, got, want):
    """Labels exactly; regression values up to packing round-off."""
    if isinstance(est, SequenceTagger):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_array_equal(g, w)
    elif isinstance(est, RNNRegressor):
        _assert_outputs_close(got, want)
    else:
        assert_array_equal(got, want)


@seed(SEED)
@settings(max_examples=25, deadline=None)
@given(X=ragged_inputs())
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_shapes_and_finiteness_property(Estimator, X):
    est = _fitted(Estimator)
    n = len(X)
    predicted = est.predict(X)
    if Estimator is SequenceTagger:
        assert predicted.dtype == object and predicted.shape == (n,)
        for p, x in zip(predicted, X):
            assert p.shape == (len(x),)
            assert set(p) <= set(est.classes_)
    else:
        assert predicted.shape == (n,)
    if Estimator is RNNRegressor:
        assert np.isfinite(predicted).all()
        return
    if Estimator is RNNClassifier:
        assert set(predicted) <= set(est.classes_)
    proba = est.predict_proba(X)
    log_proba = est.predict_log_proba(X)
    if Estimator is SequenceTagger:
        assert [p.shape for p in proba] == [(len(x), 2) for x in X]
        proba, log_proba = np.concatenate(proba), np.concatenate(log_proba)
    n_rows = sum(len(x) for x in X) if Estimator is SequenceTagger else n
    assert proba.shape == log_proba.shape == (n_rows, 2)
    assert np.isfinite(proba).all() and np.isfinite(log_proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(np.exp(log_proba), proba, rtol=1e-12, atol=1e-300)
    assert_array_equal(_labels(est, X), est.classes_[proba.argmax(axis=1)])


@seed(SEED)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_permutation_property(Estimator, data):
    est = _fitted(Estimator)
    X = data.draw(ragged_inputs())
    permutation = data.draw(st.permutations(range(len(X))))
    permuted = take(X, permutation)
    _assert_predictions_equal(est, est.predict(permuted),
                              take(est.predict(X), permutation))
    if Estimator is not SequenceTagger:
        _assert_outputs_close(outputs(est, permuted),
                              take(outputs(est, X), permutation))
    else:
        proba = est.predict_proba(X)
        for got, i in zip(est.predict_proba(permuted), permutation):
            _assert_outputs_close(got, proba[i])


@seed(SEED)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_subset_property(Estimator, data):
    est = _fitted(Estimator)
    X = data.draw(ragged_inputs())
    subset = data.draw(st.lists(st.integers(0, len(X) - 1), min_size=1,
                                max_size=len(X)))
    _assert_predictions_equal(est, est.predict(take(X, subset)),
                              take(est.predict(X), subset))
    if Estimator is not SequenceTagger:
        _assert_outputs_close(outputs(est, take(X, subset)),
                              take(outputs(est, X), subset))
    else:
        proba = est.predict_proba(X)
        for got, i in zip(est.predict_proba(take(X, subset)), subset):
            _assert_outputs_close(got, proba[i])


def test_tagger_score_takes_per_step_weight_arrays(rng):
    X, y = _data(SequenceTagger, rng)
    est = SequenceTagger(**SMALL).fit(X, y)
    per_sequence = rng.integers(0, 3, len(X)).astype(float)
    per_step = [np.full(len(x), w) for x, w in zip(X, per_sequence)]
    assert est.score(X, y, sample_weight=per_step) == est.score(
        X, y, sample_weight=per_sequence)
    with pytest.raises(ValueError, match=r"sample_weight\[0\] has shape"):
        est.score(X, y, sample_weight=[np.ones(len(X[0]) + 1)] + per_step[1:])


def test_minibatch_past_blas_index_range_is_refused(rng, monkeypatch):
    # Real minibatches that large cannot be allocated here; lower the bound.
    import skrnn._packing

    monkeypatch.setattr(skrnn._packing, "_MAX_BLAS_ROWS", 10)
    X, y = _data(RNNClassifier, rng)
    with pytest.raises(ValueError, match="exceeds the 10 rows BLAS can index"):
        RNNClassifier(**SMALL).fit(X, y)


# --------------------------------------------------------------------------
# Fault injection during fit (a fault raised by the minibatch step)
# --------------------------------------------------------------------------

FAULT = dict(hidden_layer_sizes=(3,), batch_size=2, learning_rate_init=0.05,
             random_state=SEED)


def _faulty_step(monkeypatch, fail_at, error):
    """Make BaseRNN._minibatch_loss_grad raise ``error`` on call ``fail_at``."""
    from skrnn._base import BaseRNN

    original = BaseRNN._minibatch_loss_grad
    calls = [0]

    def step(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == fail_at:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BaseRNN, "_minibatch_loss_grad", step)
    return calls


def _fit_updates(Estimator, X, y, n_updates, solver):
    """A model after exactly ``n_updates`` minibatch updates, made without a
    fault: whole epochs by max_iter, then the rest of the updates as a
    warm-started epoch over the first sequences of the next epoch's order."""
    per_epoch = -(-len(X) // FAULT["batch_size"])
    epochs, rest = divmod(n_updates, per_epoch)
    if rest == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Estimator(solver=solver, max_iter=epochs, **FAULT).fit(X, y)
    return None  # a partial epoch has no fault-free way to stop in it


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_fault_at_random_minibatch_keeps_last_applied_update(Estimator, error,
                                                             solver, rng,
                                                             monkeypatch):
    X, y = _data(Estimator, rng)  # 8 sequences: 4 minibatches an epoch
    fail_at = int(rng.choice([5, 9, *rng.integers(2, 12, 2)]))
    est = Estimator(solver=solver, max_iter=4, **FAULT)
    applied = []
    optimizer = Adam if solver == "adam" else __import__(
        "skrnn._optimizers", fromlist=["SGD"]).SGD
    original = optimizer.step

    def record(self, params, grad):
        original(self, params, grad)
        applied.append(params.copy())

    monkeypatch.setattr(optimizer, "step", record)
    _faulty_step(monkeypatch, fail_at, error())
    if error is KeyboardInterrupt:
        with pytest.warns(UserWarning, match="interrupted by user"):
            est.fit(X, y)
    else:
        with pytest.raises(MemoryError):
            est.fit(X, y)
    monkeypatch.undo()
    assert len(applied) == fail_at - 1
    assert_array_equal(est._params, applied[-1])
    assert est.n_iter_ == (fail_at - 1) // 4 and est.t_ == 8 * est.n_iter_
    assert np.isfinite(outputs(est, X)).all() and len(est.predict(X)) == len(X)
    # The same update count reached without a fault (max_iter, when the
    # fault hit an epoch boundary) gives the same weights.
    reference = _fit_updates(Estimator, X, y, fail_at - 1, solver)
    if reference is not None:
        assert_array_equal(reference._params, est._params)
    # And the model stays usable: it can be fitted again.
    est.set_params(max_iter=1).fit(X, y)
    assert np.isfinite(est._params).all()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_interrupt_at_epoch_boundary_then_warm_start_equals_uninterrupted(
        Estimator, dropout, rng, monkeypatch):
    X, y = _data(Estimator, rng)
    X = [x.astype(np.float64) for x in X]
    n_epochs, stop_after = 5, int(rng.integers(1, 5))
    params = dict(solver="adam", dropout=dropout, **FAULT)
    whole = Estimator(max_iter=n_epochs, **params).fit(X, y)
    est = Estimator(max_iter=n_epochs, **params)
    _faulty_step(monkeypatch, 4 * stop_after + 1, KeyboardInterrupt)
    with pytest.warns(UserWarning, match=f"after {stop_after} complete epochs"):
        est.fit(X, y)
    monkeypatch.undo()
    est.set_params(warm_start=True, max_iter=n_epochs - stop_after).fit(X, y)
    assert est.n_iter_ == whole.n_iter_ and est.t_ == whole.t_
    assert est.loss_curve_ == whole.loss_curve_
    _assert_same_fit(est, whole, X)  # bit for bit, shuffling stream included


@overflow_expected
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_non_finite_gradient_at_random_minibatch(Estimator, rng, monkeypatch):
    from skrnn._base import BaseRNN

    X, y = _data(Estimator, rng)
    fail_at = int(rng.integers(1, 12))
    original = BaseRNN._minibatch_loss_grad
    calls = [0]

    def step(self, seqs, targets, weights, batch, params, grad, *args, **kw):
        loss = original(self, seqs, targets, weights, batch, params, grad,
                        *args, **kw)
        calls[0] += 1
        if calls[0] == fail_at:
            grad[int(rng.integers(grad.shape[0]))] = np.inf
        return loss

    monkeypatch.setattr(BaseRNN, "_minibatch_loss_grad", step)
    est = Estimator(max_iter=4, **FAULT)
    with pytest.raises(ValueError, match=r"^Training diverged.*Scale the input.*"
                                         r"keeps the last finite weights"):
        est.fit(X, y)
    assert np.isfinite(est._params).all()
    monkeypatch.undo()
    assert np.isfinite(outputs(est, X)).all()


# --------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_threads_fitting_clones_and_predicting_match_serial(Estimator, rng):
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.base import clone

    datasets = [_data(Estimator, np.random.default_rng(SEED + i)) for i in range(8)]
    template = Estimator((4,), max_iter=3, random_state=SEED)
    shared = _fitted(Estimator)
    queries = [_ragged(np.random.default_rng(100 + i), n=12) for i in range(8)]
    serial_fits = [clone(template).fit(X, y)._params for X, y in datasets]
    serial_predictions = [outputs(shared, X) for X in queries]

    def work(i):
        X, y = datasets[i]
        return clone(template).fit(X, y)._params, outputs(shared, queries[i])

    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))
        for (params, predicted), fit, want in zip(results, serial_fits,
                                                  serial_predictions):
            assert_array_equal(params, fit)
            assert_array_equal(predicted, want)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pickling_while_another_thread_predicts(Estimator, rng):
    import pickle
    import threading

    est = _fitted(Estimator)
    X = _ragged(rng, n=64, high=30)
    want = outputs(est, X)
    stop, errors = threading.Event(), []

    def predict():
        try:
            while not stop.is_set():
                assert_array_equal(outputs(est, X), want)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    thread = threading.Thread(target=predict)
    thread.start()
    try:
        for _ in range(50):
            copy_ = pickle.loads(pickle.dumps(est))
            assert_array_equal(copy_._params, est._params)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert_array_equal(outputs(copy_, X), want)


# --------------------------------------------------------------------------
# Scale limits
# --------------------------------------------------------------------------


def _fake_steps(n_rows, n_features=1):
    """(n_rows, n_features) zeros that take no memory: stride 0."""
    return np.lib.stride_tricks.as_strided(
        np.zeros(n_features), shape=(n_rows, n_features),
        strides=(0, 8), writeable=False)


@pytest.mark.parametrize("lengths", [[2**31], [2**30, 2**30, 5]],
                         ids=["one-sequence", "minibatch"])
def test_rows_past_2_31_are_refused_before_any_kernel(lengths, monkeypatch):
    import skrnn._packing
    from skrnn._sequences import Sequences

    def no_kernel(*args):
        raise AssertionError("a kernel ran")

    monkeypatch.setattr(skrnn._packing, "packed_gather", no_kernel)
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


def test_offsets_past_2_31_index_the_right_rows():
    # Sequences that start past row 2**31: the offsets are int64 all the way
    # into the gather kernel, which must not wrap them around.
    from skrnn._kernels._pack import packed_gather

    start = 2**31 + 3
    offsets = np.array([start, start + 4], dtype=np.int64)  # lengths 4 and 2
    batch_sizes = np.array([2, 2, 1, 1], dtype=np.intp)
    gather = np.empty(6, dtype=np.intp)
    packed_gather(offsets, batch_sizes, gather)
    assert_array_equal(gather, [start, start + 4, start + 1, start + 5,
                                start + 2, start + 3])


# Memory at scale. tracemalloc counts numpy's buffers, so the peak of a call
# minus what it must hold (its input's validated copy, and for predict the
# output) is its working memory.


def _short_sequences(Estimator, n, rng):
    """n sequences of 2 to 5 steps, 1 feature, as views of one array."""
    lengths = rng.integers(2, 6, n)
    data = rng.standard_normal((int(lengths.sum()), 1))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    X = [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    first = data[offsets[:-1], 0]
    y = (first > 0).astype(int) if Estimator is RNNClassifier else first.copy()
    return X, y, data.nbytes


def _fit_memory_beyond_the_data(Estimator, n, rng, batch_size, hidden):
    X, y, data_bytes = _short_sequences(Estimator, n, rng)
    est = Estimator((hidden,), max_iter=1, batch_size=batch_size,
                    random_state=SEED)
    est.fit(X[:2 * batch_size], y[:2 * batch_size])  # first-use allocations
    tracemalloc.start()
    try:
        start = time.perf_counter()
        est.fit(X, y)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert est.t_ == n
    return peak - data_bytes, elapsed


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_million_short_sequences_fit_in_the_data_plus_one_minibatch(Estimator, rng):
    # One epoch over 10**6 sequences of 2-5 steps takes ~10 s here (and 10**5
    # ~1 s). Beyond the copy of X, a fit holds per sequence only its
    # bookkeeping: the int64 offsets, the encoded target, the weight (ones
    # when none are given) and the shuffled order, 4 words; and the work space
    # of one minibatch. (Differencing all N offsets for every minibatch once
    # made a fit O(N^2 / batch_size); validation's per-sequence shapes, held
    # while concatenating, once added two more words.)
    batch_size, hidden, gates, longest = 200, 4, 4, 5
    activations = batch_size * longest * hidden * gates * 8  # 128 kB
    # The gates, states, their gradients, the packed input and its indices of
    # one minibatch: under 10 times its gate activations. The fixed allowance
    # is for what does not scale with a minibatch: Python objects (one index
    # view of ~100 bytes per minibatch: 0.5 MB at 10**6), parameters and
    # optimiser moments, numpy's temporaries of the epoch's bookkeeping.
    bookkeeping = 4 * 8
    bound = 10 * activations + 2_000_000
    extra = {}
    for n in (10**5, 10**6):
        extra[n], elapsed = _fit_memory_beyond_the_data(Estimator, n, rng,
                                                        batch_size, hidden)
        print(f"{Estimator.__name__}: {n} sequences, beyond the data "
              f"{extra[n] / 1e6:.2f} MB, {elapsed:.1f} s")
        assert extra[n] - bookkeeping * n < bound, (n, extra[n], bound)
    # It grows with N by the bookkeeping only (plus a byte per sequence).
    growth = (extra[10**6] - extra[10**5]) / (10**6 - 10**5)
    assert growth < bookkeeping + 1, (growth, extra)


def _predict_memory_beyond_the_data(est, n_steps, rng):
    x = rng.standard_normal((n_steps, 1))
    tracemalloc.start()
    try:
        out = est.predict([x])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out_bytes = (sum(o.nbytes for o in out) if per_sequence(out)
                 else out.nbytes)
    # The validated copy of x, in the model's dtype, is the data.
    return peak - x.size * est._params.itemsize - out_bytes, out_bytes


@pytest.mark.parametrize("Estimator", [RNNRegressor, SequenceTagger])
def test_million_step_sequence_predicts_in_memory_independent_of_its_length(
        Estimator, rng):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X, y = _long_sequence_data(Estimator, 50, rng)
        # One direction: a bidirectional model cannot predict in time chunks.
        est = Estimator((4,), bidirectional=False, max_iter=1,
                        random_state=SEED).fit(X, y)
    extra, outb = {}, {}
    for n in (10**5, 10**6):
        extra[n], outb[n] = _predict_memory_beyond_the_data(est, n, rng)
        print(f"{Estimator.__name__}: {n} steps, beyond the data and output "
              f"{extra[n] / 1e6:.2f} MB")
    # A chunk of the step budget at a time: its packed input, indices, gates
    # and states, a few MB, whatever the length (beyond per-step outputs).
    if Estimator is SequenceTagger:
        # Per-step outputs pass through per-step raw scores and class codes
        # (float64 and intp), 2 output-sized arrays beyond the labels.
        assert extra[10**6] - extra[10**5] < 2.2 * (outb[10**6] - outb[10**5]), (
            extra, outb)
    else:
        assert extra[10**6] < 8e6, extra
        assert abs(extra[10**6] - extra[10**5]) < 1e6, extra
