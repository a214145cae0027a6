"""Memory of training on one long sequence: truncated against full BPTT.

One float32 sequence of T steps and one feature, fitted for one epoch by
``RNNRegressor`` (one target: the loss on the final state), by
``RNNRegressor(readout='attention')`` (a pooled readout: the loss reaches
every step) and by ``SequenceTagger`` (a label at every step), LSTM of H
units, with
``bptt_steps=W`` and with full BPTT. Every (estimator, T, W) runs in a fresh
subprocess, which reports

- ``traced``: the tracemalloc peak during ``fit`` (NumPy's buffers are
  traced) minus the bytes of X and y as passed: what the fit allocates
  beyond the data. The tagger's own per-step arrays (its encoded labels and
  per-step weights, 16 bytes a step) are part of it;
- ``rss``: the growth of the process's peak resident set during ``fit``.

With ``--speed`` it times instead what the windows cost: a tagger (GRU of
16 units) on 4 float32 sequences of 2000 steps, 5 epochs, full BPTT against
``bptt_steps`` 50 and 200, with batch_size 1 and 4 (best of 2, interleaved).
Each window is one forward and one backward call per minibatch, with its
Python overhead, so short windows on narrow minibatches cost time.

With ``--learn`` it measures learning instead: a tagger (GRU of 32 units)
on 8 training and 2 test float32 sequences of 10^4 steps whose label at step
t is whether the input 20 steps back was positive, 400 epochs of batch 2,
learning rate 0.01, full BPTT against ``bptt_steps`` 100 (the dependency
fits in a window) and 10 (it does not); test accuracy per step.

Run::

    python benchmarks/bench_long.py                 # T = 1e4, 3e4, 1e5; W = 200
    python benchmarks/bench_long.py --lengths 10000 100000 --hidden 32
    python benchmarks/bench_long.py --lengths 10000 100000 1000000 --full-up-to 100000
    python benchmarks/bench_long.py --speed
    python benchmarks/bench_long.py --learn
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np

# The network the recorded figures were measured on: one direction (truncated
# BPTT carries the state forward), no dropout.
UNIDIRECTIONAL = dict(bidirectional=False, dropout=0.0, recurrent_dropout=0.0)


def _worker(estimator, T, bptt_steps, hidden):
    from sklearn.exceptions import ConvergenceWarning

    from skrnn import RNNRegressor, SequenceTagger

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((T, 1)).astype(np.float32)]
    params = dict(UNIDIRECTIONAL)
    if estimator == "tagger":
        y = [(X[0][:, 0] > 0).astype(np.int64)]
        Estimator = SequenceTagger
    else:
        y = np.array([1.0])
        Estimator = RNNRegressor
        params["readout"] = "attention" if estimator == "attention" else "last"
    data_bytes = X[0].nbytes + sum(np.asarray(v).nbytes for v in y)
    est = Estimator((hidden,), cell="lstm", max_iter=1,
                    bptt_steps=bptt_steps, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        est.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"traced": peak - data_bytes,
                      "rss": (rss_after - rss_before) * 1024}))


def _timed_fit(est, X, y):
    """Wall seconds of ``est.fit(X, y)``, without its ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return time.perf_counter() - start


def _speed():

    from skrnn import SequenceTagger

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((2000, 1)).astype(np.float32) for _ in range(4)]
    y = [(x[:, 0] > 0).astype(np.int64) for x in X]
    print("| batch_size | bptt_steps | fit time (s) | / full BPTT |")
    print("| --- | --- | --- | --- |")
    for batch_size in (1, 4):
        best = {}
        for _ in range(2):
            for steps in (None, 50, 200):
                est = SequenceTagger((16,), cell="gru", bptt_steps=steps,
                                     batch_size=batch_size, max_iter=5,
                                     random_state=0, **UNIDIRECTIONAL)
                best[steps] = min(best.get(steps, np.inf),
                                  _timed_fit(est, X, y))
        for steps, elapsed in best.items():
            print(f"| {batch_size} | {steps} | {elapsed:.2f} | "
                  f"{elapsed / best[None]:.1f} |", flush=True)


def _delayed_copy(rng, n, T, delay):
    """Label at step t: whether the input ``delay`` steps back was positive."""
    X = [rng.standard_normal((T, 1)).astype(np.float32) for _ in range(n)]
    y = [np.concatenate([np.zeros(delay, np.int64),
                         (x[:-delay, 0] > 0).astype(np.int64)]) for x in X]
    return X, y


def _learn():

    from skrnn import SequenceTagger

    rng = np.random.default_rng(0)
    X, y = _delayed_copy(rng, 8, 10_000, 20)
    X_test, y_test = _delayed_copy(rng, 2, 10_000, 20)
    print("| bptt_steps | test accuracy | fit time (s) |")
    print("| --- | --- | --- |")
    for steps in (None, 100, 10):
        est = SequenceTagger((32,), cell="gru", bptt_steps=steps,
                             batch_size=2, learning_rate_init=0.01,
                             max_iter=400, n_iter_no_change=10**6,
                             random_state=0, **UNIDIRECTIONAL)
        elapsed = _timed_fit(est, X, y)
        print(f"| {steps} | {est.score(X_test, y_test):.4f} | {elapsed:.0f} |",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+",
                        default=[10_000, 30_000, 100_000])
    parser.add_argument("--bptt", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--full-up-to", type=int, default=None,
                        help="run full BPTT only up to this length")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--learn", action="store_true")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed:
        _speed()
        return
    if args.learn:
        _learn()
        return
    if args.worker:
        estimator, T, steps = args.worker
        _worker(estimator, int(T), None if steps == "None" else int(steps),
                args.hidden)
        return
    print("| estimator | T | bptt_steps | traced beyond data (MiB) | "
          "traced / step (B) | peak RSS growth (MiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for estimator in ("regressor", "attention", "tagger"):
        for steps in (args.bptt, None):
            for T in args.lengths:
                if steps is None and T > (args.full_up_to or T):
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--hidden", str(args.hidden),
                     "--worker", estimator, str(T), str(steps)],
                    check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"| {estimator} | {T} | {steps} | "
                      f"{r['traced'] / 2**20:.2f} | {r['traced'] / T:.1f} | "
                      f"{r['rss'] / 2**20:.1f} |", flush=True)


if __name__ == "__main__":
    main()
