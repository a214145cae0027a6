"""BaseRNN (skrnn/_base.py): the checks of X and y at the top of fit
(n_features_in_, feature names, tiny data sets), the dtype parameter, and the
initialisation from random_state.

Parameter validation and the other estimator-wide checks are in
test_common.py; the conversion of every X form is in test_sequences.py.
"""

import pickle

import numpy as np
import pytest
from _helpers import (
    CELLS,
    ESTIMATORS,
    FAST,
    THREE_ESTIMATORS,
    TINY,
    assert_same_fit,
    data_rng,
    ignore_convergence,
    outputs,
    small_problem,
    small_sequences,
    stacked,
    tiny_data,
    tiny_targets,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
    SequenceTranscriber,
)

# --------------------------------------------------------------------------
# Tiny data sets
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_one_sequence(Estimator, rng):
    X, y = tiny_data(Estimator, rng, n=1, low=4)
    est = Estimator(**TINY)
    if Estimator is RNNClassifier:
        with pytest.raises(ValueError, match=r"at least 2 classes.*only one class"):
            est.fit(X, y)
        return
    est.fit(X, y)
    assert np.isfinite(outputs(est, X)).all()
    assert len(est.predict(X)) == 1


# --------------------------------------------------------------------------
# Initialisation from random_state: reproducibility
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_same_random_state_is_bit_identical(Estimator, cell, dropout,
                                            bidirectional):
    X, y = small_problem(Estimator)
    params = dict(FAST, hidden_layer_sizes=(5, 4), cell=cell, dropout=dropout,
                  bidirectional=bidirectional)
    first = Estimator(**params).fit(X, y)
    second = Estimator(**params).fit(X, y)
    assert_array_equal(first.loss_curve_, second.loss_curve_)
    assert_array_equal(first._params, second._params)
    assert_array_equal(outputs(first, X), outputs(second, X))
    # Refitting the same instance (warm_start=False) starts over from the
    # same seed.
    first.fit(X, y)
    assert first.n_iter_ == second.n_iter_ == 3
    assert first.loss_curve_ == second.loss_curve_
    assert_array_equal(first.loss_curve_, second.loss_curve_)
    assert_array_equal(outputs(first, X), outputs(second, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_random_state_instance_is_reproducible(Estimator):
    X, y = small_problem(Estimator)
    params = dict(FAST, dropout=0.2, hidden_layer_sizes=(4, 4))
    a = Estimator(**dict(params, random_state=np.random.RandomState(3))).fit(X, y)
    b = Estimator(**dict(params, random_state=np.random.RandomState(3))).fit(X, y)
    assert_array_equal(a.loss_curve_, b.loss_curve_)
    assert_array_equal(outputs(a, X), outputs(b, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_different_seeds_give_different_models(Estimator):
    X, y = small_problem(Estimator)
    a = Estimator(**dict(FAST, random_state=0)).fit(X, y)
    b = Estimator(**dict(FAST, random_state=1)).fit(X, y)
    assert a._params.shape == b._params.shape
    assert not np.allclose(a._params, b._params)
    assert not np.allclose(outputs(a, X), outputs(b, X))


# --------------------------------------------------------------------------
# n_features_in_, feature names and hidden_layer_sizes at fit
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_2d_input_sets_n_features_in_to_length(Estimator):
    X2d = data_rng(9).standard_normal((20, 7))
    _, y = small_problem(Estimator, n=20, n_features=1)
    if Estimator is SequenceTagger:
        y = [(x > 0).astype(int) for x in X2d]
    est = Estimator(**FAST).fit(X2d, y)
    assert est.n_features_in_ == 7
    assert not hasattr(est, "feature_names_in_")
    # 2-D input needs the width seen in fit ...
    with pytest.raises(ValueError, match="X has 5 features"):
        est.predict(X2d[:, :5])
    # ... while ragged univariate sequences of any length are fine.
    assert len(est.predict([x[:5] for x in X2d])) == 20


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_dataframe_sets_feature_names(Estimator):
    pd = pytest.importorskip("pandas")
    values = data_rng(10).standard_normal((20, 4))
    columns = ["t0", "t1", "t2", "t3"]
    df = pd.DataFrame(values, columns=columns)
    _, y = small_problem(Estimator, n=20, n_features=1)
    if Estimator is SequenceTagger:
        y = [(x > 0).astype(int) for x in values]
    est = Estimator(**FAST).fit(df, y)
    assert est.n_features_in_ == 4
    assert_array_equal(est.feature_names_in_, columns)
    assert est.feature_names_in_.dtype == object
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = outputs(est, values.copy())
    assert_array_equal(outputs(est, df), from_array)
    # Refitting on ragged input forgets the column names.
    est.fit(list(values), y)
    assert est.n_features_in_ == 1
    assert not hasattr(est, "feature_names_in_")


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_dataframe_with_other_columns_is_rejected(Estimator):
    pd = pytest.importorskip("pandas")
    values = data_rng(11).standard_normal((20, 3))
    _, y = small_problem(Estimator, n=20, n_features=1)
    if Estimator is SequenceTagger:
        y = [(x > 0).astype(int) for x in values]
    est = Estimator(**FAST).fit(pd.DataFrame(values, columns=["a", "b", "c"]), y)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(pd.DataFrame(values, columns=["a", "c", "b"]))


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_hidden_layer_sizes_accepts_int_and_list(Estimator):
    X, y = small_problem(Estimator, n=10)
    from_int = Estimator(**dict(FAST, hidden_layer_sizes=4)).fit(X, y)
    from_list = Estimator(**dict(FAST, hidden_layer_sizes=[4])).fit(X, y)
    from_tuple = Estimator(**FAST).fit(X, y)
    assert_array_equal(from_int.loss_curve_, from_tuple.loss_curve_)
    assert_array_equal(from_list.loss_curve_, from_tuple.loss_curve_)


# --------------------------------------------------------------------------
# dtype: the compute precision
# --------------------------------------------------------------------------


@ignore_convergence
def test_float32_fit_is_close_to_float64_fit():
    X, y = small_problem(RNNClassifier)
    p64 = RNNClassifier(**FAST, dtype="float64").fit(X, y).predict_proba(X)
    X32 = [x.astype(np.float32) for x in X]
    p32 = RNNClassifier(**FAST).fit(X32, y).predict_proba(X32)
    assert_allclose(p32, p64, rtol=0, atol=1e-4)


DTYPE_ESTIMATORS = THREE_ESTIMATORS + [SequenceRegressor, SequenceTranscriber]


def _dtype_problem(Estimator, n=12):
    """float64 X and a y of the right kind for any estimator."""
    if Estimator is SequenceRegressor:
        X = small_sequences(n)
        return X, [np.cumsum(x[:, 0]) / 3 for x in X]
    if Estimator is SequenceTranscriber:
        X = small_sequences(n, lengths=(6, 10))
        return X, [np.array([int(x[0, 0] > 0), int(x[-1, 0] > 0)]) for x in X]
    return small_problem(Estimator, n=n)


def _read_outputs(est, X):
    """Every float output users read of ``est``, stacked per method."""
    if isinstance(est, (RNNRegressor, SequenceRegressor)):
        return {"predict": est.predict(X)}
    return {"predict_proba": est.predict_proba(X),
            "predict_log_proba": est.predict_log_proba(X)}


def _assert_float64_outputs(est, X):
    """Every float output users read is float64, whatever est computes in."""
    for name, out in _read_outputs(est, X).items():
        parts = list(out) if out.dtype == object else [out]
        assert all(p.dtype == np.float64 for p in parts), name


@ignore_convergence
@pytest.mark.parametrize("Estimator", DTYPE_ESTIMATORS)
def test_default_dtype_computes_in_float32_on_float64_input(Estimator):
    X, y = _dtype_problem(Estimator)
    assert all(x.dtype == np.float64 for x in X)
    est = Estimator(**FAST)
    assert est.dtype == "float32"
    est.fit(X, y)
    assert est._params.dtype == np.float32
    _assert_float64_outputs(est, X)


@ignore_convergence
@pytest.mark.parametrize("Estimator", DTYPE_ESTIMATORS)
def test_dtype_float64_computes_in_float64_whatever_the_input(Estimator):
    X, y = _dtype_problem(Estimator)
    X32 = [x.astype(np.float32) for x in X]
    est = Estimator(**FAST, dtype="float64").fit(X32, y)
    assert est._params.dtype == np.float64
    # float32 input is widened once: the float64 fit of the same values.
    reference = Estimator(**FAST, dtype="float64").fit(
        [x.astype(np.float64) for x in X32], y)
    assert_array_equal(est._params, reference._params)
    _assert_float64_outputs(est, X)


@ignore_convergence
def test_float32_outputs_are_the_float32_computation_widened():
    X, y = _dtype_problem(RNNRegressor)
    est = RNNRegressor(**FAST).fit(X, y)
    raw, _ = est._raw_predict_seqs(est._validate_sequences(X, reset=False))
    assert raw.dtype == np.float32
    assert_array_equal(est.predict(X), raw[:, 0].astype(np.float64))


@ignore_convergence
def test_validation_data_follows_the_estimator_dtype(monkeypatch):
    X, y = small_problem(RNNRegressor)
    seen = []
    original = RNNRegressor._validation_score

    def recording(self, seqs, targets, weights):
        seen.append(seqs.dtype)
        return original(self, seqs, targets, weights)

    monkeypatch.setattr(RNNRegressor, "_validation_score", recording)
    X_val32 = [x.astype(np.float32) for x in X[:8]]
    RNNRegressor(**FAST, dtype="float64").fit(X, y, X_val=X_val32, y_val=y[:8])
    RNNRegressor(**FAST).fit(X, y, X_val=X[:8], y_val=y[:8])
    assert seen == [np.float64] * 3 + [np.float32] * 3


@ignore_convergence
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_survives_clone_get_params_and_pickle(dtype):
    X, y = small_problem(RNNClassifier)
    est = RNNClassifier(**FAST, dtype=dtype)
    assert est.get_params()["dtype"] == dtype
    twin = clone(est)
    assert twin.dtype == dtype
    assert RNNClassifier(**est.get_params()).dtype == dtype
    twin.fit(X, y)
    restored = pickle.loads(pickle.dumps(twin))
    assert restored.dtype == dtype
    assert restored._params.dtype == np.dtype(dtype)
    assert_array_equal(restored.predict_proba(X), twin.predict_proba(X))


@ignore_convergence
def test_lbfgs_follows_dtype():
    X, y = small_problem(RNNRegressor)
    for dtype in ("float32", "float64"):
        est = RNNRegressor(**FAST, solver="lbfgs", dtype=dtype).fit(X, y)
        assert est._params.dtype == np.dtype(dtype)


# --------------------------------------------------------------------------
# dtype: any input is cast to the dtype parameter
# --------------------------------------------------------------------------


# The input dtypes: every numeric kind, both float precisions.
INPUT_DTYPES = [bool, np.uint8, np.int32, np.int64, np.float16, np.float32,
                np.float64]


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("input_dtype", INPUT_DTYPES)
@pytest.mark.parametrize("compute", ["float32", "float64"])
def test_fit_computes_in_the_dtype_parameter(Estimator, input_dtype, compute, rng):
    """Any numeric input is cast once, at the edge, to the estimator's dtype:
    the fit is the fit of the cast input, bit for bit; every output users
    read is float64 (scikit-learn's outputs), whatever the compute dtype."""
    X, y = tiny_data(Estimator, rng)
    # abs: negative floats have no unsigned value (the cast would warn).
    X = [(4 * (np.abs(x) if input_dtype == np.uint8 else x)).astype(input_dtype)
         for x in X]
    if Estimator is not RNNClassifier:
        y = tiny_targets(Estimator, [x.astype(np.float64) for x in X])
    est = Estimator(**TINY, dtype=compute).fit(X, y)
    assert est._params.dtype == compute
    assert outputs(est, X).dtype == np.float64
    if hasattr(est, "predict_log_proba"):
        assert stacked(est.predict_log_proba(X)).dtype == np.float64
    reference = Estimator(**TINY, dtype=compute).fit(
        [x.astype(compute) for x in X], y)
    assert_same_fit(est, reference, X)
    # Predict-time input of another precision is cast to the model's: the
    # outputs of the same values, as float64.
    for other in (np.float32, np.float64):
        got = outputs(est, [x.astype(other) for x in X])
        assert got.dtype == np.float64
        if np.can_cast(input_dtype, other):  # the same values
            assert_array_equal(got, outputs(est, X))
    # Integer sequences too.
    assert outputs(est, [np.rint(x).astype(np.int64) for x in X]).dtype == np.float64
