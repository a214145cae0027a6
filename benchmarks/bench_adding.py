"""What truncated BPTT loses on the adding problem.

The adding problem (Hochreiter & Schmidhuber 1997; here in the form of Le,
Jaitly & Hinton 2015): every sequence has T steps of two features, a value
uniform in [0, 1) and a marker that is 1 at two steps, one drawn in the first
half and one in the second half, 0 elsewhere; the target is the sum of the
two marked values. Predicting the mean (1) scores an MSE of 1/6 = 0.167;
remembering only the second marked value, 1/12 = 0.083.

An ``RNNRegressor`` (``--cell``, LSTM by default; loss on the final state)
is fitted with full BPTT and with ``bptt_steps`` windows. With the loss on
the final state the gradient of a truncated fit reaches only the last
window, so the markers before it can only be learnt through the forward
state: the question is how much that costs. Test MSE after the same number
of epochs, same seed, same recipe.

Run::

    python benchmarks/bench_adding.py                    # T=500, W in (None, 250, 100)
    python benchmarks/bench_adding.py --epochs 10 --n-train 500   # quick
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNRegressor


def adding_problem(rng, n, T):
    X = np.zeros((n, T, 2), dtype=np.float32)
    X[:, :, 0] = rng.random((n, T))
    rows = np.arange(n)
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    return X, (X[rows, first, 0] + X[rows, second, 0]).astype(np.float64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=500)
    parser.add_argument("--bptt", type=int, nargs="+", default=[0, 250, 100],
                        help="windows; 0 is full BPTT")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    X, y = adding_problem(rng, args.n_train, args.T)
    X_test, y_test = adding_problem(rng, args.n_test, args.T)
    print(f"T={args.T}, {args.n_train} training / {args.n_test} test sequences, "
          f"{args.cell}({args.hidden}), Adam lr {args.lr}, batch 32, {args.epochs} "
          f"epochs, seed {args.seed}")
    print("| bptt_steps | test MSE | train loss (last epoch) | fit time (s) |")
    print("| --- | --- | --- | --- |")
    for steps in args.bptt:
        # The network the recorded figures were measured on.
        est = RNNRegressor((args.hidden,), cell=args.cell, bidirectional=False,
                           recurrent_dropout=0.0, readout="last",
                           bptt_steps=steps or None, max_iter=args.epochs,
                           learning_rate_init=args.lr, alpha=0.0,
                           n_iter_no_change=10**9, random_state=args.seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        elapsed = time.perf_counter() - start
        mse = float(np.mean((est.predict(X_test) - y_test) ** 2))
        print(f"| {steps or 'None (full)'} | {mse:.4f} | {est.loss_:.4f} | "
              f"{elapsed:.0f} |", flush=True)


if __name__ == "__main__":
    main()
