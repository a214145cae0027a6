"""Benchmark parallel cross-validation of skrnn on joblib's threading backend.

What it measures
----------------
skrnn's kernels release the GIL for the whole recurrent loop of a minibatch,
so several fits can run at once on the threads of one process, without the
start-up, import and pickling costs of worker processes. This script measures
how much of the ideal speedup threads really deliver.

One synthetic ragged data set (N float32 sequences of 8 features, lengths
uniform in 20..100, 5 classes: the argmax of a fixed random projection of the
sequence mean; seeded) is cross-validated (``cross_validate``, K folds, K
fits of the same size) with
``RNNClassifier(hidden_layer_sizes=(H,), cell="lstm", max_iter=E,
random_state=0)``, three ways:

- ``serial``: ``n_jobs=1``, the folds one after the other;
- ``threading``: inside ``joblib.parallel_backend("threading", n_jobs=J)``;
- ``threading+limit``: the same inside ``threadpoolctl.threadpool_limits(1,
  user_api="blas")`` entered in the main thread: BLAS pinned to one thread
  for the whole run by the caller, not only by skrnn inside each fit;
- ``loky``: ``n_jobs=J`` on joblib's default backend (worker processes), for
  reference. The loky workers are started (and import skrnn) in an untimed
  warm-up call first, so its time is the steady state that a search with
  many fits approaches.

Each way runs ``--repeats`` times, interleaved (serial, threading, loky,
serial, ...) so that a slow spell of a shared machine hits them alike; a way
that takes over 5 times the serial time is not repeated. The table gives the
best and the median wall time, the speedup of the best time over the best
serial time, and the median over rounds of the speedup within a round
(serial time of the round over the way's), which a change of load between
rounds disturbs less.
Ideal is min(J, K, cores). Every fit is seeded, so every run must produce
the serial test scores bit for bit: the "same" column says whether all of a
way's runs did, and the script exits with status 1 if any did not.

On a shared machine the ideal is out of reach whenever other processes hold
cores, so the script first measures how much parallelism the machine offers
right now: the speedup of J processes running a pure-Python loop side by
side over one process running it alone, best of three (the "machine"
line). Compare the
threading speedup with that, not with J.

skrnn pins BLAS to one thread inside fit and predict, so that each fit uses
one core. The ``threading`` and ``threading+limit`` lines differ where that
pinning fails in joblib's worker threads: threadpoolctl (3.8) lets only one
live thread change OpenBLAS's (pthreads) thread count, and once the main
thread has done so, e.g. by fitting a model (here: the serial runs), the
limits set by skrnn in worker threads are ignored, so that J concurrent fits
each run a multi-threaded BLAS and oversubscribe the cores.

Run::

    python benchmarks/bench_threading.py                 # defaults below
    python benchmarks/bench_threading.py --repeats 5 --n-jobs 2
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_validate
from threadpoolctl import threadpool_info, threadpool_limits

import skrnn
from skrnn import RNNClassifier

WAYS = ["serial", "threading", "threading+limit", "loky"]


def make_data(n_sequences, n_features=8, n_classes=5, seed=0):
    """Ragged float32 sequences and labels that depend on the whole sequence."""
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((n_features, n_classes))
    lengths = rng.integers(20, 101, size=n_sequences)
    X = [
        rng.standard_normal((int(length), n_features)).astype(np.float32)
        for length in lengths
    ]
    y = np.array([int(np.argmax(x.mean(axis=0) @ projection)) for x in X])
    return X, y


def _burn(n):
    total = 0
    for i in range(n):
        total += i
    return total


def machine_parallelism(n_jobs, n=5_000_000):
    """Speedup of n_jobs processes burning CPU side by side over one alone."""
    with ProcessPoolExecutor(n_jobs) as pool:
        list(pool.map(_burn, [1000] * n_jobs))  # start the workers
        start = time.perf_counter()
        pool.submit(_burn, n).result()
        alone = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_burn, [n] * n_jobs))
        together = time.perf_counter() - start
    return n_jobs * alone / together


def run(way, estimator, X, y, cv, n_jobs):
    """Wall time and test scores of one cross_validate on `way`."""
    start = time.perf_counter()
    if way == "threading":
        with joblib.parallel_backend("threading", n_jobs=n_jobs):
            result = cross_validate(estimator, X, y, cv=cv)
    elif way == "threading+limit":
        with (
            threadpool_limits(limits=1, user_api="blas"),
            joblib.parallel_backend("threading", n_jobs=n_jobs),
        ):
            result = cross_validate(estimator, X, y, cv=cv)
    else:
        result = cross_validate(
            estimator, X, y, cv=cv, n_jobs=1 if way == "serial" else n_jobs
        )
    return time.perf_counter() - start, result["test_score"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n-sequences", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--ways", nargs="+", default=WAYS, choices=WAYS,
    )
    args = parser.parse_args(argv)
    if "serial" not in args.ways:
        parser.error("--ways must include serial, the reference")

    X, y = make_data(args.n_sequences)
    # The network the recorded figures were measured on.
    estimator = RNNClassifier(
        hidden_layer_sizes=(args.hidden,),
        cell=args.cell,
        bidirectional=False,
        recurrent_dropout=0.0,
        readout="last",
        max_iter=args.epochs,
        random_state=0,
    )
    cv = KFold(args.folds, shuffle=True, random_state=0)
    n_steps = sum(len(x) for x in X)
    blas = sorted({info["internal_api"] for info in threadpool_info()
                   if info["user_api"] == "blas"})
    print(
        f"skrnn {skrnn.__version__}, joblib {joblib.__version__}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"BLAS: {', '.join(blas) or 'none found'}"
    )
    print(
        f"{args.n_sequences} float32 sequences, {n_steps} steps; "
        f"{args.cell} hidden {args.hidden}, {args.epochs} epochs; "
        f"{args.folds}-fold cross_validate; n_jobs={args.n_jobs}; "
        f"{args.repeats} repeats"
    )

    warnings.simplefilter("ignore", ConvergenceWarning)
    if "loky" in args.ways:
        # Start the workers (and their imports) outside the clock.
        cross_validate(
            estimator.set_params(max_iter=1), X[:40], y[:40], cv=2,
            n_jobs=args.n_jobs,
        )
        estimator.set_params(max_iter=args.epochs)

    machine = max(machine_parallelism(args.n_jobs) for _ in range(3))
    times = {way: [] for way in args.ways}
    scores = {}
    same = {way: True for way in args.ways}
    for _ in range(args.repeats):
        for way in args.ways:
            if times[way] and min(times[way]) > 5 * min(times["serial"]):
                continue
            elapsed, test_scores = run(way, estimator, X, y, cv, args.n_jobs)
            times[way].append(elapsed)
            scores.setdefault(way, test_scores)
            if not np.array_equal(test_scores, scores["serial"]):
                same[way] = False
                scores[way] = test_scores

    best_serial = min(times["serial"])
    ideal = min(args.n_jobs, args.folds, os.cpu_count() or 1)
    print(
        f"\n{'way':<16} {'runs':>4} {'best s':>8} {'median s':>9} "
        f"{'speedup':>8} {'in-round':>9} {'same':>5}"
    )
    for way in args.ways:
        best = min(times[way])
        in_round = statistics.median(
            serial / elapsed for serial, elapsed in zip(times["serial"], times[way])
        )
        print(
            f"{way:<16} {len(times[way]):4d} {best:8.2f} "
            f"{statistics.median(times[way]):9.2f} {best_serial / best:7.2f}x "
            f"{in_round:8.2f}x {'yes' if same[way] else 'NO':>5}"
        )
    print(f"{'machine':<16} {'':>4} {'':>8} {'':>9} {machine:7.2f}x "
          f"(pure-Python loop in {args.n_jobs} processes, measured before)")
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"ideal speedup {ideal}x; load average {load}; serial test scores "
          f"{scores['serial'].tolist()}")
    different = [way for way in args.ways if not same[way]]
    if different:
        for way in different:
            print(f"{way} test scores differ from serial: {scores[way].tolist()}")
        sys.exit(1)

if __name__ == "__main__":
    main()
