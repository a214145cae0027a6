"""Transcribe noisy renderings of words without alignments, with CTC.

Each word of 1 to 6 letters from a 5-letter alphabet is rendered as a
sequence of 8-dimensional frames: every letter has a random prototype frame,
held for 2 to 5 steps, with up to 2 silent frames between letters (at least
one between a repeated letter), plus Gaussian noise. The model is given
only the words, never which frames belong to which letter:
``SequenceTranscriber`` learns the alignment through the CTC loss. A fifth of
the training words is a validation set (``X_val``, ``y_val``) for early
stopping on ``1 - label error rate``. The script prints the test label error
rate of best-path and of beam-search decoding, and plots one test word's
per-step posteriors (the blank in grey) and the learning curves.

Environment: ``SKRNN_EXAMPLE_EPOCHS`` caps the epochs (default 60);
``SKRNN_EXAMPLE_OUTPUT`` is the directory of the figure (default: the
current directory).
"""

import os
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from skrnn import SequenceTranscriber
from skrnn.metrics import label_error_rate

epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "60"))
output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))

rng = np.random.default_rng(0)
ALPHABET = "abcde"
PROTOTYPES = rng.normal(0.0, 1.0, (len(ALPHABET), 8))


def render(n):
    """n random words and their noisy frame sequences."""
    words, frames = [], []
    for _ in range(n):
        word = "".join(rng.choice(list(ALPHABET), int(rng.integers(1, 7))))
        steps = []
        for k, letter in enumerate(word):
            # A repeated letter needs a gap to be told from one long letter.
            gap = int(rng.integers(1 if k and letter == word[k - 1] else 0, 3))
            steps += [np.zeros(8)] * gap
            steps += [PROTOTYPES[ALPHABET.index(letter)]] * int(rng.integers(2, 6))
        steps.append(np.zeros(8))
        x = np.array(steps)
        frames.append(x + 0.4 * rng.standard_normal(x.shape))
        words.append(word)
    return frames, words


X_train, y_train = render(400)
X_val, y_val = render(100)
X_test, y_test = render(200)
lengths = [len(x) for x in X_train]
print(f"{len(X_train)} training, {len(X_val)} validation and {len(X_test)} test "
      f"words; {min(lengths)} to {max(lengths)} frames each")

model = SequenceTranscriber(
    (32,), cell="gru", bidirectional=True, learning_rate_init=0.01,
    max_iter=epochs, early_stopping=True, n_iter_no_change=8, random_state=0)
start = time.perf_counter()
model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
print(f"trained {model.n_iter_} epochs in {time.perf_counter() - start:.1f} s; "
      f"best validation score (1 - label error rate) "
      f"{model.best_validation_score_:.4f}")

greedy = model.predict(X_test)
beam = model.set_params(beam_width=8).predict(X_test)
print(f"test label error rate: best path {label_error_rate(y_test, greedy):.4f}, "
      f"beam search (width 8) {label_error_rate(y_test, beam):.4f}")
for word, guess in list(zip(y_test, greedy))[:5]:
    print(f"  {word!r:>10} -> {''.join(guess)!r}")

# A Figure without pyplot is drawn by the Agg backend and never opens a window.
fig = Figure(figsize=(11, 4), layout="constrained")
ax_post, ax_curve = fig.subplots(1, 2, width_ratios=[3, 2])
proba = model.predict_proba(X_test[:1])[0]
for k, letter in enumerate(ALPHABET):
    ax_post.plot(proba[:, k], label=letter)
ax_post.plot(proba[:, -1], color="grey", linestyle="--", label="blank")
ax_post.set(xlabel="frame", ylabel="posterior",
            title=f"Per-step posteriors of the test word {y_test[0]!r}")
ax_post.legend(loc="center right")
epoch_numbers = np.arange(1, model.n_iter_ + 1)
ax_curve.plot(epoch_numbers, model.loss_curve_, marker=".", label="training loss")
ax_curve.set(xlabel="epoch", ylabel="CTC loss", yscale="log",
             title="Learning curves")
twin = ax_curve.twinx()
twin.plot(epoch_numbers, model.validation_scores_, color="tab:green",
          marker=".", label="validation 1 - LER")
twin.set_ylabel("validation score")
fig.suptitle("SequenceTranscriber (CTC) on unaligned noisy words")
output_dir.mkdir(parents=True, exist_ok=True)
figure_path = output_dir / "transcription.png"
fig.savefig(figure_path, dpi=100)
print(f"figure saved to {figure_path}")
