"""Quick start: classify the speaker of ragged Japanese-vowel utterances with an RNN.

Nine speakers each say the vowel /ae/; every utterance is a sequence of 7 to 29
frames of 12 LPC cepstrum coefficients. Each sequence is one sample, so the
list of arrays goes straight into ``fit``: no padding, no reshaping.
"""

import os
import time

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skrnn import RNNClassifier
from skrnn.datasets import load_japanese_vowels
from skrnn.preprocessing import StepTransformer

X_train, X_test, y_train, y_test = load_japanese_vowels(return_X_y=True)
print(
    f"{len(X_train)} training and {len(X_test)} test utterances, "
    f"{X_train[0].shape[1]} features per frame, "
    f"lengths {min(map(len, X_train))}..{max(map(len, X_train))}"
)

# The defaults, after standardising each feature over all training frames.
clf = Pipeline([("scale", StepTransformer(StandardScaler())),
                ("rnn", RNNClassifier(random_state=0))])
# SKRNN_EXAMPLE_EPOCHS shrinks the run for the test that keeps examples working.
if "SKRNN_EXAMPLE_EPOCHS" in os.environ:
    clf.set_params(rnn__max_iter=int(os.environ["SKRNN_EXAMPLE_EPOCHS"]))
start = time.perf_counter()
clf.fit(X_train, y_train)
elapsed = time.perf_counter() - start

print(f"trained {clf[-1].n_iter_} epochs in {elapsed:.2f} s")
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")
