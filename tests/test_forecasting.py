"""skrnn.forecasting: recursive forecasts and RelativeToLast against hand-made
models, their fuzz tests and the failures those found."""

import pickle
import warnings

import numpy as np
import pytest
from _fuzzing import (
    FUZZ_TINY,
    attempt,
    fuzz,
    fuzz_warnings,
    series_cases,
    weight_cases,
    x_cases,
    y_cases,
)

# The fuzz tests here keep the names they were written with: hypothesis
# derives their fixed examples from their source.
from _fuzzing import assert_finite as _assert_finite
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import (
    RNNRegressor,
    SequenceRegressor,
)
from skrnn.forecasting import (
    QuantileForecaster,
    RelativeToLast,
    generate,
    next_step,
    recursive_forecast,
)
from skrnn.preprocessing import sliding_windows


class LinearRecurrence(RegressorMixin, BaseEstimator):
    """Predict the next row as sum_k weights[k] @ window[k], oldest step first.

    Nothing is learned: fit only records the shapes, so a forecast can be
    checked against the recurrence computed by hand.
    """

    def __init__(self, weights):
        self.weights = weights

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict(self, X):
        X = np.asarray(X)
        self.seen_shapes_ = [*getattr(self, "seen_shapes_", []), X.shape]
        weights = np.asarray(self.weights, dtype=float)
        if weights.ndim == 1:
            return X[:, :, 0] @ weights
        return np.einsum("ntf,tgf->ng", X, weights)


class ZeroRegressor(RegressorMixin, BaseEstimator):
    """Predict 0 for every target; remember the X, y and weights of fit."""

    def fit(self, X, y, sample_weight=None):
        self.X_ = X
        self.y_ = np.asarray(y)
        self.sample_weight_ = sample_weight
        self.n_features_in_ = 7
        return self

    def predict(self, X):
        return np.zeros((len(X), *self.y_.shape[1:]))


def _flatten(X):
    return np.asarray(X).reshape(len(X), -1)


def _memorizer():
    """A regressor that returns the training target of the nearest window."""
    return make_pipeline(FunctionTransformer(_flatten), KNeighborsRegressor(1))


# --------------------------------------------------------------------------
# recursive_forecast


def test_recursive_forecast_follows_the_recurrence_univariate():
    model = LinearRecurrence([0.5, -0.2, 1.1]).fit(None, None)
    history = np.array([9.0, 9.0, 1.0, 2.0, 3.0])
    forecast = recursive_forecast(model, history, 6, window=3)

    expected = [1.0, 2.0, 3.0]
    for _ in range(6):
        expected.append(0.5 * expected[-3] - 0.2 * expected[-2] + 1.1 * expected[-1])
    assert forecast.shape == (6,)
    assert_allclose(forecast, expected[3:], rtol=1e-12)
    # Only the last `window` rows are fed, one window per predict call.
    assert model.seen_shapes_ == [(1, 3, 1)] * 6


def test_recursive_forecast_fibonacci_is_exact():
    model = LinearRecurrence([1.0, 1.0]).fit(None, None)
    forecast = recursive_forecast(model, [1, 1], 8, window=2)
    assert_array_equal(forecast, [2, 3, 5, 8, 13, 21, 34, 55])


def test_recursive_forecast_multivariate_rotates():
    # Next row = A @ last row, with A a rotation by theta: row k = A^k x0.
    theta = 0.3
    rotation = np.array(
        [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    )
    weights = np.zeros((2, 2, 2))  # (step, output, feature)
    weights[1] = rotation
    model = LinearRecurrence(weights).fit(None, None)
    history = np.array([[5.0, 5.0], [1.0, 0.0]])

    forecast = recursive_forecast(model, history, 5, window=2)

    expected = [np.linalg.matrix_power(rotation, k) @ [1.0, 0.0] for k in range(1, 6)]
    assert forecast.shape == (5, 2)
    assert_allclose(forecast, expected, atol=1e-12)
    assert model.seen_shapes_[0] == (1, 2, 2)


def test_recursive_forecast_2d_history_with_one_column_stays_2d():
    model = LinearRecurrence([1.0]).fit(None, None)
    forecast = recursive_forecast(model, np.array([[1.0], [4.0]]), 3, window=1)
    assert forecast.shape == (3, 1)
    assert_array_equal(forecast[:, 0], [4.0, 4.0, 4.0])


def _window_model(series, window, hidden_layer_sizes, **params):
    """An RNNRegressor (random_state=0) fitted on the sliding windows of a
    series, its convergence warning silenced."""
    X, y, _ = sliding_windows(series, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return RNNRegressor(hidden_layer_sizes, random_state=0, **params).fit(X, y)


def test_recursive_forecast_first_step_is_the_one_step_prediction():
    t = np.arange(120)
    series = np.column_stack([np.sin(t / 5), np.cos(t / 7)])
    model = _window_model(series, 8, (8,), cell="gru", max_iter=3)

    forecast = recursive_forecast(model, series, 4, window=8)

    assert forecast.shape == (4, 2)
    assert_allclose(forecast[0], model.predict(series[None, -8:])[0])
    assert_allclose(
        forecast[1], model.predict(np.vstack([series[-7:], forecast[:1]])[None])[0]
    )


def test_recursive_forecast_univariate_rnn_shape():
    series = np.sin(np.arange(80) / 4)
    model = _window_model(series, 6, (4,), max_iter=2)
    forecast = recursive_forecast(model, series, 7, window=6)
    assert forecast.shape == (7,)
    assert np.isfinite(forecast).all()


def test_recursive_forecast_history_shorter_than_window():
    model = LinearRecurrence([1.0, 1.0, 1.0]).fit(None, None)
    with pytest.raises(ValueError, match="history has 2 rows, but window=3"):
        recursive_forecast(model, [1.0, 2.0], 2, window=3)


def test_recursive_forecast_model_must_predict_every_column():
    # A model that predicts only one value cannot feed a 2-column history.
    model = LinearRecurrence([1.0, 1.0]).fit(None, None)
    with pytest.raises(ValueError, match="predicts 1 value.*2 column"):
        recursive_forecast(model, np.ones((5, 2)), 2, window=2)


def test_recursive_forecast_model_fitted_on_other_features():
    model = _window_model(np.sin(np.arange(40) / 3), 4, (4,), max_iter=1)
    with pytest.raises(ValueError, match="features"):
        recursive_forecast(model, np.ones((10, 3)), 2, window=4)


@pytest.mark.parametrize(
    "history, message",
    [
        (np.ones((4, 2, 1)), "dim"),
        (np.array([1.0, np.nan, 2.0]), "NaN"),
    ],
)
def test_recursive_forecast_rejects_bad_history(history, message):
    model = LinearRecurrence([1.0]).fit(None, None)
    with pytest.raises(ValueError, match=message):
        recursive_forecast(model, history, 2, window=1)


@pytest.mark.parametrize(
    "kwargs", [dict(n_steps=0, window=2), dict(n_steps=2, window=0)]
)
def test_recursive_forecast_validates_counts(kwargs):
    model = LinearRecurrence([1.0]).fit(None, None)
    with pytest.raises(InvalidParameterError):
        recursive_forecast(model, np.ones(5), **kwargs)


def test_recursive_forecast_with_relative_to_last():
    series = 3.0 + 0.25 * np.arange(30)
    X, y, _ = sliding_windows(series, 5)
    naive = RelativeToLast(ZeroRegressor()).fit(X, y)
    drift = RelativeToLast(DummyRegressor()).fit(X, y)

    assert_array_equal(recursive_forecast(naive, series, 4, window=5), [series[-1]] * 4)
    assert_allclose(
        recursive_forecast(drift, series, 4, window=5),
        series[-1] + 0.25 * np.arange(1, 5),
    )


# --------------------------------------------------------------------------
# RelativeToLast


def _windows(rng, n=12, t=5, f=3):
    return rng.normal(size=(n, t, f)).cumsum(axis=1) + 10.0


def test_relative_to_last_zero_regressor_predicts_last_values(rng):
    X = _windows(rng)
    y = rng.normal(size=(12, 3))
    model = RelativeToLast(ZeroRegressor()).fit(X, y)
    assert_array_equal(model.predict(X), X[:, -1, :])
    X_new = _windows(rng, n=4)
    assert_array_equal(model.predict(X_new), X_new[:, -1, :])


def test_relative_to_last_transforms_target_columns_only(rng):
    X = _windows(rng)
    y = rng.normal(size=(12, 2))
    model = RelativeToLast(ZeroRegressor(), target=[2, 0]).fit(X, y)

    last = X[:, -1][:, [2, 0]]
    seen = model.regressor_.X_
    assert_allclose(seen[:, :, [2, 0]], X[:, :, [2, 0]] - last[:, None, :])
    assert_array_equal(seen[:, :, 1], X[:, :, 1])
    assert_allclose(model.regressor_.y_, y - last)
    assert_array_equal(model.predict(X), last)
    assert_array_equal(model.target_, [2, 0])


def test_relative_to_last_single_target_gives_1d(rng):
    X = _windows(rng)
    y = rng.normal(size=12)
    model = RelativeToLast(ZeroRegressor(), target=-1).fit(X, y)
    assert model.regressor_.y_.shape == (12,)
    assert_array_equal(model.predict(X), X[:, -1, 2])
    # A column vector is raveled with a warning, as RNNRegressor does.
    with pytest.warns(DataConversionWarning):
        model.fit(X, y[:, None])
    assert model.regressor_.y_.shape == (12,)
    assert model.predict(X).shape == (12,)


@pytest.mark.parametrize("form", ["ragged", "ragged_1d", "2d", "dataframe"])
def test_relative_to_last_accepts_every_dense_form(form, rng):
    lengths = [3, 5, 4, 6] if form.startswith("ragged") else [5] * 4
    series = [rng.normal(size=n).cumsum() + 100.0 for n in lengths]
    if form == "ragged":
        X = [s[:, None] for s in series]
    elif form == "ragged_1d":
        X = series
    elif form == "2d":
        X = np.array(series)
    else:
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(np.array(series), columns=[f"t{i}" for i in range(5)])
    y = rng.normal(size=4) + 100.0
    last = np.array([s[-1] for s in series])

    model = RelativeToLast(ZeroRegressor()).fit(X, y)

    assert_allclose(model.predict(X), last)
    seen = model.regressor_.X_
    assert type(seen) is (list if form.startswith("ragged") else type(X))
    rows = seen if form.startswith("ragged") else list(np.asarray(seen))
    for s, x in zip(series, rows):
        assert_allclose(np.ravel(x), s - s[-1])
    if form == "dataframe":
        assert list(seen.columns) == list(X.columns)


@pytest.mark.parametrize("scale", [None, "window", "global"])
def test_relative_to_last_is_invertible(scale, rng):
    # A regressor that returns the training target of the nearest window gives
    # back y exactly on the training windows, whatever the reparametrisation.
    series = rng.normal(size=200).cumsum() + 0.5 * np.arange(200)
    X, y, _ = sliding_windows(series, 6)
    model = RelativeToLast(_memorizer(), scale=scale).fit(X, y)
    assert_allclose(model.predict(X), y, rtol=1e-12)


def test_relative_to_last_global_scale(rng):
    X = _windows(rng)
    y = X[:, -1, :] + rng.normal(scale=3.0, size=(12, 3))
    model = RelativeToLast(ZeroRegressor(), scale="global").fit(X, y)

    change = y - X[:, -1, :]
    assert_allclose(model.scale_, np.sqrt(np.mean(change**2, axis=0)))
    assert_allclose(np.sqrt(np.mean(model.regressor_.y_**2, axis=0)), 1.0)
    assert_allclose(
        model.regressor_.X_, (X - X[:, -1:, :]) / model.scale_, rtol=1e-12
    )
    assert not hasattr(model.set_params(scale=None).fit(X, y), "scale_")


def test_relative_to_last_window_scale():
    X = np.array([[1.0, 3.0, 2.0, 6.0], [5.0, 5.0, 5.0, 5.0]])[:, :, None]
    y = np.array([8.0, 7.0])
    model = RelativeToLast(ZeroRegressor(), scale="window").fit(X, y)
    # Mean absolute step: (2 + 1 + 4) / 3; a constant window keeps scale 1.
    scale = np.array([7.0 / 3.0, 1.0])
    assert_allclose(model.regressor_.y_, (y - [6.0, 5.0]) / scale)
    assert_allclose(model.regressor_.X_[0, :, 0], (X[0, :, 0] - 6.0) / scale[0])

    class Ones(ZeroRegressor):
        def predict(self, X):
            return np.ones(len(X))

    ones = RelativeToLast(Ones(), scale="window").fit(X, y)
    assert_allclose(ones.predict(X), [6.0, 5.0] + scale)


def test_relative_to_last_window_scale_on_ragged_windows():
    # Steps are not counted across the boundary of two windows.
    X = [np.array([0.0, 2.0]), np.array([10.0, 10.0, 13.0])]
    model = RelativeToLast(ZeroRegressor(), scale="window").fit(X, [0.0, 0.0])
    assert_allclose(model.regressor_.y_, [-2.0 / 2.0, -13.0 / 1.5])


def test_relative_to_last_passes_sample_weight(rng):
    X = _windows(rng)
    y = rng.normal(size=(12, 3))
    weights = np.arange(12.0)
    model = RelativeToLast(ZeroRegressor()).fit(X, y, sample_weight=weights)
    assert_array_equal(model.regressor_.sample_weight_, weights)
    assert RelativeToLast(ZeroRegressor()).fit(X, y).regressor_.sample_weight_ is None


def test_relative_to_last_follows_a_trend_a_level_model_cannot():
    series = 50.0 + 0.5 * np.arange(100)
    X, y, _ = sliding_windows(series, 4)
    X_train, y_train, X_test, y_test = X[:60], y[:60], X[60:], y[60:]
    level = DummyRegressor().fit(X_train, y_train)
    relative = RelativeToLast(DummyRegressor()).fit(X_train, y_train)
    assert_allclose(relative.predict(X_test), y_test)
    assert np.abs(level.predict(X_test) - y_test).min() > 10


@pytest.mark.parametrize(
    "target, y_columns, message",
    [
        (None, 2, "y has 2 column.*selects 3"),
        ([0, 1], 3, "y has 3 column.*selects 2"),
        (3, 1, "not a column position"),
        ([0, 0], 2, "twice"),
        ([], 1, "non-empty"),
        ([0.5], 1, "list of ints"),
    ],
)
def test_relative_to_last_target_errors(target, y_columns, message, rng):
    X = _windows(rng)
    y = rng.normal(size=(12, y_columns))
    with pytest.raises(ValueError, match=message):
        RelativeToLast(ZeroRegressor(), target=target).fit(X, y)


def test_relative_to_last_input_errors(rng):
    X = _windows(rng)
    y = rng.normal(size=(12, 3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RelativeToLast(ZeroRegressor()).fit(X, y[:5])
    with pytest.raises(InvalidParameterError):
        RelativeToLast(ZeroRegressor(), scale="median").fit(X, y)
    model = RelativeToLast(ZeroRegressor()).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
        model.predict(X[:, :, :2])
    bad = X.copy()
    bad[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)


@parametrize_with_checks(
    [RelativeToLast(Ridge(), scale=scale) for scale in (None, "window", "global")]
)
def test_relative_to_last_passes_sklearn_checks(estimator, check):
    # The checks' 2-D X is read as univariate windows, (n_samples, T).
    check(estimator)


def test_relative_to_last_never_modifies_x(rng):
    X = _windows(rng)
    X_list = list(X)
    original = X.copy()
    model = RelativeToLast(ZeroRegressor(), scale="window").fit(X, X[:, -1] + 1)
    model.predict(X)
    RelativeToLast(ZeroRegressor()).fit(X_list, X[:, -1]).predict(X_list)
    assert_array_equal(X, original)
    assert_array_equal(np.array(X_list), original)


def test_relative_to_last_params_clone_and_pickle(rng):
    model = RelativeToLast(RNNRegressor((4,), max_iter=2), scale="global")
    params = model.get_params()
    assert params["scale"] == "global"
    assert params["target"] is None
    assert params["regressor__hidden_layer_sizes"] == (4,)

    model.set_params(regressor__hidden_layer_sizes=(3,), regressor__random_state=0)
    assert model.regressor.hidden_layer_sizes == (3,)
    copy = clone(model)
    assert copy.regressor is not model.regressor
    assert copy.get_params()["regressor__hidden_layer_sizes"] == (3,)

    X = _windows(rng, n=20, f=1)
    y = X[:, -1, 0] + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert not hasattr(copy, "regressor_")
    assert model.n_features_in_ == 1
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), model.predict(X))


def test_relative_to_last_in_grid_search(rng):
    series = np.sin(np.arange(160) / 4) + 0.05 * np.arange(160)
    X, y, _ = sliding_windows(series, 6)
    search = GridSearchCV(
        RelativeToLast(
            RNNRegressor(max_iter=2, learning_rate_init=0.01, random_state=0)
        ),
        {"regressor__hidden_layer_sizes": [(2,), (4,)]},
        cv=KFold(2),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)

    assert search.best_params_["regressor__hidden_layer_sizes"] in [(2,), (4,)]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert best.regressor_.hidden_layer_sizes == best.regressor.hidden_layer_sizes
    assert search.predict(X[:3]).shape == (3,)


# --------------------------------------------------------------------------
# next_step and generate
# --------------------------------------------------------------------------


def test_next_step_pairs_advance_by_one():
    series = np.arange(6.0)
    X, Y = next_step(series)
    assert_array_equal(X[0][:, 0], series[:-1])
    assert_array_equal(Y[0], series[1:])
    table = np.column_stack([series, -series])
    X, Y = next_step([table, table[:3]])
    assert [x.shape for x in X] == [(5, 2), (2, 2)]
    assert_array_equal(Y[1], table[1:3])
    # Exogenous columns: the input at step t holds exog[t + 1].
    exog = 10 * np.arange(6.0)[:, None]
    X, Y = next_step(series, exog=exog)
    assert_array_equal(X[0], np.column_stack([series[:-1], exog[1:, 0]]))


def test_next_step_refuses_bad_series():
    with pytest.raises(ValueError, match=r"series\[1\] has 1 row"):
        next_step([np.arange(3.0), np.arange(1.0)])
    with pytest.raises(ValueError, match="different numbers of columns"):
        next_step([np.ones((3, 2)), np.ones((3, 1))])
    with pytest.raises(ValueError, match=r"exog\[0\] has 4 rows; it needs 5"):
        next_step(np.arange(5.0), exog=np.ones((4, 1)))
    with pytest.raises(ValueError, match="3 dimensions"):
        next_step([np.ones((3, 2, 1))])


def _next_step_model(series_list, exog=None, **params):
    X, Y = next_step(series_list, exog=exog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # float64: generate is compared with predict to float64 round-off.
        return SequenceRegressor(**{"hidden_layer_sizes": (6,), "max_iter": 3,
                                    "random_state": 0, "dtype": "float64",
                                    **params}).fit(X, Y)


def _rerun(model, history, n_steps, exog=None):
    """The forecast by re-reading the history extended by every prediction."""
    rows = history.reshape(len(history), -1)
    for _ in range(n_steps):
        x = rows if exog is None else np.hstack([rows, exog[1:len(rows) + 1]])
        last = model.predict([x])[0].reshape(len(rows), -1)[-1]
        rows = np.vstack([rows, last])
    out = rows[len(history):]
    return out[:, 0] if history.ndim == 1 else out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_generate_equals_rereading_the_extended_history(cell, rng):
    series = np.cumsum(rng.standard_normal(60)) / 5
    model = _next_step_model([series[:30], series[30:]], cell=cell,
                             hidden_layer_sizes=(6, 5))
    forecast = generate(model, series[:25], 7)
    assert forecast.shape == (7,)
    assert_allclose(forecast, _rerun(model, series[:25], 7), rtol=1e-10,
                    atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_generate_in_float32_equals_rereading_to_float32_round_off(cell, rng):
    series = np.cumsum(rng.standard_normal(60)) / 5
    model = _next_step_model([series[:30], series[30:]], cell=cell,
                             hidden_layer_sizes=(6, 5), dtype="float32")
    assert model._params.dtype == np.float32
    forecast = generate(model, series[:25], 7)
    assert forecast.dtype == np.float64
    assert_allclose(forecast, _rerun(model, series[:25], 7), rtol=1e-5,
                    atol=1e-6)


def test_generate_refuses_future_exog_too_large_for_float32(rng):
    table = rng.standard_normal((50, 2))
    exog = rng.standard_normal((50, 1))
    model = _next_step_model([table[:25], table[25:]],
                             exog=[exog[:25], exog[25:]], dtype="float32")
    future = exog[:14].copy()
    future[12, 0] = 1e39  # read only by the kernel, at forecast step 3
    with pytest.raises(ValueError, match=r"^Input exog holds 1e\+39 \(sequence "
                       r"0, time step 12, feature 0\), too large for float32"):
        generate(model, table[:10], 4, exog=future)


def test_generate_many_multivariate_histories_with_exog(rng):
    table = rng.standard_normal((50, 2))
    exog = rng.standard_normal((50, 1))
    model = _next_step_model([table[:25], table[25:]],
                             exog=[exog[:25], exog[25:]], cell="lstm")
    histories = [table[:10], table[20:33]]
    future = [exog[:10 + 4], exog[20:33 + 4]]
    forecast = generate(model, histories, 4, exog=future)
    assert forecast.shape == (2, 4, 2)
    for i in range(2):
        assert_allclose(forecast[i], _rerun(model, histories[i], 4, future[i]),
                        rtol=1e-10, atol=1e-12)


def test_generate_refuses_models_and_inputs_it_cannot_run(rng):
    series = rng.standard_normal(40)
    model = _next_step_model(series)
    with pytest.raises(ValueError, match="needs a fitted SequenceRegressor"):
        generate(Ridge(), series, 3)
    with pytest.raises(ValueError, match="history has 2 column"):
        generate(model, np.ones((5, 2)), 3)
    with_exog = _next_step_model(series, exog=rng.standard_normal((40, 1)))
    with pytest.raises(ValueError, match="reads 2 feature"):
        generate(with_exog, series, 3)
    with pytest.raises(ValueError, match=r"exog\[0\] has 10 rows; it needs 13"):
        generate(with_exog, series[:10], 3, exog=np.ones((10, 1)))
    bidirectional = _next_step_model(series, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional=True cannot carry"):
        generate(bidirectional, series, 3)


def test_recursive_forecast_runs_a_next_step_model_by_generate(rng):
    series = rng.standard_normal(40)
    model = _next_step_model(series)
    assert_allclose(recursive_forecast(model, series, 5, window=12),
                    generate(model, series[-12:], 5), rtol=0, atol=0)


# --------------------------------------------------------------------------
# QuantileForecaster
# --------------------------------------------------------------------------


def _heteroscedastic(rng, n):
    """The mean of a sequence plus noise whose scale its last value sets."""
    X = [rng.standard_normal((int(rng.integers(5, 15)), 1)) for _ in range(n)]
    scale = np.array([0.2 + np.abs(x[-1, 0]) for x in X])
    return X, np.array([x[:, 0].mean() for x in X]) + scale * rng.standard_normal(n)


def test_quantile_models_cover_their_interval_on_held_out_sequences(rng):
    X, y = _heteroscedastic(rng, 1000)
    X_test, y_test = _heteroscedastic(rng, 500)
    model = QuantileForecaster(
        RNNRegressor((8,), learning_rate_init=0.01, max_iter=60,
                     early_stopping=True, random_state=0),
        quantiles=(0.1, 0.9)).fit(X, y)
    low, high = model.predict(X_test).T
    coverage = np.mean((y_test >= low) & (y_test <= high))
    assert 0.75 <= coverage <= 0.85, coverage
    # the interval follows the noise: wider where the last value is larger
    last = np.abs([x[-1, 0] for x in X_test])
    width = high - low
    assert width[last > 1].mean() > 2 * width[last < 0.3].mean()


def test_quantile_forecaster_fits_one_pinball_model_per_quantile(rng):
    X, y = _heteroscedastic(rng, 60)
    base = RNNRegressor((4,), max_iter=3, random_state=0, loss="huber")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = QuantileForecaster(base, quantiles=[0.2, 0.5, 0.7]).fit(X, y)
        alone = clone(base).set_params(loss="quantile", quantile=0.7).fit(X, y)
    assert [e.quantile for e in model.estimators_] == [0.2, 0.5, 0.7]
    assert base.loss == "huber"  # cloned, not changed
    predicted = model.predict(X)
    assert predicted.shape == (60, 3)
    assert np.all(np.diff(predicted, axis=1) >= 0)
    raw = np.stack([e.predict(X) for e in model.estimators_], axis=1)
    assert_allclose(predicted, np.sort(raw, axis=1))
    assert_allclose(raw[:, 2], alone.predict(X))


def test_quantile_forecaster_generates_intervals_around_the_median_path(rng):
    series = np.sin(np.arange(120) / 4) + 0.1 * rng.standard_normal(120)
    X, Y = next_step([series[a:a + 40] for a in range(0, 80, 8)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # float64: generate is compared with predict to float64 round-off.
        model = QuantileForecaster(SequenceRegressor(
            (6,), max_iter=5, random_state=0, dtype="float64")).fit(X, Y)
    forecast = model.generate(series[:50], 6)
    assert forecast.shape == (6, 3)
    assert np.all(np.diff(forecast, axis=1) >= 0)
    median = model.estimators_[1]
    central = generate(median, series[:50], 6)
    extended = np.concatenate([series[:50], central[:-1]])
    for k, est in enumerate(model.estimators_):
        expected = est.predict([extended[:, None]])[0][49:]
        # the sort only swaps crossing quantiles
        assert np.all(np.min(np.abs(forecast - expected[:, None]), axis=1) < 1e-9)
        if k == 1:
            assert_allclose(expected, central, rtol=1e-10, atol=1e-12)
    many = model.generate([series[:50], series[10:70]], 6)
    assert many.shape == (2, 6, 3)
    assert_allclose(many[0], forecast)
    per_step = model.predict(X[:2])
    assert per_step.dtype == object and per_step[0].shape == (len(X[0]), 3)


def test_quantile_forecaster_refuses_what_it_cannot_fit(rng):
    X, y = _heteroscedastic(rng, 20)
    with pytest.raises(TypeError, match="needs an RNNRegressor or Sequence"):
        QuantileForecaster(Ridge()).fit(np.ones((20, 3)), y)
    with pytest.raises(ValueError, match="quantiles must be increasing"):
        QuantileForecaster(RNNRegressor(max_iter=1), quantiles=(0.9, 0.1)).fit(X, y)
    with pytest.raises(ValueError, match="quantiles must be increasing"):
        QuantileForecaster(RNNRegressor(max_iter=1), quantiles=(0.0, 0.5)).fit(X, y)
    series = rng.standard_normal(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = QuantileForecaster(SequenceRegressor((3,), max_iter=1),
                                   quantiles=(0.1, 0.9)).fit(*next_step(series))
    with pytest.raises(ValueError, match=r"needs the median \(0.5\)"):
        model.generate(series, 3)


# --------------------------------------------------------------------------
# Fuzzing recursive_forecast and RelativeToLast, and the failures it found
# --------------------------------------------------------------------------


def _one_step_model():
    series = np.sin(np.arange(30) / 3.0)
    X, y, _ = sliding_windows(series, 3)
    return RNNRegressor(**FUZZ_TINY).fit(X, y)


_ONE_STEP = []


@fuzz_warnings
@fuzz(2)
@given(case=series_cases(), n_steps=st.integers(-1, 4),
       window=st.integers(-1, 5))
def test_recursive_forecast_fuzz(case, n_steps, window):
    if not _ONE_STEP:
        _ONE_STEP.append(_one_step_model())
    series = case[0]
    if case[3] == "2d":
        series = series[:, :1]  # the model forecasts one column
    ok, forecast = attempt(lambda: recursive_forecast(
        _ONE_STEP[0], series, n_steps, window=window),
        ["history", "n_steps", "window", "estimator", "X"])
    if ok:
        assert forecast.shape[0] == n_steps
        _assert_finite(forecast)


@fuzz_warnings
@fuzz(2)
@given(data=st.data(), scale=st.sampled_from([None, "window", "global"]),
       target=st.sampled_from([None, 0, [2, 0], 7, -1, "a"]))
def test_relative_to_last_fuzz(data, scale, target):
    case = data.draw(x_cases(min_sequences=2), label="X")
    n = len(case.lengths)
    y, y_valid = data.draw(y_cases(RNNRegressor, case.lengths), label="y")
    w, w_valid = data.draw(weight_cases(n), label="sample_weight")
    if isinstance(target, list) and y_valid is True and np.ndim(y) == 1:
        y = np.column_stack([y, y])
    model = RelativeToLast(DummyRegressor(), target=target, scale=scale)
    ok, _ = attempt(lambda: model.fit(case.X, y, sample_weight=w),
                    ["X", "y", "sample_weight", "target", "sequence"])
    if ok:
        ok, predicted = attempt(lambda: model.predict(case.X), ["X"])
        if ok:
            assert predicted.shape[0] == n
            _assert_finite(predicted)


@fuzz_warnings
@pytest.mark.parametrize("history, match", [
    (np.empty(0), r"^history is empty"), (np.ones((5, 1, 1)), r"^history must be 1-D"),
    (np.ones(5) + 1j, r"^history holds complex")])
def test_recursive_forecast_names_the_history(history, match):
    if not _ONE_STEP:
        _ONE_STEP.append(_one_step_model())
    with pytest.raises(ValueError, match=match):
        recursive_forecast(_ONE_STEP[0], history, 2, window=3)


def _sine_windows():
    X, y, _ = sliding_windows(np.sin(np.arange(12) / 2.0), 3)
    return X, y


@fuzz_warnings
@pytest.mark.parametrize("weights, match", [
    (["a"] * 9, r"^sample_weight must hold numbers"),
    (np.zeros(9), r"^sample_weight sums to zero"),
    (np.ones(8), r"one weight per sequence of X")])
def test_relative_to_last_sample_weight_names_it(weights, match):
    # Were numpy's "could not convert string to float: 'a'" and
    # scikit-learn's "Sample weights must contain at least one non-zero
    # number".
    X, y = _sine_windows()
    with pytest.raises(ValueError, match=match):
        RelativeToLast(DummyRegressor()).fit(X, y, sample_weight=weights)


@fuzz_warnings
def test_relative_to_last_y_of_wrong_rank_names_y():
    # Was check_array's "Found array with dim 3, while dim <= 2 is required".
    X, y = _sine_windows()
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        RelativeToLast(DummyRegressor()).fit(X, np.ones((len(X), 2, 2)))


@fuzz_warnings
@pytest.mark.parametrize("scale", [None, "window", "global"])
def test_relative_to_last_overflow_is_an_error_not_a_warning(scale):
    # Was RuntimeWarning: overflow encountered in multiply / invalid value in
    # divide, for huge y and scale='global'.
    X, y = _sine_windows()
    model = RelativeToLast(DummyRegressor(), scale=scale)
    huge = np.where(np.arange(len(y)) % 2, 1.0, -1.0) * 1e300
    if scale == "global":
        with pytest.raises(ValueError, match=r"^X and y are too large for "
                           r"RelativeToLast.*Scale the targets"):
            model.fit(X, huge)
    # Windows spanning -max..max overflow their differences, whatever the
    # scale: an error in fit, and in predict after a fit on ordinary windows.
    extreme = X.copy()
    extreme[0, 0, 0] = -np.finfo(np.float64).max
    extreme[0, -1, 0] = np.finfo(np.float64).max
    with pytest.raises(ValueError, match=r"^X and y are too large"):
        model.fit(extreme, y)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"^X is too large"):
        model.predict(extreme)


@fuzz_warnings
def test_relative_to_last_global_scale_of_huge_and_tiny_weights():
    # Huge weights times squared changes of 1e5 overflowed (RuntimeWarning:
    # overflow in multiply): the weights' fault, not y's.
    X, y = _sine_windows()
    X, y = 1e5 * X, 1e5 * y
    reference = RelativeToLast(DummyRegressor(), scale="global").fit(X, y)
    for factor in (1e300, 1e-300):
        model = RelativeToLast(DummyRegressor(), scale="global").fit(
            X, y, sample_weight=np.full(len(X), factor))
        np.testing.assert_allclose(model.scale_, reference.scale_, rtol=1e-12)
