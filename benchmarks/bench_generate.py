"""Cost of generation against the forecast horizon: generate() carries the state,
so its time grows linearly with n_steps; re-reading the extended history at
every step (what a windowed model does) grows quadratically.

    python benchmarks/bench_generate.py [--repeats 5]

Prints, per horizon, the median time of ``generate`` and of the re-reading
loop, and the time per generated step; the figures in benchmarks/README.md
come from this script.
"""

import argparse
import time
import warnings

import numpy as np

from skrnn import SequenceRegressor
from skrnn.forecasting import generate, next_step


def rerun(model, history, n_steps):
    """The forecast by re-reading the history extended by each prediction."""
    series = list(history)
    for _ in range(n_steps):
        series.append(model.predict([np.asarray(series)[:, None]])[0][-1])
    return np.asarray(series[len(history):])


def median_time(fn, repeats, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    noise = np.random.default_rng(0).standard_normal(2000)
    series = np.sin(np.arange(2000) / 8) + 0.1 * noise
    X, Y = next_step([series[a:a + 200] for a in range(0, 1800, 50)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SequenceRegressor((32,), cell="gru", max_iter=5,
                                  random_state=0).fit(X, Y)
    history = series[:500]
    print("| n_steps | generate (s) | per step (us) | re-reading (s) | "
          "max difference |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n_steps in (100, 200, 400, 800):
        t_gen, fast = median_time(generate, args.repeats, model, history, n_steps)
        t_rerun, slow = median_time(rerun, 1, model, history, n_steps)
        print(f"| {n_steps} | {t_gen:.4f} | {1e6 * t_gen / n_steps:.0f} | "
              f"{t_rerun:.3f} | {np.max(np.abs(fast - slow)):.1e} |")


if __name__ == "__main__":
    main()
