"""Forecasting: one-step-ahead RMSE of RNNs and three baselines on two real series.

Two bundled series: weekly CO2 at Mauna Loa (a strong trend plus a yearly
cycle) and yearly sunspot numbers (a cycle of about 11 years whose amplitude
varies). Each is split in time: the last 20% of the series is the test
period, and nothing from it is used to fit or tune anything; the tuning uses
the last 20% of the training part (the validation period).

Every model forecasts the next value from the window of values before it, cut
by ``skrnn.preprocessing.sliding_windows``. The windows of the test period
start in the training part, which is fine: those values are observed before
the forecast is made.

- naive: the last value of the window;
- seasonal naive: the value one season before the target (52 weeks for CO2,
  11 years for sunspots);
- ridge: sklearn's Ridge on the flattened window, either on the values or
  relative to the window's last value (``RelativeToLast``); its window, its
  penalty and that choice are picked on the validation period;
- ridge + RNNs: the tuned ridge above, plus the mean of three GRU
  ``RNNRegressor`` fitted to what the ridge leaves, its residuals on the
  training windows. Each RNN reads the last few steps of the window relative
  to its last value, each step standardised with a scaler fitted on the
  training windows only, and predicts the residual, standardised too; the
  forecast is the ridge's forecast plus the mean of the three corrections.
  The ridge carries the linear autoregression, for which it is near optimal,
  and leaves the RNNs the nonlinear remainder; averaging three of them (with
  random_state 0, 1 and 2, from ``RANDOM_STATE``) damps the spread between
  random_states. This design, the number of RNNs and their settings below
  were chosen on the validation period, where they also beat a plain GRU on
  the whole window.

Then several steps ahead, from every origin of the test period: a next-step
``SequenceRegressor`` (trained once on chunks of the training series, its
targets the input advanced by one step, ``skrnn.forecasting.next_step``) reads
the last chunk before the origin and runs forward on its own predictions
(``skrnn.forecasting.generate``), against the naive and seasonal-naive
forecasts and the tuned ridge run recursively. CO2 is modelled as its weekly
changes (standardised; the forecast is their running sum from the last
value), sunspots as standardised levels; the settings in ``NEXT_STEP`` were
chosen on the validation period.

The ridge + RNNs model of CO2 then forecasts three years recursively (each
forecast fed back as the newest value of the window), plotted against the
truth and the seasonal-naive forecast. The figure is saved to
``$SKRNN_EXAMPLE_OUTPUT`` (default: the current directory).

What to expect: both learned models beat the naive forecasts by far, and the
ridge + RNNs model beats the tuned ridge on both series, by little on CO2
(0.373 against 0.379 ppm, 1.4%) and by more on sunspots (16.4 against 19.5
spots, 16%). One step ahead, CO2 is close to a linear process (trend, yearly
cycle, weekly noise), for which a linear autoregression is near optimal: the
RNNs find little left to correct, and on the validation period a GRU on its
own did not beat the ridge. The sunspot cycle is not linear (cycles rise
faster than they fall, counts stay above zero), and there the correction is
worth more; with 235 training windows it also depends more on the
random_state. Over ``RANDOM_STATE`` = 0 to 4 (ensembles with no member in
common) the model stays ahead of the ridge on both series, on the validation
period as on the test period: 1.2% to 1.6% lower test RMSE on CO2, 8% to 19%
on sunspots. The recursive forecast shows what working relative to the last
value buys: the ridge, fitted on changes from the last value, carries the
trend forward, which the seasonal-naive forecast cannot.

Several steps ahead, the next-step GRU beats the naive and seasonal-naive
forecasts at every horizon. On sunspots it also beats the recursive ridge at
1, 5 and 11 years (18.6, 34.5 and 31.2 spots against 20.8, 35.1 and 34.5);
on CO2 it ties the ridge one week ahead (0.386 against 0.385 ppm) and loses
to it at 12 and 52 weeks (0.78 and 1.45 against 0.57 and 0.94 ppm): the
ridge, fitted on a two-year window relative to its last value, carries the
trend and the yearly cycle forward more faithfully than a small model of
weekly changes whose errors add up. It trains in seconds and generates the
forecasts of all origins in one call.
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin, clone  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, StandardScaler  # noqa: E402

from skrnn import RNNRegressor, SequenceRegressor  # noqa: E402
from skrnn.datasets import load_co2, load_sunspots  # noqa: E402
from skrnn.forecasting import (  # noqa: E402
    RelativeToLast,
    generate,
    next_step,
    recursive_forecast,
)
from skrnn.preprocessing import StepTransformer, sliding_windows  # noqa: E402

TEST_FRACTION = 0.2
RIDGE_ALPHAS = np.logspace(-2, 6, 9)
N_RNNS = 3
# The RNNs of the ensemble get random_state N_RNNS * RANDOM_STATE + i, so that
# two values of RANDOM_STATE give ensembles with no member in common.
RANDOM_STATE = 0
# SKRNN_EXAMPLE_EPOCHS shrinks the run for the test that keeps examples working.
EPOCHS = os.environ.get("SKRNN_EXAMPLE_EPOCHS")
OUTPUT = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))

co2 = load_co2()
sunspots = load_sunspots()
# The ridge's candidate windows: about half a season, a season, two seasons,
# and one in between.
SERIES = {
    "co2": dict(
        values=co2.data,
        time=co2.dates,
        unit="ppm",
        season=52,
        ridge_windows=(26, 53, 60, 104),
        rnn_window=26,
        rnn=dict(hidden_layer_sizes=(16,), cell="gru", learning_rate_init=0.003,
                 batch_size=128, max_iter=80),
    ),
    "sunspots": dict(
        values=sunspots.data,
        time=sunspots.years,
        unit="spots",
        season=11,
        ridge_windows=(5, 12, 20, 22),
        rnn_window=12,
        rnn=dict(hidden_layer_sizes=(32,), cell="gru", learning_rate_init=0.01,
                 alpha=0.1, max_iter=80),
    ),
}


# The next-step models: whether they read changes or levels, the length of
# the training chunks (and of the history read before each forecast), and
# the horizons reported.
NEXT_STEP = {
    "co2": dict(changes=True, chunk=104, horizons=(1, 12, 52),
                rnn=dict(hidden_layer_sizes=(16,), cell="gru",
                         learning_rate_init=0.005, batch_size=16, max_iter=60)),
    "sunspots": dict(changes=False, chunk=22, horizons=(1, 5, 11),
                     rnn=dict(hidden_layer_sizes=(32,), cell="gru",
                              learning_rate_init=0.005, batch_size=16,
                              max_iter=60)),
}


def flatten(X):
    """(n_windows, window, 1) -> (n_windows, window): a window as a table row."""
    return X.reshape(X.shape[0], -1)


def relative_to_last(X):
    """Each window minus its last value: the RNNs see shapes, not levels."""
    return X - X[:, -1:, :]


def rmse(forecast, truth):
    return float(np.sqrt(np.mean((forecast - truth) ** 2)))


def split_windows(values, window, first_test):
    """Windows and targets, split by whether the target lies before first_test."""
    X, y, target_index = sliding_windows(values, window)
    train = target_index < first_test
    return X[train], y[train], X[~train], y[~train], target_index[~train]


def make_ridge(alpha, relative):
    ridge = make_pipeline(FunctionTransformer(flatten), Ridge(alpha=alpha))
    return RelativeToLast(ridge) if relative else ridge


def tune_ridge(values, first_test, windows):
    """The ridge (window, alpha, relative) with the lowest validation RMSE."""
    train = values[:first_test]
    first_validation = int(len(train) * (1 - TEST_FRACTION))
    scores = {}
    for window in windows:
        X_fit, y_fit, X_val, y_val, _ = split_windows(train, window, first_validation)
        for alpha in RIDGE_ALPHAS:
            for relative in (False, True):
                model = make_ridge(alpha, relative).fit(X_fit, y_fit)
                scores[window, alpha, relative] = rmse(model.predict(X_val), y_val)
    return min(scores, key=scores.get)


def make_rnn(settings, random_state):
    """A GRU that maps a window to the ridge's residual, both standardised."""
    if EPOCHS is not None:
        settings = {**settings, "max_iter": int(EPOCHS)}
    # Exactly max_iter epochs, the number chosen on validation: no early stop.
    # The network the settings were chosen on validation for: one direction,
    # the last state, no recurrent dropout.
    rnn = RNNRegressor(**settings, tol=0.0, n_iter_no_change=settings["max_iter"],
                       bidirectional=False, readout="last", recurrent_dropout=0.0,
                       random_state=random_state)
    # The residuals are a fraction of a ppm or some tens of spots: scaled to
    # unit variance, one learning rate and one alpha mean the same on both.
    return TransformedTargetRegressor(
        make_pipeline(FunctionTransformer(relative_to_last),
                      StepTransformer(StandardScaler()), rnn),
        transformer=StandardScaler(),
    )


class RidgePlusRNNs(RegressorMixin, BaseEstimator):
    """The ridge's forecast plus the mean of RNNs fitted to its residuals.

    X holds windows of max(ridge_window, rnn_window) steps; the ridge reads
    the last ridge_window of them, the RNNs the last rnn_window.
    """

    def __init__(self, ridge, rnns, ridge_window, rnn_window):
        self.ridge = ridge
        self.rnns = rnns
        self.ridge_window = ridge_window
        self.rnn_window = rnn_window

    def fit(self, X, y):
        X_ridge, X_rnn = X[:, -self.ridge_window:], X[:, -self.rnn_window:]
        self.ridge_ = clone(self.ridge).fit(X_ridge, y)
        # In-sample residuals, good enough on validation: the ridge has far
        # fewer coefficients than windows, and a penalty, so it fits little of
        # the noise that the RNNs would otherwise mistake for signal.
        residual = y - self.ridge_.predict(X_ridge)
        self.rnns_ = [clone(rnn).fit(X_rnn, residual) for rnn in self.rnns]
        return self

    def predict(self, X):
        X_rnn = X[:, -self.rnn_window:]
        correction = np.mean([rnn.predict(X_rnn) for rnn in self.rnns_], axis=0)
        return self.ridge_.predict(X[:, -self.ridge_window:]) + correction


# The RNNs train for a fixed number of epochs, without a convergence criterion.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
start = time.perf_counter()
results = {}
for name, spec in SERIES.items():
    values, season = spec["values"], spec["season"]
    first_test = int(len(values) * (1 - TEST_FRACTION))

    ridge_window, alpha, relative = tune_ridge(values, first_test,
                                               spec["ridge_windows"])
    Xr_train, yr_train, Xr_test, y_test, test_index = split_windows(
        values, ridge_window, first_test
    )
    ridge = make_ridge(alpha, relative).fit(Xr_train, yr_train)

    # The windows of the test period are the same whatever their length;
    # only the training part loses a few to the longer of the two windows.
    window = max(ridge_window, spec["rnn_window"])
    X_train, y_train, X_test, _, _ = split_windows(values, window, first_test)
    rnns = [make_rnn(spec["rnn"], N_RNNS * RANDOM_STATE + i) for i in range(N_RNNS)]
    fit_start = time.perf_counter()
    model = RidgePlusRNNs(make_ridge(alpha, relative), rnns, ridge_window,
                          spec["rnn_window"]).fit(X_train, y_train)
    fit_seconds = time.perf_counter() - fit_start

    epochs = model.rnns_[0].regressor_[-1].n_iter_
    forecasts = {
        "naive (last value)": Xr_test[:, -1, 0],
        f"seasonal naive ({season} steps back)": values[test_index - season],
        f"ridge (window {ridge_window}, alpha {alpha:g}, "
        f"{'relative' if relative else 'levels'})": ridge.predict(Xr_test),
        f"ridge + mean of {N_RNNS} RNNs on its residual (GRU "
        f"{spec['rnn']['hidden_layer_sizes'][0]}, window {spec['rnn_window']}, "
        f"{epochs} epochs)": model.predict(X_test),
    }
    results[name] = dict(
        first_test=first_test, window=window, test_index=test_index,
        y_test=y_test, model=model, forecasts=forecasts, fit_seconds=fit_seconds,
        rmse={label: rmse(f, y_test) for label, f in forecasts.items()},
    )

# The table: one row per model, the label naming the settings of each series;
# the last row of each series is the ridge + RNNs model.
print("One-step-ahead RMSE on the test period (last 20% of each series)\n")
print("| series   | model | RMSE | vs best baseline |")
print("| --- | --- | ---: | ---: |")
for name, result in results.items():
    scores = list(result["rmse"].items())
    best_baseline = min(score for _, score in scores[:-1])
    for i, (label, score) in enumerate(scores):
        ratio = f"{score / best_baseline:.3f}" if i == len(scores) - 1 else ""
        print(f"| {name} | {label} | {score:.4g} {SERIES[name]['unit']} | {ratio} |")
for name, result in results.items():
    print(f"{name}: {len(result['y_test'])} test forecasts, {N_RNNS} RNNs trained "
          f"in {result['fit_seconds']:.1f} s")



def recursive_from_origins(model, values, origins, window, n_steps):
    """recursive_forecast from every origin at once: one predict per step."""
    windows = np.stack([values[o - window:o] for o in origins])[:, :, None]
    ahead = np.empty((len(origins), n_steps))
    for k in range(n_steps):
        ahead[:, k] = model.predict(windows)
        windows = np.concatenate([windows[:, 1:], ahead[:, k, None, None]], axis=1)
    return ahead


class NextStepForecaster:
    """A SequenceRegressor trained on next-step pairs of chunks of a series,
    on its standardised changes or levels, run forward by ``generate``."""

    def __init__(self, changes, chunk, rnn, random_state):
        self.changes, self.chunk = changes, chunk
        if EPOCHS is not None:
            rnn = {**rnn, "max_iter": int(EPOCHS)}
        # No recurrent dropout: the network the settings were chosen for.
        self.model = SequenceRegressor(**rnn, tol=0.0,
                                       n_iter_no_change=rnn["max_iter"],
                                       recurrent_dropout=0.0,
                                       random_state=random_state)

    def _inputs(self, values):
        return np.diff(values) if self.changes else values

    def fit(self, train):
        z = self._inputs(train)
        self.mean_, self.scale_ = z.mean(), z.std()
        z = (z - self.mean_) / self.scale_
        stride = max(1, self.chunk // 8)
        pieces = [z[a:a + self.chunk]
                  for a in range(0, len(z) - self.chunk + 1, stride)]
        self.model.fit(*next_step(pieces))
        return self

    def forecast(self, values, origins, n_steps):
        """(len(origins), n_steps): the values from each origin on, each
        forecast from the series before its origin."""
        z = (self._inputs(values) - self.mean_) / self.scale_
        # The changes before origin o end at index o - 2 (values[o-1] - values[o-2]).
        end = origins - 1 if self.changes else origins
        ahead = generate(self.model, [z[e - self.chunk:e] for e in end], n_steps)
        ahead = ahead * self.scale_ + self.mean_
        if self.changes:
            return values[origins - 1][:, None] + np.cumsum(ahead, axis=1)
        return ahead


print("\nMulti-step RMSE on the test period, from every origin that leaves "
      "room for the longest horizon\n")
print("| series | steps ahead | naive | seasonal naive | ridge, recursive | "
      "next-step GRU + generate |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, spec in SERIES.items():
    values, season = spec["values"], spec["season"]
    settings, result = NEXT_STEP[name], results[name]
    first_test = result["first_test"]
    horizons = settings["horizons"]
    longest = max(horizons)
    origins = np.arange(first_test, len(values) - longest + 1)
    forecaster = NextStepForecaster(settings["changes"], settings["chunk"],
                                    settings["rnn"], RANDOM_STATE)
    fit_start = time.perf_counter()
    forecaster.fit(values[:first_test])
    next_seconds = time.perf_counter() - fit_start
    generate_start = time.perf_counter()
    rnn_ahead = forecaster.forecast(values, origins, longest)
    generate_seconds = time.perf_counter() - generate_start
    ridge_window, alpha, relative = tune_ridge(values, first_test,
                                               spec["ridge_windows"])
    Xr_train, yr_train, _, _, _ = split_windows(values, ridge_window, first_test)
    ridge = make_ridge(alpha, relative).fit(Xr_train, yr_train)
    ridge_ahead = recursive_from_origins(ridge, values, origins, ridge_window,
                                         longest)
    for h in horizons:
        truth = values[origins + h - 1]
        # The last observed value of the same season as the target.
        seasons_back = season * int(np.ceil(h / season))
        row = [values[origins - 1], values[origins + h - 1 - seasons_back],
               ridge_ahead[:, h - 1], rnn_ahead[:, h - 1]]
        cells = " | ".join(f"{rmse(f, truth):.4g}" for f in row)
        print(f"| {name} | {h} | {cells} |")
    print(f"{name}: {len(origins)} origins; next-step GRU trained in "
          f"{next_seconds:.1f} s, {longest}-step forecasts of all origins "
          f"generated in {generate_seconds:.2f} s")

# Three years of CO2 forecast recursively from the start of the test period.
spec, result = SERIES["co2"], results["co2"]
values, season, first_test = spec["values"], spec["season"], result["first_test"]
horizon = 3 * season
truth = values[first_test:first_test + horizon]
recursive = recursive_forecast(result["model"], values[:first_test], horizon,
                               window=result["window"])
# Seasonal naive many steps ahead: the last observed season, repeated.
seasonal = np.resize(values[first_test - season:first_test], horizon)
print(f"co2, {horizon} weeks ahead from {spec['time'][first_test]}: RMSE "
      f"ridge + RNNs recursive {rmse(recursive, truth):.3f} ppm, seasonal naive "
      f"{rmse(seasonal, truth):.3f} ppm")

fig, axes = plt.subplots(3, 1, figsize=(9, 10), layout="constrained")
dates = spec["time"]
shown = slice(first_test - 2 * season, first_test + horizon)
axes[0].plot(dates[shown], values[shown], color="0.6", lw=1, label="observed")
axes[0].plot(dates[first_test:first_test + horizon], recursive, color="C3",
             label="ridge + RNNs, recursive")
axes[0].plot(dates[first_test:first_test + horizon], seasonal, color="C0", ls="--",
             label="seasonal naive")
axes[0].axvline(dates[first_test], color="k", lw=0.8)
axes[0].set(title=f"CO2: {horizon} weeks forecast from the end of training",
            ylabel="ppm")
axes[0].legend()
# One-step forecasts: the last two years of the CO2 test period (the whole
# of it is a blur at this size), all of the sunspots one.
for ax, name, shown in zip(axes[1:], results, [slice(-104, None), slice(None)]):
    result, times = results[name], SERIES[name]["time"]
    test_times = times[result["test_index"]][shown]
    ax.plot(test_times, result["y_test"][shown], color="0.6", lw=1,
            label="observed")
    for label, forecast in result["forecasts"].items():
        if label.startswith("ridge"):
            ax.plot(test_times, forecast[shown], lw=1, label=label.split(" (")[0])
    ax.set(title=f"{name}: one-step-ahead forecasts, test period",
           ylabel=SERIES[name]["unit"])
    ax.legend()
OUTPUT.mkdir(parents=True, exist_ok=True)
figure_path = OUTPUT / "forecasting.png"
fig.savefig(figure_path, dpi=100)
plt.close(fig)
print(f"figure saved to {figure_path}")
print(f"total time {time.perf_counter() - start:.1f} s")
