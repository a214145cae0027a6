"""The training loops (skrnn/_training.py): solvers, weights, stopping rules
and early stopping, partial_fit, warm start, schedules, interruption,
divergence, verbosity, dropout and clipping; faults during fit (huge values,
injected faults, size); and the solvers and options through the estimators.

Every fit here is small (a few dozen short sequences, a handful of hidden
units, a few epochs), except the size tests (10**5 and 10**6 sequences)."""

import copy
import re
import time
import tracemalloc
import warnings

import _reference as ref
import numpy as np
import pytest
from _helpers import (
    CLASSIFIERS,
    FAST,
    SEED,
    THREE_ESTIMATORS,
    TINY,
    assert_same_fit,
    ignore_convergence,
    outputs,
    overflow_expected,
    per_sequence,
    small_problem,
    take,
    tiny_data,
    tiny_sequences,
)
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.exceptions import (
    ConvergenceWarning,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
)
from skrnn._base import BaseRNN
from skrnn._network import Workspace
from skrnn._optimizers import SGD, Adam
from skrnn._packing import PackedBatch

# Epochs without improvement never stop these fits: they run exactly max_iter.
NEVER_STOP = dict(n_iter_no_change=10_000)
# Every fitted attribute that a continued fit must reproduce exactly.
CURVES = ("loss_curve_", "n_iter_", "t_", "loss_")


# --------------------------------------------------------------------------
# Data: ragged sequences of 3 to 8 steps, 2 features (tiny_sequences)
# --------------------------------------------------------------------------


def _classification(rng, n=24):
    X = tiny_sequences(rng, n, n_features=2, low=3, high=9)
    means = np.array([x[:, 0].mean() for x in X])
    # Split at the median so both classes are present for every seed.
    y = np.where(means > np.median(means), "pos", "neg")
    return X, y


def _regression(rng, n=24):
    X = tiny_sequences(rng, n, n_features=2, low=3, high=9)
    return X, np.array([x[:, 0].mean() for x in X])


def _tagging(rng, n=16):
    X = tiny_sequences(rng, n, n_features=2, low=3, high=9)
    y = [np.where(np.cumsum(x[:, 0]) > 0, "pos", "neg") for x in X]
    # Both tags are present for every seed.
    y[0][0], y[1][0] = "pos", "neg"
    return X, y


def _step_regression(rng, n=16):
    X = tiny_sequences(rng, n, n_features=2, low=3, high=9)
    return X, [np.cumsum(x[:, 0]) / 3 for x in X]


DATA = {RNNClassifier: _classification, RNNRegressor: _regression,
        SequenceTagger: _tagging, SequenceRegressor: _step_regression}
ESTIMATORS = list(DATA)


def _concat(a, b):
    if per_sequence(a):
        return list(a) + list(b)
    return np.concatenate([a, b])


def _fit_quietly(est, *args, **kwargs):
    """Fit, ignoring ConvergenceWarning (these fits stop at max_iter on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# --------------------------------------------------------------------------
# Patches that record what the training loop does
# --------------------------------------------------------------------------


def _record_losses(monkeypatch):
    """Patch the minibatch loss to record every value it returns."""
    losses = []
    original = BaseRNN._minibatch_loss_grad

    def recording(self, *args, **kwargs):
        loss = original(self, *args, **kwargs)
        losses.append(loss)
        return loss

    monkeypatch.setattr(BaseRNN, "_minibatch_loss_grad", recording)
    return losses


def _record_steps(monkeypatch, optimizer_class):
    """Patch optimizer_class.step to record (before, after, grad norm)."""
    steps = []
    original = optimizer_class.step

    def recording(self, params, grad, *rest):
        before = params.copy()
        norm = float(np.linalg.norm(grad))
        finite = original(self, params, grad, *rest)
        steps.append((before, params.copy(), norm))
        return finite

    monkeypatch.setattr(optimizer_class, "step", recording)
    return steps


# --------------------------------------------------------------------------
# L-BFGS
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_lbfgs_converges(Estimator, rng, monkeypatch):
    X, y = DATA[Estimator](rng)
    losses = _record_losses(monkeypatch)
    est = Estimator((5,), solver="lbfgs", max_iter=300, random_state=SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    # It stops on gtol=tol before max_iter (for most seeds; the tagger's
    # log-loss on separable tags can creep on to the end), and warns exactly
    # when it does not.
    warned = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert bool(warned) == (est.n_iter_ == est.max_iter), warned
    # The whole data set is one packed minibatch: one call per evaluation,
    # the first at the initial weights.
    assert est.loss_ < 0.25 * losses[0]
    assert 1 <= est.n_iter_ <= est.max_iter
    # One loss per iteration, as the stochastic solvers record one per epoch.
    assert len(est.loss_curve_) == est.n_iter_
    assert est.loss_curve_[-1] == est.loss_
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.t_ == est.n_iter_ * len(X)
    assert est.score(X, y) > 0.8


def test_lbfgs_honours_max_iter(rng):
    X, y = _regression(rng)
    est = RNNRegressor((5,), solver="lbfgs", max_iter=3, random_state=SEED)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est.fit(X, y)
    assert est.n_iter_ == 3
    assert np.isfinite(est._params).all()


def test_lbfgs_honours_max_fun(rng, monkeypatch):
    X, y = _regression(rng)
    losses = _record_losses(monkeypatch)
    unlimited = RNNRegressor((5,), solver="lbfgs", max_iter=300,
                             random_state=SEED).fit(X, y)
    unlimited_evaluations = len(losses)
    losses.clear()
    est = RNNRegressor((5,), solver="lbfgs", max_iter=300, max_fun=5,
                       random_state=SEED)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est.fit(X, y)
    # Every iteration evaluates the loss at least once; scipy checks the
    # budget between iterations, so the last one may overrun it a little.
    assert est.n_iter_ <= 5 < unlimited.n_iter_
    assert 5 <= len(losses) < unlimited_evaluations
    assert est.loss_ > unlimited.loss_


# --------------------------------------------------------------------------
# Sample weights
# --------------------------------------------------------------------------

# Weighting and duplicating give the same loss and gradient up to the order
# of the sums (the packed minibatch differs), i.e. ~1e-16 relative per
# evaluation; ten L-BFGS iterations amplify that to ~1e-13 typically, and to
# 8e-11 at worst over SKRNN_TEST_SEED=0..29. rtol=1e-9 is that, with a margin.
LBFGS_ROUNDOFF = dict(rtol=1e-9, atol=1e-12)
# float64: the tolerances above are float64 round-off.
LBFGS_SHORT = dict(solver="lbfgs", max_iter=10, random_state=SEED,
                   dtype="float64")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_weight_two_equals_duplicating_lbfgs(Estimator, rng):
    X, y = DATA[Estimator](rng)
    doubled = np.arange(0, len(X), 3)
    weights = np.ones(len(X))
    weights[doubled] = 2.0
    X_dup = X + take(X, doubled)
    y_dup = _concat(y, take(y, doubled))

    weighted = _fit_quietly(Estimator((4,), **LBFGS_SHORT), X, y,
                            sample_weight=weights)
    duplicated = _fit_quietly(Estimator((4,), **LBFGS_SHORT), X_dup, y_dup)
    assert weighted.n_iter_ == duplicated.n_iter_
    assert_allclose(weighted.loss_, duplicated.loss_, rtol=1e-9)
    assert_allclose(weighted._params, duplicated._params, **LBFGS_ROUNDOFF)
    assert_allclose(outputs(weighted, X), outputs(duplicated, X),
                    **LBFGS_ROUNDOFF)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_weight_equals_removing_lbfgs(Estimator, rng):
    X, y = DATA[Estimator](rng)
    # Sequences 0 and 1 keep both tags of the tagging data.
    removed = np.array([3, 7, 8])
    kept = np.setdiff1d(np.arange(len(X)), removed)
    weights = np.ones(len(X))
    weights[removed] = 0.0

    zeroed = _fit_quietly(Estimator((4,), **LBFGS_SHORT), X, y,
                          sample_weight=weights)
    without = _fit_quietly(Estimator((4,), **LBFGS_SHORT), take(X, kept),
                           take(y, kept))
    assert zeroed.n_iter_ == without.n_iter_
    assert_allclose(zeroed._params, without._params, **LBFGS_ROUNDOFF)
    assert_allclose(outputs(zeroed, X), outputs(without, X), **LBFGS_ROUNDOFF)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_tagger_per_step_weights_equal_repeated_sequence_weights(solver, rng):
    X, y = _tagging(rng)
    per_sequence = rng.uniform(0.5, 2.0, len(X))
    per_step = [np.full(len(x), w) for x, w in zip(X, per_sequence)]
    params = dict(solver=solver, max_iter=5, batch_size=4, random_state=SEED)
    a = _fit_quietly(SequenceTagger((4,), **params), X, y,
                     sample_weight=per_sequence)
    b = _fit_quietly(SequenceTagger((4,), **params), X, y, sample_weight=per_step)
    # The same flat weight vector: bit-identical fits.
    assert_array_equal(a._params, b._params)
    assert a.loss_curve_ == b.loss_curve_


def test_tagger_per_step_weights_act_per_step(rng):
    """Zero weight on a step takes that step's label out of the loss: its
    terms are exact zeros in the same sums, so the fits are bit-identical."""
    X, y = _tagging(rng)
    zero_last = [np.append(np.ones(len(x) - 1), 0.0) for x in X]
    relabelled = [np.append(yi[:-1], "neg" if yi[-1] == "pos" else "pos")
                  for yi in y]
    a = _fit_quietly(SequenceTagger((4,), **LBFGS_SHORT), X, y,
                     sample_weight=zero_last)
    b = _fit_quietly(SequenceTagger((4,), **LBFGS_SHORT), X, relabelled,
                     sample_weight=zero_last)
    assert_array_equal(a._params, b._params)


# --------------------------------------------------------------------------
# Sample weights with the stochastic solvers, and the training objective
# --------------------------------------------------------------------------

# One minibatch holding every sequence in the caller's order, no clipping and
# nothing random after the initial weights: each epoch is one step on the
# whole objective, so a weighted fit and a fit on duplicated sequences take
# the same steps, up to the order of the sums (the packed layouts differ).
STOCHASTIC = {
    "adam": dict(solver="adam", learning_rate_init=0.02),
    "sgd": dict(solver="sgd", learning_rate_init=0.1, momentum=0.9),
}
# float64: the objective by hand, the finite differences and the round-off
# tolerances below are float64's.
ONE_BATCH = dict(shuffle=False, dropout=0.0, recurrent_dropout=0.0,
                 early_stopping=False,
                 clip_norm=None, alpha=1e-2, max_iter=6, tol=0.0,
                 random_state=SEED, dtype="float64", **NEVER_STOP)
# Six steps amplify the ~1e-16 relative differences of reordered sums.
STOCHASTIC_ROUNDOFF = dict(rtol=1e-10, atol=1e-13)


def _one_batch(Estimator, solver, n_sequences, **params):
    return Estimator((4,), batch_size=n_sequences,
                     **{**STOCHASTIC[solver], **ONE_BATCH, **params})


def _counts(rng, n):
    """Integer weights 0 to 3, both 0 and 3 present; sequences 0 and 1 (which
    carry both tags of the tagging data) keep a weight of at least one."""
    counts = rng.integers(0, 4, n)
    counts[:4] = [1, 2, 0, 3]
    return counts


@pytest.mark.parametrize("solver", list(STOCHASTIC))
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_integer_weights_equal_duplicating_stochastic(Estimator, solver, rng):
    X, y = DATA[Estimator](rng)
    counts = _counts(rng, len(X))
    repeated = np.repeat(np.arange(len(X)), counts)
    weighted = _fit_quietly(_one_batch(Estimator, solver, len(X)), X, y,
                            sample_weight=counts.astype(np.float64))
    duplicated = _fit_quietly(_one_batch(Estimator, solver, len(repeated)),
                              take(X, repeated), take(y, repeated))
    assert weighted._params.dtype == np.float64
    assert weighted.n_iter_ == duplicated.n_iter_ == ONE_BATCH["max_iter"]
    assert_allclose(weighted.loss_curve_, duplicated.loss_curve_, rtol=1e-12)
    assert_allclose(weighted._params, duplicated._params, **STOCHASTIC_ROUNDOFF)
    # The fits moved: the comparison is not between two initial models.
    assert weighted.loss_curve_[-1] < weighted.loss_curve_[0]


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile"])
@pytest.mark.parametrize("Estimator", [RNNRegressor, SequenceRegressor])
def test_every_regression_loss_takes_weights_and_several_outputs(Estimator, loss,
                                                                  rng):
    """Integer weights equal duplicated sequences, with two outputs, for each
    loss; and the loss decreases."""
    X, y = DATA[Estimator](rng)
    y = ([np.column_stack([t, -2 * t]) for t in y] if Estimator is SequenceRegressor
         else np.column_stack([y, -2 * y]))
    counts = _counts(rng, len(X))
    repeated = np.repeat(np.arange(len(X)), counts)
    params = {"loss": loss, "huber_epsilon": 0.2, "quantile": 0.7}
    weighted = _fit_quietly(_one_batch(Estimator, "adam", len(X), **params), X, y,
                            sample_weight=counts.astype(np.float64))
    duplicated = _fit_quietly(_one_batch(Estimator, "adam", len(repeated),
                                         **params),
                              take(X, repeated), take(y, repeated))
    assert weighted.n_outputs_ == 2
    assert_allclose(weighted.loss_curve_, duplicated.loss_curve_, rtol=1e-12)
    assert_allclose(weighted._params, duplicated._params, **STOCHASTIC_ROUNDOFF)
    assert weighted.loss_curve_[-1] < weighted.loss_curve_[0]


@pytest.mark.parametrize("solver", list(STOCHASTIC))
def test_tagger_integer_weights_equal_duplicating_per_step_form(solver, rng):
    """The per-step form of the same integer weights (each sequence's count
    repeated over its steps) is the same fit as duplicating the sequences."""
    X, y = _tagging(rng)
    counts = _counts(rng, len(X))
    per_step = [np.full(len(x), float(c)) for x, c in zip(X, counts)]
    repeated = np.repeat(np.arange(len(X)), counts)
    weighted = _fit_quietly(_one_batch(SequenceTagger, solver, len(X)), X, y,
                            sample_weight=per_step)
    duplicated = _fit_quietly(_one_batch(SequenceTagger, solver, len(repeated)),
                              take(X, repeated), take(y, repeated))
    assert_allclose(weighted.loss_curve_, duplicated.loss_curve_, rtol=1e-12)
    assert_allclose(weighted._params, duplicated._params, **STOCHASTIC_ROUNDOFF)


def _flat_weights(est, X, sample_weight):
    """The weights of the loss terms: per sequence, or per step for a tagger."""
    lengths = [len(x) for x in X]
    if isinstance(sample_weight, list):
        return np.concatenate(sample_weight)
    if est._per_step:
        return np.repeat(sample_weight, lengths)
    return np.asarray(sample_weight, dtype=np.float64)


def _objective_by_hand(est, X, y, sample_weight, params):
    """The training objective at ``params``, from the public predictions:
    the weighted mean of the per-sequence (per-step, for a tagger) loss plus
    ``0.5 * alpha * (squares of every weight matrix) / (sum of the weights)``,
    the biases left out."""
    saved = est._params
    est._params = params
    try:
        if isinstance(est, RNNRegressor):
            diff = est.predict(X).reshape(len(X), -1) - np.reshape(y, (len(X), -1))
            terms = _regression_terms(est, diff)
        elif isinstance(est, SequenceRegressor):
            diff = np.concatenate(list(est.predict(X))) - np.concatenate(y)
            terms = _regression_terms(est, diff.reshape(diff.shape[0], -1))
        else:
            log_proba = est.predict_log_proba(X)
            labels = y
            if isinstance(est, SequenceTagger):
                log_proba, labels = np.concatenate(log_proba), np.concatenate(y)
            codes = np.searchsorted(est.classes_, labels)
            terms = -log_proba[np.arange(codes.shape[0]), codes]
    finally:
        est._params = saved
    w = _flat_weights(est, X, sample_weight)
    views = est._network.views(params)
    squares = float(np.sum(views.W_out ** 2)) + (
        0.0 if views.w_att is None else float(views.w_att @ views.w_att)) + sum(
        float(np.sum(p[name] ** 2))
        for layer in views.layers for p in layer for name in ("W_ih", "W_hh"))
    return float(w @ terms) / w.sum() + 0.5 * est.alpha * squares / w.sum()


def _regression_terms(est, r):
    """Each sample's loss from its residuals r = prediction - target (n, k)."""
    if est.loss == "absolute_error":
        per_output = np.abs(r)
    elif est.loss == "huber":
        e = est.huber_epsilon
        per_output = np.where(np.abs(r) <= e, 0.5 * r ** 2,
                              e * np.abs(r) - 0.5 * e ** 2)
    elif est.loss == "quantile":
        q = est.quantile
        per_output = np.maximum(-q * r, (1 - q) * r)
    else:
        per_output = 0.5 * r ** 2
    return per_output.sum(axis=1)


def _training_objective(est, X, y, sample_weight):
    """The objective one full-batch stochastic step minimises, with its
    gradient: the functions of the training loop, over the flat vector."""
    seqs = est._validate_sequences(X, reset=False)
    targets = est._validate_targets(seqs, y, reset=False)
    weights = est._sample_weights(seqs, targets, sample_weight)
    batch = PackedBatch(seqs, np.arange(len(X)))
    ws = Workspace(np.float64)
    rows = batch.gather if est._per_step else batch.order
    total = weights[rows].sum()

    def objective(flat):
        grad = np.zeros_like(flat)
        loss = est._minibatch_loss_grad(seqs, targets, weights, batch, flat,
                                        grad, ws, total)
        return loss + est._regularize(flat, grad, total), grad

    return objective


OBJECTIVE_CASES = [
    (RNNClassifier, False, {}), (RNNRegressor, False, {}),
    (SequenceTagger, False, {}), (SequenceTagger, True, {}),
    (SequenceRegressor, False, {}), (SequenceRegressor, True, {}),
    (RNNClassifier, False, {"readout": "attention"}),
    (RNNRegressor, False, {"readout": "mean"}),
    (RNNClassifier, False, {"readout": "max", "cell": "gru"}),
    (RNNRegressor, False, {"loss": "absolute_error"}),
    (RNNRegressor, False, {"loss": "huber", "huber_epsilon": 0.05}),
    (RNNRegressor, False, {"loss": "quantile", "quantile": 0.8}),
    (SequenceRegressor, True, {"loss": "huber", "huber_epsilon": 0.1}),
    (SequenceRegressor, False, {"loss": "quantile", "quantile": 0.3}),
    (SequenceRegressor, True, {"loss": "absolute_error"})]
OBJECTIVE_IDS = ["classifier", "regressor", "tagger", "tagger-per-step",
                 "sequence-regressor", "sequence-regressor-per-step",
                 "classifier-attention", "regressor-mean", "classifier-max",
                 "regressor-absolute", "regressor-huber", "regressor-quantile",
                 "sequence-regressor-huber-per-step",
                 "sequence-regressor-quantile",
                 "sequence-regressor-absolute-per-step"]


def _weights_for(Estimator, X, rng, per_step):
    if per_step:
        return [rng.uniform(0.0, 2.0, len(x)) for x in X]
    return rng.uniform(0.0, 2.0, len(X))


@pytest.mark.parametrize("solver", list(STOCHASTIC))
@pytest.mark.parametrize("Estimator, per_step, params", OBJECTIVE_CASES,
                         ids=OBJECTIVE_IDS)
def test_first_epoch_loss_is_the_weighted_objective_by_hand(Estimator, per_step,
                                                            params, solver, rng):
    """With one minibatch the first recorded loss is the objective at the
    initial weights: data loss weighted per sequence (or per step) plus the
    L2 term, both over the sum of the weights, as in MLPClassifier."""
    X, y = DATA[Estimator](rng)
    sample_weight = _weights_for(Estimator, X, rng, per_step)
    est = _fit_quietly(_one_batch(Estimator, solver, len(X), alpha=0.5,
                                  max_iter=1, **params), X, y,
                       sample_weight=sample_weight)
    initial = est._network.init_params(np.random.RandomState(SEED), np.float64)
    assert_allclose(est.loss_curve_[0],
                    _objective_by_hand(est, X, y, sample_weight, initial),
                    rtol=1e-12)


FD_H = 1e-6


@pytest.mark.parametrize("Estimator, per_step, params", OBJECTIVE_CASES,
                         ids=OBJECTIVE_IDS)
def test_training_objective_gradient_matches_finite_differences(
        Estimator, per_step, params, rng):
    """Loss and gradient of the training loop's objective, with alpha > 0 and
    sample weights, against the objective by hand and its central
    differences, on a random subset of the weights and biases."""
    X, y = DATA[Estimator](rng)
    sample_weight = _weights_for(Estimator, X, rng, per_step)
    est = _fit_quietly(_one_batch(Estimator, "adam", len(X), alpha=0.5,
                                  max_iter=2, **params), X, y,
                       sample_weight=sample_weight)
    objective = _training_objective(est, X, y, sample_weight)
    params = est._params.copy()
    loss, grad = objective(params)
    assert_allclose(loss, _objective_by_hand(est, X, y, sample_weight, params),
                    rtol=1e-12)
    n_weights = est._network.n_weights
    coords = np.concatenate([
        rng.choice(n_weights, 24, replace=False),
        rng.choice(np.arange(n_weights, params.shape[0]), 6, replace=False),
        [n_weights - 1, params.shape[0] - 1]])  # the head's last weight and bias
    fd = np.empty(coords.shape[0])
    for k, j in enumerate(coords):
        shifted = params.copy()
        shifted[j] += FD_H
        up = _objective_by_hand(est, X, y, sample_weight, shifted)
        shifted[j] -= 2 * FD_H
        down = _objective_by_hand(est, X, y, sample_weight, shifted)
        fd[k] = (up - down) / (2 * FD_H)
    assert_allclose(grad[coords], fd, rtol=1e-6, atol=1e-8)
    # The L2 term is a sizeable part of the gradient of the weights here.
    l2 = est.alpha * params[coords[:24]] / _flat_weights(est, X, sample_weight).sum()
    assert np.max(np.abs(l2)) > 1e-3


# --------------------------------------------------------------------------
# Early stopping and validation sets
# --------------------------------------------------------------------------

ES_PARAMS = dict(hidden_layer_sizes=(6,), learning_rate_init=0.05, batch_size=4,
                 max_iter=40, n_iter_no_change=4, random_state=SEED)


def _record_epoch_params(monkeypatch):
    """Patch the end-of-epoch rule to snapshot the weights it scores."""
    snapshots = []
    original = BaseRNN._update_no_improvement_count

    def recording(self, validation):
        snapshots.append(self._params.copy())
        return original(self, validation)

    monkeypatch.setattr(BaseRNN, "_update_no_improvement_count", recording)
    return snapshots


def test_early_stopping_with_validation_set_keeps_best_weights(rng, monkeypatch):
    X, y = _regression(rng, 24)
    X_val, y_val = _regression(rng, 12)
    snapshots = _record_epoch_params(monkeypatch)
    est = _fit_quietly(RNNRegressor(early_stopping=True, **ES_PARAMS),
                       X, y, X_val=X_val, y_val=y_val)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ == len(snapshots)
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    best = int(np.argmax(scores))
    assert_array_equal(est._params, snapshots[best])
    assert_allclose(est.score(X_val, y_val), est.best_validation_score_,
                    rtol=1e-12)
    # It stopped on MLP's validation rule, replayed here on the scores: more
    # than n_iter_no_change epochs in a row that do not beat the best by tol.
    best_so_far, count, stop = -np.inf, 0, None
    for epoch, score in enumerate(scores, start=1):
        count = count + 1 if score < best_so_far + est.tol else 0
        best_so_far = max(best_so_far, score)
        if count > est.n_iter_no_change and stop is None:
            stop = epoch
    assert stop == est.n_iter_ < est.max_iter


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor, SequenceTagger])
def test_early_stopping_internal_split_keeps_best_weights(Estimator, rng,
                                                          monkeypatch):
    X, y = DATA[Estimator](rng, 32)
    splits = []
    original = BaseRNN._split_validation

    def recording(self, seqs, targets, rng_):
        train, val = original(self, seqs, targets, rng_)
        splits.append((train, val))
        return train, val

    monkeypatch.setattr(BaseRNN, "_split_validation", recording)
    est = _fit_quietly(Estimator(early_stopping=True, validation_fraction=0.25,
                                 **ES_PARAMS), X, y)
    ((train, val),) = splits
    assert len(val) == 8 and len(np.intersect1d(train, val)) == 0
    assert isinstance(est.validation_scores_, list)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_loss_ is None
    assert_allclose(est.score(take(X, val), take(y, val)),
                    est.best_validation_score_, rtol=1e-12)
    # The optimiser only saw the training part.
    assert est.t_ == est.n_iter_ * len(train)


def test_validation_set_without_early_stopping_scores_every_epoch(rng):
    X, y = _regression(rng, 24)
    X_val, y_val = _regression(rng, 12)
    est = _fit_quietly(RNNRegressor(**{**ES_PARAMS, **NEVER_STOP, "max_iter": 8}),
                       X, y, X_val=X_val, y_val=y_val)
    assert est.n_iter_ == 8
    assert len(est.validation_scores_) == 8
    assert est.best_validation_score_ == max(est.validation_scores_)
    # No weights restored: the model is the last epoch's.
    assert_allclose(est.score(X_val, y_val), est.validation_scores_[-1],
                    rtol=1e-12)
    assert est.best_loss_ == min(est.loss_curve_)


def test_validation_set_without_early_stopping_stops_on_training_loss(rng):
    X, y = _regression(rng, 24)
    X_val, y_val = _regression(rng, 12)
    # tol so large that no epoch improves the training loss enough.
    est = RNNRegressor(**{**ES_PARAMS, "tol": 1e3, "n_iter_no_change": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y, X_val=X_val, y_val=y_val)
    assert est.n_iter_ == 2 + 2
    assert len(est.validation_scores_) == 4


# --------------------------------------------------------------------------
# partial_fit
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_partial_fit_requires_classes_first(Estimator, rng):
    X, y = DATA[Estimator](rng)
    est = Estimator((4,), random_state=SEED)
    with pytest.raises(ValueError, match="classes must be passed on the first"):
        est.partial_fit(X, y)
    assert not hasattr(est, "_params")
    est.partial_fit(X, y, classes=["neg", "pos"])
    est.partial_fit(X, y)  # later calls do not need them
    assert est.n_iter_ == 2


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_partial_fit_rejects_labels_outside_classes(Estimator, rng):
    X, y = DATA[Estimator](rng)
    est = Estimator((4,), random_state=SEED)
    with pytest.raises(ValueError, match=re.escape("not in classes_: ['pos']")):
        est.partial_fit(X, y, classes=["neg", "other"])
    est = Estimator((4,), random_state=SEED).partial_fit(
        X, y, classes=["neg", "pos"])
    if isinstance(y, list):
        y_bad = [np.where(yi == "pos", "new", yi) for yi in y]
    else:
        y_bad = np.where(y == "pos", "new", y)
    with pytest.raises(ValueError, match=re.escape("not in classes_: ['new']")):
        est.partial_fit(X, y_bad)
    with pytest.raises(ValueError, match="classes=.* is not the same"):
        est.partial_fit(X, y, classes=["neg", "new"])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_unavailable_for_lbfgs(Estimator):
    est = Estimator(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        _ = est.partial_fit
    assert "lbfgs is not stochastic" in str(info.value.__cause__)
    assert hasattr(est.set_params(solver="sgd"), "partial_fit")


def test_partial_fit_rejects_early_stopping(rng):
    X, y = _regression(rng)
    with pytest.raises(ValueError, match="early_stopping"):
        RNNRegressor((4,), early_stopping=True).partial_fit(X, y)


def _partial_fit(est, X, y, first, **kwargs):
    if first and hasattr(est, "class_weight"):  # the classifiers
        kwargs["classes"] = ["neg", "pos"]
    return est.partial_fit(X, y, **kwargs)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("Estimator, solver", [
    (RNNClassifier, "adam"), (RNNRegressor, "sgd"), (SequenceTagger, "adam")])
def test_partial_fit_epochs_equal_fit(Estimator, solver, shuffle, rng):
    """k partial_fit calls on the same data are k epochs of fit, bit for bit.

    The first call draws the initial weights from random_state as fit does;
    later calls keep the weights, the optimiser state and the random state
    (so even shuffling draws the same permutations), and with a never-
    reached n_iter_no_change fit runs exactly max_iter epochs.
    """
    X, y = DATA[Estimator](rng)
    params = dict(solver=solver, batch_size=5, shuffle=shuffle,
                  learning_rate="invscaling", learning_rate_init=0.05,
                  random_state=SEED, **NEVER_STOP)
    k = 4
    fitted = _fit_quietly(Estimator((4,), max_iter=k, **params), X, y)
    partial = Estimator((4,), **params)
    for i in range(k):
        _partial_fit(partial, X, y, first=i == 0)
    assert_array_equal(partial._params, fitted._params)
    for name in CURVES:
        assert getattr(partial, name) == getattr(fitted, name), name
    assert partial._optimizer.learning_rate == fitted._optimizer.learning_rate


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_chunks_equal_one_epoch(Estimator, rng):
    """partial_fit on consecutive chunks = one unshuffled epoch in chunk batches."""
    X, y = DATA[Estimator](rng)
    chunk = 4
    params = dict(batch_size=chunk, shuffle=False, learning_rate_init=0.05,
                  random_state=SEED, **NEVER_STOP)
    fitted = _fit_quietly(Estimator((4,), max_iter=1, **params), X, y)
    partial = Estimator((4,), **params)
    for start in range(0, len(X), chunk):
        rows = np.arange(start, start + chunk)
        _partial_fit(partial, take(X, rows), take(y, rows), first=start == 0)
    assert_array_equal(partial._params, fitted._params)
    assert partial.t_ == fitted.t_ == len(X)
    assert partial.n_iter_ == len(X) // chunk


def test_partial_fit_adaptive_learning_rate_like_mlp(rng):
    X = rng.standard_normal((20, 3))
    y = X.sum(axis=1)
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                  tol=1e3, n_iter_no_change=1, learning_rate_init=0.01,
                  random_state=SEED)
    mlp = MLPRegressor(**params)
    rnn = RNNRegressor(**params)
    for _ in range(6):
        mlp.partial_fit(X, y)
        rnn.partial_fit(X, y)
    assert mlp._optimizer.learning_rate == pytest.approx(0.01 / 25)
    assert rnn._optimizer.learning_rate == pytest.approx(0.01 / 25)


# --------------------------------------------------------------------------
# Warm start
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues(Estimator, solver, shuffle, rng):
    """Two warm-started fits of 3 and 4 epochs are one fit of 7, bit for bit:
    the second fit starts from the first one's weights and optimiser state
    (and random state, which shuffles)."""
    X, y = DATA[Estimator](rng)
    params = dict(solver=solver, batch_size=5, learning_rate_init=0.05,
                  shuffle=shuffle, random_state=SEED, **NEVER_STOP)
    once = _fit_quietly(Estimator((4,), max_iter=7, **params), X, y)
    est = _fit_quietly(Estimator((4,), max_iter=3, warm_start=True, **params),
                       X, y)
    first_curve = list(est.loss_curve_)
    _fit_quietly(est.set_params(max_iter=4), X, y)
    assert est.n_iter_ == 3 + 4
    assert est.t_ == 7 * len(X)
    assert est.loss_curve_[:3] == first_curve
    assert len(est.loss_curve_) == 7
    # Continues where it left off: the next epoch is nearer the last one
    # than the fresh start.
    assert (abs(est.loss_curve_[3] - first_curve[-1])
            < abs(est.loss_curve_[3] - first_curve[0]))
    assert_array_equal(est._params, once._params)
    assert est.loss_curve_ == once.loss_curve_
    assert_array_equal(outputs(est, X), outputs(once, X))


def test_warm_start_lbfgs_starts_from_previous_weights(rng, monkeypatch):
    X, y = _regression(rng)
    est = _fit_quietly(RNNRegressor((4,), solver="lbfgs", max_iter=5,
                                    warm_start=True, random_state=SEED), X, y)
    previous_loss = est.loss_
    n_weights = est._network.n_weights
    weights = est._params[:n_weights].copy()
    losses = _record_losses(monkeypatch)
    _fit_quietly(est, X, y)
    # The first evaluation of the second fit is at the first fit's solution:
    # its data loss plus the L2 term is the first fit's final loss.
    l2 = 0.5 * est.alpha * float(weights @ weights) / len(X)
    assert_allclose(losses[0] + l2, previous_loss, rtol=1e-12)
    assert est.loss_ <= previous_loss
    # lbfgs counts the iterations of the last fit only, as MLP does.
    assert est.n_iter_ <= est.max_iter


def test_warm_start_rejects_new_architecture(rng):
    X, y = _classification(rng)
    est = _fit_quietly(RNNClassifier((4,), max_iter=2, warm_start=True,
                                     random_state=SEED), X, y)
    with pytest.raises(ValueError, match="architecture.*hidden_layer_sizes"):
        est.set_params(hidden_layer_sizes=(5,)).fit(X, y)
    est.set_params(hidden_layer_sizes=(4,), cell="gru")
    with pytest.raises(ValueError, match="architecture"):
        est.fit(X, y)
    est.set_params(warm_start=False)
    _fit_quietly(est, X, y)
    assert est._architecture[0] == "gru"


# --------------------------------------------------------------------------
# SGD schedules and momentum
# --------------------------------------------------------------------------


def _half_squared_error(est, X, y):
    return 0.5 * float(np.mean((est.predict(X) - y) ** 2))


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False),
                                                (0.9, True)])
def test_sgd_variants_train(learning_rate, momentum, nesterov, rng, monkeypatch):
    X, y = _regression(rng)
    steps = _record_steps(monkeypatch, SGD)
    # The same effective step size lr / (1 - momentum) for every variant.
    lr = 0.5 if momentum == 0 else 0.1
    est = _fit_quietly(RNNRegressor(
        (5,), solver="sgd", learning_rate=learning_rate, learning_rate_init=lr,
        momentum=momentum, nesterovs_momentum=nesterov, batch_size=4,
        max_iter=15, random_state=SEED), X, y)
    assert np.isfinite(est._params).all()
    initial = copy.deepcopy(est)
    initial._params = steps[0][0]
    # At least a quarter off the initial weights' loss in 15 epochs.
    assert _half_squared_error(est, X, y) < 0.75 * _half_squared_error(
        initial, X, y)
    opt = est._optimizer
    assert isinstance(opt, SGD)
    assert (opt.momentum, opt.nesterov) == (momentum, nesterov)
    if learning_rate == "invscaling":
        assert opt.learning_rate == lr / (est.t_ + 1) ** est.power_t
    elif learning_rate == "constant":
        assert opt.learning_rate == lr


@pytest.mark.parametrize("learning_rate_init, n_iter, lr", [
    (0.01, 6, 0.01 / 5 / 5),  # divided at epochs 3 and 5, runs to max_iter
    (4e-6, 5, 4e-6 / 5),  # below 1e-6 at epoch 5 it stops instead
])
@pytest.mark.parametrize("Estimator, MLP", [(RNNRegressor, MLPRegressor),
                                          (RNNClassifier, MLPClassifier)])
def test_sgd_adaptive_divides_by_five_when_stalled(Estimator, MLP,
                                                   learning_rate_init, n_iter, lr,
                                                   rng):
    """With tol huge every epoch after the first counts as no improvement;
    n_iter_no_change=1 lets two such epochs stall the training."""
    X = rng.standard_normal((20, 3))
    y = X.sum(axis=1)
    if Estimator is RNNClassifier:
        y = (y > 0).astype(int)
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                  learning_rate_init=learning_rate_init, tol=1e3,
                  n_iter_no_change=1, max_iter=6, random_state=SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = Estimator(**params).fit(X, y)
        mlp = MLP(**params).fit(X, y)
    assert est.n_iter_ == mlp.n_iter_ == n_iter
    assert est._optimizer.learning_rate == lr
    assert mlp._optimizer.learning_rate == pytest.approx(lr, rel=1e-15)
    converged = n_iter < params["max_iter"]
    assert converged == (not any(issubclass(w.category, ConvergenceWarning)
                                 for w in caught))


# --------------------------------------------------------------------------
# KeyboardInterrupt
# --------------------------------------------------------------------------

INTERRUPT_AT = 5  # the 5th minibatch: epoch 2 of 3 minibatches each


@pytest.mark.parametrize("target", ["loss_grad", "adam", "sgd"])
def test_keyboard_interrupt_keeps_last_complete_update(target, rng, monkeypatch):
    X, y = _classification(rng)
    solver = "sgd" if target == "sgd" else "adam"
    calls, before = [0], []
    if target == "loss_grad":
        owner, name = BaseRNN, "_minibatch_loss_grad"
    else:
        owner, name = (SGD, "step") if target == "sgd" else (Adam, "step")
    original = getattr(owner, name)

    def interrupting(self, *args, **kwargs):
        calls[0] += 1
        params = self._params if owner is BaseRNN else args[0]
        before.append(params.copy())
        if calls[0] == INTERRUPT_AT:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, interrupting)
    est = RNNClassifier((4,), solver=solver, batch_size=8, max_iter=10,
                        learning_rate_init=0.05, random_state=SEED)
    with pytest.warns(UserWarning, match="interrupted.* 1 complete epochs"):
        est.fit(X, y)
    monkeypatch.undo()
    assert calls[0] == INTERRUPT_AT
    assert est.n_iter_ == 1
    assert est.t_ == len(X)
    assert len(est.loss_curve_) == 1
    # The weights of the 4 applied updates, not half of a 5th.
    assert_array_equal(est._params, before[-1])
    reference = copy.deepcopy(est)
    reference._params = before[-1].copy()
    assert_array_equal(est.predict_proba(X), reference.predict_proba(X))
    assert est.predict(X).shape == (len(X),)
    assert set(est.predict(X)) <= set(est.classes_)


def test_keyboard_interrupt_with_early_stopping_restores_best(rng, monkeypatch):
    X, y = _regression(rng)
    X_val, y_val = _regression(rng, 12)
    calls = [0]
    original = BaseRNN._minibatch_loss_grad

    def interrupting(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 3 * 6 + 2:  # epoch 7 of 3 minibatches
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BaseRNN, "_minibatch_loss_grad", interrupting)
    est = RNNRegressor((4,), batch_size=8, max_iter=20, early_stopping=True,
                       learning_rate_init=0.05, random_state=SEED, **NEVER_STOP)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y, X_val=X_val, y_val=y_val)
    assert est.n_iter_ == 6
    assert_array_equal(est._params, est._best_params)
    assert_allclose(est.score(X_val, y_val), est.best_validation_score_,
                    rtol=1e-12)


# --------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------


def _exploding(rng):
    X, y = _regression(rng)
    return [100.0 * x for x in X], 100.0 * y


EXPLODING = dict(cell="rnn", activation="relu", clip_norm=None, solver="sgd",
                 learning_rate_init=100.0, batch_size=4, max_iter=20,
                 random_state=SEED)


@overflow_expected
def test_divergence_raises_and_keeps_finite_weights(rng):
    X, y = _exploding(rng)
    est = RNNRegressor((4,), **EXPLODING)
    with pytest.raises(ValueError, match="diverged.*non-finite"):
        est.fit(X, y)
    assert np.isfinite(est._params).all()


@overflow_expected
def test_divergence_with_validation_but_no_early_stopping_raises(rng):
    X, y = _exploding(rng)
    est = RNNRegressor((4,), **EXPLODING)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X, y, X_val=X[:4], y_val=y[:4])


@overflow_expected
def test_divergence_by_overflowing_step_keeps_finite_weights(rng):
    X, y = _exploding(rng)
    est = RNNRegressor((4,), **{**EXPLODING, "learning_rate_init": 1e306})
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X, y)
    assert np.isfinite(est._params).all()


def _nan_loss_at(monkeypatch, call):
    calls = [0]
    original = BaseRNN._minibatch_loss_grad

    def poisoned(self, *args, **kwargs):
        calls[0] += 1
        loss = original(self, *args, **kwargs)
        return float("nan") if calls[0] == call else loss

    monkeypatch.setattr(BaseRNN, "_minibatch_loss_grad", poisoned)


def test_divergence_with_early_stopping_restores_best(rng, monkeypatch):
    X, y = _regression(rng)
    X_val, y_val = _regression(rng, 12)
    snapshots = _record_epoch_params(monkeypatch)
    _nan_loss_at(monkeypatch, 3 * 4 + 2)  # epoch 5, minibatch 2
    est = RNNRegressor((4,), batch_size=8, max_iter=20, early_stopping=True,
                       learning_rate_init=0.05, random_state=SEED, **NEVER_STOP)
    with pytest.warns(ConvergenceWarning,
                      match="diverged.*epoch 5, minibatch 2.*restored"):
        est.fit(X, y, X_val=X_val, y_val=y_val)
    assert est.n_iter_ == 4
    assert len(est.validation_scores_) == 4
    best = int(np.argmax(est.validation_scores_))
    assert_array_equal(est._params, snapshots[best])
    assert_allclose(est.score(X_val, y_val), est.best_validation_score_,
                    rtol=1e-12)


def test_divergence_in_first_epoch_with_early_stopping_raises(rng, monkeypatch):
    X, y = _regression(rng)
    _nan_loss_at(monkeypatch, 2)
    est = RNNRegressor((4,), batch_size=8, early_stopping=True,
                       validation_fraction=0.25, random_state=SEED)
    with pytest.raises(ValueError, match="diverged.*epoch 1, minibatch 2"):
        est.fit(X, y)
    assert np.isfinite(est._params).all()


# --------------------------------------------------------------------------
# verbose
# --------------------------------------------------------------------------

EPOCH_LINE = re.compile(
    r"^Epoch (\d+), loss = [0-9.]+(, validation score = -?[0-9.]+)?, "
    r"elapsed [0-9.]+ s$")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_one_line_per_epoch(Estimator, early_stopping, rng, capsys):
    X, y = DATA[Estimator](rng, 32)
    # tol=0: every one of the 4 epochs runs.
    est = _fit_quietly(Estimator((4,), verbose=True, max_iter=4, tol=0,
                                 early_stopping=early_stopping,
                                 validation_fraction=0.25,
                                 random_state=SEED), X, y)
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith("Epoch")]
    assert [line for line in out if "Epoch" in line] == lines
    assert len(lines) == est.n_iter_ == 4
    for epoch, line in enumerate(lines, start=1):
        match = EPOCH_LINE.match(line)
        assert match, line
        assert int(match.group(1)) == epoch
        assert line.startswith(f"Epoch {epoch},")
        assert "loss" in line and "elapsed" in line
        assert ("validation score" in line) == early_stopping


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_not_verbose_prints_nothing(Estimator, rng, capsys):
    X, y = DATA[Estimator](rng)
    _fit_quietly(Estimator((4,), max_iter=3, random_state=SEED), X, y).predict(X)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------


def _reference_raw(est, X):
    """Raw outputs of a many-to-one unidirectional model, by the NumPy reference
    cells, with no dropout mask anywhere."""
    params = est._network.views(est._params)
    cell = est.cell if est.cell != "rnn" else f"rnn-{est.activation}"
    raw = []
    for x in X:
        h = np.asarray(x, dtype=np.float64)
        for layer in params.layers:
            h = ref.forward(cell, h, layer[0])["h"]
        raw.append(h[-1] @ params.W_out + params.b_out)
    return np.array(raw)


# float64: predict is compared with the NumPy reference to float64 round-off.
# The reference reads one direction's last state; dropout is the only mask.
DROPOUT = dict(hidden_layer_sizes=(5, 4), dropout=0.5, batch_size=6, max_iter=4,
               learning_rate_init=0.05, dtype="float64", bidirectional=False,
               readout="last", recurrent_dropout=0.0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("Estimator", [RNNRegressor, RNNClassifier])
def test_dropout_fit_is_reproducible_and_predict_has_no_masks(Estimator, cell, rng):
    X, y = DATA[Estimator](rng)
    a = _fit_quietly(Estimator(cell=cell, random_state=SEED, **DROPOUT), X, y)
    b = _fit_quietly(Estimator(cell=cell, random_state=SEED, **DROPOUT), X, y)
    assert_array_equal(a._params, b._params)
    assert a.loss_curve_ == b.loss_curve_
    # The masks do act during training.
    c = _fit_quietly(Estimator(cell=cell, random_state=SEED,
                               **{**DROPOUT, "dropout": 0.0}), X, y)
    assert not np.allclose(a._params, c._params)
    assert not np.allclose(a.loss_curve_, c.loss_curve_)

    # Prediction uses no mask: repeated calls agree, and equal the reference.
    first = outputs(a, X)
    assert_array_equal(outputs(a, X), first)
    raw = _reference_raw(a, X)[:, 0]
    if Estimator is RNNClassifier:
        first, raw = first[:, 1], expit(raw)
    assert_allclose(first, raw, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------


def test_clip_norm_bounds_sgd_step(rng, monkeypatch):
    X, y = _regression(rng)
    steps = _record_steps(monkeypatch, SGD)
    lr, clip = 0.1, 1e-3
    _fit_quietly(RNNRegressor((4,), solver="sgd", momentum=0.0,
                              learning_rate_init=lr, clip_norm=clip,
                              batch_size=6, max_iter=2, random_state=SEED,
                              dtype="float64"), X, y)
    assert len(steps) == 8
    for before, after, grad_norm in steps:
        # Every gradient here is far above the clip, so each step is exactly
        # lr * clip_norm long, up to round-off.
        assert grad_norm == pytest.approx(clip, rel=1e-12)
        assert np.linalg.norm(after - before) == pytest.approx(lr * clip,
                                                               rel=1e-9)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clip_norm_none_leaves_gradients(Estimator, solver, rng, monkeypatch):
    X, y = DATA[Estimator](rng)
    steps = _record_steps(monkeypatch, SGD if solver == "sgd" else Adam)
    params = dict(solver=solver, momentum=0.0, batch_size=6, max_iter=5,
                  learning_rate_init=0.05, random_state=SEED)
    unclipped = _fit_quietly(Estimator((4,), clip_norm=None, **params), X, y)
    # The optimiser gets the gradients as they are.
    assert max(norm for _, _, norm in steps) > 1e-3
    # A bound no gradient reaches gives the same fit, bit for bit; one every
    # gradient exceeds gives another.
    never = _fit_quietly(Estimator((4,), clip_norm=1e300, **params), X, y)
    always = _fit_quietly(Estimator((4,), clip_norm=1e-6, **params), X, y)
    assert_array_equal(unclipped._params, never._params)
    assert unclipped.loss_curve_ == never.loss_curve_
    assert not np.allclose(unclipped._params, always._params)
    assert not np.allclose(unclipped.loss_curve_, always.loss_curve_)


def test_clip_norm_bounds_adam_step(rng, monkeypatch):
    """With ||g|| <= c, ||m|| <= (1 - beta_1^t) c, and the Adam step
    lr_t m / (sqrt(v) + eps) is at most lr sqrt(1 - beta_2^t) c / eps long."""
    X, y = _regression(rng)
    steps = _record_steps(monkeypatch, Adam)
    lr, clip, eps, beta_2 = 0.01, 1e-12, 1e-8, 0.999
    _fit_quietly(RNNRegressor((4,), learning_rate_init=lr, clip_norm=clip,
                              epsilon=eps, beta_2=beta_2, batch_size=6,
                              max_iter=2, random_state=SEED, dtype="float64"),
                 X, y)
    assert len(steps) == 8
    for t, (before, after, grad_norm) in enumerate(steps, start=1):
        assert grad_norm <= clip * (1 + 1e-12)
        bound = lr * np.sqrt(1 - beta_2**t) * clip / eps
        assert np.linalg.norm(after - before) <= bound * (1 + 1e-9)
    # Unclipped, the first Adam step moves every weight by about lr.
    assert bound < 1e-3 * lr


# --------------------------------------------------------------------------
# Stopping rule, ConvergenceWarning and t_
# --------------------------------------------------------------------------


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_large_tol_stops_early_without_warning(Estimator, early_stopping, rng):
    """tol larger than any possible gain of the training loss (or, with early
    stopping, of the validation score): as in MLP, training stops once more
    than n_iter_no_change epochs in a row did not improve."""
    X, y = DATA[Estimator](rng)
    est = Estimator((4,), tol=1e3, n_iter_no_change=2, max_iter=50,
                    early_stopping=early_stopping, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    # Epoch 1 sets the best; epochs 2, 3 and 4 fail to beat it by tol, and
    # the count exceeds n_iter_no_change at the 4th.
    assert est.n_iter_ == 4
    if early_stopping:
        assert est.best_validation_score_ == max(est.validation_scores_)
    else:
        assert est.t_ == 4 * len(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_max_iter_reached_warns(Estimator, rng):
    X, y = DATA[Estimator](rng)
    est = Estimator((4,), tol=0.0, max_iter=3, random_state=SEED)
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\)"):
        est.fit(X, y)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == 3
    assert est.loss_ == est.loss_curve_[-1]
    assert est.best_loss_ == min(est.loss_curve_)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_t_counts_sequences_seen(Estimator, rng):
    X, y = DATA[Estimator](rng)
    est = _fit_quietly(Estimator((4,), batch_size=5, max_iter=3,
                                 random_state=SEED), X, y)
    assert est.t_ == est.n_iter_ * len(X) == 3 * len(X)
    # early stopping: only the training part is seen
    est = _fit_quietly(Estimator((4,), early_stopping=True,
                                 validation_fraction=0.25, max_iter=3,
                                 random_state=SEED), X, y)
    n_val = int(np.ceil(0.25 * len(X)))
    assert est.t_ == est.n_iter_ * (len(X) - n_val)


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "quantile"])
def test_validation_score_is_r2_or_the_negative_loss(loss, rng):
    """Early stopping ranks epochs by R^2 for squared error (the same order
    as its loss) and by the loss itself for the others."""
    X, y = _regression(rng)
    X_val, y_val = _regression(rng, 10)
    est = _fit_quietly(RNNRegressor((4,), max_iter=3, loss=loss, quantile=0.8,
                                    random_state=SEED), X, y,
                       X_val=X_val, y_val=y_val)
    r = est.predict(X_val) - y_val
    expected = {"squared_error": est.score(X_val, y_val),
                "absolute_error": -np.mean(np.abs(r)),
                "quantile": -np.mean(np.maximum(-0.8 * r, 0.2 * r))}[loss]
    assert est.validation_scores_[-1] == pytest.approx(expected, rel=1e-10)


# --------------------------------------------------------------------------
# Faults during fit: huge values, divergence, interruption, size
# --------------------------------------------------------------------------


HUGE_CASES = [
    pytest.param("lstm", "tanh", "adam", id="lstm-adam"),
    pytest.param("gru", "tanh", "adam", id="gru-adam"),
    pytest.param("rnn", "tanh", "adam", id="rnn-tanh-adam"),
    pytest.param("rnn", "relu", "adam", id="rnn-relu-adam"),
    pytest.param("lstm", "tanh", "lbfgs", id="lstm-lbfgs"),
    pytest.param("rnn", "relu", "lbfgs", id="rnn-relu-lbfgs"),
]


@ignore_convergence
@overflow_expected
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("cell, activation, solver", HUGE_CASES)
def test_huge_finite_values_fit_or_fail_clearly(Estimator, cell, activation,
                                                solver, rng):
    X, y = tiny_data(Estimator, rng)
    X = [1e300 * x for x in X]
    # float64 holds 1e300, so the network itself meets the huge values (a
    # float32 fit refuses them at the edge: test_huge_values_for_float32_...).
    est = Estimator(cell=cell, activation=activation, solver=solver,
                    dtype="float64", **TINY)
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


@ignore_convergence
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
    X, y = tiny_data(Estimator, rng, n=n, low=4)
    est = Estimator(early_stopping=True, validation_fraction=validation_fraction,
                    **TINY)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


@ignore_convergence
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


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
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


EXPLODING_ANY_SOLVER = dict(cell="rnn", activation="relu", clip_norm=None,
                 learning_rate_init=1e100, max_iter=5, random_state=SEED)


@ignore_convergence
@overflow_expected
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_diverging_fit_stops_with_a_clear_message(Estimator, solver, rng):
    X, y = tiny_data(Estimator, rng)
    X = [1e3 * x for x in X]
    est = Estimator((4,), solver=solver, **EXPLODING_ANY_SOLVER)
    with pytest.raises(ValueError, match=r"^Training diverged: the loss or its "
                                         r"gradient became non-finite at epoch "
                                         r"\d+, minibatch \d+\. Scale the input"):
        est.fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_keyboard_interrupt_mid_epoch(Estimator, rng, monkeypatch):
    X, y = tiny_data(Estimator, rng)
    original = Adam.step
    calls, applied = [0], []

    def step(self, params, grad, *rest):
        calls[0] += 1
        if calls[0] == 3:  # epoch 2 (of 2 minibatches each), minibatch 1
            raise KeyboardInterrupt
        finite = original(self, params, grad, *rest)
        applied.append(params.copy())
        return finite

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


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_fault_at_random_minibatch_keeps_last_applied_update(Estimator, error,
                                                             solver, rng,
                                                             monkeypatch):
    X, y = tiny_data(Estimator, rng)  # 8 sequences: 4 minibatches an epoch
    fail_at = int(rng.choice([5, 9, *rng.integers(2, 12, 2)]))
    est = Estimator(solver=solver, max_iter=4, **FAULT)
    applied = []
    optimizer = Adam if solver == "adam" else __import__(
        "skrnn._optimizers", fromlist=["SGD"]).SGD
    original = optimizer.step

    def record(self, params, grad, *rest):
        finite = original(self, params, grad, *rest)
        applied.append(params.copy())
        return finite

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


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_interrupt_at_epoch_boundary_then_warm_start_equals_uninterrupted(
        Estimator, dropout, rng, monkeypatch):
    X, y = tiny_data(Estimator, rng)
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
    assert_same_fit(est, whole, X)  # bit for bit, shuffling stream included


@ignore_convergence
@overflow_expected
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_non_finite_gradient_at_random_minibatch(Estimator, rng, monkeypatch):
    from skrnn._base import BaseRNN

    X, y = tiny_data(Estimator, rng)
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


@ignore_convergence
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


# --------------------------------------------------------------------------
# Through the estimators: solvers, options and fitted attributes
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
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
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
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
@pytest.mark.parametrize("n, expected", [(40, 32), (20, 20)])
def test_auto_batch_size_is_min_of_32_and_n(n, expected):
    X, y = small_problem(RNNClassifier, n=n)
    auto = RNNClassifier(**FAST).fit(X, y)
    explicit = RNNClassifier(**dict(FAST, batch_size=expected)).fit(X, y)
    assert_array_equal(auto.loss_curve_, explicit.loss_curve_)


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
