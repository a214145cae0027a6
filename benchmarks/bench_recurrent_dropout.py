"""Does recurrent dropout help? Japanese Vowels, a fixed recipe, 3 seeds.

``RNNClassifier`` (LSTM) on the bundled Japanese Vowels data set (270
training, 370 test utterances, 9 speakers), the same recipe for every
``recurrent_dropout`` rate, trained for a fixed number of epochs without
early stopping (so no rate gets a stopping rule tuned to it), and scored on
the official test split. The recipe was fixed before any rate was run; the
rates and seeds are all that vary.

Run::

    python benchmarks/bench_recurrent_dropout.py
    python benchmarks/bench_recurrent_dropout.py --rates 0 0.25 --seeds 0 1 2
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier
from skrnn.datasets import load_japanese_vowels

# One direction and the last state: the network the rates were compared on.
RECIPE = dict(hidden_layer_sizes=(64,), cell="lstm", max_iter=150,
              bidirectional=False, readout="last",
              learning_rate_init=0.003, batch_size=32, alpha=1e-4,
              n_iter_no_change=10**9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+",
                        default=[0.0, 0.25, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    X_train, X_test, y_train, y_test = load_japanese_vowels(return_X_y=True)
    print(f"recipe: RNNClassifier(**{RECIPE}, recurrent_dropout=rate, "
          f"random_state=seed)")
    print("| recurrent_dropout | " + " | ".join(f"seed {s}" for s in args.seeds)
          + " | mean | fit time (s, mean) |")
    print("| --- " * (len(args.seeds) + 3) + "|")
    for rate in args.rates:
        scores, times = [], []
        for seed in args.seeds:
            est = RNNClassifier(**RECIPE, recurrent_dropout=rate,
                                random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
            scores.append(est.score(X_test, y_test))
        print(f"| {rate} | " + " | ".join(f"{s:.4f}" for s in scores)
              + f" | {np.mean(scores):.4f} | {np.mean(times):.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
