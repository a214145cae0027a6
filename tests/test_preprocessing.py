"""skrnn.preprocessing: StepTransformer, sliding_windows and SlidingWindows,
their fuzz tests and the failures those found."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

# The fuzz tests here keep the names they were written with: hypothesis
# derives their fixed examples from their source.
from _fuzzing import assert_finite as _assert_finite
from _fuzzing import (
    attempt,
    fuzz,
    fuzz_warnings,
    series_cases,
    x_cases,
)
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import DictVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
)
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceTagger,
)
from skrnn.datasets import load_hkcancor_pos
from skrnn.preprocessing import (
    SlidingWindows,
    StepTransformer,
    add_static,
    channels_last,
    from_long,
    sliding_windows,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def ragged(rng, n_sequences=6, n_features=3, dtype=np.float64, min_len=1):
    lengths = rng.integers(min_len, 8, size=n_sequences)
    return [
        (rng.standard_normal((t, n_features)) * 3 + 1).astype(dtype) for t in lengths
    ]


def by_hand(transformer, X):
    """The reference: fit and transform the stacked steps, split by lengths."""
    stacked = np.concatenate(X)
    out = clone(transformer).fit(stacked).transform(stacked)
    return np.split(out, np.cumsum([len(x) for x in X])[:-1])


def with_nan(X):
    X = [x.copy() for x in X]
    X[0][0, 1] = np.nan
    X[-1][-1, 0] = np.nan
    return X


def dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


# --------------------------------------------------------------------------
# StepTransformer: equality with the transformer on stacked steps


@pytest.mark.parametrize(
    "transformer, nan",
    [
        (StandardScaler(), False),
        (StandardScaler(with_mean=False), False),
        (MinMaxScaler(feature_range=(-1, 2)), False),
        (PolynomialFeatures(degree=2), False),
        (SimpleImputer(strategy="median"), True),
        (SimpleImputer(strategy="mean", add_indicator=True), True),
    ],
    ids=["standard", "standard_nomean", "minmax", "poly", "imputer", "imputer_ind"],
)
def test_step_transformer_matches_stacked_steps(rng, transformer, nan):
    X = ragged(rng)
    if nan:
        X = with_nan(X)
    steps = StepTransformer(transformer).fit(X)
    Xt = steps.transform(X)
    expected = by_hand(transformer, X)
    assert isinstance(Xt, list) and len(Xt) == len(X)
    for got, want, x in zip(Xt, expected, X):
        assert isinstance(got, np.ndarray)
        assert got.shape[0] == x.shape[0]
        assert_allclose(got, want)
    if nan:
        assert not any(np.isnan(x).any() for x in Xt)


@pytest.mark.parametrize(
    "transformer",
    [
        StandardScaler(),
        MinMaxScaler(),
        PolynomialFeatures(degree=2, interaction_only=True),
        SimpleImputer(),
    ],
)
def test_fit_transform_equals_fit_then_transform(rng, transformer):
    X = with_nan(ragged(rng)) if isinstance(transformer, SimpleImputer) else ragged(rng)
    a = StepTransformer(transformer).fit_transform(X)
    b = StepTransformer(transformer).fit(X).transform(X)
    for x, y in zip(a, b):
        assert_array_equal(x, y)


class CountingScaler(TransformerMixin, BaseEstimator):
    """Multiplies by 2 and records the shape of every call."""

    def fit(self, X, y=None):
        self.fit_shapes_ = [np.shape(X)]
        self.transform_shapes_ = []
        return self

    def transform(self, X):
        self.transform_shapes_.append(np.shape(X))
        return np.asarray(X) * 2


def test_transform_calls_the_transformer_once_on_all_steps(rng):
    X = ragged(rng, n_sequences=9)
    n_steps = sum(len(x) for x in X)
    steps = StepTransformer(CountingScaler()).fit(X)
    assert steps.transformer_.fit_shapes_ == [(n_steps, 3)]
    Xt = steps.transform(X)
    assert steps.transformer_.transform_shapes_ == [(n_steps, 3)]
    # fit_transform without a dedicated method: one fit, one transform.
    steps.fit_transform(X)
    assert steps.transformer_.transform_shapes_ == [(n_steps, 3)]
    for x, xt in zip(X, Xt):
        assert_array_equal(xt, 2 * x)


def test_transformer_is_cloned_and_params_are_nested(rng):
    scaler = StandardScaler()
    steps = StepTransformer(scaler).fit(ragged(rng))
    assert steps.transformer_ is not scaler
    assert not hasattr(scaler, "mean_")
    params = steps.get_params(deep=True)
    assert params["transformer__with_mean"] is True
    steps.set_params(transformer__with_mean=False)
    assert scaler.with_mean is False
    assert clone(steps).transformer.with_mean is False


def test_dtype_policy(rng):
    X32 = ragged(rng, dtype=np.float32)
    out = StepTransformer(StandardScaler()).fit_transform(X32)
    assert all(x.dtype == np.float32 for x in out)
    Xint = [rng.integers(0, 5, size=(4, 2)) for _ in range(3)]
    out = StepTransformer(MinMaxScaler()).fit_transform(Xint)
    assert all(x.dtype == np.float64 for x in out)
    mixed = [X32[0], X32[1].astype(np.float64)]
    assert StepTransformer(StandardScaler()).fit_transform(mixed)[0].dtype == (
        np.float64
    )


def test_every_numeric_form_gives_the_same_result(rng):
    cube = rng.standard_normal((4, 5, 2))
    as_list = list(cube)
    want = StepTransformer(StandardScaler()).fit_transform(as_list)
    got = StepTransformer(StandardScaler()).fit_transform(cube)
    for a, b in zip(got, want):
        assert_allclose(a, b)

    table = rng.standard_normal((4, 5))
    want = StepTransformer(StandardScaler()).fit_transform(list(table))
    for form in (table, pd.DataFrame(table), table.tolist()):
        got = StepTransformer(StandardScaler()).fit_transform(form)
        assert len(got) == 4
        for a, b in zip(got, want):
            assert a.shape == (5, 1)
            assert_allclose(a, b)


def test_sparse_sequences(rng):
    X = [sp.random(t, 6, density=0.4, format="csr", random_state=t) for t in (3, 5, 2)]
    steps = StepTransformer(MaxAbsScaler()).fit(X)
    Xt = steps.transform(X)
    want = by_hand(MaxAbsScaler(), [x.toarray() for x in X])
    for got, w in zip(Xt, want):
        assert sp.issparse(got) and got.format == "csr"
        assert_allclose(got.toarray(), w)


def test_nan_is_left_to_the_transformer(rng):
    X = with_nan(ragged(rng))
    # PolynomialFeatures rejects NaN itself; StepTransformer does not.
    with pytest.raises(ValueError, match="NaN"):
        StepTransformer(PolynomialFeatures()).fit(X)
    # StandardScaler ignores NaN in fit and keeps it in transform.
    out = StepTransformer(StandardScaler()).fit_transform(X)
    assert np.isnan(out[0][0, 1]) and np.isnan(out[-1][-1, 0])


def test_inverse_transform(rng):
    X = ragged(rng)
    steps = StepTransformer(StandardScaler()).fit(X)
    for back, x in zip(steps.inverse_transform(steps.transform(X)), X):
        assert_allclose(back, x)
    # Only offered when the transformer has one.
    assert not hasattr(StepTransformer(PolynomialFeatures()), "inverse_transform")
    assert hasattr(StepTransformer(StandardScaler()), "inverse_transform")


def test_fitted_attributes_and_tags(rng):
    steps = StepTransformer(StandardScaler())
    assert not hasattr(steps, "n_features_in_")
    steps.fit(ragged(rng, n_features=4))
    assert steps.n_features_in_ == 4
    names = steps.get_feature_names_out()
    assert names.tolist() == ["x0", "x1", "x2", "x3"]
    with pytest.raises(ValueError, match="4 features"):
        steps.transform(ragged(rng, n_features=3))
    assert get_tags(StepTransformer(SimpleImputer())).input_tags.allow_nan
    assert not get_tags(StepTransformer(PolynomialFeatures())).input_tags.allow_nan
    restored = pickle.loads(pickle.dumps(steps))
    X = ragged(rng, n_features=4)
    for a, b in zip(restored.transform(X), steps.transform(X)):
        assert_array_equal(a, b)


def test_dataframe_sequences_keep_column_names(rng):
    frames = [
        pd.DataFrame({"speed": rng.random(t), "city": rng.choice(["a", "b"], t)})
        for t in (3, 4, 2)
    ]
    encode = ColumnTransformer(
        [("num", StandardScaler(), ["speed"]), ("cat", OneHotEncoder(), ["city"])],
        sparse_threshold=0,
    )
    steps = StepTransformer(encode).fit(frames)
    assert steps.feature_names_in_.tolist() == ["speed", "city"]
    assert steps.get_feature_names_out().tolist() == [
        "num__speed",
        "cat__city_a",
        "cat__city_b",
    ]
    assert [x.shape for x in steps.transform(frames)] == [(3, 3), (4, 3), (2, 3)]
    with pytest.raises(ValueError, match="Sequence 1 has columns"):
        steps.transform([frames[0], frames[1][["city", "speed"]]])


# --------------------------------------------------------------------------
# StepTransformer: strings and dicts


WORDS = [
    np.array(["the", "cat", "sat"]),
    np.array(["a", "dog"]),
    np.array(["the", "dog", "sat", "down"]),
]


@pytest.mark.parametrize("sparse_output", [True, False])
def test_one_hot_encoder_on_words(sparse_output):
    encoder = OneHotEncoder(sparse_output=sparse_output)
    steps = StepTransformer(encoder).fit(WORDS)
    Xt = steps.transform(WORDS)
    stacked = np.concatenate(WORDS).reshape(-1, 1)
    want = clone(encoder).fit_transform(stacked)
    assert [x.shape for x in Xt] == [(3, 6), (2, 6), (4, 6)]
    assert all(sp.issparse(x) == sparse_output for x in Xt)
    assert_array_equal(np.vstack([dense(x) for x in Xt]), dense(want))
    assert steps.get_feature_names_out()[:2].tolist() == ["x0_a", "x0_cat"]
    for back, words in zip(steps.inverse_transform(Xt), WORDS):
        assert_array_equal(back.ravel(), words)
    for a, b in zip(steps.fit_transform(WORDS), Xt):
        assert_array_equal(dense(a), dense(b))


def test_pandas_series_as_sequences():
    series = [pd.Series(w, index=list(range(10, 10 + len(w)))) for w in WORDS]
    out = StepTransformer(OneHotEncoder(sparse_output=False)).fit_transform(series)
    want = StepTransformer(OneHotEncoder(sparse_output=False)).fit_transform(WORDS)
    for a, b in zip(out, want):
        assert_array_equal(a, b)
    dicts = [pd.Series(token_dicts(w), index=list(range(5, 5 + len(w))))
             for w in WORDS]
    assert [x.shape[0] for x in StepTransformer(DictVectorizer()).fit_transform(
        dicts)] == [3, 2, 4]


def test_strings_in_lists_and_unknown_words():
    steps = StepTransformer(OneHotEncoder(handle_unknown="ignore")).fit(
        [list(w) for w in WORDS]
    )
    out = steps.transform([["the", "unicorn"]])
    assert_array_equal(dense(out[0]).sum(axis=1), [1, 0])


def token_dicts(words):
    """Per-word features: the word, its first and last character, its neighbours."""
    n = len(words)
    return [
        {
            "word": w,
            "first": w[0],
            "last": w[-1],
            "prev": words[i - 1] if i > 0 else "<s>",
            "next": words[i + 1] if i + 1 < n else "</s>",
        }
        for i, w in enumerate(words)
    ]


def test_dict_vectorizer_matches_stacked_steps():
    X = [token_dicts(w) for w in WORDS]
    steps = StepTransformer(DictVectorizer()).fit(X)
    Xt = steps.transform(X)
    want = DictVectorizer().fit_transform([d for x in X for d in x])
    assert all(sp.issparse(x) and x.format == "csr" for x in Xt)
    assert [x.shape[0] for x in Xt] == [3, 2, 4]
    assert (sp.vstack(Xt) != want).nnz == 0
    assert "word=dog" in steps.get_feature_names_out()
    assert not hasattr(steps, "n_features_in_")
    back = steps.inverse_transform(Xt)
    assert back[1][0] == {"word=a": 1.0, "first=a": 1.0, "last=a": 1.0,
                          "prev=<s>": 1.0, "next=dog": 1.0}
    for a, b in zip(steps.fit_transform(X), Xt):
        assert (a != b).nnz == 0


def test_dict_vectorizer_to_sequence_tagger_on_hkcancor():
    words_train, words_test, tags_train, tags_test = load_hkcancor_pos(
        return_X_y=True
    )
    X_train = [token_dicts(w) for w in words_train[:100]]
    X_test = [token_dicts(w) for w in words_test[:20]]
    model = Pipeline(
        [
            ("vectorize", StepTransformer(DictVectorizer())),
            ("tagger", SequenceTagger(hidden_layer_sizes=(4,), max_iter=2,
                                      random_state=0)),
        ]
    )
    model.fit(X_train, tags_train[:100])
    predicted = model.predict(X_test)
    assert [len(p) for p in predicted] == [len(w) for w in words_test[:20]]
    assert set(np.concatenate(predicted)) <= set(np.concatenate(tags_train[:100]))
    # score is the accuracy over every step of the test utterances.
    expected = np.mean(np.concatenate(predicted)
                       == np.concatenate(tags_test[:20]))
    assert model.score(X_test, tags_test[:20]) == pytest.approx(expected)
    # The tagger saw the vectoriser's sparse output, one CSR matrix per utterance.
    n_features = len(model.named_steps["vectorize"].get_feature_names_out())
    assert model.named_steps["tagger"].n_features_in_ == n_features


# --------------------------------------------------------------------------
# StepTransformer: empty sequences and errors


def test_zero_length_sequences_pass_through(rng):
    X = ragged(rng, n_sequences=3)
    X.insert(1, np.empty((0, 3)))
    steps = StepTransformer(PolynomialFeatures(degree=2)).fit(X)
    Xt = steps.transform(X)
    assert [x.shape for x in Xt] == [(len(x), 10) for x in X]
    want = by_hand(PolynomialFeatures(degree=2), [x for x in X if len(x)])
    for got, w in zip([x for x in Xt if len(x)], want):
        assert_allclose(got, w)
    words = [WORDS[0], np.array([], dtype=str), []]
    onehot = StepTransformer(OneHotEncoder()).fit(words)
    assert [x.shape for x in onehot.transform(words)] == [(3, 3), (0, 3), (0, 3)]
    dicts = [token_dicts(WORDS[0]), []]
    out = StepTransformer(DictVectorizer()).fit_transform(dicts)
    assert out[1].shape == (0, out[0].shape[1])


def test_only_empty_sequences_raise_naming_them(rng):
    steps = StepTransformer(StandardScaler()).fit(ragged(rng))
    with pytest.raises(ValueError, match=r"sequence 0 has length 0"):
        steps.transform([np.empty((0, 3))])
    with pytest.raises(ValueError, match=r"sequences 0 to 1 all have length 0"):
        StepTransformer(StandardScaler()).fit([[], []])


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([], ValueError, "X is empty"),
        ([np.ones((2, 3)), np.ones((2, 2))], ValueError, "Sequence 1 has 2 features"),
        ([np.ones((2, 2, 2))], ValueError, "Sequence 0 has 3 dimensions"),
        ([np.ones((2, 2)), sp.csr_matrix(np.ones((2, 2)))], ValueError,
         "Sequence 1 holds a scipy.sparse matrix"),
        ([[{"a": 1}], ["b"]], ValueError, "Sequence 1 holds an array"),
        ([[{"a": 1}, "b"]], ValueError, "Sequence 0, step 1 is str"),
        (sp.csr_matrix(np.ones((2, 2))), TypeError, "single scipy.sparse"),
        (np.ones(3), ValueError, "1 dimension"),
        ("abc", TypeError, "list of sequences"),
        ([np.ones(3), 5.0], ValueError, "Sequence 1 has 0 dimensions"),
        ([np.ones(3), {"a": 1}], ValueError, "Sequence 1 has 0 dimensions"),
    ],
)
def test_bad_input(X, error, match):
    with pytest.raises(error, match=match):
        StepTransformer(StandardScaler()).fit(X)


def test_bad_transformer_and_row_changing_transformer(rng):
    with pytest.raises(InvalidParameterError, match="transformer"):
        StepTransformer(RNNClassifier()).fit(ragged(rng))
    with pytest.raises(InvalidParameterError, match="transformer"):
        StepTransformer(object()).fit(ragged(rng))
    assert get_tags(StepTransformer(object())).requires_fit

    class DropRows(CountingScaler):
        def transform(self, X):
            return np.asarray(X)[1:]

    with pytest.raises(ValueError, match="maps every row to one row"):
        StepTransformer(DropRows()).fit_transform(ragged(rng))


# --------------------------------------------------------------------------
# StepTransformer in Pipeline and GridSearchCV


def test_step_name_steps_is_reserved_by_pipeline():
    # Pipeline's own parameter is called "steps", so a step cannot be.
    pipe = Pipeline([("steps", StepTransformer(StandardScaler())),
                     ("rnn", RNNClassifier())])
    with pytest.raises(ValueError, match="conflict with constructor arguments"):
        pipe.fit([np.ones((2, 1))] * 2, [0, 1])


def test_pipeline_grid_search_over_both_steps(rng):
    X = [rng.standard_normal((int(rng.integers(3, 9)), 2)) * 10 + 5
         for _ in range(30)]
    y = np.array([int(x[:, 0].mean() > 5) for x in X])
    pipe = Pipeline(
        [
            ("scale", StepTransformer(StandardScaler())),
            ("rnn", RNNClassifier(hidden_layer_sizes=(4,), max_iter=3,
                                  random_state=0)),
        ]
    )
    assert "scale__transformer__with_mean" in pipe.get_params(deep=True)
    grid = {
        "scale__transformer__with_mean": [True, False],
        "rnn__hidden_layer_sizes": [(4,), (3,)],
    }
    search = GridSearchCV(pipe, grid, cv=2, error_score="raise").fit(X, y)
    assert set(search.best_params_) == set(grid)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert best.named_steps["scale"].transformer_.with_mean == (
        search.best_params_["scale__transformer__with_mean"]
    )
    assert best.predict(X[:5]).shape == (5,)


# --------------------------------------------------------------------------
# sliding_windows


def test_sliding_windows_by_hand():
    series = np.arange(10.0)
    X, y, idx = sliding_windows(series, 3, horizon=2, step=3)
    # Windows start at 0 and 3; 6 would need row 10 as its target.
    assert X.shape == (2, 3, 1)
    assert_array_equal(X[:, :, 0], [[0, 1, 2], [3, 4, 5]])
    assert_array_equal(y, [4.0, 7.0])
    assert_array_equal(idx, [4, 7])

    X, y, idx = sliding_windows(series, 4)
    assert X.shape == (6, 4, 1)
    assert_array_equal(X[-1, :, 0], [5, 6, 7, 8])
    assert_array_equal(y, np.arange(4.0, 10.0))
    assert_array_equal(idx, np.arange(4, 10))

    # The shortest possible series gives exactly one window.
    X, y, idx = sliding_windows(np.arange(5.0), 3, horizon=2)
    assert_array_equal(X[:, :, 0], [[0, 1, 2]])
    assert_array_equal(y, [4.0])


def test_sliding_windows_multivariate_targets():
    series = np.column_stack([np.arange(6.0), 10 * np.arange(6.0)])
    X, y, idx = sliding_windows(series, 2)
    assert X.shape == (4, 2, 2) and y.shape == (4, 2)
    assert_array_equal(X[0], [[0, 0], [1, 10]])
    assert_array_equal(y[0], [2, 20])
    _, y1, _ = sliding_windows(series, 2, target=1)
    assert_array_equal(y1, [20, 30, 40, 50])
    _, y_list, _ = sliding_windows(series, 2, target=[1])
    assert y_list.shape == (4, 1)
    _, y_neg, _ = sliding_windows(series, 2, target=-2)
    assert_array_equal(y_neg, [2, 3, 4, 5])


@pytest.mark.parametrize("window", [1, 3, 7, "expanding"])
@pytest.mark.parametrize("horizon", [1, 2, 5])
@pytest.mark.parametrize("step", [1, 2, 3])
def test_no_leakage(window, horizon, step):
    n_rows = 20
    series = np.arange(n_rows, dtype=float) * 2 + 1
    min_window = 2 if window == "expanding" else None
    X, y, idx = sliding_windows(
        series, window, horizon=horizon, step=step, min_window=min_window
    )
    assert len(X) == len(y) == len(idx) > 0
    for x, target, t in zip(X, y, idx):
        rows = (x[:, 0] - 1) / 2  # the row numbers the window holds
        assert_array_equal(rows, np.arange(rows[0], rows[-1] + 1))
        assert t > rows[-1]
        assert t == rows[-1] + horizon
        assert target == series[t]
    # Consecutive windows end `step` rows apart; the last target is near the end.
    assert_array_equal(np.diff(idx), step)
    assert idx[-1] > n_rows - 1 - step


def test_expanding_windows():
    X, y, idx = sliding_windows(np.arange(7.0), "expanding", min_window=3, step=2)
    assert isinstance(X, list)
    assert [x.ravel().tolist() for x in X] == [[0, 1, 2], [0, 1, 2, 3, 4]]
    assert_array_equal(y, [3, 5])
    assert_array_equal(idx, [3, 5])
    X, _, _ = sliding_windows(np.arange(4.0), "expanding")
    assert [len(x) for x in X] == [1, 2, 3]
    # Windows are views of one private copy, not of the caller's series.
    series = np.arange(5.0)
    X, _, _ = sliding_windows(series, "expanding")
    series[0] = 99
    assert X[0][0, 0] == 0


def test_dataframe_and_series_input():
    dates = pd.date_range("2020-01-01", periods=6, freq="D")
    frame = pd.DataFrame(
        {"load": np.arange(6.0), "temp": np.arange(6.0) + 0.5}, index=dates
    )
    X, y, idx = sliding_windows(frame, 3, target="load")
    assert X.shape == (3, 3, 2)
    assert_array_equal(X[0], frame.to_numpy()[:3])
    assert_array_equal(y, [3, 4, 5])
    assert isinstance(idx, pd.DatetimeIndex)
    assert list(idx) == list(dates[3:])
    _, y2, _ = sliding_windows(frame, 3, target=["temp", "load"])
    assert_array_equal(y2[0], [3.5, 3.0])
    X, y, idx = sliding_windows(frame["temp"], 2, horizon=3)
    assert X.shape == (2, 2, 1) and y.ndim == 1
    assert list(idx) == list(dates[4:])


def test_sliding_windows_dtype():
    X, y, _ = sliding_windows(np.arange(6, dtype=np.float32), 2)
    assert X.dtype == y.dtype == np.float32
    X, y, _ = sliding_windows(np.arange(6), 2)
    assert X.dtype == y.dtype == np.float64


def test_sliding_windows_errors():
    with pytest.raises(ValueError, match="has 4 rows.*at least 5 rows"):
        sliding_windows(np.arange(4.0), 3, horizon=2)
    with pytest.raises(ValueError, match="min_window=4 and horizon=1 need at least 5"):
        sliding_windows(np.arange(4.0), "expanding", min_window=4)
    series = np.arange(12.0).reshape(6, 2)
    series[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN at row 3, column 1"):
        sliding_windows(series, 2)
    frame = pd.DataFrame(
        {"a": [1.0, 2.0, np.inf]}, index=pd.Index(["x", "y", "z"])
    )
    with pytest.raises(ValueError, match=r"infinite value at row 2 \(index 'z'\), "
                                         r"column 'a'"):
        sliding_windows(frame, 1)
    with pytest.raises(ValueError, match="not a column of the DataFrame"):
        sliding_windows(frame.iloc[:2], 1, target="b")
    duplicated = pd.DataFrame(np.ones((3, 2)), columns=["a", "a"])
    with pytest.raises(ValueError, match="unique column names"):
        sliding_windows(duplicated, 1, target="a")
    with pytest.raises(ValueError, match="not a column position"):
        sliding_windows(np.arange(5.0), 2, target=1)
    with pytest.raises(ValueError, match="min_window=2 only applies"):
        sliding_windows(np.arange(5.0), 2, min_window=2)
    with pytest.raises(ValueError, match="got 3 dimensions"):
        sliding_windows(np.zeros((4, 2, 2)), 2)
    with pytest.raises(InvalidParameterError, match="window"):
        sliding_windows(np.arange(5.0), 0)
    with pytest.raises(InvalidParameterError, match="window"):
        sliding_windows(np.arange(5.0), "growing")
    with pytest.raises(InvalidParameterError, match="horizon"):
        sliding_windows(np.arange(5.0), 2, horizon=0)
    with pytest.raises(ValueError, match="could not convert"):
        sliding_windows(np.array(["a", "b", "c"]), 1)


# --------------------------------------------------------------------------
# SlidingWindows


def test_sliding_windows_transformer():
    series = np.column_stack([np.arange(10.0), -np.arange(10.0)])
    windows = SlidingWindows(3, horizon=2, target=0).fit(series)
    assert windows.n_features_in_ == 2
    X, y = windows.make_xy(series)
    X_fn, y_fn, _ = sliding_windows(series, 3, horizon=2, target=0)
    assert_array_equal(X, X_fn)
    assert_array_equal(y, y_fn)
    # Forecast windows: end in the last `horizon` rows; targets are rows 10, 11.
    future = windows.transform(series)
    assert future.shape == (2, 3, 2)
    assert_array_equal(future[:, :, 0], [[6, 7, 8], [7, 8, 9]])
    assert_array_equal(windows.fit_transform(series), future)
    with pytest.raises(ValueError, match="fitted on 2"):
        windows.transform(np.arange(10.0))
    with pytest.raises(ValueError, match="has 2 rows, but window=3 need at least 3"):
        windows.transform(series[:2])

    stepped = SlidingWindows(2, horizon=4, step=3).fit(np.arange(10.0))
    assert_array_equal(stepped.transform(np.arange(10.0))[:, :, 0], [[5, 6], [8, 9]])
    expanding = SlidingWindows("expanding", horizon=2, min_window=2)
    last = expanding.fit(np.arange(5.0)).transform(np.arange(5.0))
    assert [x.ravel().tolist() for x in last] == [[0, 1, 2, 3], [0, 1, 2, 3, 4]]


def test_sliding_windows_transformer_validation():
    with pytest.raises(InvalidParameterError, match="step"):
        SlidingWindows(2, step=0).fit(np.arange(5.0))
    with pytest.raises(InvalidParameterError, match="step"):
        SlidingWindows(2, step=0).make_xy(np.arange(5.0))
    frame = pd.DataFrame({"a": np.arange(5.0), "b": np.arange(5.0)})
    windows = SlidingWindows(2).fit(frame)
    assert windows.feature_names_in_.tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="fitted on"):
        windows.transform(frame[["b", "a"]])
    # make_xy needs no fit.
    X, y = SlidingWindows(2, target="b").make_xy(frame)
    assert X.shape == (3, 2, 2) and y.shape == (3,)


def test_forecasting_end_to_end():
    t = np.arange(80.0)
    series = np.sin(t / 5)
    windows = SlidingWindows(8, horizon=1).fit(series)
    X, y = windows.make_xy(series)
    model = RNNRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    model.fit(X, y)
    forecast = model.predict(windows.transform(series))
    assert forecast.shape == (1,)
    assert np.isfinite(forecast).all()


# --------------------------------------------------------------------------
# add_static
# --------------------------------------------------------------------------


def test_add_static_repeats_each_row_along_its_sequence(rng):
    X = [rng.standard_normal((t, 2)) for t in (3, 1, 4)]
    static = rng.standard_normal((3, 2))
    out = add_static(X, static)
    assert isinstance(out, list) and [o.shape for o in out] == [(3, 4), (1, 4), (4, 4)]
    for x, s, o in zip(X, static, out):
        assert_array_equal(o[:, :2], x)
        assert_array_equal(o[:, 2:], np.tile(s, (len(x), 1)))
    # 1-D static and 1-D sequences
    out = add_static([np.arange(3.0), np.arange(2.0)], [5, 6])
    assert_array_equal(out[1], [[0, 6], [1, 6]])


def test_add_static_keeps_the_array_forms(rng):
    X3 = rng.standard_normal((4, 5, 2)).astype(np.float32)
    out = add_static(X3, np.arange(4.0))
    assert out.shape == (4, 5, 3) and out.dtype == np.float32
    assert_array_equal(out[2, :, 2], 2.0)
    X2 = rng.standard_normal((4, 5))
    out = add_static(X2, np.arange(8.0).reshape(4, 2))
    assert out.shape == (4, 5, 3)
    assert_array_equal(out[..., 0], X2)


def test_add_static_feeds_a_model_in_a_pipeline(rng):
    X = [rng.standard_normal((int(t), 1)) for t in rng.integers(3, 8, 30)]
    group = np.arange(30) % 2
    y = np.array([x.mean() for x in X]) + 3 * group
    pipe = make_pipeline(StepTransformer(StandardScaler()),
                         RNNRegressor((4,), max_iter=2, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(add_static(X, group), y)
    assert pipe.predict(add_static(X, group)).shape == (30,)


def test_add_static_refuses_mismatched_rows(rng):
    X = [np.ones((3, 1)), np.ones((2, 1))]
    with pytest.raises(ValueError, match="static has 3 rows, but X has 2"):
        add_static(X, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="static must be 1-D or 2-D"):
        add_static(X, np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match="static"):
        add_static(X, [1.0, np.nan])


# --------------------------------------------------------------------------
# Other libraries' layouts: from_long, channels_last, nested tables, panels


def test_from_long_orders_instances_by_first_row_and_steps_by_time():
    df = pd.DataFrame({
        "when": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02",
                                "2024-01-02", "2024-01-01"]),
        "who": ["b", "b", "b", "a", "a"],
        "x": [3.0, 1.0, 2.0, 20.0, 10.0],
        "y": [30, 10, 20, 200, 100],
        "note": ["n"] * 5,
    })
    panel = from_long(df, id="who", time="when", features=["x", "y"])
    assert panel.index.names == ["who", "when"]
    assert panel.index.get_level_values(0).tolist() == ["b", "b", "b", "a", "a"]
    assert panel.columns.tolist() == ["x", "y"]
    assert panel["x"].tolist() == [1.0, 2.0, 3.0, 10.0, 20.0]
    arrays = from_long(df, "who", "when", ["x", "y"], output="list")
    assert_array_equal(arrays[0], [[1, 10], [2, 20], [3, 30]])
    assert_array_equal(arrays[1], [[10, 100], [20, 200]])
    # A single feature label, and the default: every other column.
    assert from_long(df, "who", "when", "x").columns.tolist() == ["x"]
    assert from_long(df, "who", "when").columns.tolist() == ["x", "y", "note"]


def test_from_long_errors():
    df = pd.DataFrame({"id": [0, 0, 1], "t": [0, 0, 0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"time='time' is not a column of df"):
        from_long(df, "id", "time")
    with pytest.raises(ValueError, match=r"features \['z'\] are not columns"):
        from_long(df, "id", "t", ["x", "z"])
    with pytest.raises(ValueError, match=r"several rows for instance 0 at time 0"):
        from_long(df, "id", "t")
    with pytest.raises(InvalidParameterError, match="output"):
        from_long(df.iloc[1:], "id", "t", output="array")
    with pytest.raises(InvalidParameterError, match="df"):
        from_long(df.to_numpy(), "id", "t")
    strings = df.iloc[1:].assign(x=["a", "b"])
    strings["x"] = strings["x"].astype("string")
    with pytest.raises(ValueError, match=r"Column 'x' of df holds string"):
        from_long(strings, "id", "t", output="list")


def test_channels_last(rng):
    X = rng.normal(size=(3, 2, 5))
    Xt = channels_last(X)
    assert Xt.shape == (3, 5, 2)
    assert_array_equal(Xt[1], X[1].T)
    ragged = [rng.normal(size=(2, t)) for t in (4, 1, 3)]
    for form in (ragged, tuple(ragged), np.array(ragged + [None], dtype=object)[:3]):
        out = channels_last(form)
        assert [x.shape for x in out] == [(4, 2), (1, 2), (3, 2)]
        assert all(np.shares_memory(a, b) for a, b in zip(out, ragged))


@pytest.mark.parametrize("X, match", [
    (np.zeros((3, 4)), r"3-D array .*shape \(3, 4\).*univariate"),
    ([np.zeros((2, 3)), np.zeros(3)], r"^Sequence 1 has shape \(3,\)"),
    ([np.zeros((2, 3)), np.zeros((3, 3))], r"^Sequence 1 has 3 channels, but "
                                           r"sequence 0 has 2"),
    ([], r"X is empty"),
])
def test_channels_last_errors(X, match):
    with pytest.raises(ValueError, match=match):
        channels_last(X)


def test_step_transformer_on_nested_tables_and_panels(rng):
    X = [rng.normal(size=(t, 2)) for t in (3, 1, 4)]
    index = pd.MultiIndex.from_tuples(
        [(i, t) for i, x in enumerate(X) for t in range(len(x))])
    panel = pd.DataFrame(np.concatenate(X), index=index, columns=["a", "b"])
    nested = pd.DataFrame({name: [pd.Series(x[:, j]) for x in X]
                           for j, name in enumerate(["a", "b"])})
    expected = StepTransformer(StandardScaler()).fit_transform(X)
    # A panel's rows in another order: the same sequences.
    for form in (panel.iloc[::-1].sort_index(level=0, sort_remaining=False),
                 panel, nested):
        steps = StepTransformer(StandardScaler()).fit(form)
        for a, b in zip(steps.transform(form), expected):
            assert_allclose(a, b)
    # The panel's column names reach the transformer.
    assert StepTransformer(StandardScaler()).fit(panel).feature_names_in_.tolist() == [
        "a", "b"]


def test_add_static_on_a_panel_and_a_nested_table(rng):
    X = [rng.standard_normal((t, 2)) for t in (3, 2)]
    long = pd.DataFrame({
        "id": np.repeat([0, 1], [3, 2]), "time": np.r_[0:3, 0:2],
        "a": np.concatenate([x[:, 0] for x in X]),
        "b": np.concatenate([x[:, 1] for x in X])})
    expected = add_static(X, [7.0, 8.0])
    for form in (from_long(long, id="id", time="time"),
                 pd.DataFrame({"a": [x[:, 0] for x in X],
                               "b": [x[:, 1] for x in X]})):
        out = add_static(form, [7.0, 8.0])
        assert len(out) == 2
        for o, e in zip(out, expected):
            assert_array_equal(o, e)


# --------------------------------------------------------------------------
# Fuzzing StepTransformer, sliding_windows and SlidingWindows (the oracle: _fuzzing.py)
# --------------------------------------------------------------------------


@fuzz_warnings
@fuzz(2)
@given(data=st.data())
def test_step_transformer_fuzz(data):
    case = data.draw(x_cases(), label="X")
    step = StepTransformer(StandardScaler(with_mean=False))
    # Values are the wrapped transformer's business: its own messages
    # ("could not convert string to float") pass through, so only the type
    # of an error is checked, and success where the input is valid.
    try:
        out = step.fit_transform(case.X)
    except (ValueError, TypeError) as exc:
        assert case.valid is not True, f"valid input refused: {exc}"
        return
    assert len(out) == len(case.lengths)
    for o, t in zip(out, case.lengths):
        assert o.shape[0] == t
    if case.valid is True:  # NaN passes StandardScaler by design; huge overflows
        for o in out:
            _assert_finite(o.toarray() if sp.issparse(o) else o)
    back = step.inverse_transform(out)
    assert len(back) == len(out)


@fuzz_warnings
@fuzz(2)
@given(case=series_cases(), window=st.one_of(st.integers(-1, 6),
                                            st.just("expanding"),
                                            st.just(2.5), st.just("x")),
       horizon=st.integers(0, 3), step=st.integers(0, 3),
       target=st.sampled_from([None, 0, 1, [0], [1, 0], 5, "a", -1]),
       min_window=st.sampled_from([None, 1, 3, 0]))
def test_sliding_windows_fuzz(case, window, horizon, step, target, min_window):
    series, T, valid, kind = case
    names = ["series", "window", "horizon", "step", "target", "min_window"]
    ok, result = attempt(lambda: sliding_windows(
        series, window, horizon=horizon, step=step, target=target,
        min_window=min_window), names)
    if not ok:
        return
    X, y, index = result
    assert len(X) == len(y) == len(index) > 0
    if window != "expanding":
        assert X.ndim == 3 and X.shape[1] == window
    for x in X:
        _assert_finite(x)
    _assert_finite(y)
    assert np.asarray(y).dtype.kind == "f"


@fuzz_warnings
@fuzz(2)
@given(case=series_cases(), other=series_cases(),
       window=st.one_of(st.integers(0, 5), st.just("expanding")),
       horizon=st.integers(1, 2))
def test_sliding_windows_transformer_fuzz(case, other, window, horizon):
    series, T, valid, kind = case
    windows = SlidingWindows(window, horizon=horizon)
    names = ["series", "window", "horizon", "step", "target", "min_window"]
    ok, _ = attempt(lambda: windows.fit(series), names)
    if not ok:
        return
    for method in ("transform", "make_xy"):
        ok, result = attempt(
            lambda method=method: getattr(windows, method)(other[0]), names)
        if not ok:
            continue
        X = result[0] if method == "make_xy" else result
        for x in X:
            _assert_finite(x)


@fuzz_warnings
@pytest.mark.parametrize("series, match", [
    (np.empty(0), r"^series is empty"),
    (np.ones((4, 2)) + 1j, r"^series holds complex")])
def test_sliding_windows_name_the_series(series, match):
    # Were "Found array with 0 sample(s)" and "Complex data not supported".
    with pytest.raises(ValueError, match=match):
        sliding_windows(series, 2)
    with pytest.raises(ValueError, match=match):
        SlidingWindows(2).fit(series)
