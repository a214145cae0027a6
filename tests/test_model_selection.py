"""scikit-learn's model selection on ragged sequences, serial and in parallel.

Cross-validation (cross_val_score, cross_validate, cross_val_predict) and the
searches (GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV) take a list
of arrays as X unchanged, with KFold, StratifiedKFold, GroupKFold and
TimeSeriesSplit, for the three estimators (the tagger with the flat scorers of
``skrnn.metrics``). Every fit is seeded, so a run on two loky processes
(``n_jobs=2``), on two threads (``joblib.parallel_backend("threading")``) and
on a dask.distributed cluster of two worker processes must give *exactly* the
serial scores, parameters and predictions: fits share no state, and the
kernels, which release the GIL, compute the same numbers on any thread.

The data are tiny (48 sequences of 3 to 11 steps) and the networks too (4
units, 3 epochs): these tests check plumbing and determinism, not learning.
Products that small never make BLAS use a second thread, so whether fits in
worker threads really keep BLAS on one thread (else they oversubscribe the
cores, and their float sums, hence their results, change) is checked
directly, by reading the BLAS thread count inside those fits.
"""

import logging
import sys
import threading
from contextlib import nullcontext

import joblib
import numpy as np
import pytest
from _helpers import per_sequence
from numpy.testing import assert_array_equal
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    TimeSeriesSplit,
    cross_val_predict,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController, threadpool_limits

from skrnn import RNNClassifier, RNNRegressor, SequenceRegressor, SequenceTagger
from skrnn._network import RecurrentNetwork
from skrnn.metrics import get_flat_scorer
from skrnn.preprocessing import StepTransformer

# Fits of 3 epochs stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

N_SEQUENCES = 48
TASKS = ["classifier", "regressor", "tagger"]
# "loky": n_jobs=2 on joblib's default backend (worker processes);
# "threading": n_jobs left to the enclosing parallel_backend("threading", 2).
BACKENDS = ["loky", "threading"]
SPLITTERS = {
    "KFold": KFold(3, shuffle=True, random_state=0),
    "StratifiedKFold": StratifiedKFold(3, shuffle=True, random_state=0),
    "GroupKFold": GroupKFold(3),
    "TimeSeriesSplit": TimeSeriesSplit(3),
}
# StratifiedKFold needs one class label per sequence: the classifier's y.
CV_CASES = [
    (task, splitter)
    for task in TASKS
    for splitter in SPLITTERS
    if splitter != "StratifiedKFold" or task == "classifier"
]


def make_data(rng, task):
    """Ragged sequences (3..11 steps, 3 features), targets and 12 groups of 4."""
    lengths = rng.integers(3, 12, size=N_SEQUENCES)
    X = [rng.standard_normal((int(length), 3)) for length in lengths]
    groups = np.arange(N_SEQUENCES) // 4
    if task == "classifier":
        # Three string classes, about 16 sequences each.
        means = np.array([x.mean(axis=0) for x in X])
        y = np.array(["a", "b", "c"])[means.argmax(axis=1)]
    elif task == "regressor":
        y = np.array([x[:, 0].mean() + x[-1, 1] for x in X])
    else:
        y = [
            np.where(x[:, 0] > 0.4, "up", np.where(x[:, 0] < -0.4, "down", "flat"))
            for x in X
        ]
    return X, y, groups


def make_estimator(task, **params):
    Estimator = {
        "classifier": RNNClassifier,
        "regressor": RNNRegressor,
        "tagger": SequenceTagger,
    }[task]
    return Estimator(
        (4,), max_iter=3, learning_rate_init=0.05, random_state=0
    ).set_params(**params)


def scoring(task):
    """Several metrics per task; the tagger's must be the flat scorers."""
    if task == "classifier":
        return {"accuracy": "accuracy", "f1": "f1_macro"}
    if task == "regressor":
        return {"r2": "r2", "mse": "neg_mean_squared_error"}
    return {
        "accuracy": get_flat_scorer("flat_accuracy"),
        "f1": get_flat_scorer("flat_f1_macro"),
        "sequence": get_flat_scorer("sequence_accuracy"),
    }


def backend_context(backend):
    """(context manager, n_jobs) that run a joblib-using call on `backend`."""
    if backend == "serial":
        return nullcontext(), 1
    if backend == "loky":
        return nullcontext(), 2
    # n_jobs=None defers to the context's n_jobs.
    return joblib.parallel_backend("threading", n_jobs=2), None


def run_on(backend, func, *args, **kwargs):
    """func(*args, n_jobs=..., **kwargs) on `backend`."""
    context, n_jobs = backend_context(backend)
    with context:
        return func(*args, n_jobs=n_jobs, **kwargs)


def fit_on(backend, search, X, y, **fit_params):
    """Fit a clone of `search` on `backend`."""
    context, n_jobs = backend_context(backend)
    search = clone(search).set_params(n_jobs=n_jobs)
    with context:
        return search.fit(X, y, **fit_params)


def fit_serially_and_on(backend, search, X, y, **fit_params):
    """Clones of `search` fitted serially (the reference), then on `backend`."""
    return (fit_on("serial", search, X, y, **fit_params),
            fit_on(backend, search, X, y, **fit_params))


def assert_same_predictions(a, b):
    if per_sequence(a):  # a tagger's: one array per sequence
        assert len(a) == len(b)
        for a_i, b_i in zip(a, b):
            assert_array_equal(a_i, b_i)
    else:
        assert_array_equal(a, b)


def assert_same_cv_results(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if "time" in key:
            continue
        if key == "params" or key.startswith("param_"):
            assert list(a[key]) == list(b[key]), key
        else:
            assert_array_equal(a[key], b[key], err_msg=key)


def assert_same_search(search, reference, X):
    assert search.best_params_ == reference.best_params_
    assert search.best_index_ == reference.best_index_
    if hasattr(reference, "best_score_"):  # not with a callable refit
        assert search.best_score_ == reference.best_score_
    assert_same_cv_results(search.cv_results_, reference.cv_results_)
    assert_same_predictions(
        search.best_estimator_.predict(X), reference.best_estimator_.predict(X)
    )
    final = search.best_estimator_
    final = final[-1] if isinstance(final, Pipeline) else final
    ref_final = reference.best_estimator_
    ref_final = ref_final[-1] if isinstance(ref_final, Pipeline) else ref_final
    assert final.loss_curve_ == ref_final.loss_curve_


# --------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task, splitter", CV_CASES)
def test_cross_validate_matches_serial(task, splitter, backend, rng):
    X, y, groups = make_data(rng, task)
    kwargs = dict(
        cv=SPLITTERS[splitter],
        # Only GroupKFold reads groups (the others warn that they ignore them).
        groups=groups if splitter == "GroupKFold" else None,
        scoring=scoring(task),
        return_train_score=True,
        return_estimator=True,
        error_score="raise",
    )
    serial = run_on("serial", cross_validate, make_estimator(task), X, y, **kwargs)
    parallel = run_on(backend, cross_validate, make_estimator(task), X, y, **kwargs)

    n_splits = SPLITTERS[splitter].get_n_splits(X, y, kwargs["groups"])
    for key in serial:
        if key.startswith(("test_", "train_")):
            assert serial[key].shape == (n_splits,)
            assert np.all(np.isfinite(serial[key]))
            assert_array_equal(parallel[key], serial[key], err_msg=key)
    for fitted, reference in zip(parallel["estimator"], serial["estimator"]):
        assert fitted.loss_curve_ == reference.loss_curve_


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", TASKS)
def test_cross_val_score_matches_serial(task, backend, rng):
    X, y, groups = make_data(rng, task)
    score = scoring(task)
    kwargs = dict(
        cv=GroupKFold(4), groups=groups, scoring=next(iter(score.values())),
        error_score="raise",
    )
    serial = run_on("serial", cross_val_score, make_estimator(task), X, y, **kwargs)
    parallel = run_on(backend, cross_val_score, make_estimator(task), X, y, **kwargs)
    assert serial.shape == (4,)
    assert_array_equal(parallel, serial)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "task, method",
    [
        ("classifier", "predict"),
        ("classifier", "predict_proba"),
        ("regressor", "predict"),
    ],
)
def test_cross_val_predict_matches_serial(task, method, backend, rng):
    X, y, _ = make_data(rng, task)
    cv = KFold(3, shuffle=True, random_state=0)
    serial = run_on(
        "serial", cross_val_predict, make_estimator(task), X, y, cv=cv, method=method
    )
    parallel = run_on(
        backend, cross_val_predict, make_estimator(task), X, y, cv=cv, method=method
    )
    expected_shape = (N_SEQUENCES, 3) if method == "predict_proba" else (N_SEQUENCES,)
    assert serial.shape == expected_shape
    assert_array_equal(parallel, serial)

    # Each sequence's prediction comes from the fold that held it out.
    for train, test in cv.split(X, y):
        model = make_estimator(task).fit([X[i] for i in train], y[train])
        held_out = getattr(model, method)([X[i] for i in test])
        assert_array_equal(serial[test], held_out)


@pytest.mark.parametrize("per_step", ["tagger", "sequence-regressor"])
def test_cross_val_predict_per_step(rng, per_step):
    """Per-step predictions are object arrays, which cross_val_predict joins."""
    X, y, _ = make_data(rng, "tagger")
    if per_step == "tagger":
        est = make_estimator("tagger")
    else:
        y = [np.cumsum(x[:, 0]) for x in X]
        est = SequenceRegressor(hidden_layer_sizes=(4,), max_iter=3,
                                random_state=0)
    cv = KFold(3)
    predicted = cross_val_predict(est, X, y, cv=cv)
    assert predicted.dtype == object and predicted.shape == (len(X),)
    for train, test in cv.split(X):
        model = clone(est).fit([X[i] for i in train], [y[i] for i in train])
        held_out = model.predict([X[i] for i in test])
        for i, p in zip(test, held_out):
            assert_array_equal(predicted[i], p)


# --------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", TASKS)
def test_grid_search_matches_serial(task, backend, rng):
    X, y, groups = make_data(rng, task)
    search = GridSearchCV(
        make_estimator(task),
        {"cell": ["lstm", "gru"], "hidden_layer_sizes": [(3,), (4,)]},
        scoring=scoring(task),
        refit=next(iter(scoring(task))),
        cv=GroupKFold(3),
        error_score="raise",
    )
    reference, result = fit_serially_and_on(backend, search, X, y, groups=groups)
    assert len(reference.cv_results_["params"]) == 4
    assert_same_search(result, reference, X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", TASKS)
def test_randomized_search_matches_serial(task, backend, rng):
    X, y, _ = make_data(rng, task)
    search = RandomizedSearchCV(
        make_estimator(task),
        {
            "learning_rate_init": loguniform(1e-3, 1e-1),
            "cell": ["lstm", "gru", "rnn"],
            "bidirectional": [False, True],
        },
        n_iter=4,
        scoring=next(iter(scoring(task).values())),
        cv=KFold(3, shuffle=True, random_state=0),
        random_state=0,
        error_score="raise",
    )
    reference, result = fit_serially_and_on(backend, search, X, y)
    assert len(reference.cv_results_["params"]) == 4
    assert_same_search(result, reference, X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", TASKS)
def test_halving_grid_search_matches_serial(task, backend, rng):
    X, y, _ = make_data(rng, task)
    # StratifiedKFold for the classifier (also its default); KFold otherwise.
    cv = (
        StratifiedKFold(3, shuffle=True, random_state=0)
        if task == "classifier"
        else KFold(3, shuffle=True, random_state=0)
    )
    search = HalvingGridSearchCV(
        make_estimator(task),
        {"hidden_layer_sizes": [(2,), (3,), (4,), (5,)]},
        factor=2,
        min_resources=12,
        scoring=next(iter(scoring(task).values())),
        cv=cv,
        random_state=0,
        error_score="raise",
    )
    reference, result = fit_serially_and_on(backend, search, X, y)
    # Subsamples of 12, 24 and 48 sequences: 4, then 2, then 1 candidate.
    assert reference.n_resources_ == [12, 24, 48]
    assert reference.n_candidates_ == [4, 2, 1]
    assert result.n_resources_ == reference.n_resources_
    assert_same_search(result, reference, X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipeline_grid_search_over_both_steps(backend, rng):
    X, y, groups = make_data(rng, "classifier")
    # Features on very different scales, so that the scaler matters.
    X = [x * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0] for x in X]
    pipe = Pipeline(
        [
            ("scale", StepTransformer(StandardScaler())),
            ("rnn", make_estimator("classifier")),
        ]
    )
    search = GridSearchCV(
        pipe,
        {
            "scale__transformer__with_mean": [True, False],
            "scale__transformer__with_std": [True, False],
            "rnn__hidden_layer_sizes": [(3,), (4,)],
        },
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        error_score="raise",
    )
    reference, result = fit_serially_and_on(backend, search, X, y)
    assert len(reference.cv_results_["params"]) == 8
    assert_same_search(result, reference, X)
    scaler = result.best_estimator_["scale"].transformer_
    assert scaler.with_mean == result.best_params_["scale__transformer__with_mean"]


def _blas_thread_counts(controller):
    return tuple(info["num_threads"] for info in controller.info())


@pytest.fixture
def blas_thread_counts_restored():
    """Put the BLAS thread counts back after the test, from a thread that ends
    (threadpoolctl lets one live thread change OpenBLAS's count)."""
    controller = ThreadpoolController().select(user_api="blas")
    before = {info["prefix"]: info["num_threads"] for info in controller.info()}
    yield
    setter = threading.Thread(target=threadpool_limits, args=(before,))
    setter.start()
    setter.join()


def test_threading_backend_fits_run_single_threaded_blas(
    rng, monkeypatch, blas_thread_counts_restored
):
    controller = ThreadpoolController().select(user_api="blas")
    if max(_blas_thread_counts(controller), default=1) == 1:
        pytest.skip("BLAS runs on one thread already")
    X, y, _ = make_data(rng, "classifier")
    # The common pattern: a model fitted in the main thread, then a search.
    make_estimator("classifier").fit(X, y)

    seen = []

    def recording(original):
        def method(self, *args, **kwargs):
            seen.append((threading.current_thread().name, original.__name__,
                         _blas_thread_counts(controller)))
            return original(self, *args, **kwargs)
        return method

    # forward runs in the fits, predict in the scoring.
    for name in ("forward", "predict"):
        monkeypatch.setattr(RecurrentNetwork, name,
                            recording(getattr(RecurrentNetwork, name)))
    with joblib.parallel_backend("threading", n_jobs=2):
        cross_val_score(make_estimator("classifier"), X, y, cv=4)
    workers = {thread for thread, _, _ in seen}
    assert threading.main_thread().name not in workers  # the fits ran in threads
    assert {method for _, method, _ in seen} == {"forward", "predict"}
    assert {counts for _, _, counts in seen} == {(1,) * len(seen[0][2])}


# --------------------------------------------------------------------------
# dask.distributed
# --------------------------------------------------------------------------

DASK_TIMEOUT = 120  # seconds, for one search on the cluster


@pytest.fixture(scope="module")
def dask_client():
    """A client of a two-process LocalCluster on the loopback interface."""
    distributed = pytest.importorskip("distributed")
    cluster = client = None
    try:
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = distributed.Client(cluster, timeout="60s")
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def fit_on_dask(search, X, y, client):
    """Fit a clone of `search` on the cluster; fail after DASK_TIMEOUT seconds.

    The fit runs in a daemon thread so that a stuck cluster fails the test
    instead of hanging the suite; the fixture then closes the cluster.
    """
    search = clone(search).set_params(n_jobs=None)
    outcome = {}

    def fit():
        try:
            with joblib.parallel_backend(
                "dask", client=client, wait_for_workers_timeout=60
            ):
                outcome["search"] = search.fit(X, y)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=fit, daemon=True)
    worker.start()
    worker.join(DASK_TIMEOUT)
    if worker.is_alive():
        pytest.fail(f"the search on the dask cluster took over {DASK_TIMEOUT} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["search"]


@pytest.mark.parametrize("task", ["classifier", "tagger"])
def test_grid_search_on_dask_matches_serial(task, rng, dask_client):
    X, y, _ = make_data(rng, task)
    search = GridSearchCV(
        make_estimator(task),
        {"cell": ["lstm", "gru"], "hidden_layer_sizes": [(3,), (4,)]},
        scoring=next(iter(scoring(task).values())),
        cv=KFold(3, shuffle=True, random_state=0),
        error_score="raise",
    )
    reference = fit_on("serial", search, X, y)
    result = fit_on_dask(search, X, y, dask_client)
    assert_same_search(result, reference, X)
    # The fits ran in the workers' processes, which had to import skrnn.
    imported = dask_client.run(lambda: "skrnn" in sys.modules)
    assert any(imported.values())
