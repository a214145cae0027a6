"""Cost of the CTC loss and gradient against total steps and label lengths.

The forward-backward lattice of a sequence of T steps and L labels has
T x (2L + 1) cells, so the kernel's time should grow linearly in the total
number of steps at a fixed label length, and (beyond the per-step softmax,
which does not depend on L) linearly in the label length at fixed steps.

    python benchmarks/bench_ctc.py [--repeats 15] [--sequences 200] [--steps 100]
                                   [--labels 10] [--classes 9] [--dtype float32]

Times ``skrnn._loss.CTCLoss().loss_gradient`` (which calls
``skrnn._kernels._ctc.ctc_loss_grad``) on one packed minibatch of random raw
scores, median of ``--repeats`` runs after a warm-up run that sizes the work
space, in wall time and in CPU time, and prints the ratios of each scaled
case to the base case; the figures in benchmarks/README.md come from this
script.
"""

import argparse
import time

import numpy as np

from skrnn._loss import CTCLoss
from skrnn._network import Workspace
from skrnn._packing import PackedBatch
from skrnn._sequences import Sequences


def make_case(rng, n_sequences, n_steps, n_labels, n_classes, dtype):
    """A packed minibatch of random raw scores and its random label sequences."""
    lengths = np.full(n_sequences, n_steps)
    Z_data = rng.standard_normal((n_sequences * n_steps, n_classes + 1))
    seqs = Sequences.from_lengths(Z_data.astype(dtype), lengths)
    batch = PackedBatch(seqs, np.arange(n_sequences))
    # Codes without adjacent repeats, so every label length up to T aligns.
    steps = rng.integers(1, n_classes, (n_sequences, n_labels))
    steps[:, 0] = rng.integers(0, n_classes, n_sequences)
    labels = (np.cumsum(steps, axis=1) % n_classes).ravel().astype(np.intp)
    offsets = np.arange(n_sequences + 1, dtype=np.intp) * n_labels
    weights = np.full(n_sequences, 1.0 / n_sequences)
    # The packed rows of the scores: the batch's gather of the stacked data.
    return np.ascontiguousarray(batch.X), batch, labels, offsets, weights


def median_times(case, repeats):
    """Median wall and CPU seconds of one loss and gradient of ``case``."""
    loss = CTCLoss()
    buffers = Workspace(np.float64)
    loss.loss_gradient(*case, buffers)
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        loss.loss_gradient(*case, buffers)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--dtype", default="float32",
                        choices=["float32", "float64"])
    args = parser.parse_args()
    B, T, L = args.sequences, args.steps, args.labels
    if 4 * L > T:
        parser.error("--steps must be at least 4 x --labels (the 4L case).")
    rng = np.random.default_rng(0)
    cases = [
        ("base", B, T, L),
        ("4x sequences", 4 * B, T, L),
        ("4x longer sequences", B, 4 * T, L),
        ("4x label length", B, T, 4 * L),
    ]
    print(f"K = {args.classes} classes + blank, {args.dtype}, median of "
          f"{args.repeats} runs")
    print("| case | sequences | steps each | total steps | labels each | "
          "lattice cells | wall (ms) | CPU (ms) | wall / base | CPU / base |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = None
    for name, n_seq, n_steps, n_labels in cases:
        case = make_case(rng, n_seq, n_steps, n_labels, args.classes, args.dtype)
        wall, cpu = median_times(case, args.repeats)
        if base is None:
            base = wall, cpu
        cells = n_seq * n_steps * (2 * n_labels + 1)
        print(f"| {name} | {n_seq} | {n_steps} | {n_seq * n_steps} | "
              f"{n_labels} | {cells} | {1e3 * wall:.2f} | {1e3 * cpu:.2f} | "
              f"{wall / base[0]:.2f} | {cpu / base[1]:.2f} |")


if __name__ == "__main__":
    main()
