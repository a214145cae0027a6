"""The training API: solvers, weights, stopping rules, partial_fit, warm start,
schedules, interruption, divergence, verbosity, dropout and clipping.

Every fit here is tiny (a few dozen short sequences, a handful of hidden
units, a few epochs), so the whole file runs in seconds.
"""

import copy
import os
import re
import warnings

import _reference as ref
import numpy as np
import pytest
from _helpers import outputs, per_sequence, take
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from skrnn import RNNClassifier, RNNRegressor, SequenceRegressor, SequenceTagger
from skrnn._base import BaseRNN
from skrnn._network import Workspace
from skrnn._optimizers import SGD, Adam
from skrnn._packing import PackedBatch

SEED = int(os.environ.get("SKRNN_TEST_SEED", "0"))
# Epochs without improvement never stop these fits: they run exactly max_iter.
NEVER_STOP = dict(n_iter_no_change=10_000)
# Every fitted attribute that a continued fit must reproduce exactly.
CURVES = ("loss_curve_", "n_iter_", "t_", "loss_")


# --------------------------------------------------------------------------
# Data: ragged sequences of 3 to 8 steps, 2 features
# --------------------------------------------------------------------------


def _ragged(rng, n, n_features=2, low=3, high=9):
    return [rng.standard_normal((int(rng.integers(low, high)), n_features))
            for _ in range(n)]


def _classification(rng, n=24):
    X = _ragged(rng, n)
    means = np.array([x[:, 0].mean() for x in X])
    # Split at the median so both classes are present for every seed.
    y = np.where(means > np.median(means), "pos", "neg")
    return X, y


def _regression(rng, n=24):
    X = _ragged(rng, n)
    return X, np.array([x[:, 0].mean() for x in X])


def _tagging(rng, n=16):
    X = _ragged(rng, n)
    y = [np.where(np.cumsum(x[:, 0]) > 0, "pos", "neg") for x in X]
    # Both tags are present for every seed.
    y[0][0], y[1][0] = "pos", "neg"
    return X, y


def _step_regression(rng, n=16):
    X = _ragged(rng, n)
    return X, [np.cumsum(x[:, 0]) / 3 for x in X]


DATA = {RNNClassifier: _classification, RNNRegressor: _regression,
        SequenceTagger: _tagging, SequenceRegressor: _step_regression}
ESTIMATORS = list(DATA)
CLASSIFIERS = [RNNClassifier, SequenceTagger]


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

    def recording(self, params, grad):
        before = params.copy()
        norm = float(np.linalg.norm(grad))
        original(self, params, grad)
        steps.append((before, params.copy(), norm))

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


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
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
    assert est.best_validation_score_ == max(est.validation_scores_)
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


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues(Estimator, solver, rng):
    """Two warm-started fits of 3 and 4 epochs are one fit of 7, bit for bit."""
    X, y = DATA[Estimator](rng)
    params = dict(solver=solver, batch_size=5, learning_rate_init=0.05,
                  random_state=SEED, **NEVER_STOP)
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
def test_sgd_adaptive_divides_by_five_when_stalled(learning_rate_init, n_iter, lr,
                                                   rng):
    """With tol huge every epoch after the first counts as no improvement;
    n_iter_no_change=1 lets two such epochs stall the training."""
    X = rng.standard_normal((20, 3))
    y = X.sum(axis=1)
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive",
                  learning_rate_init=learning_rate_init, tol=1e3,
                  n_iter_no_change=1, max_iter=6, random_state=SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = RNNRegressor(**params).fit(X, y)
        mlp = MLPRegressor(**params).fit(X, y)
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


# The overflow on the way to a non-finite loss is expected here.
overflow_expected = pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning",
    "ignore:invalid value encountered:RuntimeWarning")

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


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_one_line_per_epoch(early_stopping, rng, capsys):
    X, y = _classification(rng, 32)
    est = _fit_quietly(RNNClassifier((4,), verbose=True, max_iter=5,
                                     early_stopping=early_stopping,
                                     validation_fraction=0.25,
                                     random_state=SEED), X, y)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("Epoch")]
    assert len(lines) == est.n_iter_
    for epoch, line in enumerate(lines, start=1):
        match = EPOCH_LINE.match(line)
        assert match, line
        assert int(match.group(1)) == epoch
        assert "loss" in line and "elapsed" in line
        assert ("validation score" in line) == early_stopping


def test_not_verbose_prints_nothing(rng, capsys):
    X, y = _classification(rng)
    _fit_quietly(RNNClassifier((4,), max_iter=3, random_state=SEED), X, y)
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
def test_dropout_fit_is_reproducible_and_predict_has_no_masks(cell, rng):
    X, y = _regression(rng)
    a = _fit_quietly(RNNRegressor(cell=cell, random_state=SEED, **DROPOUT), X, y)
    b = _fit_quietly(RNNRegressor(cell=cell, random_state=SEED, **DROPOUT), X, y)
    assert_array_equal(a._params, b._params)
    assert a.loss_curve_ == b.loss_curve_
    # The masks do act during training.
    c = _fit_quietly(RNNRegressor(cell=cell, random_state=SEED,
                                  **{**DROPOUT, "dropout": 0.0}), X, y)
    assert not np.allclose(a._params, c._params)

    first = a.predict(X)
    assert_array_equal(a.predict(X), first)
    assert_allclose(first, _reference_raw(a, X)[:, 0], rtol=1e-10, atol=1e-12)


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


def test_clip_norm_none_leaves_gradients(rng, monkeypatch):
    X, y = _regression(rng)
    steps = _record_steps(monkeypatch, SGD)
    _fit_quietly(RNNRegressor((4,), solver="sgd", momentum=0.0, clip_norm=None,
                              batch_size=6, max_iter=1, random_state=SEED), X, y)
    assert max(norm for _, _, norm in steps) > 1e-3


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


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_large_tol_stops_early_without_warning(Estimator, rng):
    X, y = DATA[Estimator](rng)
    est = Estimator((4,), tol=1e3, n_iter_no_change=2, max_iter=50,
                    random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    # Epoch 1 sets best_loss_; epochs 2, 3 and 4 fail to beat it by tol, and
    # the count exceeds n_iter_no_change at the 4th.
    assert est.n_iter_ == 4
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
