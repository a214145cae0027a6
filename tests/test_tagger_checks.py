"""Ragged analogues of scikit-learn's estimator checks.

sklearn's ``check_estimator`` feeds tabular X, which SequenceTagger and
SequenceRegressor (y is one array per sequence) cannot take, and which the
sequence models read only as equal-length univariate sequences. These are
the checks that apply, rewritten for ragged lists of (T_i, n_features) arrays
and run on every estimator: parameters and cloning, fitted state,
persistence, invariances, parameter validation and the purity of fit and
predict.
"""

import copy
import inspect
import os
import pickle
import warnings
from numbers import Integral

import numpy as np
import pytest
from _helpers import per_sequence, stacked, take
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    generate_invalid_param_val,
    make_constraint,
)

from skrnn import RNNClassifier, RNNRegressor, SequenceRegressor, SequenceTagger

SEED = int(os.environ.get("SKRNN_TEST_SEED", "0"))
SMALL = dict(hidden_layer_sizes=(4,), max_iter=3, batch_size=5,
             learning_rate_init=0.05)
ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor]
REGRESSORS = (RNNRegressor, SequenceRegressor)
PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba")

# The fits here stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def _ragged(rng, n, n_features=2, low=2, high=9):
    return [rng.standard_normal((int(rng.integers(low, high)), n_features))
            for _ in range(n)]


def _data(Estimator, rng, n=20):
    """Ragged X and y of the right kind for ``Estimator``; both classes present."""
    X = _ragged(rng, n)
    if Estimator is SequenceTagger:
        y = [np.where(np.cumsum(x[:, 0]) > 0, "pos", "neg") for x in X]
        y[0][0], y[1][0] = "pos", "neg"
        return X, y
    if Estimator is SequenceRegressor:
        return X, [np.cumsum(x[:, 0]) / 3 for x in X]
    means = np.array([x[:, 0].mean() for x in X])
    if Estimator is RNNRegressor:
        return X, means
    return X, np.where(means > np.median(means), "pos", "neg")


def _make(Estimator, **params):
    return Estimator(**{**SMALL, "random_state": SEED, **params})


def _methods(est):
    return [m for m in PREDICT_METHODS if hasattr(est, m)]


def _assert_outputs_equal(a, b, method, exact):
    """Labels exactly; values exactly or to float64 round-off.

    Outputs of a sequence do not depend on its minibatch in exact arithmetic,
    and are bit-identical with this build; the round-off tolerance allows for
    a BLAS whose GEMM rounds a row differently with the number of rows.
    """
    if per_sequence(a):
        assert per_sequence(b) and len(a) == len(b)
        assert [x.shape for x in a] == [x.shape for x in b]
    a, b = stacked(a), stacked(b)
    if exact or (method == "predict" and a.dtype.kind not in "f"):
        assert_array_equal(a, b)
    else:
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _assert_same_state(before, after, path):
    """Deep equality of estimator state, array contents and dtypes included."""
    if isinstance(before, np.ndarray):
        assert isinstance(after, np.ndarray), path
        assert (before.dtype, before.shape) == (after.dtype, after.shape), path
        assert_array_equal(before, after, err_msg=path)
    elif isinstance(before, dict):
        assert isinstance(after, dict) and before.keys() == after.keys(), path
        for key in before:
            _assert_same_state(before[key], after[key], f"{path}[{key!r}]")
    elif isinstance(before, (list, tuple)):
        assert type(before) is type(after) and len(before) == len(after), path
        for i, (b, a) in enumerate(zip(before, after)):
            _assert_same_state(b, a, f"{path}[{i}]")
    elif isinstance(before, np.random.RandomState):
        _assert_same_state(before.get_state(legacy=False),
                           after.get_state(legacy=False), f"{path}.state")
    elif hasattr(before, "__dict__") or hasattr(before, "__slots__"):
        assert type(before) is type(after), path
        slots = getattr(type(before), "__slots__", ())
        state = {**getattr(before, "__dict__", {}),
                 **{s: getattr(before, s) for s in slots}}
        new = {**getattr(after, "__dict__", {}),
               **{s: getattr(after, s) for s in slots}}
        _assert_same_state(state, new, path)
    elif isinstance(before, float) and np.isnan(before):
        assert isinstance(after, float) and np.isnan(after), path
    else:
        assert before == after, path


# --------------------------------------------------------------------------
# Parameters, __init__ and clone
# --------------------------------------------------------------------------


def _init_params(Estimator):
    signature = inspect.signature(Estimator.__init__)
    return {name: p for name, p in signature.parameters.items() if name != "self"}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_parameters_default_constructible(Estimator):
    est = Estimator()
    params = est.get_params(deep=False)
    init_params = _init_params(Estimator)
    assert params.keys() == init_params.keys()
    for name, parameter in init_params.items():
        assert parameter.kind is not parameter.VAR_KEYWORD, name
        assert parameter.default is not inspect.Parameter.empty, name
        # Defaults are stored as given.
        assert params[name] is parameter.default, name
        assert type(parameter.default) in (str, int, float, bool, tuple,
                                           type(None)), name


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_no_attributes_set_in_init(Estimator):
    est = Estimator()
    assert set(vars(est)) == set(est.get_params(deep=False))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_init_stores_params_unchanged(Estimator):
    """__init__ neither validates nor converts: any object comes back as is."""
    sentinels = {name: type(f"Sentinel_{name}", (), {})()
                 for name in _init_params(Estimator)}
    est = Estimator(**sentinels)
    for name, sentinel in sentinels.items():
        assert getattr(est, name) is sentinel, name
    assert set(vars(est)) == set(sentinels)
    # Mutable values too: a list and a dict are not copied.
    sizes, class_weight = [3, 2], {"pos": 2.0}
    extra = {"class_weight": class_weight} if "class_weight" in sentinels else {}
    est = Estimator(sizes, **extra)
    assert est.hidden_layer_sizes is sizes
    if extra:
        assert est.class_weight is class_weight


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_get_params_set_params_clone_round_trip(Estimator, rng):
    est = _make(Estimator, cell="gru", alpha=1e-3, tol=0.0)
    params = est.get_params()
    assert est.get_params(deep=False) == params
    twin = clone(est)
    assert twin is not est
    assert twin.get_params() == params
    assert Estimator().set_params(**params).get_params() == params
    assert est.set_params(**params) is est
    assert est.get_params() == params
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(no_such_parameter=1)

    # A clone of a fitted model has the parameters and no fitted state.
    X, y = _data(Estimator, rng)
    est.fit(X, y)
    assert est.get_params() == params
    twin = clone(est)
    assert twin.get_params() == params
    assert set(vars(twin)) == set(params)
    with pytest.raises(NotFittedError):
        twin.predict(X)


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_returns_self(Estimator, rng):
    X, y = _data(Estimator, rng)
    est = _make(Estimator)
    assert est.fit(X, y) is est
    kwargs = {} if Estimator in REGRESSORS else {"classes": ["neg", "pos"]}
    est = _make(Estimator)
    assert est.partial_fit(X, y, **kwargs) is est
    assert est.partial_fit(X, y) is est


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unfitted_estimator_raises_not_fitted(Estimator, rng):
    X, y = _data(Estimator, rng)
    est = _make(Estimator)
    for method in _methods(est):
        with pytest.raises(NotFittedError):
            getattr(est, method)(X)
    with pytest.raises(NotFittedError):
        est.score(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_sets_only_underscored_attributes(Estimator, rng):
    """sklearn's check_dont_overwrite_parameters: fit adds private (``_x``)
    or fitted (``x_``) attributes only, and leaves the parameters alone."""
    X, y = _data(Estimator, rng)
    # A dict parameter must not be modified in place either.
    extra = {} if Estimator in REGRESSORS else {"class_weight": {"pos": 2.0}}
    est = _make(Estimator, **extra)
    params = copy.deepcopy(est.get_params())
    before = set(vars(est))
    est.fit(X, y)
    added = set(vars(est)) - before
    public = {a for a in added if not a.startswith("_") and not a.endswith("_")}
    assert not public
    assert {"n_iter_", "t_", "loss_", "loss_curve_", "n_features_in_",
            "n_outputs_"} <= added
    _assert_same_state(params, est.get_params(), "params")
    assert est.n_features_in_ == 2


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_is_idempotent(Estimator, rng):
    X, y = _data(Estimator, rng)
    X_test, _ = _data(Estimator, rng, 7)
    est = _make(Estimator)
    first = {m: getattr(est.fit(X, y), m)(X_test) for m in _methods(est)}
    # A fit on other data in between leaves no trace.
    X_other, y_other = _data(Estimator, rng, 12)
    est.fit([np.tile(x, 2) for x in X_other], y_other)
    est.fit(X, y)
    for method, expected in first.items():
        _assert_outputs_equal(getattr(est, method)(X_test), expected, method,
                              exact=True)
    fresh = _make(Estimator).fit(X, y)
    assert_array_equal(fresh._params, est._params)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_does_not_modify_inputs(Estimator, rng):
    X, y = _data(Estimator, rng)
    # Mixed float32 and float64 sequences, and integer ones, exercise the
    # casting paths that could otherwise write back into the caller's arrays.
    X[3] = X[3].astype(np.float32)
    if Estimator is SequenceTagger:
        weights = [rng.uniform(0.5, 2.0, len(x)) for x in X]
    else:
        weights = rng.uniform(0.5, 2.0, len(X))
    X_val, y_val = _data(Estimator, rng, 6)
    originals = copy.deepcopy((X, y, weights, X_val, y_val))
    ids = [id(x) for x in X]
    est = _make(Estimator, early_stopping=False)
    est.fit(X, y, sample_weight=weights, X_val=X_val, y_val=y_val)
    _assert_same_state(originals, (X, y, weights, X_val, y_val), "inputs")
    assert [id(x) for x in X] == ids
    # also partial_fit and the lbfgs path
    kwargs = {} if Estimator in REGRESSORS else {"classes": ["neg", "pos"]}
    _make(Estimator).partial_fit(X, y, sample_weight=weights, **kwargs)
    _make(Estimator, solver="lbfgs").fit(X, y, sample_weight=weights)
    _assert_same_state(originals, (X, y, weights, X_val, y_val), "inputs")


# --------------------------------------------------------------------------
# Fitted models: persistence, purity and invariances
# --------------------------------------------------------------------------


@pytest.fixture(params=ESTIMATORS, ids=lambda E: E.__name__)
def fitted(request, rng):
    Estimator = request.param
    X, y = _data(Estimator, rng)
    # float64: the invariances are checked to float64 round-off.
    est = _make(Estimator, dtype="float64").fit(X, y)
    X_test, y_test = _data(Estimator, rng, 9)
    return est, X_test, y_test


def test_pickle_round_trip(fitted):
    est, X, y = fitted
    state = copy.deepcopy(vars(est))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version: no version warning
        loaded = pickle.loads(pickle.dumps(est))
    _assert_same_state(state, vars(loaded), "loaded")
    for method in _methods(est):
        _assert_outputs_equal(getattr(loaded, method)(X), getattr(est, method)(X),
                              method, exact=True)
    assert loaded.score(X, y) == est.score(X, y)


def test_pickle_version_mismatch_warns(fitted):
    est, X, _ = fitted
    state = est.__getstate__().copy()
    state["_skrnn_version"] = "0.0.0-other"
    other = type(est).__new__(type(est))
    with pytest.warns(UserWarning, match="from skrnn version 0.0.0-other"):
        other.__setstate__(state)
    _assert_outputs_equal(other.predict(X), est.predict(X), "predict", exact=True)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickling_does_not_modify_estimator(fitted, how):
    est, _, _ = fitted
    before = set(vars(est))
    if how == "pickle":
        pickle.dumps(est)
    else:
        copy.deepcopy(est)
    assert set(vars(est)) == before


def test_predict_does_not_change_state(fitted):
    est, X, y = fitted
    before = copy.deepcopy(vars(est))
    for method in _methods(est):
        getattr(est, method)(X)
    est.score(X, y)
    _assert_same_state(before, vars(est), "est")


def test_subset_invariance(fitted):
    """Predicting a subset of the sequences gives the subset of the predictions."""
    est, X, _ = fitted
    subsets = [np.arange(0, len(X), 2), np.array([len(X) - 1]),
               np.array([4, 1, 7])]
    for method in _methods(est):
        full = getattr(est, method)(X)
        for subset in subsets:
            part = getattr(est, method)(take(X, subset))
            _assert_outputs_equal(part, take(full, subset), method, exact=False)
        # one sequence at a time
        singles = [getattr(est, method)([x])[0] for x in X]
        _assert_outputs_equal(list(singles) if per_sequence(full)
                              else np.asarray(singles), full, method, exact=False)


def test_order_invariance(fitted, rng):
    """A permutation of the sequences permutes the outputs."""
    est, X, y = fitted
    perm = rng.permutation(len(X))
    for method in _methods(est):
        full = getattr(est, method)(X)
        permuted = getattr(est, method)(take(X, perm))
        _assert_outputs_equal(permuted, take(full, perm), method, exact=False)
    assert est.score(take(X, perm), take(y, perm)) == pytest.approx(
        est.score(X, y), rel=1e-12)


def test_output_shapes_and_types(fitted):
    est, X, _ = fitted
    predicted = est.predict(X)
    if isinstance(est, SequenceTagger):
        assert predicted.dtype == object and predicted.shape == (len(X),)
        assert [p.shape for p in predicted] == [(len(x),) for x in X]
        assert set(np.concatenate(predicted)) <= set(est.classes_)
        proba = est.predict_proba(X)
        assert [p.shape for p in proba] == [(len(x), 2) for x in X]
        assert_allclose(np.concatenate(proba).sum(axis=1), 1.0, rtol=1e-12)
    elif isinstance(est, SequenceRegressor):
        assert predicted.dtype == object and predicted.shape == (len(X),)
        assert [p.shape for p in predicted] == [(len(x),) for x in X]
        assert all(p.dtype == np.float64 for p in predicted)
    elif isinstance(est, RNNClassifier):
        assert predicted.shape == (len(X),)
        assert set(predicted) <= set(est.classes_)
        assert_allclose(est.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    else:
        assert predicted.shape == (len(X),)
        assert predicted.dtype == np.float64
    if hasattr(est, "predict_log_proba"):
        assert_allclose(stacked(est.predict_log_proba(X)),
                        np.log(stacked(est.predict_proba(X))), rtol=1e-12)


def test_predict_rejects_other_feature_count(fitted):
    est, X, _ = fitted
    with pytest.raises(ValueError, match="feature"):
        est.predict([np.ones((3, 3)) for _ in range(2)])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_trains_in_float32(Estimator, rng):
    X, y = _data(Estimator, rng)
    est = _make(Estimator).fit([x.astype(np.float32) for x in X], y)
    assert est._params.dtype == np.float32
    # float64 (and integer) sequences are cast to the fitted dtype to predict
    out32 = stacked(est.predict(X))
    assert stacked(est.predict([x.astype(np.float32) for x in X])).shape == \
        out32.shape
    est.predict([np.rint(x).astype(np.int64) for x in X])


# --------------------------------------------------------------------------
# Parameter validation
# --------------------------------------------------------------------------


class BadType:
    """An object no constraint accepts."""

    def __repr__(self):
        return "BadType()"


def _invalid_values(constraints):
    """Values that violate every constraint of a parameter.

    sklearn's generator (a value beyond each interval's left end, a string
    outside the options, ...) plus, for intervals, a value beyond the right
    end and the excluded end points themselves.
    """
    constraints = [make_constraint(c) for c in constraints]
    values = [BadType()]
    for constraint in constraints:
        try:
            values.append(generate_invalid_param_val(constraint))
        except NotImplementedError:
            pass
        if isinstance(constraint, Interval):
            if constraint.right is not None:
                step = 1 if constraint.type is Integral else 1e-6
                values.append(constraint.right + step)
            if constraint.left is not None and constraint.closed in ("right",
                                                                    "neither"):
                values.append(constraint.left)
            if constraint.right is not None and constraint.closed in ("left",
                                                                     "neither"):
                values.append(constraint.right)
    return [v for v in values
            if not any(c.is_satisfied_by(v) for c in constraints)]


def _param_cases():
    for Estimator in ESTIMATORS:
        for name, constraints in Estimator._parameter_constraints.items():
            for value in _invalid_values(constraints):
                # Stable ids (no set order, no addresses), for pytest-xdist.
                shown = value if isinstance(value, (int, float)) \
                    else type(value).__name__
                yield pytest.param(Estimator, name, value,
                                   id=f"{Estimator.__name__}-{name}-{shown}")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_constraints_cover_every_parameter(Estimator):
    assert (Estimator._parameter_constraints.keys()
            == Estimator().get_params(deep=False).keys())


@pytest.mark.parametrize("Estimator, name, value", list(_param_cases()))
def test_invalid_parameter_raises(Estimator, name, value, rng):
    X, y = _data(Estimator, rng, 8)
    est = _make(Estimator).set_params(**{name: value})
    match = (rf"The '{name}' parameter of {Estimator.__name__} must be .* "
             r"Got .* instead\.")
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "_params")
    if hasattr(est, "partial_fit"):
        kwargs = {} if Estimator in REGRESSORS else {"classes": ["neg", "pos"]}
        with pytest.raises(InvalidParameterError, match=match):
            est.partial_fit(X, y, **kwargs)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("sizes", [(), (0,), (4, -1), (2.5,), [4, "8"]])
def test_invalid_hidden_layer_sizes_raise(Estimator, sizes, rng):
    """Array-like hidden_layer_sizes pass the type constraint; their entries
    are checked at the top of fit."""
    X, y = _data(Estimator, rng, 8)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        _make(Estimator, hidden_layer_sizes=sizes).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_valid_boundary_values_are_accepted(Estimator, rng):
    """The closed ends of the intervals are valid values."""
    X, y = _data(Estimator, rng, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _make(Estimator, dropout=0.0, alpha=0.0, tol=0.0, momentum=1.0,
              solver="sgd", power_t=0.0, beta_1=0.0, beta_2=0.0, max_iter=1,
              n_iter_no_change=1, batch_size=1, max_fun=1).fit(X, y)
