"""Transcribe who spoke, in order, from runs of utterances with no boundaries given.

Each input sequence joins 2 to 5 Japanese Vowels utterances (nine speakers
each saying /ae/, 7 to 29 frames of 12 LPC cepstrum coefficients), end to
end, with no silence between them; its target is the sequence of speakers,
e.g. ``['3', '7', '1']``. Neither the number of utterances nor where one
ends is given: a ``SequenceTranscriber`` learns both through the CTC loss.
The speakers of a sequence are drawn at random, but never the same speaker
twice in a row: without silence between them, two utterances of one
speaker would be one long run of one voice, which CTC can only transcribe
as two labels if the network puts a blank between them, and which merging
the runs of a tagger's labels cannot split at all (a speaker may come back
after another one). Training and validation sequences are built from the
training split's utterances (six per speaker held out for validation, for
early stopping), test sequences from the test split's utterances only. The
features are standardised by a ``StepTransformer(StandardScaler())`` fitted
on the training utterances.

The test label error rate (``skrnn.metrics.label_error_rate``: edit
distance over the true number of speakers) of the transcriber, decoded by
best path (greedy) and by prefix beam search of widths 1, 4 and 16, is
compared with

- an upper bound, a ``SequenceTagger`` of the same size trained with the
  boundaries known (the speaker of every frame); its per-frame predictions
  become a speaker sequence by merging every run of equal labels into one
  label (exact on the true frame labels, since no speaker follows itself);
- chance: the true number of speakers of each sequence, each drawn at random
  as the data's speakers are (uniformly, never the previous one), averaged
  over 20 draws.

The figure shows one test sequence's per-frame posteriors of the
transcriber (the blank dashed) and of the tagger, with the true boundaries
between utterances marked.

What to expect, with the defaults (1000 training sequences built from 216
utterances; one to two minutes on one core): both models learn the task,
far from chance (0.871). The transcriber's test label error rate is 0.053
by best path; the tagger's, trained with the boundaries known, 0.047.
Being told the boundaries is worth little here: the tagger labels 97.9% of
the test frames right, but once runs are merged a short run of wrong frames
inside an utterance inserts one or two speakers; which of the two is ahead
depends on the draw of the sequences (an earlier version of this script,
drawing the same distribution in another order, gave the transcriber 0.067
and the tagger 0.082). In the figure the transcriber holds some speakers
through their whole utterance and emits others in a few frames near its
end, the blank elsewhere; its first speaker is wrong (5 heard as 3).

Beam search does not help here: width 1 equals the best path, widths 4 and
16 raise the error rate to 0.060 and 0.061 (0.082 and 0.081 on the earlier
draw). Where the width-16 beam and the best path differ (25 of the 500 test
sequences), the beam's transcription is the more probable under the model
in every one (checked with the CTC loss of each, outside this script): the
search does its job. But 22 of the 25 are longer than the best path's and
12 hold one speaker twice in a row, which the data never does: summing over
alignments collects the probability the model spreads over a spurious extra
speaker, and more probable is not more right for this model.

With ``ALLOW_REPEATS = True`` (a speaker may follow itself) the transcriber
finds most boundaries between two utterances of one speaker, from where /ae/
starts again: 0.041 by best path and by beams of 4 and 16 (0.041, 0.041),
while the tagger's merged runs, which cannot hold a repeat, fall to 0.163
(chance 0.877).

Environment: ``SKRNN_EXAMPLE_EPOCHS`` caps the epochs of both models
(default 60); ``SKRNN_EXAMPLE_OUTPUT`` is the directory of the figure
(default: the current directory).
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skrnn import SequenceTagger, SequenceTranscriber
from skrnn.datasets import load_japanese_vowels
from skrnn.metrics import label_error_rate
from skrnn.preprocessing import StepTransformer

N_TRAIN, N_VAL, N_TEST = 1000, 200, 500
# True lets a speaker follow itself (see the module docstring).
ALLOW_REPEATS = False
epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "60"))
output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))
rng = np.random.default_rng(0)


def draw_speakers(names, count, rng):
    """``count`` random speakers, none twice in a row unless ALLOW_REPEATS."""
    order = [rng.choice(names)]
    for _ in range(count - 1):
        order.append(rng.choice(names if ALLOW_REPEATS
                                else names[names != order[-1]]))
    return order


def concatenate(utterances, speakers, n, rng, counts=(2, 5)):
    """n sequences of ``counts`` utterances by random speakers: the
    sequences, their speaker sequences and the speaker of every frame."""
    names = np.unique(speakers)
    by_speaker = {s: np.flatnonzero(speakers == s) for s in names}
    X, y, frames = [], [], []
    for _ in range(n):
        order = draw_speakers(
            names, int(rng.integers(counts[0], counts[1] + 1)), rng)
        chosen = [utterances[rng.choice(by_speaker[s])] for s in order]
        X.append(np.concatenate(chosen))
        y.append(np.array(order))
        frames.append(np.repeat(order, [len(u) for u in chosen]))
    return X, y, frames


def merge_runs(labels):
    """The label sequence of per-frame labels: each run of one label, once."""
    labels = np.asarray(labels)
    return labels[np.r_[True, labels[1:] != labels[:-1]]] if len(labels) else labels


def chance(y, names, rng):
    """Random speakers, as many as the truth, drawn as the data's are."""
    return [np.array(draw_speakers(names, len(truth), rng)) for truth in y]


data = load_japanese_vowels()
# Validation utterances come from the training split: the test utterances
# are read only for the final scores.
X_fit, X_held, s_fit, s_held = train_test_split(
    data.X_train, data.y_train, test_size=54, stratify=data.y_train,
    random_state=0)
scaler = StepTransformer(StandardScaler()).fit(X_fit)
X_fit, X_held, X_test_utt = (scaler.transform(X) for X in
                             (X_fit, X_held, data.X_test))
X_train, y_train, f_train = concatenate(X_fit, s_fit, N_TRAIN, rng)
X_val, y_val, f_val = concatenate(X_held, s_held, N_VAL, rng)
X_test, y_test, f_test = concatenate(X_test_utt, data.y_test, N_TEST, rng)
lengths = [len(x) for x in X_train]
print(f"{N_TRAIN} training sequences from {len(X_fit)} utterances, {N_VAL} "
      f"validation from {len(X_held)}, {N_TEST} test from {len(X_test_utt)}; "
      f"{min(lengths)} to {max(lengths)} frames, 2 to 5 speakers each")

# The same network for both (the tagger's defaults would add dropout).
params = dict(hidden_layer_sizes=(32,), cell="gru", bidirectional=True,
              dropout=0.0, recurrent_dropout=0.0,
              learning_rate_init=0.01, max_iter=epochs, early_stopping=True,
              n_iter_no_change=8, random_state=0)
with warnings.catch_warnings():
    # At SKRNN_EXAMPLE_EPOCHS=1 the fits stop before converging.
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    transcriber = SequenceTranscriber(**params).fit(X_train, y_train,
                                                    X_val=X_val, y_val=y_val)
    print(f"transcriber: {transcriber.n_iter_} epochs in "
          f"{time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    tagger = SequenceTagger(**params).fit(X_train, f_train, X_val=X_val,
                                          y_val=f_val)
    print(f"tagger (boundaries known): {tagger.n_iter_} epochs in "
          f"{time.perf_counter() - start:.1f} s")

rows, decoded = [], {}
for width in (None, 1, 4, 16):
    decoded[width] = transcriber.set_params(beam_width=width).predict(X_test)
    name = "greedy (best path)" if width is None else f"beam search, width {width}"
    rows.append((f"transcriber, {name}",
                 label_error_rate(y_test, decoded[width])))
transcriber.set_params(beam_width=None)
tagged = tagger.predict(X_test)
frame_accuracy = np.mean(np.concatenate(tagged) == np.concatenate(f_test))
rows.append(("tagger with boundaries known, runs merged",
             label_error_rate(y_test, [merge_runs(t) for t in tagged])))
names = transcriber.classes_
chance_rates = [label_error_rate(y_test, chance(y_test, names, rng))
                for _ in range(20)]
rows.append(("chance: true count, random speakers (mean of 20)",
             float(np.mean(chance_rates))))
print(f"\ntest label error rate on {N_TEST} sequences "
      f"({sum(map(len, y_test))} speakers):\n")
print("| model | label error rate |")
print("| --- | ---: |")
for name, rate in rows:
    print(f"| {name} | {rate:.4f} |")
print(f"\ntagger frame accuracy {frame_accuracy:.4f}")
differ = [(g, b) for g, b in zip(decoded[None], decoded[16])
          if not np.array_equal(g, b)]
print(f"width 16 and best path differ on {len(differ)} test sequences; the "
      f"beam's is longer on {sum(len(b) > len(g) for g, b in differ)}, holds "
      f"a speaker twice in a row on "
      f"{sum(bool(np.any(b[1:] == b[:-1])) for _, b in differ)}")
for truth, guess in list(zip(y_test, transcriber.predict(X_test)))[:5]:
    print(f"  {' '.join(truth):>10} -> {' '.join(guess)}")

# A Figure without pyplot is drawn by the Agg backend and never opens a window.
fig = Figure(figsize=(11, 6), layout="constrained")
ax_ctc, ax_tag = fig.subplots(2, 1, sharex=True)
proba = transcriber.predict_proba(X_test[:1])[0]
tag_proba = tagger.predict_proba(X_test[:1])[0]
# Every tab10 colour but the grey (C7), which is the blank's.
colors = [f"C{k}" for k in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
for k, name in enumerate(names):
    ax_ctc.plot(proba[:, k], color=colors[k], label=f"speaker {name}")
    ax_tag.plot(tag_proba[:, k], color=colors[k])
ax_ctc.plot(proba[:, -1], color="grey", linestyle="--", label="blank")
boundaries = np.flatnonzero(f_test[0][1:] != f_test[0][:-1]) + 0.5
starts = np.r_[0, boundaries + 0.5]
for ax in (ax_ctc, ax_tag):
    for b in boundaries:
        ax.axvline(b, color="black", linewidth=0.8)
    for s, speaker in zip(starts, y_test[0]):
        ax.text(s + 0.5, 1.02, speaker, fontsize=9, va="bottom")
    ax.set_ylim(0, 1.12)
decoded = " ".join(transcriber.predict(X_test[:1])[0])
ax_ctc.set(ylabel="posterior", title=f"Transcriber (CTC), decoded {decoded}")
ax_tag.set(xlabel="frame", ylabel="posterior",
           title="Tagger trained with the boundaries known")
fig.legend(loc="outside right center", fontsize=8)
fig.suptitle(f"Test sequence of speakers {' '.join(y_test[0])} "
             "(true boundaries in black)")
output_dir.mkdir(parents=True, exist_ok=True)
figure_path = output_dir / "transcribe_speakers.png"
fig.savefig(figure_path, dpi=100)
print(f"figure saved to {figure_path}")
