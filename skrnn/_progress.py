"""Progress lines within long training epochs, for ``verbose=True``."""

import time

# Seconds between two progress lines within an epoch: an epoch shorter than
# this prints only its end-of-epoch line.
PROGRESS_INTERVAL = 10.0

# The clock, a module attribute so that tests can replace it.
_clock = time.perf_counter


class EpochProgress:
    """Iterate over an epoch's minibatches, printing how far the epoch is.

    Wraps the epoch's list of minibatches (arrays of sequence indices). Once
    a minibatch is done, that is when the next one is asked for, it prints a
    line with the sequences done, the rate and the estimated time left, if
    `interval` seconds have passed since the epoch started or since the last
    line; never after the last minibatch, whose epoch line follows.

    Parameters
    ----------
    minibatches : list of ndarray of int
        The epoch's minibatches, in order.
    n_sequences : int
        Sequences in the epoch (the sum of the minibatch sizes).
    verbose : bool
        Whether to print at all; without it iterating costs nothing more.
    epoch : int
        The epoch's number, for the lines.
    interval : float, default=PROGRESS_INTERVAL
        Least number of seconds between two lines.
    """

    def __init__(self, minibatches, n_sequences, verbose, epoch,
                 interval=PROGRESS_INTERVAL):
        self.minibatches = minibatches
        self.n_sequences = n_sequences
        self.verbose = verbose
        self.epoch = epoch
        self.interval = interval

    def __iter__(self):
        if not self.verbose:
            yield from self.minibatches
            return
        start = last = _clock()
        done = 0
        n_batches = len(self.minibatches)
        for b, idx in enumerate(self.minibatches):
            yield idx
            done += len(idx)
            now = _clock()
            if b + 1 < n_batches and now - last >= self.interval:
                last = now
                print(self._line(done, now - start), flush=True)

    def _line(self, done, elapsed):
        rate = done / elapsed if elapsed > 0 else float("inf")
        left = (self.n_sequences - done) / rate
        return (f"Epoch {self.epoch}: {done}/{self.n_sequences} sequences, "
                f"{rate:.1f} sequences/s, about {left:.0f} s left")
