"""skrnn.metrics: flat and sequence metrics, and scorers for taggers; edit
distance and label error rate for transcribers; their fuzz tests and the
failures those found."""

import warnings

import numpy as np
import pytest

# The fuzz tests here keep the names they were written with: hypothesis
# derives their fixed examples from their source.
from _fuzzing import assert_finite as _assert_finite
from _fuzzing import (
    attempt,
    clean_sequences,
    fuzz,
    fuzz_fitted,
    fuzz_warnings,
    weight_cases,
    x_cases,
    y_cases,
)
from _fuzzing import fuzz_fitted as _fitted
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    get_scorer,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from sklearn.model_selection import GridSearchCV, cross_validate

from skrnn import (
    SequenceTagger,
    metrics,
)
from skrnn.metrics import (
    edit_distance,
    flat_accuracy_score,
    flat_accuracy_scorer,
    flat_classification_report,
    flat_confusion_matrix,
    flat_f1_macro_scorer,
    flat_f1_score,
    flat_precision_recall_fscore_support,
    flat_precision_score,
    flat_recall_score,
    get_flat_scorer,
    get_flat_scorer_names,
    label_error_rate,
    neg_label_error_rate_scorer,
    sequence_accuracy_score,
    sequence_accuracy_scorer,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

TAGS = np.array(["ADJ", "NOUN", "VERB"])


@pytest.fixture
def tagged(rng):
    """Ragged true and predicted tags (about 70% right) and sequence weights."""
    lengths = rng.integers(1, 9, size=25)
    y_true = [TAGS[rng.integers(0, 3, size=t)] for t in lengths]
    y_pred = [
        np.where(rng.random(t) < 0.7, yt, TAGS[rng.integers(0, 3, size=t)])
        for yt, t in zip(y_true, lengths)
    ]
    weights = rng.uniform(0.5, 2.0, size=len(lengths))
    return y_true, y_pred, weights, lengths


def test_flat_metrics_equal_sklearn_on_concatenated_steps(tagged):
    y_true, y_pred, weights, lengths = tagged
    true, pred = np.concatenate(y_true), np.concatenate(y_pred)
    step_weights = np.repeat(weights, lengths)
    for sw, flat_sw in [(None, None), (weights, step_weights)]:
        assert flat_accuracy_score(y_true, y_pred, sample_weight=sw) == (
            accuracy_score(true, pred, sample_weight=flat_sw)
        )
        assert flat_accuracy_score(
            y_true, y_pred, normalize=False, sample_weight=sw
        ) == pytest.approx(
            accuracy_score(true, pred, normalize=False, sample_weight=flat_sw)
        )
        for average in ("micro", "macro", "weighted", None):
            kwargs = dict(average=average, sample_weight=flat_sw)
            for flat, ref in [
                (flat_f1_score, f1_score),
                (flat_precision_score, precision_score),
                (flat_recall_score, recall_score),
            ]:
                assert_allclose(
                    flat(y_true, y_pred, average=average, sample_weight=sw),
                    ref(true, pred, **kwargs),
                )
            got = flat_precision_recall_fscore_support(
                y_true, y_pred, beta=2.0, average=average, sample_weight=sw
            )
            want = precision_recall_fscore_support(true, pred, beta=2.0, **kwargs)
            for g, w in zip(got, want):
                if w is None:
                    assert g is None
                else:
                    assert_allclose(g, w)
        assert_allclose(
            flat_confusion_matrix(y_true, y_pred, sample_weight=sw),
            confusion_matrix(true, pred, sample_weight=flat_sw),
        )
        assert flat_classification_report(
            y_true, y_pred, sample_weight=sw, digits=4
        ) == classification_report(true, pred, sample_weight=flat_sw, digits=4)


def test_sklearn_keyword_arguments_pass_through(tagged):
    y_true, y_pred, _, _ = tagged
    true, pred = np.concatenate(y_true), np.concatenate(y_pred)
    labels = ["VERB", "ADJ"]
    assert_allclose(
        flat_f1_score(y_true, y_pred, labels=labels, average=None),
        f1_score(true, pred, labels=labels, average=None),
    )
    assert_allclose(
        flat_recall_score(y_true, y_pred, labels=["NOUN"], average="micro"),
        recall_score(true, pred, labels=["NOUN"], average="micro"),
    )
    two = [np.array(["a", "b", "a"]), np.array(["b"])]
    guess = [np.array(["a", "a", "b"]), np.array(["b"])]
    assert flat_recall_score(two, guess, pos_label="a") == 0.5
    assert flat_precision_score(two, guess, pos_label="b") == 0.5
    assert_allclose(
        flat_confusion_matrix(y_true, y_pred, labels=labels, normalize="true"),
        confusion_matrix(true, pred, labels=labels, normalize="true"),
    )
    report = flat_classification_report(
        y_true, y_pred, output_dict=True, target_names=["a", "n", "v"]
    )
    assert set(report) >= {"a", "n", "v", "accuracy"}
    # zero_division: a label never predicted nor present.
    assert flat_precision_score(
        [np.array([0, 1])], [np.array([0, 0])], zero_division=0.0
    ) == 0.0


def test_binary_integer_tags():
    y_true = [np.array([1, 0, 1]), np.array([0, 0])]
    y_pred = [np.array([1, 1, 1]), np.array([0, 0])]
    assert flat_precision_score(y_true, y_pred) == pytest.approx(2 / 3)
    assert flat_recall_score(y_true, y_pred) == 1.0
    assert flat_f1_score(y_true, y_pred) == pytest.approx(0.8)


def test_sequence_accuracy_by_hand():
    y_true = [np.array(["a", "b"]), np.array(["a"]), np.array(["b", "b", "a"])]
    y_pred = [np.array(["a", "b"]), np.array(["b"]), np.array(["b", "b", "a"])]
    assert sequence_accuracy_score(y_true, y_pred) == pytest.approx(2 / 3)
    assert sequence_accuracy_score(y_true, y_pred, normalize=False) == 2.0
    weights = [1.0, 3.0, 1.0]
    assert sequence_accuracy_score(
        y_true, y_pred, sample_weight=weights
    ) == pytest.approx(2 / 5)
    assert flat_accuracy_score(y_true, y_pred) == pytest.approx(5 / 6)
    assert flat_accuracy_score(
        y_true, y_pred, sample_weight=weights
    ) == pytest.approx(5 / 8)
    # One wrong step spoils its whole sequence only.
    assert sequence_accuracy_score(y_true, y_true) == 1.0
    # An empty sequence counts as right.
    empty = np.array([], dtype=str)
    assert sequence_accuracy_score(y_true + [empty], y_pred + [empty]) == 0.75


def test_sequence_accuracy_matches_a_loop(tagged):
    y_true, y_pred, weights, _ = tagged
    right = np.array([np.array_equal(a, b) for a, b in zip(y_true, y_pred)])
    assert sequence_accuracy_score(y_true, y_pred) == pytest.approx(right.mean())
    assert sequence_accuracy_score(
        y_true, y_pred, sample_weight=weights
    ) == pytest.approx(np.average(right, weights=weights))


def test_equal_length_2d_arrays_are_sequences():
    y_true = np.array([[0, 1, 1], [1, 1, 0]])
    y_pred = np.array([[0, 1, 0], [1, 1, 0]])
    assert flat_accuracy_score(y_true, y_pred) == pytest.approx(5 / 6)
    assert sequence_accuracy_score(y_true, y_pred) == 0.5


@pytest.mark.parametrize(
    "metric",
    [
        flat_accuracy_score,
        sequence_accuracy_score,
        flat_f1_score,
        flat_precision_score,
        flat_recall_score,
        flat_precision_recall_fscore_support,
        flat_classification_report,
        flat_confusion_matrix,
    ],
)
def test_mismatches_raise_naming_the_sequence(metric):
    y_true = [np.array([0, 1]), np.array([1]), np.array([0, 0, 1]), np.array([1])]
    short = [np.array([0, 1]), np.array([1]), np.array([0, 1]), np.array([1, 0])]
    with pytest.raises(ValueError, match="Sequence 2 has 3 labels in y_true but 2"):
        metric(y_true, short)
    with pytest.raises(ValueError, match="y_true has 4 sequences but y_pred has 3"):
        metric(y_true, y_true[:3])
    with pytest.raises(ValueError, match=r"y_pred\[1\] must be a 1-D array"):
        metric(y_true, [np.array([0, 1]), 1, np.array([0, 0, 1]), np.array([1])])
    with pytest.raises(ValueError, match=r"y_true\[0\] must be a 1-D array"):
        metric(np.array([0, 1, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="empty"):
        metric([], [])
    with pytest.raises(TypeError, match="list of 1-D label arrays"):
        metric(3, 3)


@pytest.mark.parametrize("metric", [flat_accuracy_score, sequence_accuracy_score])
def test_mixed_label_types_raise(metric):
    with pytest.raises(ValueError, match="Mix of label input types"):
        metric([np.array(["a", "b"])], [np.array([1, 0])])


def test_sample_weight_needs_one_weight_per_sequence(tagged):
    y_true, y_pred, _, lengths = tagged
    with pytest.raises(ValueError, match="one weight per sequence"):
        flat_accuracy_score(y_true, y_pred, sample_weight=np.ones(lengths.sum()))


# --------------------------------------------------------------------------
# Scorers


def tiny_tagging_data(rng, n_sequences=20):
    X = [rng.standard_normal(int(rng.integers(3, 9))) for _ in range(n_sequences)]
    y = [np.where(x > 0, "up", "down") for x in X]
    return X, y


def tiny_tagger():
    return SequenceTagger(hidden_layer_sizes=(4,), max_iter=2, random_state=0)


def test_scorers_agree_with_the_metrics(rng):
    X, y = tiny_tagging_data(rng)
    tagger = tiny_tagger().fit(X, y)
    predicted = tagger.predict(X)
    assert flat_accuracy_scorer(tagger, X, y) == flat_accuracy_score(y, predicted)
    assert flat_accuracy_scorer(tagger, X, y) == pytest.approx(tagger.score(X, y))
    assert flat_f1_macro_scorer(tagger, X, y) == pytest.approx(
        flat_f1_score(y, predicted, average="macro", zero_division=0.0)
    )
    assert sequence_accuracy_scorer(tagger, X, y) == sequence_accuracy_score(
        y, predicted
    )
    # Every scorer is scikit-learn's metric on the flattened steps (or, for
    # sequence_accuracy, the fraction of sequences tagged without an error).
    flat_true, flat_pred = np.concatenate(y), np.concatenate(predicted)
    sklearn_metrics = {"f1": f1_score, "precision": precision_score,
                       "recall": recall_score}
    for name in get_flat_scorer_names():
        if name == "flat_accuracy":
            expected = accuracy_score(flat_true, flat_pred)
        elif name == "sequence_accuracy":
            expected = np.mean([np.array_equal(t, p)
                                for t, p in zip(y, predicted)])
        else:
            _, metric, average = name.split("_")
            expected = sklearn_metrics[metric](flat_true, flat_pred,
                                               average=average,
                                               zero_division=0.0)
        assert get_flat_scorer(name)(tagger, X, y) == pytest.approx(
            expected, rel=1e-12, abs=1e-15), name
    assert get_flat_scorer("flat_recall_weighted")(tagger, X, y) == pytest.approx(
        flat_recall_score(y, predicted, average="weighted")
    )


def test_get_flat_scorer_names():
    names = get_flat_scorer_names()
    for name in ("flat_accuracy", "flat_f1_macro", "flat_f1_weighted",
                 "flat_precision_macro", "flat_recall_macro", "sequence_accuracy"):
        assert name in names
    with pytest.raises(ValueError, match="'accuracy' is not a valid flat scorer"):
        get_flat_scorer("accuracy")
    assert get_flat_scorer("flat_accuracy") is not get_flat_scorer("flat_accuracy")


def test_scorers_in_cross_validate(rng):
    X, y = tiny_tagging_data(rng)
    scoring = {
        "acc": flat_accuracy_scorer,
        "f1": flat_f1_macro_scorer,
        "seq": sequence_accuracy_scorer,
        "f1w": get_flat_scorer("flat_f1_weighted"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(
            tiny_tagger(), X, y, cv=2, scoring=scoring, error_score="raise",
            return_estimator=True,
        )
    # Each fold's estimator scored on the other half (KFold, no shuffle):
    # every score is the scorer's own on that fold.
    halves = [slice(10, 20), slice(0, 10)]
    for key, scorer in scoring.items():
        scores = result[f"test_{key}"]
        assert scores.shape == (2,)
        for fold, (est, test) in enumerate(zip(result["estimator"],
                                               halves[::-1])):
            assert scores[fold] == scorer(est, X[test], y[test]), (key, fold)
    fold = result["estimator"][1]
    assert result["test_acc"][1] == flat_accuracy_score(y[10:], fold.predict(X[10:]))


def test_scorer_in_grid_search(rng):
    X, y = tiny_tagging_data(rng)
    search = GridSearchCV(
        tiny_tagger(),
        {"hidden_layer_sizes": [(3,), (4,)]},
        cv=2,
        scoring=flat_f1_macro_scorer,
        error_score="raise",
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_plain_sklearn_scorer_fails_on_ragged_y(rng):
    X, y = tiny_tagging_data(rng)
    tagger = tiny_tagger().fit(X, y)
    # Ragged y: accuracy_score cannot even classify the target type, or
    # compare it with the predicted object array.
    with pytest.raises(ValueError,
                       match="unknown is not supported|could not be broadcast"):
        get_scorer("accuracy")(tagger, X, y)
    # cross_validate's default error_score=np.nan turns that into NaN scores
    # with only a warning: the "silent" failure of scoring="accuracy".
    with pytest.warns(UserWarning, match="Scoring failed"):
        result = cross_validate(tiny_tagger(), X, y, cv=2, scoring="accuracy")
    assert np.isnan(result["test_score"]).all()


def test_plain_sklearn_metric_misbehaves_on_equal_length_binary_tags():
    # Equal lengths make y a 2-D 0/1 array: sklearn reads it as multilabel
    # indicators and returns subset accuracy, with no error and no warning.
    y_true = [np.array([1, 0, 1, 1]), np.array([0, 0, 1, 0])]
    y_pred = [np.array([1, 0, 1, 0]), np.array([0, 0, 1, 0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrong = accuracy_score(y_true, y_pred)
    assert wrong == 0.5  # the fraction of entirely right sequences
    assert wrong == sequence_accuracy_score(y_true, y_pred)
    assert flat_accuracy_score(y_true, y_pred) == 7 / 8
    # Equal-length multiclass tags raise instead.
    with pytest.raises(ValueError, match="multiclass-multioutput is not supported"):
        accuracy_score([TAGS[[0, 1]], TAGS[[2, 1]]], [TAGS[[0, 1]], TAGS[[2, 2]]])
    assert_array_equal(
        flat_confusion_matrix([TAGS[[0, 1]], TAGS[[2, 1]]],
                              [TAGS[[0, 1]], TAGS[[2, 2]]]),
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]],
    )


# --------------------------------------------------------------------------
# Edit distance and label error rate


def _levenshtein(a, b):
    """The textbook dynamic programme, on a full table."""
    d = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    d[:, 0], d[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1,
                          d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    return int(d[-1, -1])


@pytest.mark.parametrize("a, b, expected", [
    ("kitten", "sitting", 3), ("", "", 0), ("abc", "", 3), ("", "ab", 2),
    ("flaw", "lawn", 2), ([1, 2, 3], [3, 2, 1], 2), (["a", "b"], ("a", "b"), 0),
])
def test_edit_distance_by_hand(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_edit_distance_equals_the_full_table(rng):
    for _ in range(100):
        a = TAGS[rng.integers(0, 3, int(rng.integers(0, 9)))]
        b = TAGS[rng.integers(0, 3, int(rng.integers(0, 9)))]
        assert edit_distance(a, b) == _levenshtein(list(a), list(b))


def test_edit_distance_does_not_cast_numbers_to_strings():
    assert edit_distance([1, 2], ["1", "2"]) == 2
    assert edit_distance(np.array([1, 2]), np.array([1.0, 2.0])) == 0


def test_label_error_rate_is_total_distance_over_total_length(rng):
    y_true = [TAGS[rng.integers(0, 3, int(rng.integers(0, 7)))] for _ in range(30)]
    y_true[0] = TAGS[:2]
    y_pred = [TAGS[rng.integers(0, 3, int(rng.integers(0, 7)))] for _ in range(30)]
    weights = rng.uniform(0.5, 2.0, 30)
    distances = np.array([_levenshtein(list(t), list(p))
                          for t, p in zip(y_true, y_pred)])
    lengths = np.array([len(t) for t in y_true])
    assert_allclose(label_error_rate(y_true, y_pred),
                    distances.sum() / lengths.sum(), rtol=1e-12)
    assert_allclose(label_error_rate(y_true, y_pred, sample_weight=weights),
                    weights @ distances / (weights @ lengths), rtol=1e-12)
    # the object array a transcriber predicts
    as_objects = np.empty(30, dtype=object)
    for i, p in enumerate(y_pred):
        as_objects[i] = p
    assert label_error_rate(y_true, as_objects) == label_error_rate(y_true, y_pred)
    assert label_error_rate(y_true, y_true) == 0.0


def test_label_error_rate_can_exceed_one():
    assert label_error_rate([["a"]], [["b", "b", "b"]]) == 3.0


@pytest.mark.parametrize("y_true, y_pred, sample_weight, error, match", [
    (["ab"], ["ab", "c"], None, ValueError, "y_true has 1 sequences"),
    ([], [], None, ValueError, "empty"),
    (["", ""], ["a", ""], None, ValueError, "undefined"),
    (["ab", "c"], ["a", "c"], [0, 1], None, None),
    (["ab", "c"], ["a", "c"], [1, 0, 1], ValueError, "one weight per sequence"),
    ("ab", ["a", "b"], None, TypeError, "y_true must be a list"),
    ([3, 4], [[3], [4]], None, TypeError, r"y_true\[0\] must be a sequence"),
    ([[[1]]], [[1]], None, ValueError, r"y_true\[0\] must be a 1-D"),
    ([[1.0, np.nan]], [[1.0]], None, ValueError, r"y_true\[0\]"),
])
def test_label_error_rate_errors(y_true, y_pred, sample_weight, error, match):
    if error is None:
        assert label_error_rate(y_true, y_pred, sample_weight=sample_weight) == 0
        return
    with pytest.raises(error, match=match):
        label_error_rate(y_true, y_pred, sample_weight=sample_weight)


def test_neg_label_error_rate_scorer():
    class Fixed(BaseEstimator):
        def predict(self, X):
            return [list(x) for x in X]

    assert neg_label_error_rate_scorer(Fixed(), ["ab", "cd"], ["ab", "ce"]) == \
        pytest.approx(-0.25)


# --------------------------------------------------------------------------
# Fuzzing the metrics and scorers, and the failures it found
# --------------------------------------------------------------------------


METRICS = [
    (metrics.flat_accuracy_score, {}), (metrics.sequence_accuracy_score, {}),
    (metrics.flat_f1_score, {"average": "macro"}),
    (metrics.flat_precision_score, {"average": "micro"}),
    (metrics.flat_recall_score, {"average": "weighted"}),
    (metrics.flat_precision_recall_fscore_support, {}),
    (metrics.flat_classification_report, {}),
    (metrics.flat_confusion_matrix, {}),
]


@st.composite
def label_sequences(draw, lengths):
    kind = draw(st.sampled_from(
        ["good"] * 4 + ["short", "step-short", "nan", "none", "scalar",
                        "2d-step", "ints", "mixed", "object", "dict",
                        "array-2d", "empty"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = [rng.choice(["a", "b", "c"], t) for t in lengths]
    valid = kind == "good"
    if kind == "short":
        y = y[:-1]
    elif kind == "step-short":
        y[-1] = y[-1][:-1]
    elif kind == "nan":
        y[0] = np.full(lengths[0], np.nan)
    elif kind == "none":
        y = None
    elif kind == "scalar":
        y = "a"
    elif kind == "2d-step":
        y[0] = y[0][:, None]
    elif kind == "ints":
        y = [(v == "a").astype(int) for v in y]
        valid = "maybe"
    elif kind == "mixed":
        y[0] = np.array([1] * lengths[0], dtype=object)
        valid = "maybe"
    elif kind == "object":
        y = [v.astype(object) for v in y]
        valid = "maybe"
    elif kind == "dict":
        y = {"a": 1}
    elif kind == "array-2d":
        y = np.array([[1, 2], [3, 4]])
        valid = "maybe"
    elif kind == "empty":
        y = []
    return y, valid


@fuzz_warnings
@fuzz(1)
@given(data=st.data(), which=st.integers(0, len(METRICS) - 1))
def test_metrics_fuzz(data, which):
    metric, kwargs = METRICS[which]
    lengths = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    y_true, t_valid = data.draw(label_sequences(lengths), label="y_true")
    y_pred, p_valid = data.draw(label_sequences(lengths), label="y_pred")
    w, w_valid = data.draw(weight_cases(len(lengths), lengths),
                           label="sample_weight")
    names = [a for a, v in (("y_true", t_valid), ("y_pred", p_valid),
                            ("sample_weight", w_valid)) if v is not True]
    valid = all(v is True for v in (t_valid, p_valid, w_valid))
    ok, result = attempt(lambda: metric(y_true, y_pred, sample_weight=w,
                                        **kwargs),
                         names or ["y_true", "y_pred", "sample_weight"],
                         must_succeed=valid)
    if ok and not isinstance(result, str):
        for part in (result if isinstance(result, tuple) else (result,)):
            if part is not None:
                _assert_finite(part)


@fuzz_warnings
@fuzz(1)
@given(data=st.data(),
       name=st.sampled_from(metrics.get_flat_scorer_names()))
def test_scorers_fuzz(data, name):
    case = data.draw(x_cases(), label="X")
    y, y_valid = data.draw(y_cases(SequenceTagger, case.lengths), label="y")
    scorer = metrics.get_flat_scorer(name)
    x_valid = case.valid is True and not case.what.startswith("dataframe") \
        and not case.what.endswith("-1-d")
    names = [a for a, v in (("X", x_valid), ("y", y_valid)) if v is not True]
    ok, score = attempt(lambda: scorer(_fitted(SequenceTagger), case.X, y),
                        names or ["X", "y"])
    if ok:
        assert np.isfinite(score)


@fuzz_warnings
def test_unknown_scorer_name_names_it():
    with pytest.raises(ValueError, match="nonsense"):
        metrics.get_flat_scorer("nonsense")


FLAT_TRUE = [np.array(["a", "b", "a"]), np.array(["b"])]


FLAT_PRED = [np.array(["a", "a", "a"]), np.array(["b"])]


@fuzz_warnings
@pytest.mark.parametrize("metric", [metrics.flat_accuracy_score,
                                    metrics.sequence_accuracy_score,
                                    metrics.flat_confusion_matrix])
def test_metrics_all_zero_sample_weight_names_it(metric):
    # Was scikit-learn's "Sample weights must contain at least one non-zero
    # number".
    with pytest.raises(ValueError, match=r"^sample_weight sums to zero"):
        metric(FLAT_TRUE, FLAT_PRED, sample_weight=np.zeros(2))


@fuzz_warnings
@pytest.mark.parametrize("metric", [metrics.flat_accuracy_score,
                                    metrics.sequence_accuracy_score])
def test_metrics_sample_weight_of_wrong_count_names_y_true(metric):
    # Was "sample_weight has shape (3,), expected (2,)": which sequences?
    with pytest.raises(ValueError, match=r"one weight per sequence of y_true"):
        metric(FLAT_TRUE, FLAT_PRED, sample_weight=np.ones(3))


@fuzz_warnings
def test_flat_metrics_take_per_step_weights():
    # A list of per-step weights (as SequenceTagger.fit takes) was refused
    # by numpy ("inhomogeneous shape"), unnamed.
    steps = [np.array([1.0, 1.0, 2.0]), np.array([0.5])]
    assert metrics.flat_accuracy_score(FLAT_TRUE, FLAT_PRED,
                                       sample_weight=steps) == 3.5 / 4.5


@fuzz_warnings
@pytest.mark.parametrize("metric", [metrics.flat_accuracy_score,
                                    metrics.sequence_accuracy_score])
def test_metrics_mixed_label_types_name_y_true_and_y_pred(metric):
    # Was scikit-learn's bare "Mix of label input types (string and number)".
    with pytest.raises(ValueError, match=r"^y_true and y_pred hold labels that "
                       r"cannot be compared: Mix of label input types"):
        metric(FLAT_TRUE, [np.array([1, 0, 1]), np.array([0])])


@fuzz_warnings
def test_nan_labels_are_an_error_not_a_warning():
    # Was RuntimeWarning: invalid value encountered in cast (in
    # type_of_target), through the scorers.
    nan_true = [np.full(3, np.nan), np.array([1.0])]
    with pytest.raises(ValueError, match=r"Input y_true contains NaN"):
        metrics.flat_accuracy_score(nan_true, [np.ones(3), np.ones(1)])
    X = clean_sequences()
    y = [np.full(len(x), np.nan) for x in X]
    for name in metrics.get_flat_scorer_names():
        with pytest.raises(ValueError, match=r"Input y_true contains NaN"):
            metrics.get_flat_scorer(name)(fuzz_fitted(SequenceTagger), X, y)


@fuzz_warnings
def test_flat_metrics_of_empty_sequences_say_so():
    # Was scikit-learn's "Found empty input array (e.g., `y_true` or
    # `y_pred`)"; a whole-sequence score of empty sequences is defined.
    empty = [np.array([], dtype="<U1")]
    with pytest.raises(ValueError, match=r"^y_true and y_pred hold no time "
                       r"steps: every sequence is empty"):
        metrics.flat_accuracy_score(empty, empty)
    assert metrics.sequence_accuracy_score(empty, empty) == 1.0
