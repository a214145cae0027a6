"""SequenceTranscriber: learning, decoding, targets, errors, and the ragged
analogues of scikit-learn's estimator checks (as test_common.py has for the
other estimators)."""

import copy
import inspect
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _helpers import SEED, assert_same_state, invalid_values
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_predict, cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import SequenceTranscriber
from skrnn.datasets import load_japanese_vowels
from skrnn.metrics import label_error_rate, neg_label_error_rate_scorer
from skrnn.preprocessing import StepTransformer

SMALL = dict(hidden_layer_sizes=(4,), max_iter=3, batch_size=5,
             learning_rate_init=0.05)
LEARN = dict(hidden_layer_sizes=(16,), bidirectional=True, cell="gru",
             learning_rate_init=0.02, max_iter=40, batch_size=16)
PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

PROTOTYPES = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0]}


def render(rng, n, noise=0.3, max_labels=4, labels="abc"):
    """Label sequences and noisy renderings of them: each label held for a
    random 2 to 4 steps, with 0 to 2 silent steps before it (at least one
    between a repeat, which could not be told from one long label)."""
    X, y = [], []
    for _ in range(n):
        sequence = rng.choice(list(labels), int(rng.integers(0, max_labels + 1)))
        steps = [np.zeros((int(rng.integers(0, 2)), 3))]
        for k, label in enumerate(sequence):
            gap = int(rng.integers(0, 3))
            if k and label == sequence[k - 1]:
                gap = max(gap, 1)
            steps.append(np.zeros((gap, 3)))
            steps.append(np.tile(PROTOTYPES[label], (int(rng.integers(2, 5)), 1)))
        steps.append(np.zeros((1, 3)))
        x = np.concatenate(steps)
        X.append(x + noise * rng.standard_normal(x.shape))
        y.append(sequence)
    return X, y


def _data(rng, n=20):
    return render(rng, n, max_labels=3, labels="ab")


def _make(**params):
    return SequenceTranscriber(**{**SMALL, "random_state": SEED, **params})


@pytest.fixture(scope="module")
def learned():
    rng = np.random.default_rng(SEED)
    X, y = render(rng, 160)
    X_test, y_test = render(rng, 60)
    model = SequenceTranscriber(**LEARN, random_state=SEED).fit(X, y)
    return model, X_test, y_test


# --------------------------------------------------------------------------
# Learning and decoding
# --------------------------------------------------------------------------


def test_learns_noisy_renderings_of_label_sequences(learned):
    model, X_test, y_test = learned
    predicted = model.predict(X_test)
    rate = label_error_rate(y_test, predicted)
    assert rate < 0.05, rate
    assert model.score(X_test, y_test) == pytest.approx(1 - rate)
    assert model.loss_curve_[-1] < 0.1 * model.loss_curve_[0]


def test_greedy_and_beam_search_agree_on_a_confident_model(learned):
    model, X_test, y_test = learned
    greedy = model.predict(X_test)
    beam = copy.deepcopy(model).set_params(beam_width=8).predict(X_test)
    # Where every step's best posterior is near one, the best path carries
    # almost all the mass and both decodings agree; elsewhere the beam, which
    # sums over alignments, may rightly differ.
    confident = [p.max(axis=1).min() > 0.9 for p in model.predict_proba(X_test)]
    assert sum(confident) >= 10
    for g, b, sure in zip(greedy, beam, confident):
        if sure:
            assert_array_equal(g, b)
    agree = np.mean([np.array_equal(g, b) for g, b in zip(greedy, beam)])
    assert agree > 0.9
    assert label_error_rate(y_test, beam) <= label_error_rate(y_test, greedy)
    one = copy.deepcopy(model).set_params(beam_width=1)
    for g, b in zip(greedy, one.predict(X_test)):
        assert_array_equal(g, b)


def test_predict_returns_object_array_of_label_arrays(learned):
    model, X_test, _ = learned
    predicted = model.predict(X_test)
    assert isinstance(predicted, np.ndarray) and predicted.dtype == object
    assert predicted.shape == (len(X_test),)
    for p, x in zip(predicted, X_test):
        assert p.ndim == 1 and p.shape[0] <= len(x)
        assert p.dtype == model.classes_.dtype
        assert set(p) <= set(model.classes_)
    assert_array_equal(model.classes_, ["a", "b", "c"])
    assert model.n_outputs_ == 4
    # fancy indexing, as cross_val_predict does
    assert len(predicted[[0, 2]]) == 2


def test_predict_proba_has_the_blank_last(learned):
    model, X_test, _ = learned
    proba = model.predict_proba(X_test)
    assert proba.dtype == object and proba.shape == (len(X_test),)
    for p, x in zip(proba, X_test):
        assert p.shape == (len(x), 4) and p.dtype == np.float64
        assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    # the silent steps are blanks
    silent = np.zeros((6, 3))
    assert (model.predict_proba([silent])[0].argmax(axis=1) == 3).all()
    assert model.predict([silent])[0].shape == (0,)
    for lp, p in zip(model.predict_log_proba(X_test), proba):
        assert_allclose(np.exp(lp), p, rtol=1e-12)


def test_posteriors_stream_in_chunks(rng):
    """A unidirectional model's per-step posteriors, predicted chunk after
    chunk from the carried state, equal those of whole sequences."""
    X, y = _data(rng)
    model = _make(max_iter=2).fit(X, y)
    whole = model.predict_proba(X)
    first, state = model.predict_proba([x[:3] for x in X], return_state=True)
    rest = model.predict_proba([x[3:] for x in X], initial_state=state)
    for w, a, b in zip(whole, first, rest):
        assert_allclose(np.concatenate([a, b]), w, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="bidirectional"):
        _make(bidirectional=True, max_iter=1).fit(X, y).predict_proba(
            X, return_state=True)


def test_zero_length_sequences_predict_empty(learned):
    model, X_test, _ = learned
    predicted = model.predict([np.empty((0, 3)), X_test[0]])
    assert predicted[0].shape == (0,)
    assert_array_equal(predicted[1], model.predict(X_test[:1])[0])
    assert model.predict_proba([np.empty((0, 3))])[0].shape == (0, 4)


def test_score_and_scorer_are_one_minus_the_label_error_rate(learned):
    model, X_test, y_test = learned
    weights = np.linspace(0.5, 2, len(X_test))
    rate = label_error_rate(y_test, model.predict(X_test), sample_weight=weights)
    assert model.score(X_test, y_test, sample_weight=weights) == pytest.approx(
        1 - rate)
    assert neg_label_error_rate_scorer(model, X_test, y_test) == pytest.approx(
        model.score(X_test, y_test) - 1)


def _speaker_runs(utterances, speakers, n, rng):
    """n runs of 2 to 4 utterances joined end to end, by random speakers
    never one twice in a row (with no silence between utterances, a repeat
    would be one long run of one voice), and their speaker sequences."""
    names = np.unique(speakers)
    X, y = [], []
    for _ in range(n):
        order = [rng.choice(names)]
        for _ in range(int(rng.integers(1, 4))):
            order.append(rng.choice(names[names != order[-1]]))
        X.append(np.concatenate(
            [utterances[rng.choice(np.flatnonzero(speakers == s))] for s in order]))
        y.append(order)
    return X, y


def test_transcribes_the_speakers_of_joined_real_utterances():
    """A real unaligned task: Japanese Vowels utterances joined with no
    boundary given, trained on runs of training utterances and scored on
    runs of test utterances, against chance (random speakers, as many as
    the truth, none twice in a row)."""
    X_train, X_test, s_train, s_test = load_japanese_vowels(return_X_y=True)
    scaler = StepTransformer(StandardScaler()).fit(X_train)
    rng = np.random.default_rng(SEED)
    X, y = _speaker_runs(scaler.transform(X_train), s_train, 300, rng)
    X_test, y_test = _speaker_runs(scaler.transform(X_test), s_test, 100, rng)
    model = SequenceTranscriber((16,), cell="gru", bidirectional=True,
                                learning_rate_init=0.02, max_iter=15,
                                batch_size=16, random_state=SEED).fit(X, y)
    rate = label_error_rate(y_test, model.predict(X_test))
    guesses = []
    for truth in y_test:
        guess = [rng.choice(model.classes_)]
        for _ in range(len(truth) - 1):
            guess.append(rng.choice(model.classes_[model.classes_ != guess[-1]]))
        guesses.append(guess)
    chance = label_error_rate(y_test, guesses)
    assert chance > 0.75, chance
    assert rate < 0.25 * chance, (rate, chance)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("params", [
    dict(), dict(bidirectional=True), dict(hidden_layer_sizes=(6, 5)),
    dict(dropout=0.2), dict(solver="sgd", learning_rate_init=0.1),
    dict(solver="lbfgs", max_iter=15),
], ids=["plain", "bidirectional", "stacked", "dropout", "sgd", "lbfgs"])
def test_every_network_trains(cell, params, rng):
    X, y = _data(rng, 30)
    model = _make(**{"cell": cell, "hidden_layer_sizes": (8,), "max_iter": 8,
                     **params}).fit(X, y)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert np.isfinite(model._params).all()
    assert len(model.predict(X)) == len(X)


def test_gradient_equals_finite_differences(rng):
    """The network and the CTC loss together, in float64, on a ragged batch
    with an empty label sequence and a repeat."""
    X, y = _data(rng, 6)
    y[0], y[1] = [], ["a", "a"]
    X[1] = np.zeros((3, 3))
    model = _make(cell="lstm", bidirectional=True, hidden_layer_sizes=(3, 2),
                  max_iter=1, dtype="float64").fit(X, y)
    from skrnn._network import Workspace
    from skrnn._packing import PackedBatch
    from skrnn._sequences import check_sequences

    seqs, _ = check_sequences(X)
    targets = model._validate_targets(seqs, y, reset=False)
    weights = rng.uniform(0.5, 2, len(X))
    batch = PackedBatch(seqs, np.arange(len(X)))
    params = model._params.copy()
    assert params.dtype == np.float64

    def loss(p, grad=None):
        g = np.zeros_like(p) if grad is None else grad
        return model._minibatch_loss_grad(seqs, targets, weights, batch, p, g,
                                          Workspace(np.float64), weights.sum())

    grad = np.zeros_like(params)
    loss(params, grad)
    eps = 1e-6
    for i in rng.choice(params.shape[0], 40, replace=False):
        up, down = params.copy(), params.copy()
        up[i] += eps
        down[i] -= eps
        assert_allclose(grad[i], (loss(up) - loss(down)) / (2 * eps),
                        rtol=1e-5, atol=1e-8)


def test_float32_agrees_with_float64_training(rng):
    X, y = _data(rng)
    m32 = _make().fit(X, y)
    m64 = _make(dtype="float64").fit(X, y)
    assert m32._params.dtype == np.float32 and m64._params.dtype == np.float64
    assert_allclose(m32.loss_curve_, m64.loss_curve_, rtol=1e-4)


# --------------------------------------------------------------------------
# Targets and weights
# --------------------------------------------------------------------------


def test_label_types(rng):
    X, y = _data(rng)
    as_ints = [np.array([{"a": 3, "b": 7}[c] for c in s], dtype=int) for s in y]
    as_ints[0] = []
    model = _make().fit(X, as_ints)
    assert_array_equal(model.classes_, [3, 7])
    assert model.classes_.dtype.kind == "i"
    assert all(p.dtype == model.classes_.dtype for p in model.predict(X))
    # strings read as their characters, and a 1-D object array of lists
    strings = ["".join(s) for s in y]
    a = _make().fit(X, strings)
    b = _make().fit(X, np.array([list(s) for s in y] + [None], dtype=object)[:-1])
    assert_array_equal(a._params, b._params)
    assert a.score(X, strings) == a.score(X, y)


def test_empty_label_sequences_are_targets(rng):
    X, y = _data(rng)
    y = [s if i % 3 else [] for i, s in enumerate(y)]
    model = _make().fit(X, y)
    assert np.isfinite(model.loss_)


def test_zero_weight_equals_leaving_out(rng):
    """Full-batch L-BFGS sees the same loss either way."""
    X, y = _data(rng)
    weights = np.ones(len(X))
    weights[[2, 5]] = 0
    weighted = _make(solver="lbfgs", max_iter=5).fit(X, y, sample_weight=weights)
    keep = np.flatnonzero(weights)
    dropped = _make(solver="lbfgs", max_iter=5).fit(
        [X[i] for i in keep], [y[i] for i in keep])
    assert_allclose(weighted._params, dropped._params, rtol=1e-4, atol=1e-6)


def test_integer_weight_equals_repetition(rng):
    X, y = _data(rng)
    weights = np.ones(len(X))
    weights[3] = 2
    weighted = _make(solver="lbfgs", max_iter=5).fit(X, y, sample_weight=weights)
    repeated = _make(solver="lbfgs", max_iter=5).fit(X + [X[3]], y + [y[3]])
    assert_allclose(weighted._params, repeated._params, rtol=1e-4, atol=1e-6)


def test_sample_weight_must_be_one_per_sequence(rng):
    X, y = _data(rng)
    with pytest.raises(ValueError, match="one weight per sequence"):
        _make().fit(X, y, sample_weight=np.ones(len(X) + 1))
    with pytest.raises(ValueError, match="sample_weight"):
        _make().fit(X, y, sample_weight=[np.ones(len(x)) for x in X])


def test_unalignable_pair_is_refused_by_index(rng):
    X, y = _data(rng)
    X[4], y[4] = np.zeros((3, 3)), ["a", "a", "b"]  # needs 4 steps
    with pytest.raises(ValueError, match=r"y\[4\] cannot be aligned with X\[4\]"
                                         r".* need at least 4 .* has 3"):
        _make().fit(X, y)
    X[4], y[4] = np.zeros((2, 3)), ["a", "b", "a"]
    with pytest.raises(ValueError, match=r"y\[4\].* 3 labels with 0 adjacent"):
        _make().fit(X, y)
    # exactly enough steps is fine
    X[4], y[4] = np.zeros((4, 3)), ["a", "a", "b"]
    _make().fit(X, y)


@pytest.mark.parametrize("y, error, match", [
    ("abc", TypeError, "y must be a list of label sequences"),
    (5, TypeError, "y must be a list of label sequences"),
    ([1, 2, 3], TypeError, r"y\[0\] must be a sequence of labels"),
    ([[[1, 2]], [1], [2]], ValueError, r"y\[0\] must be a 1-D"),
    ([[1.0, np.nan], [1.0], [2.0]], ValueError, r"y\[0\]"),
    ([[], [], []], ValueError, "at least one label"),
    ([["a"], [1], []], TypeError, r"y\[0\] holds strings but y\[1\] holds"),
    ([["a"], ["b"]], ValueError, "X has 3 sequences but y has 2"),
    ([["a"], ["b"], ["a"], ["b"]], ValueError, "inconsistent numbers"),
])
def test_bad_targets_raise(y, error, match):
    X = [np.zeros((5, 3))] * 3
    with pytest.raises(error, match=match):
        _make().fit(X, y)


def test_labels_not_in_classes_raise_by_index(rng):
    X, y = _data(rng)
    model = _make(warm_start=True).fit(X, y)
    y[6] = ["a", "z"]
    with pytest.raises(ValueError, match=r"y\[6\] holds the label 'z'"):
        model.fit(X, y)
    with pytest.raises(ValueError, match=r"y\[6\] holds the label 'z'"):
        _make().partial_fit(X, y, classes=["a", "b"])


# --------------------------------------------------------------------------
# Early stopping, warm start, partial_fit
# --------------------------------------------------------------------------


def test_early_stopping_scores_validation_and_keeps_the_best(rng):
    X, y = _data(rng, 40)
    model = _make(early_stopping=True, max_iter=12,
                  n_iter_no_change=3).fit(X, y)
    scores = model.validation_scores_
    assert len(scores) == model.n_iter_
    assert model.best_validation_score_ == max(scores)
    assert all(s <= 1 for s in scores)


def test_validation_set_of_your_own(rng):
    X, y = _data(rng, 30)
    X_val, y_val = _data(rng, 10)
    model = _make(max_iter=4).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(model.validation_scores_) == 4
    # the last score is the score of the final model
    assert model.validation_scores_[-1] == pytest.approx(
        model.score(X_val, y_val))


def test_warm_start_continues(rng):
    X, y = _data(rng)
    model = _make(warm_start=True, max_iter=2).fit(X, y)
    params = model._params.copy()
    model.fit(X, y)
    assert model.n_iter_ == 4
    assert not np.array_equal(params, model._params)
    # one fit of 4 epochs is the same as two warm-started fits of 2
    assert_allclose(_make(max_iter=4).fit(X, y)._params, model._params,
                    rtol=1e-5, atol=1e-7)


def test_partial_fit_needs_classes_first(rng):
    X, y = _data(rng)
    with pytest.raises(ValueError, match="classes must be passed"):
        _make().partial_fit(X, y)
    model = _make().partial_fit(X[:10], y[:10], classes=["a", "b", "c"])
    assert_array_equal(model.classes_, ["a", "b", "c"])
    assert model.n_outputs_ == 4
    model.partial_fit(X[10:], y[10:])
    assert model.n_iter_ == 2
    assert not hasattr(_make(solver="lbfgs"), "partial_fit")


def test_threads_predict_as_serial(learned):
    """The kernels release the GIL and predict writes nothing to the model."""
    model, X_test, _ = learned
    beam = copy.deepcopy(model).set_params(beam_width=4)
    serial = [m.predict(X_test) for m in (model, beam)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda m: m.predict(X_test), [model, beam] * 4))
    for k, result in enumerate(results):
        _assert_same_outputs(result, serial[k % 2], "predict")


def test_cross_val_predict_joins_the_folds(rng):
    X, y = _data(rng, 30)
    predicted = cross_val_predict(_make(), X, y, cv=3)
    assert predicted.dtype == object and predicted.shape == (30,)
    assert all(p.ndim == 1 for p in predicted)


def test_cross_validation(rng):
    X, y = _data(rng, 30)
    scores = cross_val_score(_make(), X, y, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    scores = cross_val_score(_make(), X, y, cv=3,
                             scoring=neg_label_error_rate_scorer)
    assert (scores <= 0).all()


# --------------------------------------------------------------------------
# Ragged estimator checks
# --------------------------------------------------------------------------


def test_parameters_default_constructible():
    est = SequenceTranscriber()
    params = est.get_params(deep=False)
    signature = inspect.signature(SequenceTranscriber.__init__)
    init_params = {n: p for n, p in signature.parameters.items() if n != "self"}
    assert params.keys() == init_params.keys()
    assert set(vars(est)) == set(params)
    for name, parameter in init_params.items():
        assert params[name] is parameter.default, name


def test_constraints_cover_every_parameter():
    assert (SequenceTranscriber._parameter_constraints.keys()
            == SequenceTranscriber().get_params(deep=False).keys())


def _param_cases():
    for name, constraints in SequenceTranscriber._parameter_constraints.items():
        for value in invalid_values(constraints):
            shown = value if isinstance(value, (int, float)) \
                else type(value).__name__
            yield pytest.param(name, value, id=f"{name}-{shown}")


@pytest.mark.parametrize("name, value", list(_param_cases()))
def test_invalid_parameter_raises(name, value, rng):
    X, y = _data(rng, 8)
    est = _make().set_params(**{name: value})
    match = rf"The '{name}' parameter of SequenceTranscriber must be .* Got"
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "_params")


def test_clone_and_unfitted(rng):
    X, y = _data(rng)
    est = _make(cell="gru", beam_width=3)
    for method in (*PREDICT_METHODS, "score"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(X, y) if method == "score" else \
                getattr(est, method)(X)
    est.fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert set(vars(twin)) == set(est.get_params())


def test_fit_is_idempotent_and_leaves_inputs_alone(rng):
    X, y = _data(rng)
    X_test, _ = _data(rng, 7)
    originals = copy.deepcopy((X, y))
    est = _make()
    first = est.fit(X, y).predict_proba(X_test)
    X_other, y_other = _data(rng, 12)
    est.fit(X_other, y_other)
    est.fit(X, y)
    for a, b in zip(first, est.predict_proba(X_test)):
        assert_array_equal(a, b)
    assert_same_state(originals, (X, y), "inputs")
    added = set(vars(est)) - set(est.get_params())
    assert not {a for a in added if not a.startswith("_") and not a.endswith("_")}


@pytest.fixture
def fitted(rng):
    X, y = _data(rng)
    X_test, y_test = _data(rng, 9)
    return _make(beam_width=3).fit(X, y), X_test, y_test


def test_pickle_round_trip(fitted):
    est, X, y = fitted
    state = copy.deepcopy(vars(est))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(pickle.dumps(est))
    assert_same_state(state, vars(loaded), "loaded")
    for method in PREDICT_METHODS:
        for a, b in zip(getattr(loaded, method)(X), getattr(est, method)(X)):
            assert_array_equal(a, b)
    assert loaded.score(X, y) == est.score(X, y)


def test_predict_does_not_change_state(fitted):
    est, X, y = fitted
    before = copy.deepcopy(vars(est))
    for method in PREDICT_METHODS:
        getattr(est, method)(X)
    est.score(X, y)
    assert_same_state(before, vars(est), "est")


def _assert_same_outputs(a, b, method):
    assert len(a) == len(b)
    for x, z in zip(a, b):
        if method == "predict":
            assert_array_equal(x, z)
        else:
            assert_allclose(x, z, rtol=1e-12, atol=1e-14)


def test_subset_and_order_invariance(fitted, rng):
    est, X, y = fitted
    perm = rng.permutation(len(X))
    for method in PREDICT_METHODS:
        full = getattr(est, method)(X)
        _assert_same_outputs(getattr(est, method)([X[i] for i in perm]),
                             full[perm], method)
        _assert_same_outputs([getattr(est, method)([x])[0] for x in X], full,
                             method)
    assert est.score([X[i] for i in perm], [y[i] for i in perm]) == \
        pytest.approx(est.score(X, y), rel=1e-12)


def test_predict_rejects_other_feature_count(fitted):
    est, _, _ = fitted
    with pytest.raises(ValueError, match="feature"):
        est.predict([np.ones((3, 2)) for _ in range(2)])
