"""Persistence and sharing (the layer: pickling and threads over every
estimator): pickle and joblib round trips, memory-mapped models, the version
stamp of pickles, concurrent predict and fitting clones in threads,
predict's read-only use of the estimator, and memory over repeated fits.

Every model is tiny (4 hidden units, 2 epochs); the whole file runs in seconds."""

import copy
import gc
import os
import pickle
import re
import threading
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from _helpers import (
    CELLS,
    ESTIMATORS,
    FAST,
    SEED,
    THREE_ESTIMATORS,
    TINY,
    assert_same_state,
    ignore_convergence,
    outputs,
    per_sequence,
    small_problem,
    stacked,
    tiny_data,
    tiny_fitted,
    tiny_sequences,
)
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_info, threadpool_limits

import skrnn
import skrnn._base
from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
)
from skrnn._network import RecurrentNetwork

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def _data(Estimator, rng, n=12, low=2, high=9):
    X = tiny_sequences(rng, n, low=low, high=high)
    if Estimator is RNNClassifier:
        y = np.array(["a", "b", "c"] * (n // 3) + ["a"] * (n % 3))
    elif Estimator is RNNRegressor:
        y = np.array([x[:, 0].mean() for x in X])
    elif Estimator is SequenceRegressor:
        y = [np.cumsum(x[:, 0]) for x in X]
    else:
        y = [np.where(x[:, 0] > 0, "pos", "neg") for x in X]
        y[0][0], y[-1][-1] = "pos", "neg"
    return X, y


def _fit(Estimator, rng, **params):
    X, y = _data(Estimator, rng)
    return Estimator(**{**TINY, **params}).fit(X, y), X, y


def _predictions(est, X):
    """Everything predict-like the estimator offers, as a dict of arrays."""
    out = {"predict": est.predict(X)}
    if hasattr(est, "predict_proba"):
        out["predict_proba"] = est.predict_proba(X)
        out["predict_log_proba"] = est.predict_log_proba(X)
    return {name: stacked(value) for name, value in out.items()}


def _assert_same_predictions(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert_array_equal(a[name], b[name], err_msg=name)


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


# The networks pickled: the tiny default, one in float64, and two layers in
# both directions of every cell.
NETWORKS = {
    "tiny": {},
    "float64": {"dtype": "float64"},
    **{f"{cell}-2-layers-bidirectional": dict(cell=cell, hidden_layer_sizes=(4, 3),
                                              bidirectional=True)
       for cell in CELLS},
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_pickle_round_trip(Estimator, dtype, network, rng):
    X, y = _data(Estimator, rng)
    X = [x.astype(dtype) for x in X]
    est = Estimator(**{**TINY, **NETWORKS[network]}).fit(X, y)
    fitted = copy.deepcopy(vars(est))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version: no version warning
        loaded = pickle.loads(pickle.dumps(est))
    assert type(loaded) is Estimator
    assert loaded.get_params() == est.get_params()
    _assert_same_predictions(_predictions(loaded, X), _predictions(est, X))
    if per_sequence(est.predict(X)):
        assert ([p.shape for p in loaded.predict(X)]
                == [p.shape for p in est.predict(X)])
    assert_same_state(vars(loaded), fitted)
    assert loaded.score(X, y) == est.score(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("compress", [0, 3])
def test_joblib_round_trip(Estimator, compress, rng, tmp_path):
    est, X, _ = _fit(Estimator, rng)
    fitted = copy.deepcopy(vars(est))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path, compress=compress)
    loaded = joblib.load(path)
    _assert_same_predictions(_predictions(loaded, X), _predictions(est, X))
    assert_same_state(vars(loaded), fitted)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_joblib_mmap_load_predicts(Estimator, rng, tmp_path):
    est, X, _ = _fit(Estimator, rng)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path, mmap_mode="r")
    # The weights really are a read-only view of the file.
    assert isinstance(loaded._params, np.memmap)
    assert not loaded._params.flags.writeable
    _assert_same_predictions(_predictions(loaded, X), _predictions(est, X))


def _solver_state(est):
    """Copies of every array the solver updates: the weights and the moments."""
    state = {"_params": np.array(est._params)}
    for name, value in vars(est._optimizer).items():
        if isinstance(value, np.ndarray) and name != "_work":
            state[name] = np.array(value)
    return state


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("update", ["partial_fit", "warm_start"])
def test_joblib_mmap_load_then_update_copies_first(Estimator, update, rng,
                                                   tmp_path):
    est, X, y = _fit(Estimator, rng)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    on_disk = _solver_state(joblib.load(path))
    loaded = joblib.load(path, mmap_mode="r")
    if update == "partial_fit":
        loaded.partial_fit(X, y)
    else:
        loaded.set_params(warm_start=True, max_iter=1).fit(X, y)
    # The model moved on...
    assert not np.array_equal(loaded._params, on_disk["_params"])
    assert loaded._params.flags.writeable
    # ...and the file it was loaded from did not.
    after = _solver_state(joblib.load(path))
    for name, value in on_disk.items():
        assert_array_equal(after[name], value, err_msg=name)


# --------------------------------------------------------------------------
# The version stamp
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pickle_carries_the_version(Estimator, rng):
    est, X, _ = _fit(Estimator, rng)
    assert est.__getstate__()["_skrnn_version"] == skrnn.__version__
    payload = pickle.dumps(est)
    assert skrnn.__version__.encode() in payload
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same version loads silently
        loaded = pickle.loads(payload)
    assert "_skrnn_version" not in vars(loaded)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickling_leaves_the_estimator_unchanged(Estimator, how, rng):
    est, _, _ = _fit(Estimator, rng)
    before = copy.deepcopy(vars(est))
    names = set(vars(est))
    if how == "pickle":
        pickle.dumps(est)
    else:
        copy.deepcopy(est)
    assert set(vars(est)) == names
    assert_same_state(vars(est), before)


def _version_warning(Estimator, old):
    return (rf"Trying to unpickle {Estimator.__name__} from skrnn version "
            rf"{old} when using version {skrnn.__version__}\.")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("old", ["0.0.1", "0.0.0-other"])
def test_setstate_from_another_version_warns(Estimator, old, rng):
    est, X, _ = _fit(Estimator, rng)
    state = est.__getstate__().copy()
    state["_skrnn_version"] = old
    loaded = Estimator.__new__(Estimator)
    with pytest.warns(UserWarning, match=_version_warning(Estimator, re.escape(old))):
        loaded.__setstate__(state)
    assert "_skrnn_version" not in vars(loaded)
    _assert_same_predictions(_predictions(loaded, X), _predictions(est, X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unpickling_a_pickle_of_another_version_warns(Estimator, rng,
                                                      monkeypatch):
    est, X, _ = _fit(Estimator, rng)
    monkeypatch.setattr(skrnn._base, "__version__", "9.9.9")
    payload = pickle.dumps(est)
    monkeypatch.undo()
    with pytest.warns(UserWarning, match=_version_warning(Estimator, r"9\.9\.9")):
        loaded = pickle.loads(payload)
    _assert_same_predictions(_predictions(loaded, X), _predictions(est, X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unversioned_state_warns(Estimator, rng):
    est, _, _ = _fit(Estimator, rng)
    state = est.__getstate__()
    del state["_skrnn_version"]
    with pytest.warns(UserWarning, match=_version_warning(Estimator, "None")):
        Estimator.__new__(Estimator).__setstate__(state)


# --------------------------------------------------------------------------
# Sharing a fitted model
# --------------------------------------------------------------------------


def _blas_threads():
    return {info["filepath"]: info["num_threads"]
            for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def blas_threads_restored():
    """Put the BLAS thread counts back after the test: overlapping predicts
    must leave them as they were (tested below); if not, the change would
    leak into later tests.

    The counts are set from a thread that then ends: threadpoolctl lets one
    live thread at a time control OpenBLAS, and the main thread must not keep
    that role, or the worker threads' limits in later tests do nothing.
    """
    before = _blas_threads()
    yield
    setter = threading.Thread(target=threadpool_limits, kwargs={"limits": before})
    setter.start()
    setter.join()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_concurrent_predict_equals_serial(Estimator, rng, blas_threads_restored):
    # Enough steps per call (about 6000) for the 8 threads to overlap.
    X, y = _data(Estimator, rng, n=200, low=10, high=50)
    est = Estimator(**TINY).fit(X, y)
    serial = _predictions(est, X)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: _predictions(est, X), range(32)))
    for result in results:
        _assert_same_predictions(result, serial)


def test_overlapping_predicts_restore_the_blas_thread_count(rng, monkeypatch,
                                                           blas_threads_restored):
    before = _blas_threads()
    if all(n == 1 for n in before.values()):
        pytest.skip("BLAS runs on one thread already: nothing to restore")
    est, X, _ = _fit(RNNRegressor, rng)
    a_inside, b_inside, a_done = (threading.Event() for _ in range(3))
    names = {}
    original = RecurrentNetwork.predict

    def network_predict(self, *args, **kwargs):
        # Force the interleaving enter A, enter B, exit A, exit B.
        if names.get(threading.get_ident()) == "A":
            a_inside.set()
            assert b_inside.wait(10)
        else:
            b_inside.set()
            assert a_done.wait(10)
        return original(self, *args, **kwargs)

    def predict(name):
        names[threading.get_ident()] = name
        return est.predict(X[:1])

    monkeypatch.setattr(RecurrentNetwork, "predict", network_predict)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(predict, "A")
        assert a_inside.wait(10)
        second = pool.submit(predict, "B")
        first.result(timeout=10)
        a_done.set()
        second.result(timeout=10)
    assert _blas_threads() == before


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_writes_nothing_to_the_estimator(Estimator, dtype, rng):
    est, X, y = _fit(Estimator, rng, dtype=dtype)
    before = copy.deepcopy(vars(est))
    params = est._params
    _predictions(est, X)
    est.predict(X[:1])
    est.score(X, y)
    assert_same_state(vars(est), before)
    assert est._params is params  # not even replaced by an equal array


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                    reason="needs Linux's /proc/self/statm")
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_repeated_fits_do_not_grow_memory(Estimator, rng):
    X, y = _data(Estimator, rng, n=64, low=10, high=40)

    def fit_and_predict():
        est = Estimator((16,), max_iter=3, random_state=SEED).fit(X, y)
        est.predict(X)

    tracemalloc.start()
    try:
        for _ in range(5):  # warm-up: imports, caches, allocator arenas
            fit_and_predict()
        gc.collect()
        rss, traced = _rss_bytes(), tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            fit_and_predict()
        gc.collect()
        rss_growth = _rss_bytes() - rss
        traced_growth = tracemalloc.get_traced_memory()[0] - traced
    finally:
        tracemalloc.stop()
    print(f"{Estimator.__name__}: over 50 fits, RSS grew {rss_growth / 2**20:.2f} "
          f"MiB, traced allocations {traced_growth / 2**20:.3f} MiB")
    # A fit's work space (packed batches, gate buffers of 32 sequences x 40
    # steps x 64 gate columns, weights, Adam's moments) is about 1 MB: had it
    # outlived its fit, 50 fits would add 50 MB to the RSS; allocator
    # fragmentation stays far below the 20 MB allowed.
    assert rss_growth < 20 * 2**20, f"RSS grew by {rss_growth / 2**20:.1f} MiB"
    # Python-visible allocations are counted exactly: a clean loop leaves
    # under 0.1 MiB (caches); 1 MiB is 20 KB per fit, half of what keeping
    # each fitted estimator alive would cost.
    assert traced_growth < 2**20, (
        f"traced allocations grew by {traced_growth / 2**20:.2f} MiB")


# --------------------------------------------------------------------------
# Sharing a fitted model across threads, fitting clones in threads
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_threads_fitting_clones_and_predicting_match_serial(Estimator, rng):
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.base import clone

    datasets = [tiny_data(Estimator, np.random.default_rng(SEED + i)) for i in range(8)]
    template = Estimator((4,), max_iter=3, random_state=SEED)
    shared = tiny_fitted(Estimator)
    queries = [tiny_sequences(np.random.default_rng(100 + i), n=12) for i in range(8)]
    serial_fits = [clone(template).fit(X, y)._params for X, y in datasets]
    serial_predictions = [outputs(shared, X) for X in queries]

    def work(i):
        X, y = datasets[i]
        return clone(template).fit(X, y)._params, outputs(shared, queries[i])

    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))
        for (params, predicted), fit, want in zip(results, serial_fits,
                                                  serial_predictions):
            assert_array_equal(params, fit)
            assert_array_equal(predicted, want)


@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_pickling_while_another_thread_predicts(Estimator, rng):
    import pickle
    import threading

    est = tiny_fitted(Estimator)
    X = tiny_sequences(rng, n=64, high=30)
    want = outputs(est, X)
    stop, errors = threading.Event(), []

    def predict():
        try:
            while not stop.is_set():
                assert_array_equal(outputs(est, X), want)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    thread = threading.Thread(target=predict)
    thread.start()
    try:
        for _ in range(50):
            copy_ = pickle.loads(pickle.dumps(est))
            assert_array_equal(copy_._params, est._params)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert_array_equal(outputs(copy_, X), want)


# --------------------------------------------------------------------------
# Training on after a round trip
# --------------------------------------------------------------------------


@ignore_convergence
def test_pickled_model_keeps_training_with_warm_start():
    X, y = small_problem(RNNClassifier)
    params = dict(FAST, warm_start=True, shuffle=False, max_iter=2, tol=0)
    est = RNNClassifier(**params).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    est.fit(X, y)
    restored.fit(X, y)
    assert restored.n_iter_ == 4
    assert_array_equal(restored.loss_curve_, est.loss_curve_)
    assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
