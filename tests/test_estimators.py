"""Behaviour of RNNClassifier, RNNRegressor and SequenceTagger through the public API.

What recurrence buys (tasks no per-step or last-step model can solve), the
public API's shapes, dtypes and labels, every input form, reproducibility,
the fitted attributes, parameter validation, the solvers and persistence.
Data come from ``SEED`` (environment variable ``SKRNN_TEST_SEED``); the model
seeds are fixed, and the learning thresholds hold with margin across data
seeds (checked for seeds 0-19 when they were tuned).
"""

import os
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import outputs
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import (
    ConvergenceWarning,
    DataConversionWarning,
    NotFittedError,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
    SequenceTranscriber,
)
from skrnn._network import Workspace
from skrnn._packing import PackedBatch

SEED = int(os.environ.get("SKRNN_TEST_SEED", "0"))
CELLS = ["lstm", "gru", "rnn"]
ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger]

# Fits that run to max_iter on purpose warn that they did not converge.
ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def data_rng(*stream):
    """An independent generator per data set, all derived from SEED."""
    return np.random.default_rng([SEED, *stream])


# --------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------


def sign_of_sum(n, stream):
    """Steps of +-0.3 (lengths 20..40, 1 feature); the label is ``sum > 0``.

    Sequences whose sum is exactly zero (no sign) are redrawn. Any single step
    carries almost no information about the label: the last step agrees with
    the sign of the sum with probability about 0.5 + arcsin(1/sqrt(T))/pi,
    about 0.56, so only a model that accumulates over the whole ragged sequence
    can solve it.
    """
    rng = data_rng(1, stream)
    X = []
    while len(X) < n:
        x = rng.choice([-0.3, 0.3], size=(int(rng.integers(20, 41)), 1))
        if abs(x.sum()) > 1e-9:
            X.append(x)
    y = np.array([int(x.sum() > 0) for x in X])
    return X, y


def above_running_mean(n, stream):
    """Tag step t with ``x_t > mean(x_0..x_t)`` (lengths 10..30, 1 feature).

    Each sequence has its own offset, so the value of a step alone does not
    say whether it is above the sequence's running mean.
    """
    rng = data_rng(2, stream)
    X, Y = [], []
    for _ in range(n):
        length = int(rng.integers(10, 31))
        x = rng.standard_normal() + rng.standard_normal(length)
        running_mean = np.cumsum(x) / np.arange(1, length + 1)
        X.append(x[:, None])
        Y.append(x > running_mean)
    return X, Y


def first_value(n, stream, lengths=(5, 15)):
    """Uniform(-1, 1) steps; the target is the first step's value."""
    rng = data_rng(3, stream)
    X = [rng.uniform(-1, 1, (int(rng.integers(lengths[0], lengths[1] + 1)), 1))
         for _ in range(n)]
    return X, np.array([x[0, 0] for x in X])


def ragged(n, n_features=3, lengths=(3, 8), stream=0):
    """Small ragged Gaussian sequences for the API tests."""
    rng = data_rng(4, stream)
    return [rng.standard_normal((int(rng.integers(lengths[0], lengths[1] + 1)),
                                 n_features)) for _ in range(n)]


def small_problem(Estimator, n=30, n_features=3, n_classes=2, stream=0):
    """Learnable small data for any estimator: X and a matching y."""
    X = ragged(n, n_features, stream=stream)
    if Estimator is RNNRegressor:
        return X, np.array([x[:, 0].mean() for x in X])
    if Estimator is SequenceTagger:
        edges = np.linspace(-1, 1, n_classes + 1)[1:-1]
        return X, [np.digitize(x[:, 0], edges) for x in X]
    means = np.array([x[:, 0].mean() for x in X])
    edges = np.quantile(means, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(means, edges)


FAST = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)


# --------------------------------------------------------------------------
# 1. Learning what a non-recurrent model cannot
# --------------------------------------------------------------------------

# The learning tests run every epoch (no stopping on the training loss), so
# that a fit depends on max_iter alone. Their settings were tuned on data
# seeds 0-19; the comment after each is the lowest held-out score over them.
ALL_EPOCHS = dict(tol=0.0, n_iter_no_change=10_000, random_state=0)

# The Elman cell needs a small state and a small step to integrate over 40
# steps without leaking.
SIGN_OF_SUM_SETTINGS = {
    "lstm": dict(hidden_layer_sizes=(8,), learning_rate_init=0.02,
                 max_iter=60),  # 0.975
    "gru": dict(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                max_iter=80),  # 0.98
    "rnn": dict(hidden_layer_sizes=(4,), learning_rate_init=0.003,
                max_iter=500),  # 0.93
}


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
def test_classifier_learns_sign_of_sum(cell):
    X, y = sign_of_sum(200, stream=0)
    X_test, y_test = sign_of_sum(200, stream=1)
    clf = RNNClassifier(cell=cell, **ALL_EPOCHS, **SIGN_OF_SUM_SETTINGS[cell])
    clf.fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9


@ignore_convergence
def test_last_step_baseline_fails_where_recurrence_succeeds():
    X, y = sign_of_sum(200, stream=0)
    X_test, y_test = sign_of_sum(200, stream=1)

    def last_step(seqs):
        return np.array([x[-1] for x in seqs])

    baseline = LogisticRegression().fit(last_step(X), y)
    baseline_accuracy = baseline.score(last_step(X_test), y_test)
    assert baseline_accuracy <= 0.7
    clf = RNNClassifier(cell="lstm", **ALL_EPOCHS, **SIGN_OF_SUM_SETTINGS["lstm"])
    clf.fit(X, y)
    assert clf.score(X_test, y_test) >= max(0.9, baseline_accuracy + 0.25)


# The Elman cell needs the ReLU here: with tanh it stays near 0.9 on this task.
TAGGER_SETTINGS = {
    "lstm": dict(hidden_layer_sizes=(8,), learning_rate_init=0.02,
                 max_iter=40),  # 0.957
    "gru": dict(hidden_layer_sizes=(8,), learning_rate_init=0.02,
                max_iter=40),  # 0.948
    "rnn": dict(hidden_layer_sizes=(16,), activation="relu",
                learning_rate_init=0.01, max_iter=60),  # 0.938
}


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
def test_tagger_learns_above_running_mean(cell):
    X, Y = above_running_mean(200, stream=0)
    X_test, Y_test = above_running_mean(200, stream=1)
    tagger = SequenceTagger(cell=cell, **ALL_EPOCHS, **TAGGER_SETTINGS[cell])
    tagger.fit(X, Y)
    predicted = tagger.predict(X_test)
    flat_accuracy = accuracy_score(np.concatenate(Y_test), np.concatenate(predicted))
    assert flat_accuracy >= 0.9
    assert tagger.score(X_test, Y_test) == pytest.approx(flat_accuracy)


# The Elman cell is left out: remembering the first of up to 15 steps is the
# vanishing-gradient case it is known to fail (R^2 stayed below 0.9).
REGRESSOR_SETTINGS = {
    "lstm": dict(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                 max_iter=100),  # 0.987
    "gru": dict(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                max_iter=60),  # 0.988
}


@ignore_convergence
@pytest.mark.parametrize("cell", sorted(REGRESSOR_SETTINGS))
def test_regressor_learns_first_value(cell):
    X, y = first_value(200, stream=0)
    X_test, y_test = first_value(200, stream=1)
    reg = RNNRegressor(cell=cell, **ALL_EPOCHS, **REGRESSOR_SETTINGS[cell])
    reg.fit(X, y)
    assert r2_score(y_test, reg.predict(X_test)) >= 0.9
    assert reg.score(X_test, y_test) == pytest.approx(
        r2_score(y_test, reg.predict(X_test)))

    last_steps = np.array([x[-1] for x in X])
    baseline = LinearRegression().fit(last_steps, y)
    assert baseline.score(np.array([x[-1] for x in X_test]), y_test) < 0.1


@ignore_convergence
def test_bidirectional_regressor_recalls_first_value_of_long_sequences():
    # The reverse direction reads the first step last, so even 40 steps are easy.
    X, y = first_value(200, stream=0, lengths=(20, 40))
    X_test, y_test = first_value(200, stream=1, lengths=(20, 40))
    reg = RNNRegressor((8,), bidirectional=True, readout="last",
                       recurrent_dropout=0.0, learning_rate_init=0.01,
                       max_iter=15, **ALL_EPOCHS).fit(X, y)
    assert reg.score(X_test, y_test) >= 0.9  # lowest over seeds: 0.992


@ignore_convergence
def test_two_layer_classifier_learns_sign_of_sum():
    X, y = sign_of_sum(200, stream=0)
    X_test, y_test = sign_of_sum(200, stream=1)
    clf = RNNClassifier((8, 8), learning_rate_init=0.02, max_iter=60,
                        **ALL_EPOCHS).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9  # lowest over seeds: 0.935


# --------------------------------------------------------------------------
# 2. API: fit, predict, labels, shapes
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_returns_self(Estimator):
    X, y = small_problem(Estimator)
    est = Estimator(**FAST)
    assert est.fit(X, y) is est


@ignore_convergence
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_classifier_predict_and_proba(n_classes):
    X, y = small_problem(RNNClassifier, n=40, n_classes=n_classes)
    clf = RNNClassifier(**FAST).fit(X, y)
    assert_array_equal(clf.classes_, np.arange(n_classes))
    assert clf.n_outputs_ == (1 if n_classes == 2 else n_classes)

    predicted = clf.predict(X)
    assert predicted.shape == (40,)
    assert predicted.dtype == clf.classes_.dtype

    proba = clf.predict_proba(X)
    assert proba.shape == (40, n_classes)
    assert proba.dtype == np.float64
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    log_proba = clf.predict_log_proba(X)
    assert log_proba.shape == (40, n_classes)
    assert_allclose(np.exp(log_proba), proba, rtol=1e-12, atol=1e-15)
    assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])


@ignore_convergence
@pytest.mark.parametrize(
    "labels",
    [
        np.array(["spam", "eggs"]),
        np.array(["zebra", "apple", "mango"]),
        np.array([10, -3]),
        np.array([7, 3, 42, -1]),
        np.array([True, False]),
    ],
    ids=["str-binary", "str-multiclass", "int-binary", "int-multiclass", "bool"],
)
@pytest.mark.parametrize("Estimator", [RNNClassifier, SequenceTagger])
def test_label_types_round_trip(Estimator, labels):
    X, codes = small_problem(Estimator, n=40, n_classes=labels.shape[0])
    if Estimator is SequenceTagger:
        y = [labels[c] for c in codes]
        flat = np.concatenate(y)
    else:
        y = labels[codes]
        flat = y
    est = Estimator(**FAST).fit(X, y)
    assert_array_equal(est.classes_, np.sort(labels))
    assert est.classes_.dtype == labels.dtype
    predicted = est.predict(X)
    if Estimator is SequenceTagger:
        predicted = np.concatenate(predicted)
    assert predicted.dtype == labels.dtype
    assert set(predicted.tolist()) <= set(flat.tolist())


@ignore_convergence
def test_classifier_accepts_label_list_and_column_vector():
    X, codes = small_problem(RNNClassifier, n=30, n_classes=3)
    labels = np.array(["a", "b", "c"])
    reference = RNNClassifier(**FAST).fit(X, labels[codes]).predict_proba(X)
    from_list = RNNClassifier(**FAST).fit(X, list(labels[codes])).predict_proba(X)
    assert_array_equal(from_list, reference)


@ignore_convergence
@pytest.mark.parametrize("n_outputs", [2, 3])
def test_regressor_multi_output(n_outputs):
    X = ragged(30)
    Y = np.column_stack([[x[:, j % 3].mean() for x in X] for j in range(n_outputs)])
    reg = RNNRegressor(**FAST).fit(X, Y)
    assert reg.n_outputs_ == n_outputs
    predicted = reg.predict(X)
    assert predicted.shape == (30, n_outputs)
    assert predicted.dtype == np.float64


@ignore_convergence
def test_regressor_1d_target_predicts_1d():
    X, y = small_problem(RNNRegressor)
    reg = RNNRegressor(**FAST).fit(X, y)
    assert reg.n_outputs_ == 1
    assert reg.predict(X).shape == (30,)
    assert reg.predict(X[:1]).shape == (1,)


@ignore_convergence
def test_regressor_column_target_is_raveled_like_mlp():
    X, y = small_problem(RNNRegressor)
    with pytest.warns(DataConversionWarning):
        column = RNNRegressor(**FAST).fit(X, y[:, None])
    assert column.n_outputs_ == 1
    assert column.predict(X).shape == (30,)
    assert_array_equal(column.predict(X), RNNRegressor(**FAST).fit(X, y).predict(X))


@ignore_convergence
@pytest.mark.parametrize("n_classes", [2, 4])
def test_tagger_predicts_object_arrays(n_classes):
    X, Y = small_problem(SequenceTagger, n=20, n_classes=n_classes)
    tagger = SequenceTagger(**FAST).fit(X, Y)
    assert_array_equal(tagger.classes_, np.arange(n_classes))

    predicted = tagger.predict(X)
    assert predicted.dtype == object and predicted.shape == (20,)
    for p, x in zip(predicted, X):
        assert p.shape == (x.shape[0],)
        assert set(p.tolist()) <= set(range(n_classes))

    proba = tagger.predict_proba(X)
    log_proba = tagger.predict_log_proba(X)
    assert proba.dtype == object and proba.shape == (20,)
    assert log_proba.dtype == object and log_proba.shape == (20,)
    for p, lp, x, labels in zip(proba, log_proba, X, predicted):
        assert p.shape == (x.shape[0], n_classes)
        assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert_allclose(np.exp(lp), p, rtol=1e-12, atol=1e-15)
        assert_array_equal(labels, tagger.classes_[p.argmax(axis=1)])


@ignore_convergence
def test_tagger_predicts_lengths_unseen_in_fit():
    X, Y = small_problem(SequenceTagger, n=20)
    tagger = SequenceTagger(**FAST).fit(X, Y)
    longer = ragged(3, lengths=(30, 40), stream=1)
    for p, x in zip(tagger.predict(longer), longer):
        assert p.shape == (x.shape[0],)


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_prediction_does_not_depend_on_batch_mates(Estimator, cell):
    # Lengths 1..5, so the packed minibatches are ragged down to one step.
    X, y = small_problem(Estimator, n=30)
    X = [x[: 1 + i % 5] for i, x in enumerate(X)]
    if Estimator is SequenceTagger:
        y = [yi[: 1 + i % 5] for i, yi in enumerate(y)]
    # float64: the tolerances are float64 round-off.
    est = Estimator(**dict(FAST, cell=cell, hidden_layer_sizes=(4, 3),
                           bidirectional=True, dtype="float64")).fit(X, y)
    together = outputs(est, X)
    reversed_order = outputs(est, X[::-1])
    one_by_one = [outputs(est, [x]) for x in X]
    if Estimator is SequenceTagger:
        lengths = [x.shape[0] for x in X]
        reversed_order = np.concatenate(
            np.split(reversed_order, np.cumsum(lengths[::-1])[:-1])[::-1])
    else:
        reversed_order = reversed_order[::-1]
    one_by_one = np.concatenate(one_by_one)
    assert_allclose(reversed_order, together, rtol=1e-12, atol=1e-14)
    assert_allclose(one_by_one, together, rtol=1e-12, atol=1e-14)


@ignore_convergence
def test_prediction_streams_over_many_steps():
    # 1000 x 40 steps is more than one predict minibatch holds (2**15 steps).
    X, y = small_problem(RNNRegressor, n=20)
    reg = RNNRegressor(**FAST, dtype="float64").fit(X, y)
    many = ragged(1000, lengths=(40, 40), stream=2)
    chunked = np.concatenate([reg.predict(many[i:i + 100])
                              for i in range(0, 1000, 100)])
    assert_allclose(reg.predict(many), chunked, rtol=1e-12, atol=1e-14)
    # One sequence longer than the budget is one minibatch of its own: its
    # prediction is the training forward pass over the whole sequence.
    long = ragged(1, lengths=(40_000, 40_000), stream=3)
    net = reg._network
    batch = PackedBatch(reg._validate_sequences(long, reset=False), [0])
    whole = net.forward(net.views(reg._params), batch, Workspace(np.float64))
    assert_allclose(reg.predict(long), whole.ravel(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------
# 3. Input forms and dtypes
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("input_dtype", [np.float32, np.float64, np.int64])
def test_training_dtype_is_the_dtype_parameter(Estimator, dtype, input_dtype):
    X, y = small_problem(Estimator)
    X = [np.round(3 * x).astype(input_dtype) for x in X]
    est = Estimator(**FAST, dtype=dtype).fit(X, y)
    assert est._params.dtype == dtype
    # Outputs users read are float64 whatever the compute dtype.
    assert outputs(est, X).dtype == np.float64
    # Predict-time input of the other precision is cast to the model's.
    other = np.float64 if input_dtype == np.float32 else np.float32
    assert outputs(est, [x.astype(other) for x in X]).dtype == np.float64


@ignore_convergence
def test_float32_fit_is_close_to_float64_fit():
    X, y = small_problem(RNNClassifier)
    p64 = RNNClassifier(**FAST, dtype="float64").fit(X, y).predict_proba(X)
    X32 = [x.astype(np.float32) for x in X]
    p32 = RNNClassifier(**FAST).fit(X32, y).predict_proba(X32)
    assert_allclose(p32, p64, rtol=0, atol=1e-4)


def _one_hot_tokens(n, vocabulary, stream):
    rng = data_rng(8, stream)
    tokens = [rng.integers(0, vocabulary, int(rng.integers(2, 9))) for _ in range(n)]
    dense = [np.eye(vocabulary)[t] for t in tokens]
    return tokens, dense, [sp.csr_matrix(d) for d in dense]


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("hidden_layer_sizes", [(4,), (4, 3)])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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
def test_pandas_series_labels():
    pd = pytest.importorskip("pandas")
    X, codes = small_problem(RNNClassifier, n=30, n_classes=3)
    labels = np.array(["x", "y", "z"], dtype=object)[codes]
    series = pd.Series(labels, index=np.arange(100, 130))
    from_series = RNNClassifier(**FAST).fit(X, series)
    from_array = RNNClassifier(**FAST).fit(X, labels)
    assert_array_equal(from_series.classes_, ["x", "y", "z"])
    assert_array_equal(from_series.predict_proba(X), from_array.predict_proba(X))


# --------------------------------------------------------------------------
# 4. Reproducibility
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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
    # Refitting the same instance starts over from the same seed.
    first.fit(X, y)
    assert_array_equal(first.loss_curve_, second.loss_curve_)
    assert_array_equal(outputs(first, X), outputs(second, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_random_state_instance_is_reproducible(Estimator):
    X, y = small_problem(Estimator)
    params = dict(FAST, dropout=0.2, hidden_layer_sizes=(4, 4))
    a = Estimator(**dict(params, random_state=np.random.RandomState(3))).fit(X, y)
    b = Estimator(**dict(params, random_state=np.random.RandomState(3))).fit(X, y)
    assert_array_equal(a.loss_curve_, b.loss_curve_)
    assert_array_equal(outputs(a, X), outputs(b, X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_different_seeds_give_different_models(Estimator):
    X, y = small_problem(Estimator)
    a = Estimator(**dict(FAST, random_state=0)).fit(X, y)
    b = Estimator(**dict(FAST, random_state=1)).fit(X, y)
    assert a._params.shape == b._params.shape
    assert not np.allclose(a._params, b._params)
    assert not np.allclose(outputs(a, X), outputs(b, X))


@ignore_convergence
def test_dropout_changes_training_but_not_prediction():
    X, y = small_problem(RNNClassifier)
    params = dict(FAST, hidden_layer_sizes=(5, 4))
    plain = RNNClassifier(**params).fit(X, y)
    dropped = RNNClassifier(**dict(params, dropout=0.5)).fit(X, y)
    assert not np.allclose(plain.loss_curve_, dropped.loss_curve_)
    # Prediction uses no mask: repeated calls agree.
    assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))


# --------------------------------------------------------------------------
# 5. Fitted attributes
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_fitted_attributes(Estimator, solver):
    X, y = small_problem(Estimator, n=25)
    est = Estimator(**dict(FAST, max_iter=4, solver=solver, tol=0)).fit(X, y)
    assert est.n_iter_ == 4
    assert isinstance(est.loss_curve_, list)
    assert len(est.loss_curve_) == est.n_iter_
    assert est.loss_ == est.loss_curve_[-1]
    assert est.best_loss_ == min(est.loss_curve_)
    assert np.isfinite(est.loss_) and est.loss_ > 0
    assert est.t_ == 4 * 25
    assert est.n_features_in_ == 3
    assert not hasattr(est, "feature_names_in_")
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    if Estimator is RNNRegressor:
        assert est.n_outputs_ == 1
        assert not hasattr(est, "classes_")
    else:
        assert_array_equal(est.classes_, [0, 1])
        assert est.n_outputs_ == 1


def test_unfitted_estimator_has_no_fitted_attributes():
    est = RNNClassifier()
    for name in ["loss_", "loss_curve_", "n_iter_", "classes_", "n_features_in_",
                 "n_outputs_", "t_", "best_loss_"]:
        assert not hasattr(est, name)


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dataframe_with_other_columns_is_rejected(Estimator):
    pd = pytest.importorskip("pandas")
    values = data_rng(11).standard_normal((20, 3))
    _, y = small_problem(Estimator, n=20, n_features=1)
    if Estimator is SequenceTagger:
        y = [(x > 0).astype(int) for x in values]
    est = Estimator(**FAST).fit(pd.DataFrame(values, columns=["a", "b", "c"]), y)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(pd.DataFrame(values, columns=["a", "c", "b"]))


# --------------------------------------------------------------------------
# 6. Parameter validation
# --------------------------------------------------------------------------

INVALID_PARAMETERS = [
    ("cell", "foo"),
    ("hidden_layer_sizes", 0),
    ("dropout", 1.5),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("clip_norm", -1),
    ("clip_norm", 0),
    ("solver", "x"),
    ("batch_size", 0),
    ("batch_size", "big"),
    ("activation", "sigmoid"),
    ("learning_rate", "fast"),
    ("learning_rate_init", 0),
    ("max_iter", 0),
    ("momentum", 1.5),
    ("validation_fraction", 1.0),
    ("beta_1", 1.0),
    ("n_iter_no_change", 0),
    ("alpha", -1.0),
    ("bidirectional", "yes"),
]


@pytest.mark.parametrize("name, value", INVALID_PARAMETERS)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_invalid_parameter_raises_at_fit(Estimator, name, value):
    X, y = small_problem(Estimator, n=10)
    est = Estimator(**{name: value})  # __init__ stores without validating
    assert est.get_params()[name] == value
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", [RNNClassifier, SequenceTagger])
def test_invalid_class_weight_raises_at_fit(Estimator):
    X, y = small_problem(Estimator, n=10)
    with pytest.raises(InvalidParameterError, match="'class_weight' parameter"):
        Estimator(class_weight="uniform").fit(X, y)


@pytest.mark.parametrize("sizes", [(0,), (4, 0), ()])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_invalid_hidden_layer_sizes_raise_naming_the_parameter(Estimator, sizes):
    X, y = small_problem(Estimator, n=10)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        Estimator(hidden_layer_sizes=sizes).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_sized_layer_raises_invalid_parameter_error(Estimator):
    X, y = small_problem(Estimator, n=10)
    with pytest.raises(InvalidParameterError, match="hidden_layer_sizes"):
        Estimator(hidden_layer_sizes=(0,)).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_init_only_stores_parameters(Estimator):
    values = dict(hidden_layer_sizes=(0,), cell="foo", dropout=1.5, clip_norm=-1,
                  solver="x", batch_size=0, max_iter=-5, random_state="seed")
    est = Estimator(**values)
    params = est.get_params()
    for name, value in values.items():
        assert params[name] == value
    # and cloning keeps them verbatim
    assert clone(est).get_params() == params


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_hidden_layer_sizes_accepts_int_and_list(Estimator):
    X, y = small_problem(Estimator, n=10)
    from_int = Estimator(**dict(FAST, hidden_layer_sizes=4)).fit(X, y)
    from_list = Estimator(**dict(FAST, hidden_layer_sizes=[4])).fit(X, y)
    from_tuple = Estimator(**FAST).fit(X, y)
    assert_array_equal(from_int.loss_curve_, from_tuple.loss_curve_)
    assert_array_equal(from_list.loss_curve_, from_tuple.loss_curve_)


# --------------------------------------------------------------------------
# 7. Errors at predict
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "Estimator, method",
    [(Estimator, method) for Estimator in ESTIMATORS
     for method in ["predict", "predict_proba", "predict_log_proba", "score"]
     if hasattr(Estimator, method)],
)
def test_predict_before_fit_raises_not_fitted(Estimator, method):
    X, y = small_problem(Estimator, n=5)
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError):
        getattr(Estimator(), method)(*args)


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_with_other_feature_count_raises(Estimator):
    X, y = small_problem(Estimator, n=10, n_features=3)
    est = Estimator(**FAST).fit(X, y)
    name = Estimator.__name__
    message = f"X has 1 features, but {name} is expecting 3 features as input"
    with pytest.raises(ValueError, match=message):
        est.predict([x[:, :1] for x in X])
    with pytest.raises(ValueError, match=message):
        est.predict([x[:, 0] for x in X])
    with pytest.raises(ValueError, match="X has 4 features"):
        est.predict([np.hstack([x, x[:, :1]]) for x in X])


# --------------------------------------------------------------------------
# 8. Solvers and training options
# --------------------------------------------------------------------------


def _initial_loss(Estimator, X, y, **params):
    """Training loss of the initial weights (one epoch with a negligible step)."""
    est = Estimator(**dict(params, solver="adam", learning_rate_init=1e-12,
                           max_iter=1, shuffle=False))
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    return est.loss_


SGD_VARIANTS = [
    (schedule, nesterov)
    for schedule in ["constant", "invscaling", "adaptive"]
    for nesterov in [True, False]
]


@ignore_convergence
@pytest.mark.parametrize("schedule, nesterov", SGD_VARIANTS)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sgd_reduces_training_loss(Estimator, schedule, nesterov):
    X, y = small_problem(Estimator, n=40)
    params = dict(hidden_layer_sizes=(6,), random_state=0, batch_size=10)
    initial = _initial_loss(Estimator, X, y, **params)
    est = Estimator(**dict(params, solver="sgd", learning_rate=schedule,
                           nesterovs_momentum=nesterov, learning_rate_init=0.1,
                           power_t=0.25, max_iter=15, tol=0)).fit(X, y)
    assert est.loss_curve_[-1] < 0.8 * initial
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_adam_reduces_training_loss(Estimator):
    X, y = small_problem(Estimator, n=40)
    # The network the 0.6 was measured on: one direction, no dropout (so the
    # last epoch's loss is comparable to the initial one).
    params = dict(hidden_layer_sizes=(6,), random_state=0, bidirectional=False,
                  recurrent_dropout=0.0)
    initial = _initial_loss(Estimator, X, y, **params)
    est = Estimator(**dict(params, learning_rate_init=0.02, max_iter=15,
                           tol=0)).fit(X, y)
    assert est.loss_curve_[-1] < 0.6 * initial


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_lbfgs_reduces_training_loss(Estimator):
    X, y = small_problem(Estimator, n=40)
    params = dict(hidden_layer_sizes=(6,), random_state=0)
    initial = _initial_loss(Estimator, X, y, **params)
    est = Estimator(**dict(params, solver="lbfgs", max_iter=40)).fit(X, y)
    assert 1 <= est.n_iter_ <= 40
    assert est.loss_ < 0.5 * initial
    assert est.score(X, y) > (0.5 if Estimator is RNNRegressor else 0.8)


@ignore_convergence
def test_lbfgs_verbose_uses_no_deprecated_scipy_option(capsys):
    X, y = small_problem(RNNClassifier, n=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        est = RNNClassifier(**dict(FAST, solver="lbfgs", verbose=True)).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == est.n_iter_
    assert all(line.startswith("Iteration") and "loss" in line for line in lines)


@ignore_convergence
def test_sgd_adaptive_learning_rate_drops_when_stalled():
    X, y = small_problem(RNNClassifier, n=20)
    # A huge tol makes every epoch count as no improvement.
    est = RNNClassifier(**dict(FAST, solver="sgd", learning_rate="adaptive",
                               learning_rate_init=0.1, tol=1e3, n_iter_no_change=2,
                               max_iter=20)).fit(X, y)
    assert 3 < est.n_iter_ <= 20
    assert est._optimizer.learning_rate < 0.1


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_records_validation_scores(Estimator):
    X, y = small_problem(Estimator, n=40)
    est = Estimator(**dict(FAST, early_stopping=True, validation_fraction=0.25,
                           max_iter=8, learning_rate_init=0.02)).fit(X, y)
    assert isinstance(est.validation_scores_, list)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_loss_ is None
    assert est.t_ == 30 * est.n_iter_  # the validation sequences are held out


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_stops_before_max_iter(Estimator):
    X, y = small_problem(Estimator, n=40)
    # tol larger than any possible score gain: no epoch after the first
    # improves, and as in MLPClassifier training stops once more than
    # n_iter_no_change epochs in a row did not improve.
    est = Estimator(**dict(FAST, early_stopping=True, tol=10.0, n_iter_no_change=2,
                           max_iter=50)).fit(X, y)
    assert est.n_iter_ == 1 + 3
    assert est.best_validation_score_ == max(est.validation_scores_)


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_warm_start_continues_training(Estimator, solver):
    X, y = small_problem(Estimator, n=24)
    params = dict(FAST, solver=solver, max_iter=2, shuffle=False, tol=0)
    warm = Estimator(**dict(params, warm_start=True)).fit(X, y)
    first_curve = list(warm.loss_curve_)
    warm.fit(X, y)
    assert warm.n_iter_ == 4
    assert warm.t_ == 4 * 24
    assert len(warm.loss_curve_) == 4
    assert warm.loss_curve_[:2] == first_curve
    # Two warm fits of 2 epochs are one fit of 4 epochs: the second fit starts
    # from the first one's weights and optimiser state.
    cold = Estimator(**dict(params, max_iter=4)).fit(X, y)
    assert_allclose(warm.loss_curve_, cold.loss_curve_, rtol=1e-12)
    assert_allclose(outputs(warm, X), outputs(cold, X), rtol=1e-12, atol=1e-14)


@ignore_convergence
@pytest.mark.parametrize("n, expected", [(40, 32), (20, 20)])
def test_auto_batch_size_is_min_of_32_and_n(n, expected):
    X, y = small_problem(RNNClassifier, n=n)
    auto = RNNClassifier(**FAST).fit(X, y)
    explicit = RNNClassifier(**dict(FAST, batch_size=expected)).fit(X, y)
    assert_array_equal(auto.loss_curve_, explicit.loss_curve_)


@ignore_convergence
def test_tagger_score_weights_every_step_of_a_sequence():
    X, Y = small_problem(SequenceTagger, n=20)
    tagger = SequenceTagger(**FAST).fit(X, Y)
    weights = np.arange(1.0, 21.0)
    expected = accuracy_score(
        np.concatenate(Y), np.concatenate(tagger.predict(X)),
        sample_weight=np.repeat(weights, [x.shape[0] for x in X]))
    assert tagger.score(X, Y, sample_weight=weights) == pytest.approx(expected)


@ignore_convergence
def test_without_warm_start_refit_starts_over():
    X, y = small_problem(RNNClassifier)
    est = RNNClassifier(**FAST).fit(X, y)
    curve = list(est.loss_curve_)
    est.fit(X, y)
    assert est.n_iter_ == 3
    assert est.loss_curve_ == curve


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clip_norm_none_is_no_clipping(Estimator):
    X, y = small_problem(Estimator)
    params = dict(FAST, max_iter=5, learning_rate_init=0.05)
    unclipped = Estimator(**dict(params, clip_norm=None)).fit(X, y)
    # A bound no gradient reaches gives the same fit, bit for bit; one every
    # gradient exceeds gives another.
    never = Estimator(**dict(params, clip_norm=1e300)).fit(X, y)
    always = Estimator(**dict(params, clip_norm=1e-6)).fit(X, y)
    assert_array_equal(unclipped._params, never._params)
    assert unclipped.loss_curve_ == never.loss_curve_
    assert not np.allclose(unclipped._params, always._params)


@ignore_convergence
def test_tight_clip_norm_changes_training():
    X, y = small_problem(RNNClassifier)
    loose = RNNClassifier(**dict(FAST, clip_norm=None, learning_rate_init=0.05,
                                 solver="sgd")).fit(X, y)
    tight = RNNClassifier(**dict(FAST, clip_norm=1e-3, learning_rate_init=0.05,
                                 solver="sgd")).fit(X, y)
    assert not np.allclose(loose.loss_curve_, tight.loss_curve_)


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_one_line_per_epoch(Estimator, early_stopping, capsys):
    X, y = small_problem(Estimator, n=20)
    est = Estimator(**dict(FAST, verbose=True, max_iter=4, tol=0,
                           early_stopping=early_stopping)).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    epochs = [line for line in lines if "Epoch" in line]
    assert len(epochs) == est.n_iter_ == 4
    assert all("loss" in line for line in epochs)
    for i, line in enumerate(epochs, start=1):
        assert line.startswith(f"Epoch {i},")
    if early_stopping:
        assert all("validation score" in line for line in epochs)


@ignore_convergence
def test_not_verbose_prints_nothing(capsys):
    X, y = small_problem(RNNClassifier)
    RNNClassifier(**FAST).fit(X, y).predict(X)
    assert capsys.readouterr().out == ""


def _three_unequal_classes(Estimator):
    """Labels "a", "b", "c" in unequal numbers, so that neither 'balanced'
    nor weights given to the mirrored classes leave the weights unchanged."""
    X = ragged(30)
    labels = np.array(["a", "b", "c"])
    if Estimator is SequenceTagger:
        return X, [labels[np.digitize(x[:, 0], [-0.6, 0.8])] for x in X]
    means = np.array([x[:, 0].mean() for x in X])
    return X, labels[np.digitize(means, np.quantile(means, [0.2, 0.5]))]


@ignore_convergence
@pytest.mark.parametrize("class_weight", [
    "balanced", {"a": 1.0, "b": 2.0, "c": 0.5}, {"c": 3.0}],
    ids=["balanced", "dict", "dict-missing-keys"])
@pytest.mark.parametrize("Estimator", [RNNClassifier, SequenceTagger])
def test_class_weight_equals_matching_sample_weight(Estimator, class_weight):
    """class_weight multiplies each sequence's (each step's) sample weight by
    its class's weight: 'balanced' is n / (n_classes * count), a dict gives
    its own weights and 1 to the classes it leaves out."""
    X, y = _three_unequal_classes(Estimator)
    flat = np.concatenate(y) if Estimator is SequenceTagger else y
    labels, counts = np.unique(flat, return_counts=True)
    assert len(set(counts)) == 3
    if class_weight == "balanced":
        per_class = dict(zip(labels, flat.shape[0] / (3 * counts)))
    else:
        per_class = {c: class_weight.get(c, 1.0) for c in labels}
    base = data_rng(11).uniform(0.5, 2.0, len(X))
    if Estimator is SequenceTagger:
        matching = [b * np.array([per_class[t] for t in yi]) for b, yi in zip(base, y)]
    else:
        matching = base * np.array([per_class[t] for t in y])
    params = dict(FAST, batch_size=8, learning_rate_init=0.02)
    by_class = Estimator(class_weight=class_weight, **params).fit(
        X, y, sample_weight=base)
    by_sample = Estimator(**params).fit(X, y, sample_weight=matching)
    assert_allclose(by_class.loss_curve_, by_sample.loss_curve_, rtol=1e-12)
    assert_allclose(by_class._params, by_sample._params, rtol=1e-10, atol=1e-13)
    # The class weights matter: without them the fit is another one.
    unweighted = Estimator(**params).fit(X, y, sample_weight=base)
    assert not np.allclose(unweighted._params, by_class._params, rtol=1e-3)


# --------------------------------------------------------------------------
# 9. Persistence
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("cell", CELLS)
def test_pickle_round_trip_predicts_identically(Estimator, cell):
    X, y = small_problem(Estimator)
    est = Estimator(**dict(FAST, cell=cell, hidden_layer_sizes=(4, 3),
                           bidirectional=True)).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert type(restored) is Estimator
    assert restored.get_params() == est.get_params()
    if Estimator is SequenceTagger:
        for a, b in zip(restored.predict(X), est.predict(X)):
            assert_array_equal(a, b)
    else:
        assert_array_equal(restored.predict(X), est.predict(X))
    assert_array_equal(outputs(restored, X), outputs(est, X))
    assert restored.loss_curve_ == est.loss_curve_
    assert restored.n_iter_ == est.n_iter_


@ignore_convergence
def test_pickled_model_keeps_training_with_warm_start():
    X, y = small_problem(RNNClassifier)
    params = dict(FAST, warm_start=True, shuffle=False, max_iter=2, tol=0)
    est = RNNClassifier(**params).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    est.fit(X, y)
    restored.fit(X, y)
    assert restored.n_iter_ == 4
    assert_array_equal(restored.loss_curve_, est.loss_curve_)
    assert_array_equal(restored.predict_proba(X), est.predict_proba(X))


# --------------------------------------------------------------------------
# dtype: the compute precision
# --------------------------------------------------------------------------

ALL_ESTIMATORS = ESTIMATORS + [SequenceRegressor, SequenceTranscriber]


def _dtype_problem(Estimator, n=12):
    """float64 X and a y of the right kind for any estimator."""
    if Estimator is SequenceRegressor:
        X = ragged(n)
        return X, [np.cumsum(x[:, 0]) / 3 for x in X]
    if Estimator is SequenceTranscriber:
        X = ragged(n, lengths=(6, 10))
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
@pytest.mark.parametrize("Estimator", ALL_ESTIMATORS)
def test_default_dtype_computes_in_float32_on_float64_input(Estimator):
    X, y = _dtype_problem(Estimator)
    assert all(x.dtype == np.float64 for x in X)
    est = Estimator(**FAST)
    assert est.dtype == "float32"
    est.fit(X, y)
    assert est._params.dtype == np.float32
    _assert_float64_outputs(est, X)


@ignore_convergence
@pytest.mark.parametrize("Estimator", ALL_ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float64_input_is_cast_once_to_float32(Estimator):
    X, y = _dtype_problem(Estimator)
    from_64 = Estimator(**FAST).fit(X, y)
    from_32 = Estimator(**FAST).fit([x.astype(np.float32) for x in X], y)
    # Casting at the edge: the fit sees the same float32 values either way.
    assert_array_equal(from_64._params, from_32._params)
    assert_array_equal(outputs(from_64, X), outputs(from_32, X))


@ignore_convergence
def test_float32_outputs_are_the_float32_computation_widened():
    X, y = _dtype_problem(RNNRegressor)
    est = RNNRegressor(**FAST).fit(X, y)
    raw, _ = est._raw_predict_seqs(est._validate_sequences(X, reset=False))
    assert raw.dtype == np.float32
    assert_array_equal(est.predict(X), raw[:, 0].astype(np.float64))


@ignore_convergence
@pytest.mark.parametrize("form", ["ragged", "3d", "2d", "sparse"])
def test_value_too_large_for_float32_is_named(form):
    X = [np.zeros((4, 3)) for _ in range(5)]
    y = np.arange(5) % 2
    X[3][2, 1] = -1e39
    where = r"\(sequence 3, time step 2, feature 1\)"
    if form == "3d":
        X = np.stack(X)
    elif form == "2d":
        X = np.stack(X)[:, :, 1]
        where = r"\(sequence 3, time step 2, feature 0\)"
    elif form == "sparse":
        X = [sp.csr_matrix(x) for x in X]
    est = RNNClassifier(**FAST)
    match = rf"-1e\+39 {where}, too large for float32.*dtype='float64'"
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    # float64 holds it: the same data fits.
    RNNClassifier(**FAST, dtype="float64").fit(X, y)


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
@pytest.mark.parametrize("first, second", [("float32", "float64"),
                                           ("float64", "float32")])
def test_warm_start_with_another_dtype_raises(first, second):
    X, y = small_problem(RNNClassifier)
    est = RNNClassifier(**FAST, warm_start=True, dtype=first).fit(X, y)
    est.set_params(dtype=second)
    with pytest.raises(ValueError, match=rf"warm_start=True needs the "
                       rf"architecture.*'{first}'\).*'{second}'\)"):
        est.fit(X, y)
    # The error names dtype among what must not change.
    with pytest.raises(ValueError, match="readout, dtype"):
        est.fit(X, y)


@ignore_convergence
def test_partial_fit_with_another_dtype_raises():
    X, y = small_problem(RNNRegressor)
    est = RNNRegressor(**FAST).partial_fit(X, y)
    est.set_params(dtype="float64")
    with pytest.raises(ValueError, match="architecture"):
        est.partial_fit(X, y)


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


@pytest.mark.parametrize("value", ["float16", "double", np.float32, None])
def test_invalid_dtype_raises(value):
    X, y = small_problem(RNNClassifier)
    with pytest.raises(InvalidParameterError, match="'dtype' parameter"):
        RNNClassifier(**FAST, dtype=value).fit(X, y)


@ignore_convergence
def test_lbfgs_follows_dtype():
    X, y = small_problem(RNNRegressor)
    for dtype in ("float32", "float64"):
        est = RNNRegressor(**FAST, solver="lbfgs", dtype=dtype).fit(X, y)
        assert est._params.dtype == np.dtype(dtype)
