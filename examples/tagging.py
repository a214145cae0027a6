"""Tag the parts of speech of Cantonese utterances with a recurrent tagger.

The Hong Kong Cantonese Corpus gives each utterance as a sequence of words,
each tagged with one of 14 Universal Dependencies parts of speech. Every word
becomes a dict of features: the word, its first and last character, the
previous and the next word, and its position in the utterance.
``StepTransformer(DictVectorizer())`` turns each utterance into a sparse
(n_words, n_features) matrix, and a bidirectional GRU ``SequenceTagger``
predicts one tag per word, reading the whole utterance in both directions.
A per-word ``LogisticRegression`` on the same features is the baseline: it
sees the neighbouring words, but not the rest of the utterance nor the tags
the model is predicting around it.

Both are scored on every word of the test split with the flat (per-word)
metrics of ``skrnn.metrics``; the figure shows their confusion matrices,
normalised over each true tag.

Environment: ``SKRNN_EXAMPLE_EPOCHS`` caps the tagger's epochs (default 10;
early stopping on a held-out tenth usually ends sooner);
``SKRNN_EXAMPLE_OUTPUT`` is the directory of the figure (default: the
current directory).
"""

import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skrnn import SequenceTagger
from skrnn.datasets import load_hkcancor_pos
from skrnn.metrics import (
    flat_accuracy_score,
    flat_confusion_matrix,
    flat_f1_score,
)
from skrnn.preprocessing import StepTransformer

# Training utterances drawn from the 12,392 of the training split, so that the
# example runs in well under a minute on two cores; None takes them all (and
# about five times as long).
N_TRAIN = 3000
epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "10"))
output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))

corpus = load_hkcancor_pos()
tags = corpus.tag_names
train = np.arange(len(corpus.words_train))
if N_TRAIN is not None and N_TRAIN < train.size:
    train = np.sort(np.random.default_rng(0).choice(train, N_TRAIN, replace=False))
words_train = [corpus.words_train[i] for i in train]
tags_train = [corpus.tags_train[i] for i in train]
words_test, tags_test = corpus.words_test, corpus.tags_test
n_words_train = sum(map(len, words_train))
n_words_test = sum(map(len, words_test))
print(
    f"HKCanCor: training on {len(words_train)} of {len(corpus.words_train)} "
    f"utterances ({n_words_train} words; subsampled to keep the run short), "
    f"testing on all {len(words_test)} test utterances ({n_words_test} words), "
    f"{len(tags)} tags"
)

# Words seen once in training say little and would each add three columns
# (word, previous word, next word); they share one "<rare>" value instead,
# and their first and last characters still describe them.
counts = Counter(word for utterance in words_train for word in utterance)


def word_features(utterance):
    """One dict of features per word of an utterance."""
    known = [w if counts[w] > 1 else "<rare>" for w in utterance]
    n = len(utterance)
    return [
        {
            "word": known[t],
            "first_char": word[0],
            "last_char": word[-1],
            "previous_word": known[t - 1] if t > 0 else "<start>",
            "next_word": known[t + 1] if t + 1 < n else "<end>",
            "position": t / n,
            "is_first": t == 0,
            "is_last": t == n - 1,
        }
        for t, word in enumerate(utterance)
    ]


X_train = [word_features(u) for u in words_train]
X_test = [word_features(u) for u in words_test]

tagger = make_pipeline(
    StepTransformer(DictVectorizer()),
    SequenceTagger(
        hidden_layer_sizes=(32,),
        cell="gru",
        bidirectional=True,
        batch_size=64,
        learning_rate_init=0.01,
        max_iter=epochs,
        dropout=0.3,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
    ),
)
start = time.perf_counter()
tagger.fit(X_train, tags_train)
rnn_time = time.perf_counter() - start
rnn_pred = tagger.predict(X_test)
rnn = tagger[-1]
print(
    f"SequenceTagger (bidirectional GRU, 32 units per direction, dropout 0.3) on "
    f"{len(tagger[0].transformer_.feature_names_)} sparse features per word: "
    f"{rnn.n_iter_} epochs in {rnn_time:.1f} s, best validation accuracy "
    f"{rnn.best_validation_score_:.4f}"
)

# The baseline sees the same features, one word at a time. Newton-CG reaches
# the optimum in a few iterations here, several times faster than L-BFGS.
baseline = make_pipeline(
    DictVectorizer(), LogisticRegression(solver="newton-cg", tol=1e-3)
)
start = time.perf_counter()
baseline.fit(
    [f for utterance in X_train for f in utterance], np.concatenate(tags_train)
)
lr_time = time.perf_counter() - start
flat_lr = baseline.predict([f for utterance in X_test for f in utterance])
lr_pred = np.split(flat_lr, np.cumsum([len(u) for u in X_test])[:-1])
print(f"LogisticRegression per word: fitted in {lr_time:.1f} s")

print(f"\n{'test split, per word':<24} {'accuracy':>9} {'macro-F1':>9}")
for name, pred in [("SequenceTagger", rnn_pred), ("LogisticRegression", lr_pred)]:
    accuracy = flat_accuracy_score(tags_test, pred)
    macro_f1 = flat_f1_score(tags_test, pred, average="macro", zero_division=0)
    print(f"{name:<24} {accuracy:9.4f} {macro_f1:9.4f}")

per_tag = {
    name: flat_f1_score(tags_test, pred, labels=tags, average=None, zero_division=0)
    for name, pred in [("rnn", rnn_pred), ("lr", lr_pred)]
}
support = flat_confusion_matrix(tags_test, rnn_pred, labels=tags).sum(axis=1)
print(f"\n{'F1 per tag':<8} {'words':>6} {'tagger':>7} {'logreg':>7}")
for i, tag in enumerate(tags):
    print(f"{tag:<8} {support[i]:6d} {per_tag['rnn'][i]:7.3f} {per_tag['lr'][i]:7.3f}")

# A Figure without pyplot is drawn by the Agg backend and never opens a window.
fig = Figure(figsize=(14, 7.5), layout="constrained")
axes = fig.subplots(1, 2)
for ax, (name, pred) in zip(
    axes, [("SequenceTagger", rnn_pred), ("LogisticRegression per word", lr_pred)]
):
    matrix = flat_confusion_matrix(tags_test, pred, labels=tags, normalize="true")
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(matrix >= 0.005)):
        ax.text(j, i, f"{100 * matrix[i, j]:.0f}", ha="center", va="center",
                fontsize=7, color="white" if matrix[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(tags)), tags, rotation=90)
    ax.set_yticks(range(len(tags)), tags)
    ax.set(xlabel="predicted tag", ylabel="true tag",
           title=f"{name}: accuracy {flat_accuracy_score(tags_test, pred):.3f}")
fig.colorbar(image, ax=axes, shrink=0.6, label="fraction of the true tag's words")
fig.suptitle("Part-of-speech tagging of HKCanCor test utterances: per-word "
             "confusion matrices (% of each true tag)")
output_dir.mkdir(parents=True, exist_ok=True)
figure_path = output_dir / "tagging_confusion_matrix.png"
fig.savefig(figure_path, dpi=100)
print(f"\nconfusion matrices saved to {figure_path}")
