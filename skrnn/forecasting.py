"""Forecasting: next-step pairs, generation, recursive forecasts and RelativeToLast."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.utils import check_array
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import check_is_fitted

from ._estimators import RNNRegressor, SequenceRegressor
from ._sequences import (
    Sequences,
    check_sequences,
    check_step_features,
    is_dataframe,
)
from ._validation import check_regression_targets, check_y_passed, sequence_weights

__all__ = ["QuantileForecaster", "RelativeToLast", "generate", "next_step",
           "recursive_forecast"]


def _series_list(series, name):
    """One series or a list of them -> list of (T_i, F) float arrays, and
    whether a single series was given and whether it was 1-D."""
    single = not isinstance(series, (list, tuple)) and np.ndim(series) in (1, 2)
    items = [series] if single else list(series)
    if len(items) == 0:
        raise ValueError(f"{name} is empty: give one series or a list of series.")
    out, one_d = [], set()
    for i, s in enumerate(items):
        where = name if single else f"{name}[{i}]"
        if np.ndim(s) not in (1, 2):
            raise ValueError(
                f"{where} must be 1-D (T,) or 2-D (T, n_features), rows being "
                f"time steps; got {np.ndim(s)} dimensions.")
        a = check_array(s, ensure_2d=False, dtype=(np.float64, np.float32),
                        input_name=where, ensure_min_samples=0)
        one_d.add(a.ndim == 1)
        out.append(a.reshape(a.shape[0], -1))
    if len({a.shape[1] for a in out}) > 1:
        raise ValueError(f"the series of {name} have different numbers of "
                         f"columns: {sorted({a.shape[1] for a in out})}.")
    return out, single, one_d == {True}


def next_step(series, *, exog=None):
    """Next-step training pairs: each series as input, advanced by one step as target.

    ``X[i] = series[i][:-1]`` and ``Y[i] = series[i][1:]``: a
    :class:`~skrnn.SequenceRegressor` fitted on them learns to predict every
    step's next value in one pass over each series (T steps of work), where
    expanding windows pair every prefix with its next value (T^2 / 2 steps).

    Parameters
    ----------
    series : array-like of shape (T,) or (T, n_features), or list of them
        One series or several, oldest row first; each needs 2 rows or more.
    exog : array-like of shape (T, n_exog), or list of them, default=None
        Exogenous inputs known in advance (a calendar, a price), aligned
        row by row with `series`. The input at step t then also holds
        ``exog[t + 1]``, the exogenous values of the step it predicts.

    Returns
    -------
    X : list of ndarray of shape (T_i - 1, n_features + n_exog)
        The inputs, one per series.
    Y : list of ndarray of shape (T_i - 1,) or (T_i - 1, n_features)
        The targets, 1-D for 1-D series.

    See Also
    --------
    generate : Run a next-step model forward on its own predictions.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.forecasting import next_step
    >>> X, Y = next_step(np.arange(5.0))
    >>> X[0].ravel(), Y[0]
    (array([0., 1., 2., 3.]), array([1., 2., 3., 4.]))
    """
    rows, _, one_d = _series_list(series, "series")
    extra = _exog_rows(exog, rows, 0)
    X, Y = [], []
    for i, (r, e) in enumerate(zip(rows, extra)):
        if r.shape[0] < 2:
            raise ValueError(f"series[{i}] has {r.shape[0]} row(s); a next-step "
                             "pair needs at least 2.")
        X.append(r[:-1] if e is None else np.hstack([r[:-1], e[1:]]))
        Y.append(r[1:, 0] if one_d else r[1:])
    return X, Y


def _exog_rows(exog, rows, n_steps):
    """Each series' exogenous rows, checked to cover it and n_steps beyond."""
    if exog is None:
        return [None] * len(rows)
    extra, _, _ = _series_list(exog, "exog")
    if len(extra) != len(rows):
        raise ValueError(f"exog holds {len(extra)} series, but there are "
                         f"{len(rows)}: give one exogenous table per series.")
    for i, (r, e) in enumerate(zip(rows, extra)):
        if e.shape[0] != r.shape[0] + n_steps:
            raise ValueError(
                f"exog[{i}] has {e.shape[0]} rows; it needs {r.shape[0] + n_steps}"
                f": one per row of series {i}"
                + (f" and one per each of the {n_steps} steps ahead." if n_steps
                   else "."))
    return extra


@validate_params(
    {
        "model": [HasMethods(["predict"])],
        "history": ["array-like", list],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "exog": ["array-like", list, None],
    },
    prefer_skip_nested_validation=True,
)
def generate(model, history, n_steps, *, exog=None):
    """Forecast `n_steps` ahead with a next-step model fed its own predictions.

    The model reads each history once, which gives its state and its
    prediction of the next row; from then on each prediction is fed back as
    the next input, the recurrent state carried over, so the forecast costs
    ``len(history) + n_steps`` steps of work.

    Parameters
    ----------
    model : fitted SequenceRegressor
        A next-step model, fitted on :func:`next_step` pairs of series with
        the columns of `history` (and, with `exog`, the exogenous columns
        after them); unidirectional.
    history : array-like of shape (T,) or (T, n_features), or list of them
        The observed series, oldest row first, one or several (of any
        lengths >= 1).
    n_steps : int >= 1
        How many rows to forecast.
    exog : array-like of shape (T + n_steps, n_exog), or list of them, \
            default=None
        The exogenous inputs of each series, known in advance: one row per
        row of its history, then one per forecast step. Required if the
        model was fitted with exogenous columns.

    Returns
    -------
    forecast : ndarray of shape (n_steps,) or (n_steps, n_features)
        The rows after the end of `history`; for a list of histories, of
        shape (n_series, n_steps) or (n_series, n_steps, n_features). 1-D
        series give 1-D rows.

    Raises
    ------
    ValueError
        If the model is not a fitted unidirectional SequenceRegressor, its
        inputs are not the history's columns plus `exog`'s, or it does not
        predict every column of the history.

    See Also
    --------
    next_step : The training pairs of a next-step model.
    recursive_forecast : The same for a model of fixed windows.

    Notes
    -----
    Errors compound: from the second step on the inputs hold forecasts, not
    observations. Generation equals re-running the model on the history
    extended by its own predictions, to round-off.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import SequenceRegressor
    >>> from skrnn.forecasting import generate, next_step
    >>> series = np.sin(np.arange(200) / 4)
    >>> X, Y = next_step(series)
    >>> model = SequenceRegressor((16,), learning_rate_init=0.01, max_iter=50,
    ...                           random_state=0).fit(X, Y)
    >>> generate(model, series, 3).shape
    (3,)
    """
    if not isinstance(model, SequenceRegressor):
        raise ValueError(
            f"generate needs a fitted SequenceRegressor trained on next-step "
            f"targets (see next_step); got {type(model).__name__}.")
    check_is_fitted(model, "_params")
    rows, single, one_d = _series_list(history, "history")
    extra = _exog_rows(exog, rows, n_steps)
    n_features = rows[0].shape[1]
    n_exog = 0 if extra[0] is None else extra[0].shape[1]
    if n_exog:
        # The kernel reads the future exog rows in the model's dtype, which
        # predict never validates: refuse values that dtype cannot hold.
        check_sequences(extra, input_name="exog", accept_sparse=False,
                        dtype=model._params.dtype)
    if model.n_outputs_ != n_features:
        raise ValueError(
            f"The model predicts {model.n_outputs_} value(s) per step, but "
            f"history has {n_features} column(s): generation feeds each "
            "prediction back as the next row, so the model must predict "
            "every column of history, in order.")
    if model._n_step_features != n_features + n_exog:
        raise ValueError(
            f"The model reads {model._n_step_features} feature(s) per step, but "
            f"history has {n_features} column(s) and exog {n_exog}: pass the "
            "exogenous columns the model was fitted with.")
    for i, r in enumerate(rows):
        if r.shape[0] == 0:
            raise ValueError(f"history[{i}] is empty: generation needs at "
                             "least one observed row.")
    inputs = [r if e is None else np.hstack([r, e[1:r.shape[0] + 1]])
              for r, e in zip(rows, extra)]
    predicted, state = model.predict(inputs, return_state=True)
    n = len(rows)
    first = np.array([p.reshape(p.shape[0], -1)[-1] for p in predicted])
    future = np.zeros((n_steps - 1, n, n_exog))
    if n_exog:
        # Row k of the exogenous inputs is read at forecast step k + 1.
        future[...] = np.stack([e[r.shape[0] + 1:] for r, e in zip(rows, extra)],
                               axis=1)
    # Every further step, layer and series in one kernel call, the state
    # carried on from where the history left it.
    rest, _, _ = model._network.generate(model._params, state.h, state.c or [],
                                         first, future, n_steps - 1)
    forecast = np.concatenate([first[:, None], rest.transpose(1, 0, 2)], axis=1)
    forecast = forecast.astype(np.float64, copy=False)
    if one_d:
        forecast = forecast[..., 0]
    return forecast[0] if single else forecast


@validate_params(
    {
        "estimator": [HasMethods(["predict"])],
        "history": ["array-like"],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def recursive_forecast(estimator, history, n_steps, *, window):
    """Forecast `n_steps` ahead by feeding a one-step model its own predictions.

    The last `window` rows of `history` form a window of shape
    ``(1, window, n_features)``; the estimator predicts the next row, which is
    appended to the window while its oldest row is dropped, and so on
    `n_steps` times.

    Parameters
    ----------
    estimator : fitted regressor
        A one-step-ahead model: fitted on windows of `window` rows, e.g. from
        :func:`~skrnn.preprocessing.sliding_windows` with ``horizon=1``, to
        predict the row right after each window, *every* column of it. It is
        given 3-D arrays ``(1, window, n_features)``, as the skrnn
        regressors and :class:`RelativeToLast` accept; wrap a tabular model
        in a pipeline that flattens the window first.
    history : array-like of shape (T,) or (T, n_features)
        The observed series, oldest row first, with ``T >= window``. Only its
        last `window` rows are used.
    n_steps : int >= 1
        How many rows to forecast.
    window : int >= 1
        Rows in each input window: the window length the estimator was
        trained on.

    Returns
    -------
    forecast : ndarray of shape (n_steps,) or (n_steps, n_features)
        The forecast rows after the end of `history`; 1-D for a 1-D history.

    Raises
    ------
    ValueError
        If `history` is not 1-D or 2-D, holds NaN or infinity, has fewer than
        `window` rows, or if the estimator does not predict exactly one value
        per column of `history`.

    See Also
    --------
    skrnn.preprocessing.sliding_windows : Make the training windows.
    RelativeToLast : Make a one-step regressor follow a trending series.

    Notes
    -----
    The recursion assumes that

    - the estimator was trained with ``horizon=1`` on windows of exactly
      `window` rows (a recurrent network accepts other lengths, but they
      are not what it learned from);
    - the columns of `history` are exactly the estimator's targets, in the
      same order: a forecast row becomes an input row. Exogenous columns
      that the model does not predict cannot be fed forward this way;
    - errors compound: from the second step on, the inputs hold forecasts
      rather than observations, so the error grows with the horizon, and
      a model trained on observed windows has never seen its own mistakes.
      For a long horizon, compare with a direct model (one estimator per
      horizon, from ``sliding_windows(..., horizon=h)``).

    One ``predict`` call is made per step, on the whole window. A
    :class:`~skrnn.SequenceRegressor` (a next-step model) is run by
    :func:`generate` instead: it reads the window once and then one step per
    forecast row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skrnn.forecasting import recursive_forecast
    >>> from skrnn.preprocessing import sliding_windows
    >>> series = 2.0 * np.arange(20)
    >>> X, y, _ = sliding_windows(series, 3)
    >>> flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    >>> model = make_pipeline(flatten, LinearRegression()).fit(X, y)
    >>> recursive_forecast(model, series, 4, window=3).round(6)
    array([40., 42., 44., 46.])
    """
    if np.ndim(history) not in (1, 2):
        raise ValueError(
            "history must be 1-D (T,) or 2-D (T, n_features), rows being time "
            f"steps; got {np.ndim(history)} dimensions."
        )
    if np.iscomplexobj(history):
        raise ValueError("history holds complex data; pass real values.")
    if len(history) == 0:
        # check_array's "Found array with 0 sample(s)" does not name history.
        raise ValueError(f"history is empty (0 rows); it needs at least "
                         f"window={window} rows.")
    history = check_array(
        history,
        ensure_2d=False,
        dtype=(np.float64, np.float32),
        input_name="history",
    )
    if history.ndim not in (1, 2):
        raise ValueError(
            "history must be 1-D (T,) or 2-D (T, n_features), rows being time "
            f"steps; got {history.ndim} dimensions."
        )
    one_d = history.ndim == 1
    rows = history.reshape(history.shape[0], -1)
    n_rows, n_features = rows.shape
    if n_rows < window:
        raise ValueError(
            f"history has {n_rows} rows, but window={window} needs at least "
            f"{window} rows."
        )
    if isinstance(estimator, SequenceRegressor):
        # A next-step model reads the window once and carries its state on.
        return generate(estimator, history[n_rows - window:], n_steps)
    # One buffer for the window and the forecast: step i reads rows
    # [i, i + window) and writes row i + window, so sliding costs no copy.
    buffer = np.empty((window + n_steps, n_features), dtype=rows.dtype)
    buffer[:window] = rows[n_rows - window :]
    for i in range(n_steps):
        prediction = np.asarray(estimator.predict(buffer[None, i : i + window]))
        if prediction.size != n_features:
            raise ValueError(
                f"The estimator predicts {prediction.size} value(s) per window, "
                f"but history has {n_features} column(s). A recursive forecast "
                "feeds each prediction back as the next row, so the model must "
                "predict every column of history, in order."
            )
        buffer[window + i] = prediction.reshape(n_features)
    forecast = buffer[window:]
    return forecast[:, 0] if one_d else forecast


class QuantileForecaster(BaseEstimator):
    """Prediction intervals: one skrnn regressor per quantile, on the pinball loss.

    Each quantile q gets a clone of `estimator` with ``loss='quantile',
    quantile=q``; together they give the lower, middle and upper forecasts.
    Where two quantile models cross on a sample, their predictions are
    sorted, which only brings them closer to the true quantiles (the
    rearrangement of Chernozhukov, Fernandez-Val and Galichon, 2010).

    Parameters
    ----------
    estimator : RNNRegressor or SequenceRegressor
        The model of one quantile; its own ``loss`` and ``quantile`` are
        replaced. A :class:`~skrnn.SequenceRegressor` trained on
        :func:`next_step` pairs also forecasts several steps ahead
        (:meth:`generate`).
    quantiles : sequence of float in (0, 1), default=(0.1, 0.5, 0.9)
        The quantiles, increasing. 0.5 among them gives the median, which
        :meth:`generate` feeds forward.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted model of each quantile, in the order of `quantiles`.

    See Also
    --------
    generate : The multi-step forecast of one next-step model.

    Notes
    -----
    Several steps ahead, the median model generates the central path and
    every quantile model reads the history followed by that path, giving
    its quantile of each next step. These are quantiles of each step *given
    the central path before it*: they leave out how the uncertainty of the
    earlier steps compounds, so intervals many steps ahead are too narrow.
    Check their coverage on held-out periods before relying on them.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNRegressor
    >>> from skrnn.forecasting import QuantileForecaster
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 8, 1))
    >>> y = X[:, -1, 0] + 0.3 * rng.standard_normal(200)
    >>> model = QuantileForecaster(RNNRegressor((8,), learning_rate_init=0.01,
    ...                                         max_iter=30, random_state=0))
    >>> model.fit(X, y).predict(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "quantiles": ["array-like"],
    }

    def __init__(self, estimator, *, quantiles=(0.1, 0.5, 0.9)):
        self.estimator = estimator
        self.quantiles = quantiles

    def _checked_quantiles(self):
        q = np.asarray(self.quantiles, dtype=np.float64).ravel()
        if q.size == 0 or not np.all((q > 0) & (q < 1)) or np.any(np.diff(q) <= 0):
            raise ValueError(
                f"quantiles must be increasing values in (0, 1); got "
                f"{self.quantiles!r}.")
        return q

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit one clone of `estimator` per quantile.

        Parameters
        ----------
        X, y
            As the estimator's ``fit`` takes them.
        **fit_params : dict
            Passed to every clone's ``fit`` (e.g. ``sample_weight``).

        Returns
        -------
        self : object
            The fitted forecaster.
        """
        if not isinstance(self.estimator, (RNNRegressor, SequenceRegressor)):
            raise TypeError(
                "QuantileForecaster needs an RNNRegressor or SequenceRegressor "
                f"(its loss='quantile'); got {type(self.estimator).__name__}.")
        self.estimators_ = [
            clone(self.estimator).set_params(loss="quantile", quantile=q).fit(
                X, y, **fit_params)
            for q in self._checked_quantiles()]
        return self

    def predict(self, X):
        """The quantiles of each target.

        Parameters
        ----------
        X : sequences in any accepted form

        Returns
        -------
        quantiles : ndarray of shape (n_samples, [n_outputs,] n_quantiles), \
                or for a SequenceRegressor an object array of one \
                (T_i, [n_outputs,] n_quantiles) array per sequence
            The last axis holds the quantiles, in increasing order.
        """
        check_is_fitted(self)
        outputs = [est.predict(X) for est in self.estimators_]
        if isinstance(self.estimators_[0], SequenceRegressor):
            out = np.empty(len(outputs[0]), dtype=object)
            for i in range(out.shape[0]):
                out[i] = np.sort(np.stack([o[i] for o in outputs], axis=-1),
                                 axis=-1)
            return out
        return np.sort(np.stack(outputs, axis=-1), axis=-1)

    def generate(self, history, n_steps, *, exog=None):
        """Quantile forecasts `n_steps` ahead of next-step models (see Notes).

        Parameters
        ----------
        history, n_steps, exog
            As for :func:`generate`.

        Returns
        -------
        forecast : ndarray of shape ([n_series,] n_steps, [n_features,] \
                n_quantiles)
            The quantiles of every forecast step, the last axis in
            increasing order; the median is what the forecast feeds forward.
        """
        check_is_fitted(self)
        q = self._checked_quantiles()
        if not np.any(q == 0.5):
            raise ValueError(
                "generate needs the median (0.5) among quantiles: it feeds "
                f"the median forecast forward; got {self.quantiles!r}.")
        median = self.estimators_[int(np.flatnonzero(q == 0.5)[0])]
        central = generate(median, history, n_steps, exog=exog)
        rows, single, one_d = _series_list(history, "history")
        extra = _exog_rows(exog, rows, n_steps)
        path = central[None] if single else central
        path = path.reshape(len(rows), n_steps, -1)
        # Each quantile model reads the history and the central path before
        # each step: one pass per model over every series.
        inputs = []
        for r, p, e in zip(rows, path, extra):
            x = np.vstack([r, p[:-1]])
            inputs.append(x if e is None else np.hstack([x, e[1:x.shape[0] + 1]]))
        per_model = []
        for est in self.estimators_:
            predicted = est.predict(inputs)
            per_model.append(np.stack([
                p.reshape(p.shape[0], -1)[len(r) - 1:] for p, r in zip(predicted,
                                                                       rows)]))
        forecast = np.sort(np.stack(per_model, axis=-1), axis=-1)
        if one_d:
            forecast = forecast[:, :, 0]
        return forecast[0] if single else forecast


class RelativeToLast(RegressorMixin, BaseEstimator):
    """Regress on windows re-expressed relative to their last observed value.

    A meta-regressor for forecasting trending series. In :meth:`fit`, the
    last observed value of each window's target columns is subtracted from
    every step of those columns and from the window's target; a clone of
    `regressor` learns these changes. :meth:`predict` adds the last values
    back to its predictions. A model of level-free changes extrapolates a
    trend beyond the values seen in training, which a model of levels
    cannot, and a regressor that predicts 0 is the naive (last value)
    forecast.

    Parameters
    ----------
    regressor : estimator object
        The regressor of the relative windows, e.g. an
        :class:`~skrnn.RNNRegressor`. It is cloned in :meth:`fit`; its
        parameters are reachable as ``regressor__<name>``, e.g. in a grid
        search. It receives X in the form it was given: a 3-D array, a 2-D
        array or DataFrame, or a list of (T_i, n_features) arrays.
    target : int, list of int or None, default=None
        The positions of the window columns that `y` holds, in the order of
        y's columns. None means every column: the usual case of a
        univariate series, or of a multivariate one whose every column is
        forecast. Other columns (exogenous features) are passed on unchanged.
    scale : {'window', 'global'} or None, default=None
        Also divide the relative target columns and the relative target by a
        scale, and multiply predictions by it:

        - None: no scaling;
        - 'window': per window and target column, the mean absolute change
          from step to step within the window (the in-window error of the
          naive forecast), which adapts to series whose volatility varies;
        - 'global': per target column, the root mean square of ``y - last``
          over the training windows (the training error of the naive
          forecast; weighted by `sample_weight`), learned in fit as
          `scale_`.

        A scale of 0 (a constant window, a window of one step, or a constant
        training series) is replaced by 1.

    Attributes
    ----------
    regressor_ : estimator object
        The fitted clone of `regressor`.
    target_ : ndarray of shape (n_targets,)
        Positions of the target columns.
    scale_ : ndarray of shape (n_targets,)
        The global scale, when ``scale='global'``.
    n_features_in_ : int
        Features seen in fit, from `regressor_`: per time step for 3-D or
        ragged X, T for 2-D X (n_samples, T).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a 2-D DataFrame X, from `regressor_`.

    See Also
    --------
    recursive_forecast : Multi-step forecasts from a one-step regressor.
    skrnn.preprocessing.sliding_windows : Make the windows and targets.
    sklearn.compose.TransformedTargetRegressor : Transform y alone, without
        regard to X.

    Notes
    -----
    For window ``x`` (steps ``x_1 .. x_T``) with target ``y`` and target
    columns ``c``, let ``l = x_T[c]`` and ``s`` the scale (1 without
    scaling). The regressor is fitted on ``x'`` with ``x'_t[c] = (x_t[c] -
    l) / s`` (other columns unchanged) and on ``y' = (y - l) / s``; the
    prediction is ``l + s * regressor_.predict(x')``.

    The target columns of X and y must be in the same units: put a scaler
    of X inside, as part of `regressor` (e.g. a pipeline), not before this
    estimator, or use `scale`. X may be in any form the skrnn estimators
    accept but sparse; a 2-D array (n_samples, T) is read as univariate
    windows, whose last column is the last value.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> from skrnn.forecasting import RelativeToLast
    >>> from skrnn.preprocessing import sliding_windows
    >>> series = 10.0 + 0.5 * np.arange(30)
    >>> X, y, _ = sliding_windows(series, 4)
    >>> X_train, y_train, X_new = X[:20], y[:20], X[20:]

    A model of levels cannot leave the range of its training targets; the
    same model of changes from the last value extrapolates the trend:

    >>> DummyRegressor().fit(X_train, y_train).predict(X_new[:3])
    array([16.75, 16.75, 16.75])
    >>> model = RelativeToLast(DummyRegressor()).fit(X_train, y_train)
    >>> model.predict(X_new[:3])
    array([22. , 22.5, 23. ])
    >>> y[20:23]
    array([22. , 22.5, 23. ])
    """

    _parameter_constraints: dict = {
        "regressor": [HasMethods(["fit", "predict"])],
        "target": [Integral, "array-like", None],
        "scale": [StrOptions({"window", "global"}), None],
    }

    def __init__(self, regressor, *, target=None, scale=None):
        self.regressor = regressor
        self.target = target
        self.scale = scale

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit a clone of `regressor` on the windows and targets made relative.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            The input windows: a 3-D array (n_samples, T, n_features), a list
            of (T_i, n_features) or (T_i,) arrays, or a 2-D array or
            DataFrame (n_samples, T) of univariate windows.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The value after each window of the target columns. A single
            target column is a 1-D y; a column vector (n_samples, 1) is
            raveled with a DataConversionWarning, as RNNRegressor does.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the regressor's fit when given; also weighs the
            windows in the global scale.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        seqs, form = check_sequences(X, accept_sparse=False)
        self.target_ = _target_positions(self.target, seqs.n_features)
        targets = self._validate_targets(y, seqs.n_sequences)
        self._n_step_features = seqs.n_features
        if sample_weight is not None:
            sample_weight = sequence_weights(
                sample_weight, np.ones(seqs.n_sequences, dtype=np.int64),
                per_step=False, sequences_name="X")
        last = _last_values(seqs, self.target_)
        # Huge values overflow here (to infinity, with a RuntimeWarning):
        # checked after, with an error that says what to do.
        with np.errstate(over="ignore", invalid="ignore"):
            change = targets - last
            if self.scale == "global":
                # Weights divided by their maximum: np.average's sums of
                # huge or tiny weights neither overflow nor underflow.
                mean_square = np.average(
                    change * change, axis=0, weights=None if sample_weight is None
                    else sample_weight / sample_weight.max())
                self.scale_ = _nonzero(np.sqrt(mean_square))
            elif hasattr(self, "scale_"):
                del self.scale_
            scale = self._scale(seqs)
            relative = change / scale
        _check_not_overflowed("X and y", scale, relative)
        windows = _relative_windows(X, seqs, form, self.target_, last, scale,
                                    "X and y")
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.regressor_ = clone(self.regressor)
        self.regressor_.fit(
            windows, relative[:, 0] if self._y_1d else relative, **fit_params)
        return self

    def predict(self, X):
        """Predict the value after each window, on the scale of the series.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Windows in a form accepted by :meth:`fit`, with the per-step
            features seen in fit.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions, 1-D for a single target column.
        """
        check_is_fitted(self)
        seqs, form = check_sequences(X, accept_sparse=False)
        check_step_features(seqs, self._n_step_features, type(self).__name__)
        last = _last_values(seqs, self.target_)
        with np.errstate(over="ignore", invalid="ignore"):
            scale = self._scale(seqs)
        _check_not_overflowed("X", scale)
        relative = self.regressor_.predict(
            _relative_windows(X, seqs, form, self.target_, last, scale, "X")
        )
        relative = np.asarray(relative, dtype=np.float64).reshape(last.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            predictions = last + scale * relative
        _check_not_overflowed("X", predictions)
        return predictions[:, 0] if self._y_1d else predictions

    def _validate_targets(self, y, n_samples):
        """y -> (n_samples, n_targets) float64; sets _y_1d. (n, 1) becomes 1-D."""
        check_y_passed(y, type(self).__name__)
        # As RNNRegressor does: one target is a 1-D y, with a warning.
        y = check_regression_targets(y, n_samples, samples="windows")
        targets = y.reshape(n_samples, -1)
        if targets.shape[1] != self.target_.shape[0]:
            raise ValueError(
                f"y has {targets.shape[1]} column(s), but target selects "
                f"{self.target_.shape[0]} column(s) of X "
                f"({self.target_.tolist()}); y must hold the value after each "
                "window of exactly those columns."
            )
        self._y_1d = y.ndim == 1
        return targets

    def _scale(self, seqs):
        """The (n_samples, n_targets) divisor of each window's target columns."""
        n_targets = self.target_.shape[0]
        if self.scale is None:
            return np.ones((seqs.n_sequences, n_targets))
        if self.scale == "global":
            return np.broadcast_to(self.scale_, (seqs.n_sequences, n_targets))
        values = seqs.data[:, self.target_].astype(np.float64)
        steps = np.abs(np.diff(values, axis=0))
        # Differences across the boundary of two windows are not steps.
        inside = np.ones(steps.shape[0], dtype=bool)
        inside[seqs.offsets[1:-1] - 1] = False
        lengths = seqs.lengths
        sums = np.zeros((seqs.n_sequences, n_targets))
        owner = np.repeat(np.arange(seqs.n_sequences), lengths)[1:]
        np.add.at(sums, owner[inside], steps[inside])
        counts = np.maximum(lengths - 1, 1)[:, None]
        return _nonzero(sums / counts)

    @property
    def n_features_in_(self):
        """int: features seen in fit (from `regressor_`)."""
        # AttributeError when unfitted or undefined, so hasattr() tells.
        return self.regressor_.n_features_in_

    @property
    def feature_names_in_(self):
        """ndarray of str: column names seen in fit (from `regressor_`)."""
        return self.regressor_.feature_names_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


def _target_positions(target, n_features):
    """The positions of the target columns, as an int array, checked."""
    if target is None:
        return np.arange(n_features)
    wanted = np.atleast_1d(np.asarray(target))
    if wanted.ndim != 1 or wanted.size == 0 or wanted.dtype.kind not in "iu":
        raise ValueError(
            "target must be None, an int or a non-empty list of ints (column "
            f"positions); got {target!r}."
        )
    if wanted.min() < -n_features or wanted.max() >= n_features:
        raise ValueError(
            f"target {target!r} is not a column position of windows with "
            f"{n_features} feature(s) per step."
        )
    positions = wanted.astype(np.intp) % n_features
    if np.unique(positions).shape[0] != positions.shape[0]:
        raise ValueError(f"target {target!r} names a column twice.")
    return positions


def _last_values(seqs, target):
    """The (n_samples, n_targets) last row of each window's target columns."""
    return seqs.data[seqs.offsets[1:] - 1][:, target].astype(np.float64)


def _nonzero(scale):
    return np.where(scale > 0, scale, 1.0)


def _check_not_overflowed(inputs, *arrays):
    """A ValueError if the arithmetic on ``inputs`` overflowed in ``arrays``."""
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError(
            f"{inputs} {'are' if ' and ' in inputs else 'is'} too large for "
            "RelativeToLast: the changes from the last value of each window "
            "(their scale, and for scale='global' their squares) overflow "
            "float64. Scale the targets: divide y and the target columns of X "
            "by the same constant.")


def _relative_windows(X, seqs, form, target, last, scale, inputs):
    """The windows of X with target columns made relative, in X's own form;
    ``inputs`` names the arguments in the error if that overflows."""
    # A new array rather than seqs.data modified in place: the caller's X
    # must never change, whatever check_sequences shares with it.
    data = seqs.data.copy()
    lengths = seqs.lengths
    with np.errstate(over="ignore", invalid="ignore"):
        divisor = np.repeat(scale, lengths, axis=0).astype(data.dtype)
        data[:, target] -= np.repeat(last, lengths, axis=0).astype(data.dtype)
        data[:, target] /= divisor
    _check_not_overflowed(inputs, divisor, data[:, target])
    n_samples = seqs.n_sequences
    if form == "3d":
        return data.reshape(n_samples, -1, seqs.n_features)
    if form == "2d":
        table = data.reshape(n_samples, -1)
        if is_dataframe(X):
            # Keep the column names, which the regressor may have to check.
            return type(X)(table, index=X.index, columns=X.columns)
        return table
    return Sequences(data, seqs.offsets).to_list()
