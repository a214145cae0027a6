"""The public estimators (skrnn/_estimators.py): what recurrence buys (tasks
no per-step or last-step model can solve), the API's shapes, dtypes and
labels of RNNClassifier, RNNRegressor and SequenceTagger, class_weight, and
the fuzz tests of every estimator entry point (the oracle: _fuzzing.py).

Data come from ``SEED`` (environment variable ``SKRNN_TEST_SEED``); the model
seeds are fixed, and the learning thresholds hold with margin across data
seeds (checked for seeds 0-19 when they were tuned)."""

import numpy as np
import pandas as pd
import pytest
from _fuzzing import (
    FUZZ_ESTIMATORS,
    PER_STEP,
    REGRESSORS,
    attempt,
    fuzz,
    fuzz_warnings,
    weight_cases,
    x_cases,
    y_cases,
)

# The fuzz tests here keep the names they were written with: hypothesis
# derives their fixed examples from their source.
from _fuzzing import FUZZ_TINY as TINY
from _fuzzing import assert_finite as _assert_finite
from _fuzzing import check_predictions as _check_predictions
from _fuzzing import clean_sequences as _clean
from _fuzzing import fit_valid as _fit_valid
from _fuzzing import fuzz_fitted as _fitted
from _helpers import (
    CELLS,
    FAST,
    N_FEATURES,
    data_rng,
    ignore_convergence,
    small_problem,
    small_sequences,
)
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
)

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


def train_and_test(task, **kwargs):
    """200 training sequences of a task (stream 0) and 200 held-out ones
    (stream 1): ((X, y), (X_test, y_test))."""
    return task(200, stream=0, **kwargs), task(200, stream=1, **kwargs)


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
    (X, y), (X_test, y_test) = train_and_test(sign_of_sum)
    clf = RNNClassifier(cell=cell, **ALL_EPOCHS, **SIGN_OF_SUM_SETTINGS[cell])
    clf.fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9


@ignore_convergence
def test_last_step_baseline_fails_where_recurrence_succeeds():
    (X, y), (X_test, y_test) = train_and_test(sign_of_sum)

    def last_step(seqs):
        return np.array([x[-1] for x in seqs])

    baseline = LogisticRegression().fit(last_step(X), y)
    baseline_accuracy = baseline.score(last_step(X_test), y_test)
    assert baseline_accuracy <= 0.7
    clf = RNNClassifier(cell="lstm", **ALL_EPOCHS, **SIGN_OF_SUM_SETTINGS["lstm"])
    clf.fit(X, y)
    assert clf.score(X_test, y_test) >= max(0.9, baseline_accuracy + 0.25)


# The Elman cell needs the ReLU here: with tanh it stays near 0.9 on this task.
# Tuned on the tagger without the dropout its defaults have.
_NO_DROPOUT = dict(dropout=0.0, recurrent_dropout=0.0)
TAGGER_SETTINGS = {
    "lstm": dict(hidden_layer_sizes=(8,), learning_rate_init=0.02,
                 max_iter=40, **_NO_DROPOUT),  # 0.957
    "gru": dict(hidden_layer_sizes=(8,), learning_rate_init=0.02,
                max_iter=40, **_NO_DROPOUT),  # 0.948
    "rnn": dict(hidden_layer_sizes=(16,), activation="relu",
                learning_rate_init=0.01, max_iter=60, **_NO_DROPOUT),  # 0.938
}


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
def test_tagger_learns_above_running_mean(cell):
    (X, Y), (X_test, Y_test) = train_and_test(above_running_mean)
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
    (X, y), (X_test, y_test) = train_and_test(first_value)
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
    (X, y), (X_test, y_test) = train_and_test(first_value, lengths=(20, 40))
    reg = RNNRegressor((8,), bidirectional=True, readout="last",
                       recurrent_dropout=0.0, learning_rate_init=0.01,
                       max_iter=15, **ALL_EPOCHS).fit(X, y)
    assert reg.score(X_test, y_test) >= 0.9  # lowest over seeds: 0.992


@ignore_convergence
def test_two_layer_classifier_learns_sign_of_sum():
    (X, y), (X_test, y_test) = train_and_test(sign_of_sum)
    clf = RNNClassifier((8, 8), learning_rate_init=0.02, max_iter=60,
                        **ALL_EPOCHS).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9  # lowest over seeds: 0.935


# --------------------------------------------------------------------------
# 2. API: fit, predict, labels, shapes
# --------------------------------------------------------------------------


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
    X = small_sequences(30)
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
    longer = small_sequences(3, lengths=(30, 40), stream=1)
    for p, x in zip(tagger.predict(longer), longer):
        assert p.shape == (x.shape[0],)


# --------------------------------------------------------------------------
# 3. Input forms and dtypes
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 4. Reproducibility
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 5. Fitted attributes
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 6. Parameter validation
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 7. Errors at predict
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 8. Solvers and training options
# --------------------------------------------------------------------------


def _three_unequal_classes(Estimator):
    """Labels "a", "b", "c" in unequal numbers, so that neither 'balanced'
    nor weights given to the mirrored classes leave the weights unchanged."""
    X = small_sequences(30)
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


# --------------------------------------------------------------------------
# dtype: the compute precision
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Fuzzing fit, partial_fit, predict, predict_proba and score (the oracle: _fuzzing.py)
# --------------------------------------------------------------------------


@fuzz_warnings
@fuzz(2)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", FUZZ_ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_fit_fuzz(Estimator, method, data):
    case = data.draw(x_cases(min_sequences=2), label="X")
    n = len(case.lengths)
    y, y_valid = data.draw(y_cases(Estimator, case.lengths), label="y")
    w, w_valid = data.draw(weight_cases(
        n, case.lengths if Estimator in PER_STEP else None),
        label="sample_weight")
    solver = data.draw(st.sampled_from(["adam", "sgd", "lbfgs"]
                                       if method == "fit" else ["adam", "sgd"]))
    est = Estimator(solver=solver, **TINY)
    names = [a for a, v in (("X", case.valid), ("y", y_valid),
                            ("sample_weight", w_valid)) if v is not True]
    names = names or ["X", "y", "sample_weight"]
    valid = _fit_valid(case, y_valid, w_valid)
    if method == "partial_fit" and valid == "maybe" and y_valid == "maybe":
        names.append("classes")
    if method == "fit":
        call = lambda: est.fit(X=case.X, y=y, sample_weight=w)  # noqa: E731
    else:
        kwargs = {}
        if Estimator not in REGRESSORS:
            classes = ["a", "b"]
            if y_valid is True:
                flat = (np.concatenate([np.asarray(v) for v in y])
                        if Estimator is SequenceTagger else np.asarray(y))
                classes = np.unique(flat)
            kwargs = {"classes": classes}
        call = lambda: est.partial_fit(case.X, y, sample_weight=w, **kwargs)  # noqa
    sequence = case.sequence if case.valid is False and y_valid is True \
        and w_valid is True else None
    ok, result = attempt(call, names, sequence, must_succeed=valid is True,
                         may_diverge=valid == "maybe")
    if not ok:
        return
    _assert_finite(est._params)
    X = _clean()
    if est.n_features_in_ == N_FEATURES and not getattr(est, "_fitted_on_2d",
                                                        False):
        _check_predictions(est, X, len(X), [len(x) for x in X])
    if case.valid is True:
        _check_predictions(est, case.X, n, case.lengths)


@fuzz_warnings
@fuzz(2)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", FUZZ_ESTIMATORS)
def test_predict_fuzz(Estimator, data):
    case = data.draw(x_cases(), label="X")
    est = _fitted(Estimator)
    valid = case.valid
    if case.what.startswith("dataframe") or case.what.endswith("-1-d"):
        valid = False  # one feature per step, fitted with three
    if "zero-length" in case.what and Estimator in PER_STEP:
        valid = True
    if valid == "maybe":
        valid = True  # huge inputs saturate the gates: finite outputs
    n = len(case.lengths)
    ok, _ = attempt(lambda: _check_predictions(est, case.X, n, case.lengths),
                    ["X"], case.sequence if valid is False else None,
                    must_succeed=valid is True)


@fuzz_warnings
@fuzz(2)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", FUZZ_ESTIMATORS)
def test_score_fuzz(Estimator, data):
    case = data.draw(x_cases(), label="X")
    n = len(case.lengths)
    y, y_valid = data.draw(y_cases(Estimator, case.lengths), label="y")
    w, w_valid = data.draw(weight_cases(
        n, case.lengths if Estimator in PER_STEP else None),
        label="sample_weight")
    est = _fitted(Estimator)
    x_valid = case.valid if not case.what.startswith("dataframe") else False
    if x_valid == "maybe":
        x_valid = True
    if case.what.endswith("-1-d"):
        x_valid = False
    if Estimator is RNNRegressor and y_valid is True and np.ndim(y) == 2:
        y_valid = False  # one output fitted, two scored
    if Estimator is SequenceRegressor and y_valid is True and any(
            np.ndim(v) == 2 and np.shape(v)[1] != 1 for v in y):
        y_valid = False  # one output fitted, two scored
    if Estimator not in REGRESSORS and y_valid is True:
        flat = (np.concatenate([np.ravel(v) for v in y]) if not isinstance(
            y, (np.ndarray, pd.Series)) or Estimator is SequenceTagger
            else np.asarray(y))
        if np.asarray(flat).dtype.kind in "iub":
            y_valid = "maybe"  # numbers against string classes
    names = [a for a, v in (("X", x_valid), ("y", y_valid),
                            ("sample_weight", w_valid)) if v is not True]
    valid = all(v is True for v in (x_valid, y_valid, w_valid))
    ok, score = attempt(lambda: est.score(case.X, y, sample_weight=w),
                        names or ["X", "y", "sample_weight"],
                        must_succeed=valid)
    if ok:
        assert np.isscalar(score) or np.ndim(score) == 0
        if Estimator is RNNRegressor:
            assert np.isfinite(score) or n == 1  # R^2 of one target is NaN
        elif Estimator is SequenceRegressor:
            assert np.isfinite(score) or sum(case.lengths) == 1
        else:
            assert 0.0 <= score <= 1.0
