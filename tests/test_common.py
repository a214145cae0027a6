"""The common estimator checks: scikit-learn's, and the ragged analogues of
those it cannot run.

The layer tested: every estimator as scikit-learn sees it. First sklearn's
own checks (``parametrize_with_checks``) on 2-D input read as univariate
sequences. Then the checks that apply, rewritten for ragged lists of
(T_i, n_features) arrays and run on every estimator (sklearn's
``check_estimator`` feeds tabular X, which SequenceTagger and
SequenceRegressor, y one array per sequence, cannot take, and which the
sequence models read only as equal-length univariate sequences): parameters
and cloning, fitted state, invariances, parameter validation and the purity
of fit and predict.
"""

import copy
import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import (
    ESTIMATORS,
    N_FEATURES,
    SEED,
    assert_same_state,
    invalid_values,
    outputs,
    per_sequence,
    stacked,
    take,
    tiny_sequences,
    tiny_targets,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import (
    InvalidParameterError,
)
from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNClassifier, RNNRegressor, SequenceRegressor, SequenceTagger

# Small and fast, yet trained enough for the checks that assert a training
# score (check_classifiers_train wants accuracy > 0.83, check_regressors_train
# R^2 > 0.5).
# dtype="float64": the checks' tolerances (e.g. sample-weight equivalence) are
# float64's; tests/test_base.py checks the float32 default's API.
# No recurrent dropout: a sequence repeated twice draws two masks, so the
# checks' weight-equals-repetition equivalence cannot hold with it.
CHECK_PARAMS = dict(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=50,
                    random_state=0, dtype="float64", recurrent_dropout=0.0)

CHECKED_ESTIMATORS = [
    Estimator(cell=cell, **CHECK_PARAMS)
    for Estimator in (RNNClassifier, RNNRegressor)
    for cell in ("gru", "lstm", "rnn")
] + [
    # One direction: the default estimators above check both; with both
    # directions and attention, 50 epochs of the weights check's repeated rows
    # drift by round-off (relative 4e-6) past its rtol of 1e-7.
    RNNClassifier(readout="attention", bidirectional=False, **CHECK_PARAMS),
    RNNRegressor(readout="max", **CHECK_PARAMS),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------
# Ragged analogues of sklearn's checks, on every estimator
# --------------------------------------------------------------------------

SMALL = dict(hidden_layer_sizes=(4,), max_iter=3, batch_size=5,
             learning_rate_init=0.05)
REGRESSORS = (RNNRegressor, SequenceRegressor)
PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba")

# The fits here stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def _data(Estimator, rng, n=20):
    """Ragged X and y of the right kind for ``Estimator``; both classes present."""
    X = tiny_sequences(rng, n, n_features=2, low=2, high=9)
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
    for name in ["loss_", "loss_curve_", "n_iter_", "classes_", "n_features_in_",
                 "n_outputs_", "t_", "best_loss_"]:
        assert not hasattr(est, name)


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
    # Invalid values too (fit validates), and cloning keeps them verbatim.
    values = dict(hidden_layer_sizes=(0,), cell="foo", dropout=1.5, clip_norm=-1,
                  solver="x", batch_size=0, max_iter=-5, random_state="seed")
    est = Estimator(**values)
    params = est.get_params()
    for name, value in values.items():
        assert params[name] == value
    assert clone(est).get_params() == params


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
    match = rf"This {Estimator.__name__} instance is not fitted yet"
    # The defaults, and the small network of these checks.
    for est in (Estimator(), _make(Estimator)):
        for method in _methods(est):
            with pytest.raises(NotFittedError, match=match):
                getattr(est, method)(X)
        with pytest.raises(NotFittedError, match=match):
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
    assert_same_state(params, est.get_params(), "params")
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


def _inputs(Estimator, form, rng):
    """X, y, sample_weight and the validation data (or None) of one form."""
    if form == "ragged-mixed":
        X, y = _data(Estimator, rng)
        # Mixed float32 and float64 sequences exercise the casting paths that
        # could otherwise write back into the caller's arrays.
        X[3] = X[3].astype(np.float32)
        if Estimator is SequenceTagger:
            weights = [rng.uniform(0.5, 2.0, len(x)) for x in X]
        else:
            weights = rng.uniform(0.5, 2.0, len(X))
        return X, y, weights, _data(Estimator, rng, 6)
    X3d = rng.standard_normal((8, 5, N_FEATURES))
    X = {"list": list(X3d), "3d": X3d,
         "float32-list": [x.astype(np.float32) for x in X3d],
         "sparse": [sp.csr_matrix(x) for x in X3d]}[form]
    y = tiny_targets(Estimator, list(X3d))
    if Estimator is SequenceTagger:
        y = [list(yi) for yi in y[:4]] + y[4:]  # lists and arrays
    return X, y, np.linspace(0.5, 2.0, 8), None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("form", ["ragged-mixed", "list", "3d", "float32-list",
                                  "sparse"])
def test_fit_does_not_modify_inputs(Estimator, form, rng):
    """fit, partial_fit, the lbfgs path, predict and score leave X, y,
    sample_weight and the validation data as they were: values, dtypes,
    shapes, memory layout and the sequence objects themselves."""
    X, y, weights, validation = _inputs(Estimator, form, rng)
    val = {} if validation is None else dict(zip(("X_val", "y_val"), validation))
    inputs = (X, y, weights, *val.values())
    originals = copy.deepcopy(inputs)
    ids = [id(x) for x in X] if isinstance(X, list) else None
    est = _make(Estimator, early_stopping=False)
    est.fit(X, y, sample_weight=weights, **val)
    assert_same_state(originals, inputs, "inputs", layout=True)
    if ids is not None:
        assert [id(x) for x in X] == ids
    est.predict(X)
    outputs(est, X)
    est.score(X, y, sample_weight=weights)
    est.partial_fit(X, y, sample_weight=weights)
    kwargs = {} if Estimator in REGRESSORS else {"classes": ["neg", "pos"]}
    _make(Estimator).partial_fit(X, y, sample_weight=weights, **kwargs)
    _make(Estimator, solver="lbfgs").fit(X, y, sample_weight=weights)
    assert_same_state(originals, inputs, "inputs", layout=True)


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


def test_predict_rejects_other_feature_count(fitted, rng):
    est, X, _ = fitted
    with pytest.raises(ValueError, match="feature"):
        est.predict([np.ones((3, 3)) for _ in range(2)])
    # Fewer and more features than fit saw (2), as ragged lists, 3-D arrays
    # and lists of 1-D (univariate) sequences: the message says both counts.
    name = type(est).__name__
    for n_features in (1, 3, 5):
        message = (f"X has {n_features} features, but {name} is expecting 2 "
                   f"features as input.")
        forms = [tiny_sequences(rng, n_features=n_features),
                 rng.standard_normal((4, 5, n_features))]
        if n_features == 1:
            forms += [[x[:, :1] for x in X], [x[:, 0] for x in X]]
        for bad in forms:
            with pytest.raises(ValueError, match=f"^{message}$"):
                est.predict(bad)


# --------------------------------------------------------------------------
# Parameter validation
# --------------------------------------------------------------------------


# Invalid values written out, beside those generated from the constraints:
# values of each kind a user might pass (an unknown name, a number out of
# range, the wrong type).
INVALID_PARAMETERS = [
    ("hidden_layer_sizes", "abc"), ("hidden_layer_sizes", 0),
    ("cell", "transformer"), ("cell", "foo"), ("activation", "sigmoid"),
    ("bidirectional", 1), ("bidirectional", "yes"), ("dropout", 1.0),
    ("dropout", 1.5), ("dropout", -0.1), ("clip_norm", 0.0), ("clip_norm", 0),
    ("clip_norm", -1), ("solver", "bfgs"), ("solver", "x"), ("alpha", -1.0),
    ("batch_size", 0), ("batch_size", "all"), ("batch_size", "big"),
    ("learning_rate", "cyclic"), ("learning_rate", "fast"),
    ("learning_rate_init", 0.0), ("learning_rate_init", 0), ("power_t", -0.5),
    ("max_iter", 0), ("max_iter", 2.5), ("shuffle", "yes"),
    ("random_state", "seed"), ("tol", -1.0), ("verbose", "loud"),
    ("warm_start", None), ("momentum", 1.5), ("nesterovs_momentum", 0),
    ("early_stopping", "no"), ("validation_fraction", 1.0),
    ("validation_fraction", 0.0), ("beta_1", 1.0), ("beta_2", -0.1),
    ("epsilon", 0.0), ("n_iter_no_change", 0), ("max_fun", 0),
    ("dtype", "float16"), ("dtype", "double"), ("dtype", np.float32),
    ("dtype", None),
]
INVALID_CLASS_WEIGHTS = ["auto", "uniform", 3, ["pos"]]


def _param_cases():
    for Estimator in ESTIMATORS:
        for name, constraints in Estimator._parameter_constraints.items():
            for value in invalid_values(constraints):
                # Stable ids (no set order, no addresses), for pytest-xdist.
                shown = value if isinstance(value, (int, float)) \
                    else type(value).__name__
                yield pytest.param(Estimator, name, value,
                                   id=f"{Estimator.__name__}-{name}-{shown}")
        written = INVALID_PARAMETERS + (
            [] if Estimator in REGRESSORS
            else [("class_weight", value) for value in INVALID_CLASS_WEIGHTS])
        for name, value in written:
            shown = value.__name__ if isinstance(value, type) else repr(value)
            yield pytest.param(Estimator, name, value,
                               id=f"{Estimator.__name__}-{name}={shown}")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_constraints_cover_every_parameter(Estimator):
    assert (Estimator._parameter_constraints.keys()
            == Estimator().get_params(deep=False).keys())


@pytest.mark.parametrize("Estimator, name, value", list(_param_cases()))
def test_invalid_parameter_raises(Estimator, name, value, rng):
    X, y = _data(Estimator, rng, 8)
    est = _make(Estimator).set_params(**{name: value})
    # __init__ and set_params store without validating; fit validates.
    assert est.get_params()[name] is value
    assert Estimator(**{name: value}).get_params()[name] is value
    match = (rf"^The '{name}' parameter of {Estimator.__name__} must be .* "
             r"Got .* instead\.")
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "_params")
    if hasattr(est, "partial_fit"):
        kwargs = {} if Estimator in REGRESSORS else {"classes": ["neg", "pos"]}
        with pytest.raises(InvalidParameterError, match=match):
            est.partial_fit(X, y, **kwargs)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("sizes", [(), (0,), (-1,), (4, 0), (4, -1), (2.5,),
                                   ("4",), [4, "8"]], ids=repr)
def test_invalid_hidden_layer_sizes_raise(Estimator, sizes, rng):
    """Array-like hidden_layer_sizes pass the type constraint ("array-like"
    cannot see the entries); their entries are checked at the top of fit and
    raise the same InvalidParameterError as every other parameter."""
    X, y = _data(Estimator, rng, 8)
    match = (r"^The 'hidden_layer_sizes' parameter of "
             rf"{Estimator.__name__} must be a positive int")
    for est in (Estimator(hidden_layer_sizes=sizes),
                _make(Estimator, hidden_layer_sizes=sizes)):
        with pytest.raises(InvalidParameterError, match=match):
            est.fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_valid_boundary_values_are_accepted(Estimator, rng):
    """The closed ends of the intervals are valid values."""
    X, y = _data(Estimator, rng, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _make(Estimator, dropout=0.0, alpha=0.0, tol=0.0, momentum=1.0,
              solver="sgd", power_t=0.0, beta_1=0.0, beta_2=0.0, max_iter=1,
              n_iter_no_change=1, batch_size=1, max_fun=1).fit(X, y)
