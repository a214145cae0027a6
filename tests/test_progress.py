"""Progress lines within long epochs (verbose=True), on a replaced clock."""

import re

import numpy as np
import pytest

from skrnn import RNNClassifier, _progress
from skrnn._progress import EpochProgress


class FakeClock:
    """A clock that advances `step` seconds each time it is read."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def run(minibatches, clock, monkeypatch, verbose=True, interval=10.0):
    monkeypatch.setattr(_progress, "_clock", clock)
    progress = EpochProgress(minibatches, sum(map(len, minibatches)), verbose, 3,
                             interval=interval)
    return list(progress)


def test_lines_at_most_every_interval_never_after_the_last(monkeypatch, capsys):
    minibatches = [np.arange(10)] * 10  # 100 sequences
    # 4 s per minibatch (the clock is read once per minibatch, after it).
    seen = run(minibatches, FakeClock(4.0), monkeypatch)
    assert len(seen) == 10 and all(b is minibatches[0] for b in seen)
    lines = capsys.readouterr().out.splitlines()
    # After minibatches 3, 6 and 9 (12 s, 24 s, 36 s in): not after the 10th.
    assert lines == [
        "Epoch 3: 30/100 sequences, 2.5 sequences/s, about 28 s left",
        "Epoch 3: 60/100 sequences, 2.5 sequences/s, about 16 s left",
        "Epoch 3: 90/100 sequences, 2.5 sequences/s, about 4 s left",
    ]


def test_short_epochs_and_quiet_fits_print_nothing(monkeypatch, capsys):
    minibatches = [np.arange(4)] * 5
    run(minibatches, FakeClock(1.0), monkeypatch)
    run(minibatches, FakeClock(100.0), monkeypatch, verbose=False)
    assert capsys.readouterr().out == ""


def test_verbose_fit_reports_within_long_epochs(monkeypatch, capsys, rng):
    X = [rng.standard_normal((5, 2)) for _ in range(40)]
    y = np.arange(40) % 2
    monkeypatch.setattr(_progress, "_clock", FakeClock(10.0))
    with pytest.warns(UserWarning):  # max_iter reached
        RNNClassifier((3,), batch_size=10, max_iter=2, verbose=True,
                      random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    # 4 minibatches of 10 per epoch, 10 s each: a line after all but the last.
    progress = [line for line in lines if "sequences/s" in line]
    epochs = [line for line in lines if line.startswith("Epoch") and "loss" in line]
    assert len(epochs) == 2 and len(progress) == 6
    assert re.fullmatch(r"Epoch 1: 10/40 sequences, [\d.]+ sequences/s, "
                        r"about \d+ s left", progress[0])
    assert progress[3].startswith("Epoch 2: 10/40")
    assert lines.index(epochs[0]) == 3  # after epoch 1's progress lines
