"""skrnn inside other libraries' tools: sktime, dask-ml, skops and Ray.

Each test skips where its package is not installed. Every fit is seeded, so
what the tool computes is compared exactly with the same computation done by
hand (sktime's recursive reduction, dask-ml's block-by-block partial_fit) or
serially (a search on Ray's joblib backend).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skrnn import RNNClassifier, RNNRegressor, SequenceTagger
from skrnn.preprocessing import sliding_windows

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def regressor():
    return RNNRegressor((4,), max_iter=3, learning_rate_init=0.05, random_state=0)


@pytest.mark.filterwarnings("ignore:The default of config:FutureWarning")
def test_sktime_make_reduction_is_a_recursive_forecast(rng):
    pytest.importorskip("sktime")
    pd = pytest.importorskip("pandas")
    from sktime.forecasting.compose import make_reduction

    series = np.sin(np.arange(60) / 4.0) + 0.1 * rng.standard_normal(60)
    forecaster = make_reduction(regressor(), window_length=6, strategy="recursive")
    forecaster.fit(pd.Series(series))
    forecast = forecaster.predict(fh=[1, 2, 3]).to_numpy()

    # The regressor reads each window, a row of the (n, 6) table sktime
    # builds, as a univariate sequence of 6 steps: the same fit by hand.
    X, y, _ = sliding_windows(series, 6)
    model = regressor().fit(X[:, :, 0], y)
    history = list(series)
    for _ in range(3):
        history.append(model.predict(np.array([history[-6:]]))[0])
    assert_allclose(forecast, history[-3:], rtol=1e-6)


def test_dask_ml_incremental_partial_fits_block_by_block(rng):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("dask_ml")
    from dask_ml.wrappers import Incremental

    X = rng.standard_normal((60, 8))  # 60 univariate sequences of 8 steps
    y = (X.mean(axis=1) > 0).astype(int)
    model = RNNClassifier((3,), learning_rate_init=0.05, random_state=0)
    incremental = Incremental(model, scoring="accuracy", shuffle_blocks=False)
    incremental.fit(da.from_array(X, chunks=20), da.from_array(y, chunks=20),
                    classes=[0, 1])

    by_hand = RNNClassifier((3,), learning_rate_init=0.05, random_state=0)
    for block in range(3):
        rows = slice(20 * block, 20 * (block + 1))
        by_hand.partial_fit(X[rows], y[rows], classes=[0, 1])
    assert incremental.estimator_.n_iter_ == 3
    assert incremental.estimator_.loss_curve_ == by_hand.loss_curve_
    predicted = incremental.predict(da.from_array(X, chunks=20)).compute()
    assert_array_equal(predicted, by_hand.predict(X))


@pytest.mark.parametrize("make", [
    lambda: RNNClassifier((3,), max_iter=2, readout="attention", random_state=0),
    lambda: RNNClassifier((3,), max_iter=2, solver="sgd", cell="gru",
                          random_state=0),
    lambda: RNNRegressor((3,), max_iter=2, bidirectional=True, random_state=0),
    lambda: SequenceTagger((3,), max_iter=2, random_state=0),
], ids=["attention", "sgd-gru", "bidirectional-regressor", "tagger"])
def test_skops_round_trip_trusting_only_skrnn_numpy_sklearn(make, rng):
    sio = pytest.importorskip("skops.io")
    X = [rng.standard_normal((int(t), 2)) for t in rng.integers(3, 9, 20)]
    labels = np.arange(20) % 2
    y = [np.full(len(x), label) for x, label in zip(X, labels)]
    model = make().fit(X, y if isinstance(make(), SequenceTagger) else labels)

    dumped = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=dumped)
    assert all(name.split(".")[0] in {"skrnn", "numpy", "sklearn"}
               for name in untrusted), untrusted
    loaded = sio.loads(dumped, trusted=untrusted)
    for a, b in zip(loaded.predict(X), model.predict(X)):
        assert_array_equal(a, b)
    loaded.partial_fit(X[:4], y[:4] if isinstance(loaded, SequenceTagger)
                       else labels[:4])  # its optimizer state came back too


@pytest.fixture(scope="module")
def ray_backend():
    """A local Ray instance of 2 CPUs, registered as a joblib backend."""
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    register_ray()
    try:
        yield
    finally:
        ray.shutdown()


def test_grid_search_on_ray_matches_serial(ray_backend, rng):
    import joblib
    from sklearn.model_selection import GridSearchCV, KFold

    X = [rng.standard_normal((int(t), 2)) for t in rng.integers(3, 9, 30)]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    search = GridSearchCV(
        RNNClassifier((3,), max_iter=2, random_state=0),
        {"cell": ["lstm", "gru"], "hidden_layer_sizes": [(2,), (3,)]},
        cv=KFold(3, shuffle=True, random_state=0), error_score="raise")
    serial = search.fit(X, y).cv_results_
    with joblib.parallel_backend("ray"):
        on_ray = GridSearchCV(**search.get_params(deep=False)).fit(X, y)
    for key in ("params", "mean_test_score", "split0_test_score", "rank_test_score"):
        assert list(on_ray.cv_results_[key]) == list(serial[key]), key
