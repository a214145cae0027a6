"""The target and sample-weight checks (skrnn/_validation.py): the shared
helpers, then y, labels and sample_weight through the estimators' fit and
score, and the y and sample_weight failures the fuzzer found."""

import numpy as np
import pytest
from _fuzzing import (
    FUZZ_ESTIMATORS,
    FUZZ_TINY,
    PER_STEP,
    clean_data,
    fuzz_fitted,
    fuzz_warnings,
)
from _helpers import (
    CLASSIFIERS,
    FAST,
    N_FEATURES,
    THREE_ESTIMATORS,
    TINY,
    assert_same_fit,
    ignore_convergence,
    small_problem,
    tiny_data,
    tiny_sequences,
    tiny_targets,
)
from numpy.testing import assert_array_equal
from sklearn.exceptions import (
    DataConversionWarning,
)
from sklearn.metrics import accuracy_score
from sklearn.neural_network import MLPClassifier

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
)
from skrnn._validation import (
    check_label_lists,
    check_n_targets,
    check_regression_targets,
    check_y_passed,
    step_targets,
)


def test_check_y_passed_names_the_estimator():
    check_y_passed([1], "RNNRegressor")
    with pytest.raises(ValueError, match="^RelativeToLast requires y to be passed"):
        check_y_passed(None, "RelativeToLast")


def test_check_regression_targets_ravels_a_column_and_names_the_samples():
    with pytest.warns(Warning, match="column-vector y"):
        y = check_regression_targets([[1.0], [2.0]], 2)
    assert y.shape == (2,) and y.dtype == np.float64
    with pytest.raises(ValueError, match="X has 3 windows but y has 2 targets"):
        check_regression_targets([1.0, 2.0], 3, samples="windows")
    with pytest.raises(ValueError, match="X has 3 sequences but y has 2 targets"):
        check_n_targets(2, 3)


@pytest.mark.parametrize("any_sized", [False, True])
def test_check_label_lists_reads_rows_and_refuses_a_string(any_sized):
    rows = check_label_lists(np.zeros((2, 3)), "y_true", any_sized=any_sized)
    assert isinstance(rows, list) and len(rows) == 2
    with pytest.raises(TypeError, match="y_true must be a list of 1-D label arrays"):
        check_label_lists("abc", "y_true", any_sized=any_sized)


def test_check_label_lists_any_sized_accepts_other_containers():
    labels = range(2)
    assert check_label_lists(labels, "y", any_sized=True) is labels
    with pytest.raises(TypeError, match="got range"):
        check_label_lists(labels, "y")


# --------------------------------------------------------------------------
# y and sample_weight through the estimators' fit and score
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("n_targets", [7, 9])
def test_len_X_differs_from_len_y(Estimator, n_targets, rng):
    X, _ = tiny_data(Estimator, rng)
    y = tiny_targets(Estimator, tiny_sequences(rng, n_targets))
    match = (r"^Found input variables with inconsistent numbers of samples: "
             rf"X has 8 sequences but y has {n_targets} targets")
    with pytest.raises(ValueError, match=match):
        Estimator(**TINY).fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("change", [-1, 1])
def test_tagger_label_count_differs_from_sequence_length(change, rng):
    X, y = tiny_data(SequenceTagger, rng)
    y[5] = np.resize(y[5], len(X[5]) + change)
    match = (rf"^y\[5\] must be a 1-D array with one label per time step of "
             rf"sequence 5 \({len(X[5])} steps\); got shape \({len(X[5]) + change},\)")
    with pytest.raises(ValueError, match=match):
        SequenceTagger(**TINY).fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("value, kind", [
    (np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_non_finite_regression_target(value, kind, n_outputs, rng):
    X, y = tiny_data(RNNRegressor, rng)
    y = np.column_stack([y] * n_outputs) if n_outputs > 1 else y.copy()
    y[5] = value
    with pytest.raises(ValueError, match=rf"^Input y contains {kind}"):
        RNNRegressor(**TINY).fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_continuous_y_for_a_classifier(Estimator, rng):
    X, _ = tiny_data(Estimator, rng)
    y = tiny_targets(RNNRegressor, X)
    if Estimator is SequenceTagger:
        y = [x[:, 0] for x in X]
    with pytest.raises(ValueError, match=r"^Unknown label type: continuous"):
        Estimator(**TINY).fit(X, y)


@ignore_convergence
@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_one_class_only(Estimator, rng):
    X, _ = tiny_data(Estimator, rng)
    y = (np.full(len(X), "pos") if Estimator is RNNClassifier
         else [np.full(len(x), "pos") for x in X])
    match = r"needs samples of at least 2 classes.*only one class: np\.str_\('pos'\)"
    with pytest.raises(ValueError, match=match):
        Estimator(**TINY).fit(X, y)


def _outcome(fit):
    """('classes', classes_) of a successful fit, or ('raises', exception type)."""
    try:
        return "classes", fit().classes_
    except (TypeError, ValueError) as exc:
        return "raises", type(exc)


@ignore_convergence
@pytest.mark.parametrize("Estimator", CLASSIFIERS)
@pytest.mark.parametrize("container", ["list", "object-array"])
def test_labels_mixing_strings_and_numbers_like_mlp(Estimator, container, rng):
    # MLPClassifier's behaviour is the reference: a Python list becomes an
    # array of strings (classes '1' and 'a'); an object array keeps Python
    # objects, which np.unique cannot sort (TypeError).
    X, _ = tiny_data(Estimator, rng)
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
    ours = _outcome(lambda: Estimator(**TINY).fit(X, y))
    assert ours[0] == mlp[0]
    if mlp[0] == "raises":
        assert ours[1] is mlp[1] is TypeError
    else:
        assert_array_equal(ours[1], mlp[1])
        assert_array_equal(ours[1], ["1", "a"])


@ignore_convergence
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_column_vector_y_warns_and_equals_1d(Estimator, rng):
    X, y = tiny_data(Estimator, rng)
    with pytest.warns(DataConversionWarning, match="column-vector y was passed"):
        column = Estimator(**TINY).fit(X, y.reshape(-1, 1))
    flat = Estimator(**TINY).fit(X, y)
    assert column.n_outputs_ == flat.n_outputs_ == 1
    assert_same_fit(column, flat, X)
    assert_array_equal(column.predict(X), flat.predict(X))
    assert column.predict(X).shape == (len(X),)


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_y_none(Estimator, rng):
    X, _ = tiny_data(Estimator, rng)
    match = rf"^{Estimator.__name__} requires y to be passed, but the target y is None"
    with pytest.raises(ValueError, match=match):
        Estimator(**TINY).fit(X, None)


BAD_WEIGHTS = {
    "short": (np.ones(7), r"sample_weight has shape \(7,\), expected \(8,\)"),
    "long": (np.ones(9), r"sample_weight has shape \(9,\), expected \(8,\)"),
    "2d": (np.ones((8, 2)), r"sample_weight has shape \(8, 2\), expected \(8,\)"),
    "negative": (np.r_[np.ones(7), -1.0], r"finite and non-negative"),
    "nan": (np.r_[np.ones(7), np.nan], r"finite and non-negative"),
    "all-zero": (np.zeros(8), r"sums to zero"),
}


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_WEIGHTS))
def test_bad_sample_weight(Estimator, case, rng):
    X, y = tiny_data(Estimator, rng)
    weights, match = BAD_WEIGHTS[case]
    with pytest.raises(ValueError, match=match):
        Estimator(**TINY).fit(X, y, sample_weight=weights)


@ignore_convergence
def test_tagger_score_takes_per_step_weight_arrays(rng):
    X, y = tiny_data(SequenceTagger, rng)
    est = SequenceTagger(**TINY).fit(X, y)
    per_sequence = rng.integers(0, 3, len(X)).astype(float)
    per_step = [np.full(len(x), w) for x, w in zip(X, per_sequence)]
    assert est.score(X, y, sample_weight=per_step) == est.score(
        X, y, sample_weight=per_sequence)
    with pytest.raises(ValueError, match=r"sample_weight\[0\] has shape"):
        est.score(X, y, sample_weight=[np.ones(len(X[0]) + 1)] + per_step[1:])


# --------------------------------------------------------------------------
# Labels and score weights
# --------------------------------------------------------------------------


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


@ignore_convergence
def test_tagger_score_weights_every_step_of_a_sequence():
    X, Y = small_problem(SequenceTagger, n=20)
    tagger = SequenceTagger(**FAST).fit(X, Y)
    weights = np.arange(1.0, 21.0)
    expected = accuracy_score(
        np.concatenate(Y), np.concatenate(tagger.predict(X)),
        sample_weight=np.repeat(weights, [x.shape[0] for x in X]))
    assert tagger.score(X, Y, sample_weight=weights) == pytest.approx(expected)


# --------------------------------------------------------------------------
# Failures the fuzzer found in the y and sample_weight checks
# --------------------------------------------------------------------------


@fuzz_warnings
@pytest.mark.parametrize("Estimator", FUZZ_ESTIMATORS)
def test_string_sample_weight_names_it(Estimator):
    # Was numpy's bare "could not convert string to float: 'a'".
    X, y = clean_data(Estimator)
    with pytest.raises(ValueError, match=r"^sample_weight must hold numbers"):
        Estimator(**FUZZ_TINY).fit(X, y, sample_weight=["a"] * len(X))


@fuzz_warnings
@pytest.mark.parametrize("y, error", [
    (np.array([np.nan, "b", "a", "b"], dtype=object), ValueError)])
def test_unsortable_or_unknown_labels_name_y(y, error):
    # Was "Unknown label type: unknown" / "'<' not supported between ...".
    X, _ = clean_data(RNNClassifier)
    with pytest.raises(error, match=r"\(the labels y\)$"):
        RNNClassifier(**FUZZ_TINY).fit(X, y)


@fuzz_warnings
@pytest.mark.parametrize("y", [1.0, np.ones((4, 2, 2))], ids=["scalar", "3d"])
def test_regression_y_of_wrong_rank_names_y(y):
    # Was "Input should have at least 1 dimension" / "Found array with dim 3".
    X, _ = clean_data(RNNRegressor)
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        RNNRegressor(**FUZZ_TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        fuzz_fitted(RNNRegressor).score(X, y)


@fuzz_warnings
def test_regressor_score_of_huge_y_is_an_error_not_a_warning():
    # Was RuntimeWarning: overflow encountered in square (inside r2_score).
    X, y = clean_data(RNNRegressor)
    with pytest.raises(ValueError, match=r"^y is too large to score"):
        fuzz_fitted(RNNRegressor).score(X, 1e300 * y)


@fuzz_warnings
@pytest.mark.parametrize("Estimator", FUZZ_ESTIMATORS)
def test_score_checks_y_and_sample_weight_by_name(Estimator):
    # Were scikit-learn's "Found input variables with inconsistent numbers of
    # samples: [3, 4]", "Sample weights must be 1D array or scalar", "object
    # of type 'NoneType' has no len()", "Input contains NaN".
    X, y = clean_data(Estimator)
    est = fuzz_fitted(Estimator)
    with pytest.raises(ValueError, match=r"X has 4 sequences but y has 3"):
        est.score(X, y[:-1])
    with pytest.raises(ValueError, match=r"^sample_weight has shape \(4, 1\)"):
        est.score(X, y, sample_weight=np.ones((4, 1)))
    with pytest.raises((TypeError, ValueError), match=r"\by\b"):
        est.score(X, None)
    nan_y = ([np.full(len(x), np.nan) for x in X] if Estimator in PER_STEP
             else np.full(len(X), np.nan))
    # the tagger names the sequence whose labels hold it: y[0]
    with pytest.raises(ValueError, match=r"Input y(\[0\])? contains NaN"):
        est.score(X, nan_y)


@fuzz_warnings
def test_regression_tagger_nan_labels_named_before_training():
    # Fuzz (400 examples): NaN step labels among string labels became the
    # label "nan"; with 1e-300 weights training then "diverged", unnamed.
    X = [np.zeros((1, N_FEATURES)), np.ones((1, N_FEATURES))]
    y = [np.array([np.nan]), np.array(["b"])]
    for solver in ("adam", "lbfgs"):
        with pytest.raises(ValueError, match=r"y\[0\] contains NaN"):
            SequenceTagger(solver=solver, **FUZZ_TINY).fit(
                X, y, sample_weight=np.full(2, 1e-300))


@fuzz_warnings
def test_regression_regressor_score_empty_y_named():
    # Fuzz (400 examples): "Found array with 0 sample(s)" named no y.
    X = [np.zeros((1, N_FEATURES)), np.ones((1, N_FEATURES))]
    reg = RNNRegressor(**FUZZ_TINY).fit(X, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"^y is empty"):
        reg.score(X[:1], np.array([]))


def test_step_targets_of_zero_length_sequences_stack():
    lengths = np.array([2, 0, 1])
    flat, one_d = step_targets([np.array([1.0, 2.0]), np.array([]),
                                np.array([3.0])], lengths)
    assert one_d
    assert_array_equal(flat, [[1.0], [2.0], [3.0]])
    flat, one_d = step_targets([np.ones((2, 3)), np.empty((0, 3)), np.ones((1, 3))],
                               lengths)
    assert not one_d and flat.shape == (3, 3)


@ignore_convergence
def test_sequence_regressor_scores_past_an_empty_sequence(rng):
    X = tiny_sequences(rng)
    y = [x[:, 0] for x in X]
    est = SequenceRegressor(**TINY).fit(X, y)
    empty = [np.empty((0, X[0].shape[1]))]
    assert est.score(empty + X, [np.array([])] + y) == est.score(X, y)
    with pytest.raises(ValueError, match="^y is empty"):
        est.score(empty, [np.array([])])
