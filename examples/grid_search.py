"""Search the recurrent architecture with GridSearchCV on BasicMotions.

A smart watch recorded 6 channels (accelerometer and gyroscope) at 10 Hz for
10 s while its wearer stood, walked, ran or played badminton. A Pipeline
standardises every channel over all time steps
(``StepTransformer(StandardScaler())``) and feeds the sequences to an
``RNNClassifier``; ``GridSearchCV`` tries every cell (Elman RNN, LSTM, GRU),
two layer widths and both directions, each with 5-fold stratified
cross-validation, on two worker processes (``n_jobs=2``). Nothing about the
search is specific to sequences: each sequence is one sample.

The results table is ``cv_results_`` as a pandas DataFrame; the figure shows
the mean cross-validated accuracy of every candidate and its fit time.

Environment: ``SKRNN_EXAMPLE_EPOCHS`` sets the epochs of every fit (default
30); ``SKRNN_EXAMPLE_OUTPUT`` is the directory of the figure (default: the
current directory).
"""

import os
import time
import warnings
from pathlib import Path

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

epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "30"))
output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))
# Every fit runs the same number of epochs on purpose, so that the candidates
# are compared on equal terms; most stop before they have converged.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

motions = load_basic_motions()
X_train, X_test = motions.X_train, motions.X_test
y_train, y_test = motions.y_train, motions.y_test
print(
    f"BasicMotions: {len(X_train)} training and {len(X_test)} test recordings of "
    f"{X_train[0].shape[0]} steps x {X_train[0].shape[1]} channels; classes "
    f"{', '.join(motions.target_names)}"
)

pipe = Pipeline(
    [
        ("scale", StepTransformer(StandardScaler())),
        ("rnn", RNNClassifier(learning_rate_init=0.02, max_iter=epochs,
                              random_state=0)),
    ]
)
param_grid = {
    "rnn__cell": ["rnn", "lstm", "gru"],
    "rnn__hidden_layer_sizes": [(8,), (16,)],
    "rnn__bidirectional": [False, True],
}
search = GridSearchCV(
    pipe,
    param_grid,
    cv=StratifiedKFold(5, shuffle=True, random_state=0),
    n_jobs=2,
)
n_candidates = np.prod([len(values) for values in param_grid.values()])
print(
    f"searching {n_candidates} candidates x 5 folds = {5 * n_candidates} fits "
    f"of {epochs} epochs on 2 processes..."
)
start = time.perf_counter()
search.fit(X_train, y_train)
elapsed = time.perf_counter() - start

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
# A stable sort keeps ties in grid order, so best_index_ (the first of the
# best) heads the table.
table = table.sort_values("rank_test_score", kind="stable")
print(f"search took {elapsed:.1f} s; cv_results_:")
print(table.to_string(index=False, float_format="{:.3f}".format))
print(f"best parameters: {search.best_params_}")
print(
    f"best cross-validated accuracy {search.best_score_:.3f}; test accuracy of "
    f"the refitted best pipeline {search.score(X_test, y_test):.3f}"
)

labels = [
    f"{row.param_rnn__cell} {row.param_rnn__hidden_layer_sizes[0]}"
    + (" bi" if row.param_rnn__bidirectional else "")
    for row in results.itertuples()
]
positions = np.arange(len(results))
# A Figure without pyplot is drawn by the Agg backend and never opens a window.
fig = Figure(figsize=(11, 4.5), layout="constrained")
ax_score, ax_time = fig.subplots(1, 2)
colors = np.where(results["param_rnn__bidirectional"], "tab:orange", "tab:blue")
bars = ax_score.bar(positions, results["mean_test_score"],
                    yerr=results["std_test_score"], color=colors, capsize=3)
bars[search.best_index_].set(edgecolor="black", linewidth=2, label="best_params_")
ax_score.axhline(1.0 / len(motions.target_names), color="gray", linestyle=":",
                 label="chance")
# Head room above 1 for the legend.
ax_score.set(ylabel="accuracy (mean ± std over 5 folds)", ylim=(0, 1.25),
             title="Cross-validated accuracy")
ax_score.legend(loc="upper left", ncols=2)
ax_time.bar(positions, results["mean_fit_time"], color=colors)
ax_time.set(ylabel="seconds", title="Mean fit time (orange: bidirectional)")
for ax in (ax_score, ax_time):
    ax.set_xticks(positions, labels, rotation=60, ha="right")
fig.suptitle(f"GridSearchCV over cell x units x direction, BasicMotions, "
             f"{epochs} epochs")
output_dir.mkdir(parents=True, exist_ok=True)
figure_path = output_dir / "grid_search.png"
fig.savefig(figure_path, dpi=100)
print(f"figure saved to {figure_path}")
