"""Tag the parts of speech of Cantonese utterances with a recurrent tagger.

The Hong Kong Cantonese Corpus gives each utterance as a sequence of words,
each written in Chinese characters and in Jyutping romanisation and tagged
with one of 14 Universal Dependencies parts of speech. Every word becomes a
dict of features: the word, the previous and the next word, its first and
last character (and every character, and its first and last two, for longer
words), its length, whether it is digits or Latin letters, its first and
last Jyutping syllable and their number, and its position in the utterance.
``StepTransformer(DictVectorizer())`` turns each utterance into a sparse
(n_words, n_features) matrix, and a bidirectional GRU ``SequenceTagger``
predicts one tag per word, reading the whole utterance in both directions.
A per-word ``LogisticRegression`` on the same features, fitted on the same
utterances, is the baseline: it sees the neighbouring words, but not the
rest of the utterance nor the tags the model is predicting around it.

Both train on all 12,392 training utterances and are scored on every word
of the test split with the flat (per-word) metrics of ``skrnn.metrics``; the
figure shows their confusion matrices, normalised over each true tag. Their
settings (the tagger's epochs, size, dropout, batch and learning rate; the
regression's C; the features) were chosen on utterances held out from the
training split, never on the test split.

Expect the two to be level: accuracy 0.949 for the tagger and 0.948 for the
regression, macro-F1 0.888 and 0.890 (the tag X, 103 test words, swings the
latter). The window of words and the spelling and sound of each word already
carry most of what the rest of the utterance would tell: on the held-out
utterances, dropping the previous and next words from the features leaves
the tagger where it was, as it reads the context itself, and puts the
regression 1.5 points of accuracy behind it. Neither a wider nor a second
layer, more epochs, nor early stopping made the tagger clearly better there.

Environment: ``SKRNN_EXAMPLE_EPOCHS`` caps the tagger's epochs (default 3,
the best on the held-out utterances; more overfit); ``SKRNN_EXAMPLE_OUTPUT``
is the directory of the figure (default: the current directory).
"""

import os
import re
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.exceptions import ConvergenceWarning
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

# All 12,392 training utterances fit in well under a minute on two cores; a
# number draws that many instead, for a quicker run.
N_TRAIN = None
epochs = int(os.environ.get("SKRNN_EXAMPLE_EPOCHS", "3"))
output_dir = Path(os.environ.get("SKRNN_EXAMPLE_OUTPUT", "."))

corpus = load_hkcancor_pos()
tags = corpus.tag_names
train = np.arange(len(corpus.words_train))
if N_TRAIN is not None and N_TRAIN < train.size:
    train = np.sort(np.random.default_rng(0).choice(train, N_TRAIN, replace=False))
words_train = [corpus.words_train[i] for i in train]
jyutping_train = [corpus.jyutping_train[i] for i in train]
tags_train = [corpus.tags_train[i] for i in train]
words_test, tags_test = corpus.words_test, corpus.tags_test
n_words_train = sum(map(len, words_train))
n_words_test = sum(map(len, words_test))
print(
    f"HKCanCor: training on {len(words_train)} of {len(corpus.words_train)} "
    f"utterances ({n_words_train} words), testing on all {len(words_test)} "
    f"test utterances ({n_words_test} words), {len(tags)} tags"
)

# Words seen once in training say little and would each add three columns
# (word, previous word, next word); they share one "<rare>" value instead,
# and their spelling and sound still describe them.
counts = Counter(word for utterance in words_train for word in utterance)
# A Jyutping syllable is letters then a tone digit; punctuation has none.
SYLLABLE = re.compile(r"[a-z]+[1-6]")


def word_shape(word):
    """Digits and Latin letters (numbers, English words, letters) stand apart."""
    if word.isdigit():
        return "digits"
    if word.isascii():
        return "latin" if word.isalpha() else "ascii"
    return "other"


def word_features(utterance, jyutping):
    """One dict of features per word of an utterance."""
    known = [w if counts[w] > 1 else "<rare>" for w in utterance]
    n = len(utterance)
    features = []
    for t, (word, reading) in enumerate(zip(utterance, jyutping)):
        syllables = SYLLABLE.findall(reading)
        first, last = (syllables[0], syllables[-1]) if syllables else ("", "")
        f = {
            "word": known[t],
            "first_char": word[0],
            "last_char": word[-1],
            # Strings, so that each length is its own column: a 4-character
            # idiom is not twice a 2-character noun.
            "length": str(min(len(word), 4)),
            "shape": word_shape(word),
            # The sound of a word the model has not seen: sentence-final
            # particles, for one, share a handful of syllables.
            "first_syllable": first,
            "last_syllable": last,
            "n_syllables": str(min(len(syllables), 4)),
            "previous_word": known[t - 1] if t > 0 else "<start>",
            "next_word": known[t + 1] if t + 1 < n else "<end>",
            "position": t / n,
            "is_first": t == 0,
            "is_last": t == n - 1,
        }
        # A rare compound usually shares characters with common words.
        if len(word) > 1:
            f.update({f"char={c}": True for c in word})
        if len(word) > 2:
            f["prefix2"], f["suffix2"] = word[:2], word[-2:]
        features.append(f)
    return features


X_train = [word_features(u, j) for u, j in zip(words_train, jyutping_train)]
X_test = [word_features(u, j) for u, j in zip(words_test, corpus.jyutping_test)]

# float32 features make a float32 network: half the memory traffic of the
# optimiser's passes over the ~4 million input weights, and the same scores.
# Large batches take few of those passes per epoch; on the held-out
# utterances 3 epochs scored best, and the tagger overfits after that, so it
# trains on every utterance for a fixed count rather than holding a tenth out
# for early stopping.
tagger = make_pipeline(
    StepTransformer(DictVectorizer(dtype=np.float32)),
    SequenceTagger(
        hidden_layer_sizes=(32,),
        cell="gru",
        bidirectional=True,
        batch_size=256,
        learning_rate_init=0.02,
        max_iter=epochs,
        dropout=0.3,
        # The recipe was tuned without recurrent dropout.
        recurrent_dropout=0.0,
        random_state=0,
    ),
)
start = time.perf_counter()
with warnings.catch_warnings():
    # Stopping at max_iter is the plan here, not a failure to converge.
    warnings.simplefilter("ignore", ConvergenceWarning)
    tagger.fit(X_train, tags_train)
rnn_time = time.perf_counter() - start
rnn_pred = tagger.predict(X_test)
rnn = tagger[-1]
print(
    f"SequenceTagger (bidirectional GRU, 32 units per direction, dropout 0.3) on "
    f"{len(tagger[0].transformer_.feature_names_)} sparse features per word: "
    f"{rnn.n_iter_} epochs in {rnn_time:.1f} s"
)

# The baseline sees the same features, one word at a time; C=3 scored best
# of 1, 2, 3, 5 and 10 on the held-out utterances. Newton-CG reaches the
# optimum in a few iterations here, several times faster than L-BFGS.
baseline = make_pipeline(
    DictVectorizer(), LogisticRegression(C=3.0, solver="newton-cg", tol=1e-3)
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
