"""Classify ragged Japanese-vowel utterances and plot the learning curve.

Nine speakers each say the vowel /ae/; every utterance is a sequence of 7 to
29 frames of 12 LPC cepstrum coefficients, and the task is to name the
speaker. A fifth of the training utterances is held out as a validation set:
``fit(..., X_val=..., y_val=...)`` scores it after every epoch into
``validation_scores_``, and with ``early_stopping=True`` training stops once
that score has not improved for ``n_iter_no_change`` epochs, and the weights
of the best epoch are kept. The figure shows the training loss
(``loss_curve_``) and the validation accuracy per epoch.

Environment: ``SKRNN_EXAMPLE_EPOCHS`` caps the epochs (default 100);
``SKRNN_EXAMPLE_OUTPUT`` is the directory of the figure (default: the
current directory).
"""

import os
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from skrnn import RNNClassifier
from skrnn.datasets import load_japanese_vowels

epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "100"))
output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))

X_train, X_test, y_train, y_test = load_japanese_vowels(return_X_y=True)
# The split keeps every speaker's share; the validation set only ever decides
# when to stop, so the test set stays unseen until the end.
X_fit, X_val, y_fit, y_val = train_test_split(
    X_train, y_train, test_size=0.2, stratify=y_train, random_state=0
)
lengths = [len(x) for x in X_train + X_test]
print(
    f"Japanese Vowels: {len(X_fit)} training, {len(X_val)} validation and "
    f"{len(X_test)} test utterances of {min(lengths)} to {max(lengths)} frames, "
    f"{X_train[0].shape[1]} features per frame, {len(set(y_train))} speakers"
)

# One direction reading to the last state, no dropout: the network these
# settings were chosen for (the quick start shows the defaults).
clf = RNNClassifier(
    hidden_layer_sizes=(64,),
    cell="gru",
    bidirectional=False,
    readout="last",
    recurrent_dropout=0.0,
    learning_rate_init=0.01,
    max_iter=epochs,
    early_stopping=True,
    n_iter_no_change=15,
    random_state=0,
)
start = time.perf_counter()
clf.fit(X_fit, y_fit, X_val=X_val, y_val=y_val)
elapsed = time.perf_counter() - start

best_epoch = int(np.argmax(clf.validation_scores_)) + 1
test_accuracy = accuracy_score(y_test, clf.predict(X_test))
print(
    f"GRU with {clf.hidden_layer_sizes[0]} units: trained {clf.n_iter_} "
    f"epochs (at most {epochs}) in {elapsed:.1f} s; best validation accuracy "
    f"{clf.best_validation_score_:.4f} at epoch {best_epoch}, whose weights "
    "the model keeps"
)
print(f"test accuracy: {test_accuracy:.4f}")

# A Figure without pyplot is drawn by the Agg backend and never opens a window.
fig = Figure(figsize=(10, 4), layout="constrained")
ax_loss, ax_val = fig.subplots(1, 2)
epoch_numbers = np.arange(1, clf.n_iter_ + 1)
ax_loss.plot(epoch_numbers, clf.loss_curve_, marker=".")
ax_loss.set(
    xlabel="epoch", ylabel="training log-loss", yscale="log",
    title="Training loss (loss_curve_)",
)
ax_val.plot(epoch_numbers, clf.validation_scores_, marker=".", label="validation")
ax_val.axvline(best_epoch, color="gray", linestyle="--", label="kept weights")
ax_val.axhline(test_accuracy, color="tab:red", linestyle=":",
               label=f"test ({test_accuracy:.3f})")
ax_val.set(
    xlabel="epoch", ylabel="accuracy", title="Validation accuracy "
    "(validation_scores_)",
)
ax_val.legend(loc="lower right")
fig.suptitle("RNNClassifier on Japanese Vowels (ragged sequences)")
output_dir.mkdir(parents=True, exist_ok=True)
figure_path = output_dir / "classification_learning_curve.png"
fig.savefig(figure_path, dpi=100)
print(f"learning curve saved to {figure_path}")
