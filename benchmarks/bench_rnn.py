"""Benchmark skrnn's RNNClassifier against the same model in PyTorch.

What it measures
----------------
One synthetic ragged data set (N sequences of 8 float32 features, lengths
uniform in 20..100, 5 classes whose label is the argmax of a fixed random
projection of the sequence mean; seeded) is fit by one recurrent layer of H
units (cell rnn, lstm or gru), a linear head on each sequence's last valid
state, softmax cross-entropy and Adam (learning rate 1e-3) on shuffled
minibatches of 32, for the same number of epochs in every implementation:

- ``skrnn``: ``RNNClassifier(..., solver="adam", clip_norm=None, alpha=0)``
  fit on the list of float32 arrays;
- ``torch-packed``: ``nn.RNN``/``nn.LSTM``/``nn.GRU`` on a
  ``pack_padded_sequence`` of each padded minibatch (exact: no padded steps);
- ``torch-padded``: the same module on the plain padded, time-major minibatch,
  the output gathered at each sequence's last valid step (padded steps are
  computed and thrown away, but the dense fast path is used).

For every (cell, H) the table gives:

- training throughput: valid time steps processed (sum of the lengths times
  the epochs) divided by the wall time of the training epochs. skrnn's time is
  the whole ``fit`` call (it includes input validation, packing and the
  parameter initialisation, which weigh only at small H); torch's is the loop of
  forward/backward/Adam steps over minibatch tensors that were padded and
  shuffled *before* the clock starts (``pack_padded_sequence`` is called
  inside the loop, in the model's forward, as users write it);
- prediction throughput: valid time steps of all N sequences divided by the
  wall time of skrnn's ``predict`` (which sorts and packs internally) or of
  torch's forward under ``torch.inference_mode()`` over minibatches of 256
  sequences, length-sorted and padded before the clock starts;
- peak training memory: every (implementation, cell, H) runs in a fresh
  subprocess, which reads its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``,
  on Linux the same high-water mark from VmHWM in /proc/self/status) once
  after the imports and the data generation (the baseline) and again right
  after training; the table gives the difference. On Linux the freed heap is
  first returned to the OS (``malloc_trim``) and the high-water mark lowered
  to the current RSS (``/proc/self/clear_refs``), so that neither a transient
  peak of the imports nor memory freed earlier hides the training peak. It
  covers the model, the optimiser, the work space, the library code and
  buffers touched for the first time and, for torch, the padded minibatch
  tensors. Peak prediction memory is measured the same way;
- ratios skrnn / (faster torch mode) of both throughputs (> 1: skrnn faster),
  checked against the targets of the benchmark issue where there are some.

``--threads`` (default 1) sets ``torch.set_num_threads`` and threadpoolctl
limits (plus the usual OMP/BLAS environment variables) in every subprocess;
skrnn's fit and predict pin their BLAS to one thread whatever the limit.

A GEMM reference times the recurrent product of the H=256 LSTM,
(32 x 256) @ (256 x 1024) in float32 on one thread, with numpy's matmul and
with scipy's BLAS sgemm (the library skrnn's kernels call), and compares it with
every implementation's effective GEMM rate: the floating-point operations of
the input and recurrent products (forward and both backward products) divided
by the whole training time, a lower bound on the rate of the products alone.

``--float64`` adds a ``skrnn-float64`` run of every configuration, the same
fit on the data cast to float64 with ``dtype="float64"`` (so skrnn computes in
float64), and a table of its throughputs over the float32 run's, with the
target of the kernel issue. The ``skrnn`` run passes ``dtype="float32"``.

``--as-users-run`` measures both libraries as their users run them: skrnn
gets the data as float64 NumPy arrays and its default parameters (so it
computes in its default float32) with ``n_jobs=-1``, PyTorch runs with its
default thread count (no ``--threads`` limit) on float32 tensors, the faster
of packed and padded. The sides alternate (the order of the implementations
is reversed every other round) and every figure is the median of
``--repeat`` runs (3 unless given), as other work on the machine comes and
goes; the ratio table is the same.

``--linearity`` instead fits skrnn on N and 4N sequences with the same
settings and prints the ratio of the fit times (expected 3.5..4.5).

The machine may be busy with other work: ``--repeat K`` runs every
configuration K times, each in a fresh subprocess, and keeps the least time
(and memory) of each measurement; the second table also gives the share of
the training wall time the process actually ran (CPU%) and the ratios
computed from CPU time, which other processes disturb less.

Run ``python benchmarks/bench_rnn.py --help`` for the options.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

N_SEQUENCES = 2000
N_SEQUENCES_QUICK = 400
N_FEATURES = 8
N_CLASSES = 5
MIN_LENGTH, MAX_LENGTH = 20, 100
BATCH_SIZE = 32
PREDICT_BATCH_SIZE = 256
LEARNING_RATE = 1e-3
SEED = 0

CELLS = ("rnn", "lstm", "gru")
HIDDEN = (16, 64, 256)
HIDDEN_QUICK = (16, 64)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
TORCH_MODES = ("torch-packed", "torch-padded")
# float64 training throughput / float32's, per hidden size (issue target).
FLOAT64_TARGETS = {64: 0.40, 256: 0.40}

# skrnn throughput / faster torch mode's, per hidden size (issue targets).
TRAIN_TARGETS = {16: 3.0, 64: 2.0, 256: 1.0}
PREDICT_TARGETS = {16: 3.0, 64: 3.0, 256: 1.0}
# The same with --as-users-run, training and prediction alike (issue targets).
AS_USERS_TARGETS = {16: 2.0, 64: 2.0, 256: 1.2}

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# -- data -------------------------------------------------------------------


def make_data(n_sequences, seed=SEED):
    """Ragged float32 sequences and labels learnable from the sequence mean.

    Each sequence is a per-sequence offset plus unit Gaussian noise; its label
    is the argmax of a fixed random projection of its mean.
    """
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((N_FEATURES, N_CLASSES))
    lengths = rng.integers(MIN_LENGTH, MAX_LENGTH + 1, size=n_sequences)
    X = []
    for length in lengths:
        offset = rng.standard_normal(N_FEATURES)
        noise = rng.standard_normal((length, N_FEATURES))
        X.append((offset + noise).astype(np.float32))
    y = np.array([np.argmax(x.mean(axis=0) @ projection) for x in X])
    return X, y


def total_steps(X):
    return int(sum(x.shape[0] for x in X))


def peak_rss_mib():
    """Peak resident set size of this process so far, in MiB.

    ``getrusage(RUSAGE_SELF).ru_maxrss``; on Linux the same high-water mark is
    read from VmHWM in /proc/self/status instead, because ru_maxrss also keeps
    the peak of the address space the process had before its exec, which for
    a subprocess started by Python is the parent's, and cannot be lowered.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def memory_baseline():
    """Peak RSS to measure the next phase against, made as tight as the OS allows.

    On Linux (glibc) the freed heap is first returned to the OS and the peak is
    lowered to the current RSS, so that neither memory freed earlier nor a
    transient peak of the imports or the data generation hides a smaller peak
    of the phase. Returns the baseline and whether the peak could be lowered.
    """
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        lowered = True
    except OSError:
        lowered = False
    return peak_rss_mib(), lowered


def timed(function):
    """function()'s value, wall time and process CPU time."""
    start, cpu_start = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - start, time.process_time() - cpu_start


def gemm_flops_per_step(cell, hidden, backward):
    """Flops of one sequence's input and recurrent products at one time step."""
    forward = 2 * GATES[cell] * hidden * (hidden + N_FEATURES)
    return 3 * forward if backward else forward


# -- skrnn --------------------------------------------------------------------


def skrnn_classifier(cell, hidden, epochs, dtype=None, n_jobs=None):
    """The benchmark's RNNClassifier; ``dtype=None`` leaves skrnn's default."""
    from skrnn import RNNClassifier

    precision = {} if dtype is None else {"dtype": dtype}
    # torch's model: one direction, the last state, no dropout.
    return RNNClassifier(
        hidden_layer_sizes=(hidden,), cell=cell, bidirectional=False,
        recurrent_dropout=0.0, readout="last", batch_size=BATCH_SIZE,
        max_iter=epochs, solver="adam", learning_rate_init=LEARNING_RATE,
        clip_norm=None, alpha=0, tol=0, n_iter_no_change=10**9,
        random_state=SEED, shuffle=True, n_jobs=n_jobs, **precision)


def fit_quietly(clf, X, y):
    """clf.fit(X, y) without the ConvergenceWarning that max_iter=epochs gives."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


def skrnn_run(X, y, cell, hidden, epochs, dtype=None, n_jobs=None):
    """skrnn's timed training function and the maker of its prediction function."""
    clf = skrnn_classifier(cell, hidden, epochs, dtype, n_jobs)

    def prediction():
        return lambda: clf.predict(X)

    return (lambda: fit_quietly(clf, X, y)), prediction


# -- torch --------------------------------------------------------------------


def torch_model(cell, hidden, packed):
    """One recurrent layer and a linear head on each sequence's last valid state."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    class LastStateClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = recurrent(N_FEATURES, hidden)
            self.head = nn.Linear(hidden, N_CLASSES)

        def forward(self, x, lengths, last):
            if packed:
                _, state = self.rnn(
                    pack_padded_sequence(x, lengths, enforce_sorted=False))
                if cell == "lstm":
                    state = state[0]
                return self.head(state[-1])
            output, _ = self.rnn(x)
            return self.head(output[last, torch.arange(x.shape[1])])

    return LastStateClassifier()


def pad_batch(X, indices):
    """Time-major zero-padded tensor, lengths and last valid step of a minibatch."""
    import torch

    lengths = np.array([X[i].shape[0] for i in indices])
    padded = np.zeros((lengths.max(), len(indices), N_FEATURES), dtype=np.float32)
    for j, i in enumerate(indices):
        padded[: lengths[j], j] = X[i]
    return (torch.from_numpy(padded), torch.from_numpy(lengths),
            torch.from_numpy(lengths - 1))


def torch_train_batches(X, y, epochs):
    """Every epoch's shuffled minibatches, padded ahead of the timed loop."""
    import torch

    rng = np.random.default_rng(SEED)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), BATCH_SIZE):
            indices = order[start:start + BATCH_SIZE]
            batches.append(pad_batch(X, indices) + (torch.from_numpy(y[indices]),))
    return batches


def torch_predict_batches(X):
    """Length-sorted minibatches of PREDICT_BATCH_SIZE, padded, with their rows."""
    order = np.argsort([-x.shape[0] for x in X], kind="stable")
    return [(order[s:s + PREDICT_BATCH_SIZE],
             pad_batch(X, order[s:s + PREDICT_BATCH_SIZE]))
            for s in range(0, len(X), PREDICT_BATCH_SIZE)]


def torch_run(X, y, cell, hidden, epochs, packed):
    """torch's timed training function and the maker of its prediction function."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(SEED)
    batches = torch_train_batches(X, y, epochs)
    model = torch_model(cell, hidden, packed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def train():
        model.train()
        for x, lengths, last, target in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x, lengths, last), target)
            loss.backward()
            optimizer.step()

    def prediction():
        batches.clear()
        predict_batches = torch_predict_batches(X)

        def predict():
            predicted = np.empty(len(X), dtype=np.int64)
            model.eval()
            with torch.inference_mode():
                for rows, (x, lengths, last) in predict_batches:
                    predicted[rows] = model(x, lengths, last).argmax(dim=1).numpy()
            return predicted

        return predict

    return train, prediction


# -- one configuration in a subprocess ----------------------------------------


def run_worker(spec):
    """Body of the subprocess: imports, data, then training and prediction.

    Prints one JSON line: wall and CPU seconds of training and prediction,
    the peak RSS increase of each phase (MiB), the accuracy of the trained
    model on the training set, and the number of valid time steps.
    """
    from threadpoolctl import threadpool_limits

    # threads None: each library's own default, as its users run it.
    if spec["threads"] is not None:
        threadpool_limits(spec["threads"])
    # Import the library before the memory baseline.
    if spec["mode"].startswith("skrnn"):
        kernels = skrnn_kernels()
    else:
        import torch

        if spec["threads"] is not None:
            torch.set_num_threads(spec["threads"])
        kernels = None
    threads = None if kernels else torch.get_num_threads()
    X, y = make_data(spec["n_sequences"])
    # A scikit-learn user's arrays are NumPy's default float64.
    if spec["mode"] == "skrnn-float64" or spec.get("as_users"):
        X = [x.astype(np.float64) for x in X]
    dtype = {"skrnn": "float32", "skrnn-float64": "float64"}.get(spec["mode"])
    n_jobs = None
    if spec.get("as_users"):
        dtype, n_jobs = None, -1

    baseline, lowered = memory_baseline()
    args = (X, y, spec["cell"], spec["hidden"], spec["epochs"])
    if spec["mode"].startswith("skrnn"):
        train, prediction = skrnn_run(*args, dtype, n_jobs)
    else:
        train, prediction = torch_run(*args, packed=spec["mode"] == "torch-packed")
    _, train_seconds, train_cpu = timed(train)
    train_memory = peak_rss_mib() - baseline

    baseline, _ = memory_baseline()
    predicted, predict_seconds, predict_cpu = timed(prediction())
    predict_memory = peak_rss_mib() - baseline
    print(json.dumps({
        "train_seconds": train_seconds, "train_cpu_seconds": train_cpu,
        "train_memory_mib": train_memory, "predict_seconds": predict_seconds,
        "predict_cpu_seconds": predict_cpu, "predict_memory_mib": predict_memory,
        "accuracy": float(np.mean(predicted == y)), "steps": total_steps(X),
        "peak_lowered": lowered, "kernels": kernels, "torch_threads": threads}))


def run_in_subprocess(spec):
    """Run one configuration in a fresh interpreter and return its measurements."""
    env = dict(os.environ)
    if spec["threads"] is not None:
        env.update({name: str(spec["threads"]) for name in THREAD_VARIABLES})
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
        capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"configuration {spec} failed:\n{completed.stderr.strip()}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def best_of(runs, combine=min):
    """Combine repeated runs: the least (or ``combine``) of every time and
    memory figure."""
    best = dict(runs[0])
    for key in best:
        if key.endswith(("seconds", "mib")):
            best[key] = float(combine([run[key] for run in runs]))
    builds = sorted({str(run["kernels"]) for run in runs})
    if len(builds) > 1:
        best["kernels"] = " + ".join(builds)
    return best


# -- the comparison table -----------------------------------------------------


SHORT_NAMES = {"skrnn": "skrnn", "skrnn-float64": "skrnn64",
               "torch-packed": "packed", "torch-padded": "padded"}


def throughputs(result, epochs, clock="seconds"):
    """Training and prediction valid time steps per second of one run.

    ``clock`` is "seconds" for wall time or "cpu_seconds" for process CPU time.
    """
    return (result["steps"] * epochs / result[f"train_{clock}"],
            result["steps"] / result[f"predict_{clock}"])


def skrnn_ratios(by_mode, epochs, clock="seconds"):
    """skrnn's training and prediction throughput over the faster torch mode's."""
    speeds = {mode: throughputs(r, epochs, clock) for mode, r in by_mode.items()}
    torch_speeds = [v for mode, v in speeds.items() if mode in TORCH_MODES]
    return tuple(speeds["skrnn"][i] / max(v[i] for v in torch_speeds)
                 for i in (0, 1))


def ratio_cell(value, target):
    if target is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({'met' if value >= target else 'MISSED'} >={target:g})"


def has_torch(modes):
    return any(mode in TORCH_MODES for mode in modes)


def comparison_headers(modes):
    ratio = ["ratio"] if has_torch(modes) else []
    return (["cell", "H"]
            + [f"train {SHORT_NAMES[m]}" for m in modes] + ratio
            + [f"predict {SHORT_NAMES[m]}" for m in modes] + ratio
            + [f"mem {SHORT_NAMES[m]}" for m in modes])


def comparison_rows(results, modes, epochs, as_users=False):
    """Rows of the main table: throughputs in k steps/s, ratios, train memory."""
    rows = []
    goals = ((AS_USERS_TARGETS, AS_USERS_TARGETS) if as_users
             else (TRAIN_TARGETS, PREDICT_TARGETS))
    for (cell, hidden), by_mode in results.items():
        speeds = {mode: throughputs(by_mode[mode], epochs) for mode in modes}
        ratios = skrnn_ratios(by_mode, epochs) if has_torch(modes) else None
        row = [cell, str(hidden)]
        for phase, targets in enumerate(goals):
            row += [f"{speeds[mode][phase] / 1e3:.1f}" for mode in modes]
            if ratios:
                row.append(ratio_cell(ratios[phase], targets.get(hidden)))
        row += [f"{by_mode[mode]['train_memory_mib']:.1f}" for mode in modes]
        rows.append(row)
    return rows


def detail_headers(modes):
    names = "/".join(SHORT_NAMES[m] for m in modes)
    ratio = ["ratio by CPU time train/predict"] if has_torch(modes) else []
    return (["cell", "H", f"accuracy {names}", f"train GF/s {names}",
             f"predict GF/s {names}", f"train CPU% {names}"] + ratio
            + [f"predict mem {names}"])


def detail_rows(results, modes, epochs):
    """Rows of the second table: accuracy, GEMM rates, CPU share, CPU-time ratios."""
    rows = []
    for (cell, hidden), by_mode in results.items():
        runs = [by_mode[mode] for mode in modes]
        row = [cell, str(hidden), "/".join(f"{r['accuracy']:.2f}" for r in runs)]
        for phase, backward in ((0, True), (1, False)):
            flops = gemm_flops_per_step(cell, hidden, backward)
            row.append("/".join(
                f"{flops * throughputs(r, epochs)[phase] / 1e9:.1f}" for r in runs))
        row.append("/".join(
            f"{100 * r['train_cpu_seconds'] / r['train_seconds']:.0f}" for r in runs))
        if has_torch(modes):
            ratios = skrnn_ratios(by_mode, epochs, "cpu_seconds")
            row.append(f"{ratios[0]:.2f}/{ratios[1]:.2f}")
        row.append("/".join(f"{r['predict_memory_mib']:.1f}" for r in runs))
        rows.append(row)
    return rows


def float64_rows(results, epochs):
    """Rows of the float64 table: float64 throughput / float32's, train and predict."""
    rows = []
    for (cell, hidden), by_mode in results.items():
        f32 = throughputs(by_mode["skrnn"], epochs)
        f64 = throughputs(by_mode["skrnn-float64"], epochs)
        rows.append([cell, str(hidden),
                     ratio_cell(f64[0] / f32[0], FLOAT64_TARGETS.get(hidden)),
                     f"{f64[1] / f32[1]:.2f}"])
    return rows


def format_table(headers, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


# -- GEMM reference -----------------------------------------------------------


def time_best(function, seconds=1.0, rounds=5):
    """Best time per call over ``rounds`` rounds lasting ``seconds`` in all."""
    function()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / rounds / 4:
            break
        calls *= 2
    calls = max(1, round(calls * seconds / rounds / elapsed))
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def gemm_reference(hidden=256, gates=4):
    """Single-thread float32 GFLOP/s of (32 x H) @ (H x gates*H): numpy, sgemm."""
    from scipy.linalg.blas import sgemm
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((BATCH_SIZE, hidden), dtype=np.float32)
    b = rng.standard_normal((hidden, gates * hidden), dtype=np.float32)
    out = np.empty((BATCH_SIZE, gates * hidden), dtype=np.float32)
    a_f, b_f = np.asfortranarray(a), np.asfortranarray(b)
    c_f = np.asfortranarray(out)
    flops = 2 * BATCH_SIZE * hidden * gates * hidden
    with threadpool_limits(1):
        numpy_seconds = time_best(lambda: np.matmul(a, b, out=out))
        sgemm_seconds = time_best(
            lambda: sgemm(1.0, a_f, b_f, c=c_f, overwrite_c=True))
    return flops / numpy_seconds / 1e9, flops / sgemm_seconds / 1e9


# -- linearity ----------------------------------------------------------------


def time_skrnn_fit(X, y, cell, hidden, epochs, repeat):
    """Least wall and least CPU seconds of ``repeat`` skrnn fits of X, y."""
    times = []
    for _ in range(repeat):
        clf = skrnn_classifier(cell, hidden, epochs)
        times.append(timed(lambda clf=clf: fit_quietly(clf, X, y))[1:])
    return min(t[0] for t in times), min(t[1] for t in times)


def linearity(args, n_sequences):
    """skrnn fit time on 4N sequences over that on N, per (cell, H).

    A small warm-up fit first takes the one-off costs of the first call.
    """
    from threadpoolctl import threadpool_limits

    X, y = make_data(n_sequences)
    X4, y4 = make_data(4 * n_sequences)
    rows = []
    with threadpool_limits(args.threads):
        for cell in args.cells:
            for hidden in args.hidden:
                print(f"linearity: {cell} H={hidden}", file=sys.stderr, flush=True)
                time_skrnn_fit(X[:64], y[:64], cell, hidden, 1, 1)
                wall1, cpu1 = time_skrnn_fit(X, y, cell, hidden, args.epochs,
                                             args.repeat)
                wall4, cpu4 = time_skrnn_fit(X4, y4, cell, hidden, args.epochs,
                                             args.repeat)
                row = [cell, str(hidden), f"{wall1:.2f}", f"{wall4:.2f}"]
                for ratio in (wall4 / wall1, cpu4 / cpu1):
                    verdict = "met" if 3.5 <= ratio <= 4.5 else "MISSED"
                    row.append(f"{ratio:.2f} ({verdict} 3.5..4.5)")
                rows.append(row)
    headers = ["cell", "H", f"fit N={n_sequences} (s)",
               f"fit 4N={4 * n_sequences} (s)", "ratio 4N/N", "by CPU time"]
    print("\nskrnn fit time (least wall time of the repeats) on N and 4N "
          "sequences and its ratio, from wall and from CPU time.\n")
    print(format_table(headers, rows, args.markdown))


# -- main ---------------------------------------------------------------------


def machine_description():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def skrnn_kernels():
    """skrnn's version and the build time of its compiled recurrent kernels.

    With an editable install the kernels can be rebuilt while the benchmark
    runs; the build time tells which build a measurement used.
    """
    import skrnn
    from skrnn._kernels import _recurrent

    built = datetime.datetime.fromtimestamp(os.path.getmtime(_recurrent.__file__))
    return f"skrnn {skrnn.__version__}, kernels built {built:%Y-%m-%d %H:%M:%S}"


def torch_version():
    """Installed torch's version, or None; without importing it here."""
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train the same recurrent classifier in skrnn and PyTorch "
        "on synthetic ragged data and print throughput, memory and ratios.")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS),
                        help="recurrent cells (default: all three)")
    parser.add_argument("--hidden", nargs="+", type=positive_int, default=None,
                        help="hidden sizes (default 16 64 256; 16 64 with --quick)")
    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="training epochs on every side (default 1)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch threads and BLAS/OpenMP thread limit "
                        "(default 1; each library's own with --as-users-run)")
    parser.add_argument("--repeat", type=positive_int, default=None,
                        help="fresh runs per configuration; the tables keep the "
                        "least time and memory of each (default 1), or with "
                        "--as-users-run the median (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: N={N_SEQUENCES_QUICK}, H in 16 64")
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables as Markdown")
    parser.add_argument("--no-torch", action="store_true",
                        help="skrnn only, as when torch is not installed")
    parser.add_argument("--float64", action="store_true",
                        help="also fit skrnn on the data as float64 and print "
                        "float64 / float32 throughput")
    parser.add_argument("--as-users-run", action="store_true",
                        help="skrnn's defaults on float64 arrays against PyTorch's "
                        "default threads on float32 tensors; sides alternate, "
                        "medians of --repeat runs")
    parser.add_argument("--linearity", action="store_true",
                        help="only fit skrnn on N and 4N sequences and print the "
                        "ratio of the fit times")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.as_users_run and (args.float64 or args.linearity):
        parser.error("--as-users-run runs skrnn's defaults only; it cannot be "
                     "combined with --float64 or --linearity")
    if args.as_users_run and args.threads is not None:
        parser.error("--as-users-run runs each library with its default "
                     "threads; --threads does not apply")
    if args.repeat is None:
        args.repeat = 3 if args.as_users_run else 1
    if args.threads is None and not args.as_users_run:
        args.threads = 1
    if args.hidden is None:
        args.hidden = list(HIDDEN_QUICK if args.quick else HIDDEN)
    return args


def print_header(args, n_sequences, version):
    print(f"# skrnn vs PyTorch recurrent classifier benchmark, "
          f"{datetime.date.today().isoformat()}")
    torch_text = ("skipped (--no-torch)" if args.no_torch
                  else version or "not installed")
    print(f"# machine: {machine_description()}; python {platform.python_version()}, "
          f"numpy {np.__version__}, torch {torch_text}")
    print(f"# {skrnn_kernels()}")
    if args.as_users_run:
        setting = ("as users run: skrnn defaults on float64 arrays, torch "
                   "default threads on float32, median of alternating runs, "
                   f"repeat={args.repeat}")
    else:
        setting = f"float32, threads={args.threads}, repeat={args.repeat}"
    print(f"# N={n_sequences} sequences x {N_FEATURES} features, lengths "
          f"{MIN_LENGTH}..{MAX_LENGTH}, {N_CLASSES} classes, batch "
          f"{BATCH_SIZE}, Adam lr {LEARNING_RATE:g}, epochs={args.epochs}, "
          f"{setting}")


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(json.loads(args.worker))
        return
    started = time.perf_counter()
    n_sequences = N_SEQUENCES_QUICK if args.quick else N_SEQUENCES
    version = None if args.no_torch else torch_version()
    print_header(args, n_sequences, version)
    if args.linearity:
        linearity(args, n_sequences)
        print(f"# total run time {time.perf_counter() - started:.0f} s")
        return

    modes = (["skrnn"] + (["skrnn-float64"] if args.float64 else [])
             + (list(TORCH_MODES) if version else []))
    results = {}
    for cell in args.cells:
        for hidden in args.hidden:
            runs = {mode: [] for mode in modes}
            for round_ in range(args.repeat):
                # Alternating sides: each implementation meets the other's
                # neighbours on the machine as often as they meet its own.
                order = modes if round_ % 2 == 0 or not args.as_users_run \
                    else modes[::-1]
                for mode in order:
                    print(f"running {mode} {cell} H={hidden}", file=sys.stderr,
                          flush=True)
                    spec = {"mode": mode, "cell": cell, "hidden": hidden,
                            "epochs": args.epochs, "threads": args.threads,
                            "n_sequences": n_sequences,
                            "as_users": args.as_users_run}
                    runs[mode].append(run_in_subprocess(spec))
            combine = np.median if args.as_users_run else min
            results[(cell, hidden)] = {mode: best_of(runs[mode], combine)
                                       for mode in modes}

    ratios = has_torch(modes)
    if args.as_users_run:
        torch_threads = sorted({str(by_mode[mode]["torch_threads"])
                                for by_mode in results.values()
                                for mode in modes if mode in TORCH_MODES})
        print(f"\n# torch threads (its default): {', '.join(torch_threads)}; "
              "every figure is the median of the runs")
    print("\nThroughput in thousands of valid time steps per second (wall "
          "time); " + ("ratio = skrnn / faster torch mode; " if ratios else "")
          + "peak training memory in MiB (peak RSS after training minus after "
          "imports and data).\n")
    print(format_table(comparison_headers(modes),
                       comparison_rows(results, modes, args.epochs,
                                       args.as_users_run), args.markdown))
    print("\nTraining-set accuracy after training; effective GEMM GFLOP/s = "
          "flops of the input and recurrent products / whole train or predict "
          "wall time; train CPU% = process CPU time / wall time of training "
          "(well below 100 x threads: other processes took the CPU); "
          + ("the ratios again from CPU time; " if ratios else "")
          + "peak prediction memory in MiB.\n")
    print(format_table(detail_headers(modes),
                       detail_rows(results, modes, args.epochs), args.markdown))
    if args.float64:
        print("\nskrnn float64 throughput / float32 throughput (wall time).\n")
        print(format_table(["cell", "H", "train f64/f32", "predict f64/f32"],
                           float64_rows(results, args.epochs), args.markdown))
    numpy_gflops, sgemm_gflops = gemm_reference()
    print(f"\nGEMM reference, 1 thread, float32 (32 x 256) @ (256 x 1024): "
          f"numpy matmul {numpy_gflops:.1f} GFLOP/s, scipy BLAS sgemm "
          f"{sgemm_gflops:.1f} GFLOP/s")
    if version is None and not args.no_torch:
        print("# torch is not installed: skrnn only")
    builds = {}
    for (cell, hidden), by_mode in results.items():
        if "skrnn" in by_mode:
            builds.setdefault(by_mode["skrnn"]["kernels"], []).append(
                f"{cell}/{hidden}")
    if len(builds) > 1:
        print("# WARNING: skrnn's kernels were rebuilt during the run; "
              + "; ".join(f"{build}: {' '.join(rows)}"
                          for build, rows in builds.items()))
    print(f"# total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
