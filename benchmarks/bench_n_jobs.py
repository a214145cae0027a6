"""Threads inside one fit and predict: n_jobs=2 against n_jobs=1.

The data and model of ``bench_rnn.py`` (N ragged float32 sequences of 8
features, lengths 20..100; one recurrent layer of H units, minibatches of
32, Adam), fitted by ``RNNClassifier(n_jobs=j)`` for a few epochs and then
predicting all N sequences. Each (cell, H) alternates n_jobs=1 and n_jobs=2
``--repeats`` times in the same process and reports the median wall times,
their ratio (the speed-up of n_jobs=2), and whether both fits ended in
bit-identical parameters and predictions (they must).

A second table runs ``GridSearchCV(n_jobs=2)`` over two hidden sizes, 2-fold,
with estimators of ``n_jobs=1`` and of ``n_jobs=-1``: the search's workers
must not oversubscribe the cores, so the second must not be slower.

Run::

    python benchmarks/bench_n_jobs.py                    # lstm, gru; H = 16 64 256
    python benchmarks/bench_n_jobs.py --cells lstm --hidden 64 --repeats 3
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rnn import make_data  # noqa: E402


def _classifier(cell, hidden, epochs, n_jobs):
    from skrnn import RNNClassifier

    # bench_rnn's network: one direction, the last state, no dropout.
    return RNNClassifier((hidden,), cell=cell, bidirectional=False,
                         recurrent_dropout=0.0, readout="last",
                         batch_size=32, max_iter=epochs,
                         clip_norm=None, alpha=0, tol=0, n_iter_no_change=10**9,
                         random_state=0, n_jobs=n_jobs)


def _fit(est, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _one(cell, hidden, epochs, n_jobs, X, y):
    est = _classifier(cell, hidden, epochs, n_jobs)
    start = time.perf_counter()
    _fit(est, X, y)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    proba = est.predict_proba(X)
    predict = time.perf_counter() - start
    return fit, predict, est._params.copy(), proba


def _search(X, y, n_jobs):
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(_classifier("lstm", 64, 2, n_jobs),
                          {"hidden_layer_sizes": [(32,), (64,)]}, cv=2,
                          n_jobs=2)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    return time.perf_counter() - start, search.cv_results_["mean_test_score"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-search", action="store_true")
    args = parser.parse_args()
    X, y = make_data(args.sequences)
    print(f"{args.sequences} sequences, {sum(len(x) for x in X)} steps, "
          f"{args.epochs} epochs, {os.cpu_count()} cores, median of "
          f"{args.repeats} alternating runs")
    print("| cell | H | fit n_jobs=1 (s) | fit n_jobs=2 (s) | fit speed-up | "
          "predict n_jobs=1 (s) | predict n_jobs=2 (s) | predict speed-up | "
          "identical |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for cell in args.cells:
        for hidden in args.hidden:
            _one(cell, hidden, 1, 2, X[:64], y[:64])  # warm-up
            times = {1: ([], []), 2: ([], [])}
            results = {}
            for _ in range(args.repeats):
                for n_jobs in (1, 2):
                    fit, predict, params, proba = _one(cell, hidden,
                                                       args.epochs, n_jobs, X, y)
                    times[n_jobs][0].append(fit)
                    times[n_jobs][1].append(predict)
                    results[n_jobs] = (params, proba)
            same = all(np.array_equal(a, b)
                       for a, b in zip(results[1], results[2]))
            f1, p1 = (float(np.median(t)) for t in times[1])
            f2, p2 = (float(np.median(t)) for t in times[2])
            print(f"| {cell} | {hidden} | {f1:.2f} | {f2:.2f} | {f1 / f2:.2f} | "
                  f"{p1:.3f} | {p2:.3f} | {p1 / p2:.2f} | {same} |", flush=True)
    if args.no_search:
        return
    print()
    print("| search over estimators with | wall time (s) |")
    print("| --- | --- |")
    runs = {1: [], -1: []}
    scores = {}
    _search(X[:200], y[:200], 1)  # starts joblib's worker processes
    for _ in range(max(1, args.repeats // 2)):
        for n_jobs in (1, -1):
            elapsed, scores[n_jobs] = _search(X[:1000], y[:1000], n_jobs)
            runs[n_jobs].append(elapsed)
    for n_jobs in (1, -1):
        print(f"| n_jobs={n_jobs} | {np.median(runs[n_jobs]):.2f} |")
    print(f"same scores: {np.array_equal(scores[1], scores[-1])}")


if __name__ == "__main__":
    main()
