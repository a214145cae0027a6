"""Forecasting: one-step-ahead RMSE of an RNN and three baselines on two real series.

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
- RNN: a GRU ``RNNRegressor`` on the window relative to its last value and
  divided by the training RMSE of the naive forecast (``RelativeToLast`` with
  ``scale="global"``), each step then standardised with a scaler fitted on
  the training windows only. Its settings below were chosen on the
  validation period.

The RNN of CO2 then forecasts three years recursively (each forecast fed back
as the newest value of the window), plotted against the truth and the
seasonal-naive forecast. The figure is saved to ``$SKRNN_EXAMPLE_OUTPUT``
(default: the current directory).

What to expect: both learned models beat the naive forecasts by far, but the
RNN is only on par with a tuned ridge. One step ahead, CO2 is close to a
linear process (trend, yearly cycle, weekly noise), for which a linear
autoregression is near optimal; sunspots give the RNN 250 training windows,
and its test error moves by several percent from one random_state to
another. The recursive forecast shows what RelativeToLast buys: trained on
changes from the last value, the RNN carries the trend forward, which the
seasonal-naive forecast cannot.
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, StandardScaler  # noqa: E402

from skrnn import RNNRegressor  # noqa: E402
from skrnn.datasets import load_co2, load_sunspots  # noqa: E402
from skrnn.forecasting import RelativeToLast, recursive_forecast  # noqa: E402
from skrnn.preprocessing import StepTransformer, sliding_windows  # noqa: E402

TEST_FRACTION = 0.2
RIDGE_ALPHAS = np.logspace(-2, 6, 9)
# SKRNN_EXAMPLE_EPOCHS shrinks the run for the test that keeps examples working.
EPOCHS = os.environ.get("SKRNN_EXAMPLE_EPOCHS")
OUTPUT = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))

co2 = load_co2()
sunspots = load_sunspots()
SERIES = {
    "co2": dict(
        values=co2.data,
        time=co2.dates,
        unit="ppm",
        season=52,
        window=60,
        rnn=dict(hidden_layer_sizes=(32,), cell="gru", learning_rate_init=0.003,
                 batch_size=128, max_iter=100),
    ),
    "sunspots": dict(
        values=sunspots.data,
        time=sunspots.years,
        unit="spots",
        season=11,
        window=20,
        rnn=dict(hidden_layer_sizes=(32,), cell="gru", learning_rate_init=0.01,
                 alpha=0.1, max_iter=40),
    ),
}


def flatten(X):
    """(n_windows, window, 1) -> (n_windows, window): a window as a table row."""
    return X.reshape(X.shape[0], -1)


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


def make_rnn(settings):
    if EPOCHS is not None:
        settings = {**settings, "max_iter": int(EPOCHS)}
    # Exactly max_iter epochs, the number chosen on validation: no early stop.
    rnn = RNNRegressor(**settings, tol=0.0, n_iter_no_change=settings["max_iter"],
                       random_state=0)
    return RelativeToLast(make_pipeline(StepTransformer(StandardScaler()), rnn),
                          scale="global")


# The RNNs train for a fixed number of epochs, without a convergence criterion.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
start = time.perf_counter()
results = {}
for name, spec in SERIES.items():
    values, season, window = spec["values"], spec["season"], spec["window"]
    first_test = int(len(values) * (1 - TEST_FRACTION))
    X_train, y_train, X_test, y_test, test_index = split_windows(
        values, window, first_test
    )

    ridge_window, alpha, relative = tune_ridge(
        values, first_test, sorted({season // 2, season + 1, 2 * season, window})
    )
    Xr_train, yr_train, Xr_test, _, _ = split_windows(values, ridge_window, first_test)
    ridge = make_ridge(alpha, relative).fit(Xr_train, yr_train)

    fit_start = time.perf_counter()
    rnn = make_rnn(spec["rnn"]).fit(X_train, y_train)
    fit_seconds = time.perf_counter() - fit_start

    forecasts = {
        "naive (last value)": X_test[:, -1, 0],
        f"seasonal naive ({season} steps back)": values[test_index - season],
        f"ridge (window {ridge_window}, alpha {alpha:g}, "
        f"{'relative' if relative else 'levels'})": ridge.predict(Xr_test),
        f"RNN (GRU {spec['rnn']['hidden_layer_sizes'][0]}, window {window}, "
        f"{rnn.regressor_[-1].n_iter_} epochs)": rnn.predict(X_test),
    }
    results[name] = dict(
        first_test=first_test, test_index=test_index, y_test=y_test, rnn=rnn,
        forecasts=forecasts, fit_seconds=fit_seconds,
        rmse={label: rmse(f, y_test) for label, f in forecasts.items()},
    )

# The table: one row per model, the label naming the settings of each series.
print("One-step-ahead RMSE on the test period (last 20% of each series)\n")
print("| series   | model | RMSE | vs best baseline |")
print("| --- | --- | ---: | ---: |")
for name, result in results.items():
    scores = list(result["rmse"].items())
    best_baseline = min(score for _, score in scores[:-1])
    for label, score in scores:
        ratio = f"{score / best_baseline:.3f}" if label.startswith("RNN") else ""
        print(f"| {name} | {label} | {score:.4g} {SERIES[name]['unit']} | {ratio} |")
for name, result in results.items():
    print(f"{name}: {len(result['y_test'])} test forecasts, RNN trained in "
          f"{result['fit_seconds']:.1f} s")

# Three years of CO2 forecast recursively from the start of the test period.
spec, result = SERIES["co2"], results["co2"]
values, season, first_test = spec["values"], spec["season"], result["first_test"]
horizon = 3 * season
truth = values[first_test:first_test + horizon]
recursive = recursive_forecast(result["rnn"], values[:first_test], horizon,
                               window=spec["window"])
# Seasonal naive many steps ahead: the last observed season, repeated.
seasonal = np.resize(values[first_test - season:first_test], horizon)
print(f"co2, {horizon} weeks ahead from {spec['time'][first_test]}: RMSE "
      f"RNN recursive {rmse(recursive, truth):.3f} ppm, seasonal naive "
      f"{rmse(seasonal, truth):.3f} ppm")

fig, axes = plt.subplots(3, 1, figsize=(9, 10), layout="constrained")
dates = spec["time"]
shown = slice(first_test - 2 * season, first_test + horizon)
axes[0].plot(dates[shown], values[shown], color="0.6", lw=1, label="observed")
axes[0].plot(dates[first_test:first_test + horizon], recursive, color="C3",
             label="RNN, recursive")
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
        if label.startswith(("RNN", "ridge")):
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
