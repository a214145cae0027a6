"""Run a GridSearchCV on a dask.distributed cluster through joblib.

skrnn needs nothing special to scale out: the fits of a search are
independent, and scikit-learn hands them to joblib, whose ``"dask"`` backend
sends them to the workers of a dask.distributed cluster. Here the cluster is a
``LocalCluster`` of two worker processes on this machine (loopback interface
only); to use a real cluster, connect the ``Client`` to its scheduler's
address instead, and nothing else changes. Each worker unpickles the
Pipeline, fits it on its fold and sends back the scores.

The search is the one of ``grid_search.py`` (BasicMotions, a Pipeline of
``StepTransformer(StandardScaler())`` and ``RNNClassifier``), over the gated
cells. The figure shows which worker ran what, from dask's task stream: each
bar is one batch of fits that joblib sent.

Needs dask.distributed: ``pip install "dask[distributed]"``.

Environment: ``SKRNN_EXAMPLE_EPOCHS`` sets the epochs of every fit (default
30); ``SKRNN_EXAMPLE_OUTPUT`` is the directory of the figure (default: the
current directory).
"""

import os
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skrnn import RNNClassifier
from skrnn.datasets import load_basic_motions
from skrnn.preprocessing import StepTransformer

try:
    from distributed import Client, LocalCluster, get_task_stream
except ImportError:
    sys.exit(
        "dask_search.py needs dask.distributed, which is not installed; "
        'install it with: pip install "dask[distributed]"'
    )


def main():
    epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "30"))
    output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))
    # Every fit runs the same number of epochs on purpose; the filter reaches
    # the workers too, as scikit-learn passes warning filters along with fits.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    motions = load_basic_motions()
    pipe = Pipeline(
        [
            ("scale", StepTransformer(StandardScaler())),
            ("rnn", RNNClassifier(learning_rate_init=0.02, max_iter=epochs,
                                  random_state=0)),
        ]
    )
    param_grid = {
        "rnn__cell": ["lstm", "gru"],
        "rnn__hidden_layer_sizes": [(8,), (16,)],
        "rnn__bidirectional": [False, True],
    }
    search = GridSearchCV(
        pipe, param_grid, cv=StratifiedKFold(5, shuffle=True, random_state=0)
    )

    # Two single-threaded worker processes listening on 127.0.0.1 only, and no
    # dashboard. For a cluster elsewhere: Client("tcp://scheduler-host:8786").
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        workers = sorted(client.scheduler_info()["workers"])
        print(
            f"dask LocalCluster: scheduler {cluster.scheduler_address}, "
            f"{len(workers)} worker processes"
        )
        print(f"searching 8 candidates x 5 folds = 40 fits of {epochs} epochs...")
        start = time.perf_counter()
        # Inside this block, every joblib call without an explicit backend,
        # such as GridSearchCV's (n_jobs=None), runs on the cluster.
        with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
            search.fit(motions.X_train, motions.y_train)
        elapsed = time.perf_counter() - start
        tasks = stream.data

    # The same search on a Ray cluster (pip install "ray[default]") instead:
    #
    #     import ray
    #     from ray.util.joblib import register_ray
    #
    #     ray.init()            # or ray.init(address="auto") to join a cluster
    #     register_ray()
    #     with joblib.parallel_backend("ray"):
    #         search.fit(motions.X_train, motions.y_train)

    results = pd.DataFrame(search.cv_results_)
    table = results[
        [
            "rank_test_score",
            "param_rnn__cell",
            "param_rnn__hidden_layer_sizes",
            "param_rnn__bidirectional",
            "mean_test_score",
            "std_test_score",
            "mean_fit_time",
        ]
    ].rename(columns=lambda name: name.removeprefix("param_rnn__"))
    print(f"search took {elapsed:.1f} s on the cluster; cv_results_:")
    print(
        table.sort_values("rank_test_score", kind="stable").to_string(
            index=False, float_format="{:.3f}".format
        )
    )
    print(f"best parameters: {search.best_params_}")
    print(
        f"best cross-validated accuracy {search.best_score_:.3f}; test accuracy "
        f"of the refitted best pipeline "
        f"{search.score(motions.X_test, motions.y_test):.3f}"
    )

    # Compute intervals of every task, per worker, from the task stream.
    t0 = min(
        period["start"] for task in tasks for period in task["startstops"]
    )
    fig = Figure(figsize=(10, 3), layout="constrained")
    ax = fig.subplots()
    for row, worker in enumerate(workers):
        spans = [
            (period["start"] - t0, period["stop"] - period["start"])
            for task in tasks
            if task["worker"] == worker
            for period in task["startstops"]
            if period["action"] == "compute"
        ]
        busy = sum(width for _, width in spans)
        print(f"worker {row}: {len(spans)} tasks, {busy:.1f} s computing")
        colors = np.resize(["tab:blue", "tab:cyan"], len(spans))
        ax.broken_barh(spans, (row - 0.4, 0.8), facecolors=colors)
    ax.set_yticks(range(len(workers)), [f"worker {i}" for i in range(len(workers))])
    ax.set(xlabel="seconds since the first task",
           title="GridSearchCV on a dask LocalCluster: batches of fits per worker")
    output_dir.mkdir(parents=True, exist_ok=True)
    figure_path = output_dir / "dask_search_task_stream.png"
    fig.savefig(figure_path, dpi=100)
    print(f"task stream figure saved to {figure_path}")


# The guard matters: dask starts its worker processes by importing this file
# anew, and they must not run the search themselves.
if __name__ == "__main__":
    main()
