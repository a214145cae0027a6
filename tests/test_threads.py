"""n_jobs: the thread count it resolves to, the process-wide budget, and fits
and predictions that are bit-identical for every n_jobs."""

import os
import signal
import threading
import warnings

import joblib
import numpy as np
import pytest
from _helpers import outputs, targets_for
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
    SequenceTranscriber,
    _predicting,
    _threads,
    _training,
)
from skrnn._network import RecurrentNetwork

N_JOBS = [1, 2, 3, -1]


def _data(rng, n=50):
    lengths = rng.integers(1, 30, n)
    X = [rng.standard_normal((int(T), 3)) for T in lengths]
    y_seq = np.array([int(x[:, 0].sum() > 0) for x in X])
    y_step = [(np.cumsum(x[:, 1]) > 0).astype(int) for x in X]
    return X, y_seq, y_step


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    """Shards of 16 sequences whatever the hidden size, so that the tests'
    small networks are sharded as wide ones are."""
    monkeypatch.setattr(_training, "_SHARD_WORK", 1)


@pytest.fixture
def small_blocks(monkeypatch):
    """Predict and L-BFGS in many small blocks (and long sequences in chunks
    of time), so that the threads share out real work on small data."""
    monkeypatch.setattr(RecurrentNetwork, "steps_per_batch",
                        lambda self, itemsize=4: 40)
    original = _predicting.step_budget_batches
    for module in (_predicting, _training):
        monkeypatch.setattr(module, "step_budget_batches",
                            lambda lengths, max_steps=40: original(lengths,
                                                                   max_steps))


@pytest.fixture
def worker_threads(monkeypatch):
    """Names of the threads every forward and predict pass ran on."""
    seen = set()
    for name in ("forward", "predict"):
        original = getattr(RecurrentNetwork, name)

        def recording(self, *args, _original=original, **kwargs):
            seen.add(threading.current_thread().name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(RecurrentNetwork, name, recording)
    return seen


# --------------------------------------------------------------------------
# The thread count
# --------------------------------------------------------------------------


def test_n_threads_follows_n_jobs_and_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpus = _threads.available_cpus()
    assert _threads.n_threads(None) == 1
    assert _threads.n_threads(1) == 1
    assert _threads.n_threads(-1) == cpus
    assert _threads.n_threads(10 * cpus) == cpus
    with joblib.parallel_backend("threading", n_jobs=2):
        assert _threads.n_threads(None) == min(2, cpus)


def test_omp_num_threads_caps_the_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.available_cpus() == 1
    assert _threads.n_threads(-1) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert _threads.available_cpus() >= 1


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_bad_n_jobs_is_refused(rng, n_jobs):
    X, y_seq, _ = _data(rng, 6)
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        RNNClassifier((3,), n_jobs=n_jobs, max_iter=1).fit(X, y_seq)


def test_the_process_never_holds_more_threads_than_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpus = _threads.available_cpus()
    sizes = []
    with _threads.Threads(-1) as outer:
        sizes.append(outer.size)

        def inner():
            with _threads.Threads(-1) as nested:
                sizes.append(nested.size)
        t = threading.Thread(target=inner)
        t.start()
        t.join()
    with _threads.Threads(-1) as after:
        sizes.append(after.size)
    # The second call, while the first holds every core, runs on its own
    # thread only; once the first is done, the cores are free again.
    assert sizes == [cpus, 1, cpus]


def test_map_keeps_the_order_and_raises_what_a_task_raises():
    with _threads.Threads(2) as threads:
        assert threads.map(lambda i: i * i, range(7)) == [i * i for i in range(7)]

        def fail(i):
            if i == 3:
                raise ValueError("task 3")
            return i
        with pytest.raises(ValueError, match="task 3"):
            threads.map(fail, range(5))


def test_map_runs_idle_on_the_caller_while_the_others_finish(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    ran = []
    with _threads.Threads(1) as threads:
        # One thread: nothing to wait for, so idle never runs.
        assert threads.map(abs, [-1, -2], idle=lambda: ran.append(1)) == [1, 2]
    assert ran == []
    with _threads.Threads(2) as threads:
        release = threading.Event()

        def task(i):
            if threading.current_thread() is not threading.main_thread():
                # The helper's task ends only once idle has run.
                assert release.wait(30)
            return i * 10

        def idle():
            ran.append(threading.current_thread())
            release.set()

        assert threads.map(task, range(2), idle=idle) == [0, 10]
        assert ran == [threading.main_thread()]

        def failing():
            raise RuntimeError("idle failed")
        with pytest.raises(RuntimeError, match="idle failed"):
            threads.map(lambda i: i, range(2), idle=failing)


def test_the_worker_threads_are_kept_from_one_call_to_the_next(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    seen = []
    for _ in range(5):
        with _threads.Threads(2) as threads:
            # Each task waits for the other, so both threads must run one.
            barrier = threading.Barrier(2, timeout=30)
            # Thread objects, kept alive: an ident may be reused once its
            # thread has ended.
            seen.append(set(threads.map(
                lambda i, barrier=barrier: (barrier.wait(),
                                            threading.current_thread())[1],
                range(2))))
    assert all(len(workers) == 2 for workers in seen)
    # The pool's thread is the same one every time: none started per call.
    assert len(set.union(*seen)) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_worker_threads_of_its_own(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    with _threads.Threads(2) as threads:
        threads.map(abs, range(4))  # the parent's pool exists
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # The parent's pool threads do not exist here; waiting on them
            # would hang, and the alarm ends the child instead.
            signal.alarm(60)
            fresh = _threads._IDLE.empty()
            with _threads.Threads(2) as threads:
                squares = threads.map(lambda i: i * i, range(8))
            code = 0 if fresh and threads.size == 2 and squares == [
                i * i for i in range(8)] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_map_runs_on_the_caller_once_no_thread_can_start(monkeypatch):
    def shut_down():
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    monkeypatch.setattr(_threads, "_take_worker", shut_down)
    with _threads.Threads(2) as threads:
        assert threads.size == 2
        assert threads.map(lambda i: i + 1, range(6)) == list(range(1, 7))


def test_joblib_workers_of_a_search_get_their_share_of_the_cores():
    # joblib sets OMP_NUM_THREADS to cores // workers in its worker processes.
    cpus = _threads.available_cpus()
    counts = joblib.Parallel(n_jobs=2)(
        joblib.delayed(_threads.n_threads)(-1) for _ in range(2))
    assert all(c <= max(1, cpus // 2) for c in counts)


def test_grid_search_over_n_jobs_estimators_is_the_serial_search(rng):
    X, y_seq, _ = _data(rng, 24)
    grid = {"hidden_layer_sizes": [(3,), (4,)]}
    results = []
    for n_jobs in (1, -1):
        search = GridSearchCV(
            RNNClassifier(max_iter=2, batch_size=20, random_state=0,
                          n_jobs=n_jobs), grid, cv=2, n_jobs=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            results.append(search.fit(X, y_seq).cv_results_["mean_test_score"])
    assert_array_equal(results[0], results[1])


# --------------------------------------------------------------------------
# Bit-identical for every n_jobs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor,
                                       SequenceTagger, SequenceRegressor])
def test_fits_and_predictions_are_the_same_for_every_n_jobs(
        rng, small_blocks, worker_threads, Estimator, cell, bidirectional):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    fits = []
    for n_jobs in N_JOBS:
        # 48 sequences a minibatch: three shards; the last minibatch one.
        est = Estimator((4, 3), cell=cell, bidirectional=bidirectional,
                        batch_size=48, max_iter=2, dropout=0.2,
                        recurrent_dropout=0.2, random_state=0, n_jobs=n_jobs)
        _fit(est, X, y)
        fits.append((est._params, est.loss_curve_, outputs(est, X)))
    for params, curve, out in fits[1:]:
        assert_array_equal(params, fits[0][0])
        assert curve == fits[0][1]
        for a, b in zip(out, fits[0][2]):
            assert_array_equal(a, b)
    if _threads.available_cpus() > 1:
        assert any(name.startswith("skrnn") for name in worker_threads)


@pytest.mark.parametrize(("Estimator", "params"), [
    (RNNClassifier, {"bptt_steps": 7}),
    (RNNRegressor, {"bptt_steps": 7, "readout": "attention"}),
    (SequenceTagger, {"bptt_steps": 7}),
    (RNNClassifier, {"solver": "lbfgs"}),
    (SequenceTagger, {"solver": "lbfgs"}),
    (RNNClassifier, {"early_stopping": True}),
])
def test_truncated_lbfgs_and_early_stopping_fits_are_the_same_for_every_n_jobs(
        rng, small_blocks, Estimator, params):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    fits = [_fit(Estimator((4,), batch_size=40, max_iter=3, dropout=0.1,
                           random_state=0, n_jobs=n_jobs, **params), X, y)
            for n_jobs in N_JOBS]
    for est in fits[1:]:
        assert_array_equal(est._params, fits[0]._params)
        assert est.loss_curve_ == fits[0].loss_curve_


def test_transcriber_fits_the_same_for_every_n_jobs(rng, small_blocks):
    X = [rng.standard_normal((int(T), 3)) for T in rng.integers(6, 20, 40)]
    y = [rng.integers(0, 3, int(rng.integers(1, 4))) for _ in X]
    fits = [_fit(SequenceTranscriber((4,), batch_size=40, max_iter=2,
                                     random_state=0, n_jobs=n_jobs), X, y)
            for n_jobs in (1, 2)]
    assert_array_equal(fits[0]._params, fits[1]._params)
    for a, b in zip(fits[0].predict(X), fits[1].predict(X)):
        assert_array_equal(a, b)


def test_shards_split_a_minibatch_by_length(rng):
    X, y_seq, _ = _data(rng)
    est = _fit(RNNClassifier((3,), max_iter=1, random_state=0), X, y_seq)
    seqs = est._validate_sequences(X, reset=False)
    idx = np.arange(48)
    plan = est._shards(seqs, idx)
    assert len(plan) == 3
    assert sorted(np.concatenate(plan)) == list(idx)
    steps = [seqs.lengths[part].sum() for part in plan]
    assert max(steps) - min(steps) <= seqs.lengths[idx].max()
    assert len(est._shards(seqs, idx[:31])) == 1
    assert len(est._shards(seqs, idx[:32])) == 2


def test_small_networks_are_not_sharded(monkeypatch):
    # A shard holds at least 1024 sequences x units: narrower, its per-step
    # cost is mostly fixed and splitting it would only cost time.
    monkeypatch.setattr(_training, "_SHARD_WORK", 1024)
    assert _training.shard_size((16,)) == 64
    assert _training.shard_size((32, 8)) == 32
    assert _training.shard_size((64,)) == 16
    assert _training.shard_size((256,)) == 16


def test_an_explicit_thread_cap_holds_inside_a_fit(rng, monkeypatch,
                                                   worker_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    X, y_seq, _ = _data(rng)
    _fit(RNNClassifier((3,), batch_size=40, max_iter=1, n_jobs=-1,
                       random_state=0), X, y_seq)
    assert worker_threads == {threading.current_thread().name}
    assert os.environ["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("Estimator", [RNNClassifier, SequenceTagger])
def test_weighted_sharded_fits_are_the_same_for_every_n_jobs(rng, Estimator):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    if Estimator is SequenceTagger:
        weight = [rng.uniform(0, 2, len(x)) for x in X]
        weight[:20] = [np.zeros(len(x)) for x in X[:20]]
    else:
        weight = rng.uniform(0, 2, len(X))
        weight[:20] = 0
    fits = []
    for n_jobs in (1, 2):
        est = Estimator((4,), batch_size=40, max_iter=2, shuffle=False,
                        random_state=0, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(est.fit(X, y, sample_weight=weight))
    assert_array_equal(fits[0]._params, fits[1]._params)
    assert fits[0].loss_curve_ == fits[1].loss_curve_
