"""Fuzzing every public entry point with hypothesis.

Each test draws malformed and edge-case inputs -- ragged lists with mixed
ranks, every dtype (bool, ints, float16, object, complex, strings, datetime),
NaN and infinity in X, y and sample_weight, empty and zero-length sequences,
huge and tiny magnitudes, non-contiguous, Fortran and read-only arrays, sparse
matrices of every format, pandas objects with odd indexes, y and weights of
the wrong length -- and requires of every call one of two outcomes:

- success, with outputs of the documented shapes and dtypes and finite
  values (and success is *required* where the input is valid);
- a ValueError or TypeError whose message names the offending argument (and
  the offending sequence, where there is one).

Anything else -- another exception type, a RuntimeWarning (the suite turns
them into errors), a non-finite output, a crash or a hang -- fails.

Examples are derandomized (a fixed seed: the same inputs on every run). The
default count, ``SKRNN_FUZZ_EXAMPLES=60`` per test, keeps this file within
about a minute and a half on 2 cores (about 3000 examples in total). For a
release check run a longer campaign, e.g.::

    SKRNN_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py

and ``SKRNN_FUZZ_SEED=<n>`` draws another fixed stream of examples.

Every failure the fuzzer found has an explicit regression test at the end of
this file.
"""

import os
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from sklearn.dummy import DummyRegressor
from sklearn.preprocessing import StandardScaler

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
    metrics,
)
from skrnn.forecasting import RelativeToLast, recursive_forecast
from skrnn.preprocessing import SlidingWindows, StepTransformer, sliding_windows

N_EXAMPLES = int(os.environ.get("SKRNN_FUZZ_EXAMPLES", "60"))
FUZZ_SEED = int(os.environ.get("SKRNN_FUZZ_SEED", "0"))
N_FEATURES = 3
TINY = dict(hidden_layer_sizes=(2,), max_iter=1, random_state=0)
ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor]
PER_STEP = (SequenceTagger, SequenceRegressor)
REGRESSORS = (RNNRegressor, SequenceRegressor)


def fuzz(factor=1):
    """The file's hypothesis settings: derandomized, no deadline (the 2 cores
    are shared), ``factor`` times the example count."""

    def decorate(test):
        test = settings(
            max_examples=max(1, int(factor * N_EXAMPLES)),
            derandomize=FUZZ_SEED == 0,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )(test)
        return hypothesis_seed(FUZZ_SEED)(test) if FUZZ_SEED else test

    return decorate


# Nothing here converges, batch sizes get clipped, column vectors get raveled:
# those warnings are documented behaviour, not what is being tested.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning"),
    pytest.mark.filterwarnings("ignore:Got batch_size:UserWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning"),
]


# --------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------


def _names(message, name):
    # The argument as a word: "y" in "Input y contains", "y[3]", "y_true".
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])",
                     message, flags=re.IGNORECASE) is not None


def attempt(call, names, sequence=None, must_succeed=False, may_diverge=False):
    """Run ``call``: its result, or None after an acceptable error.

    An error must be a ValueError or TypeError naming one of ``names`` (the
    defective arguments); where one sequence is defective its message must
    name it too ("sequence 3", "X[3]", "y[3]").
    """
    try:
        return True, call()
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if may_diverge and "diverged" in message:
            _check_diverged(exc)
            return False, exc
        if must_succeed:
            raise AssertionError(f"valid input refused: {message}") from exc
        if "X" in names:
            names = [*names, "sequence"]  # "Sequence 3 has ...": X's sequence 3
        assert any(_names(message, n) for n in names), (
            f"{type(exc).__name__} does not name any of {names}: {message}")
        if sequence is not None:
            assert re.search(rf"(sequence {sequence}\b|\[{sequence}\])", message,
                             flags=re.IGNORECASE), (
                f"message does not name sequence {sequence}: {message}")
        return False, exc


def _assert_finite(array):
    array = np.asarray(array, dtype=np.float64)
    assert np.isfinite(array).all(), array


# --------------------------------------------------------------------------
# Strategies: X
# --------------------------------------------------------------------------

# Mutations of one sequence: (name, valid for fit). "maybe": success, or the
# documented ValueError of a diverging fit. float64's largest value is too
# large for the float32 the estimators compute in by default: refused.
SEQUENCE_MUTATIONS = {
    "bool": True, "int8": True, "int64": True, "uint8": True, "float16": True,
    "float32": True, "object-numbers": True, "nested-lists": True,
    "fortran": True, "strided": True, "negative-strides": True,
    "read-only": True, "tiny": True, "subnormal": True, "large": True,
    "1-d": False, "huge": "maybe", "float64-max": False,
    "complex": False, "str": False, "object-str": False, "object-none": False,
    "datetime": False, "timedelta": False, "nan": False, "inf": False,
    "-inf": False, "zero-length": False, "3-d": False, "scalar": False,
    "none": False, "dict": False, "features-2": False, "features-0": False,
    "sparse-among-dense": False, "ragged-rows": False,
}
SPARSE_FORMATS = ["csr", "csc", "coo", "bsr", "lil", "dok", "dia"]


def _mutate(x, name, rng):
    """Sequence ``x`` (T, 3) float64 with mutation ``name``."""
    T = x.shape[0]
    where = (int(rng.integers(T)), int(rng.integers(N_FEATURES)))
    if name in ("bool", "int8", "int64", "uint8", "float16", "float32"):
        return np.abs(4 * x).astype(name)
    if name == "object-numbers":
        return x.astype(object)
    if name == "nested-lists":
        return x.tolist()
    if name == "fortran":
        return np.asfortranarray(x)
    if name == "strided":
        wide = np.zeros((2 * T, 2 * N_FEATURES))
        wide[::2, ::2] = x
        return wide[::2, ::2]
    if name == "negative-strides":
        return x[::-1].copy()[::-1]
    if name == "read-only":
        x = x.copy()
        x.setflags(write=False)
        return x
    if name == "tiny":
        return 1e-300 * x
    if name == "subnormal":
        return 1e-310 * np.sign(x)
    if name == "large":
        return 1e6 * x
    if name == "huge":
        return 1e30 * x
    if name == "float64-max":
        return np.sign(x) * np.finfo(np.float64).max
    if name == "1-d":
        return x[:, 0]
    if name == "complex":
        return x + 1j
    if name == "str":
        return x.astype(str)
    if name == "object-str":
        x = x.astype(object)
        x[where] = "abc"
        return x
    if name == "object-none":
        x = x.astype(object)
        x[where] = None
        return x
    if name == "datetime":
        return (x * 1000).astype(np.int64).astype("datetime64[s]")
    if name == "timedelta":
        return (x * 1000).astype(np.int64).astype("timedelta64[s]")
    if name in ("nan", "inf", "-inf"):
        x = x.copy()
        x[where] = float(name)
        return x
    if name == "zero-length":
        return x[:0]
    if name == "3-d":
        return x[:, :, None]
    if name == "scalar":
        return np.float64(1.5)
    if name == "none":
        return None
    if name == "dict":
        return {"a": 1}
    if name == "features-2":
        return x[:, :2]
    if name == "features-0":
        return x[:, :0]
    if name == "sparse-among-dense":
        return sp.csr_matrix(x)
    if name == "ragged-rows":
        return [list(row) for row in x[:-1]] + [[1.0]]
    raise AssertionError(name)


class Case:
    """A drawn X with what the oracle needs to know about it."""

    def __init__(self, X, lengths, valid, sequence=None, what=""):
        self.X = X
        self.lengths = lengths  # per-sequence lengths (for targets)
        self.valid = valid  # True, False or "maybe"
        self.sequence = sequence  # the defective sequence, if one
        self.what = what

    def __repr__(self):
        return f"Case({self.what}, lengths={self.lengths}, valid={self.valid})"


@st.composite
def x_cases(draw, min_sequences=1, min_length=1):
    """Ragged X (list, tuple, object array, Series, 3-D, sparse list, DataFrame)
    of 3 features, possibly with one defective sequence, or junk X."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(min_sequences, 5))
    equal = draw(st.booleans())
    lengths = ([draw(st.integers(min_length, 5))] * n if equal
               else draw(st.lists(st.integers(min_length, 5), min_size=n,
                                  max_size=n)))
    base = [rng.standard_normal((t, N_FEATURES)) for t in lengths]
    form = draw(st.sampled_from(
        ["list"] * 6 + ["tuple", "object-array", "series", "3d", "sparse",
                        "dataframe", "junk"]))
    if form == "junk":
        junk = draw(st.sampled_from([
            "none", "int", "str", "empty-list", "empty-3d", "single-sparse",
            "dict", "4d", "1d", "set", "generator", "zero-features-3d"]))
        X = {"none": None, "int": 3, "str": "abc", "empty-list": [],
             "empty-3d": np.empty((0, 4, N_FEATURES)),
             "single-sparse": sp.csr_matrix(np.ones((4, N_FEATURES))),
             "dict": {"a": base[0]}, "4d": np.ones((2, 3, N_FEATURES, 1)),
             "1d": np.ones(4), "set": {1.0, 2.0},
             "generator": (x for x in base),
             "zero-features-3d": np.ones((2, 3, 0))}[junk]
        return Case(X, lengths, False, what=f"junk-{junk}")
    if form == "3d":
        X3d = np.stack([rng.standard_normal((lengths[0], N_FEATURES))
                        for _ in range(n)])
        layout = draw(st.sampled_from(["c", "fortran", "read-only", "strided",
                                       "float32", "int", "nan"]))
        if layout == "fortran":
            X3d = np.asfortranarray(X3d)
        elif layout == "read-only":
            X3d.setflags(write=False)
        elif layout == "strided":
            X3d = np.repeat(X3d, 2, axis=2)[:, :, ::2]
        elif layout == "float32":
            X3d = X3d.astype(np.float32)
        elif layout == "int":
            X3d = (4 * X3d).astype(np.int32)
        elif layout == "nan":
            k = int(rng.integers(n))
            X3d[k, 0, 1] = np.nan
            return Case(X3d, [lengths[0]] * n, False, k, "3d-nan")
        return Case(X3d, [lengths[0]] * n, True, what=f"3d-{layout}")
    if form == "sparse":
        fmt = draw(st.sampled_from(SPARSE_FORMATS))
        array = draw(st.booleans())
        maker = getattr(sp, f"{fmt}_array" if array else f"{fmt}_matrix")
        for x in base:
            x[np.abs(x) < 0.5] = 0.0
        X = [maker(x) for x in base]
        if draw(st.integers(0, 3)) == 0:  # one sequence NaN
            k = int(rng.integers(n))
            bad = base[k].copy()
            bad[0, 0] = np.nan
            X[k] = maker(bad)
            return Case(X, lengths, False, k, f"sparse-{fmt}-nan")
        return Case(X, lengths, True, what=f"sparse-{fmt}")
    if form == "dataframe":
        # (n, T) univariate sequences, as sklearn reads tabular input.
        index = draw(st.sampled_from(["range", "reversed", "strings",
                                      "duplicates", "dates"]))
        idx = {"range": pd.RangeIndex(n),
               "reversed": pd.Index(np.arange(n)[::-1] * 7),
               "strings": pd.Index([f"s{i}" for i in range(n)]),
               "duplicates": pd.Index([1] * n),
               "dates": pd.date_range("2000", periods=n)}[index]
        frame = pd.DataFrame(rng.standard_normal((n, lengths[0])), index=idx)
        return Case(frame, [lengths[0]] * n, True, what=f"dataframe-{index}")

    # Ragged containers, one sequence possibly mutated.
    X = list(base)
    mutation = draw(st.sampled_from(["none"] * 4 + list(SEQUENCE_MUTATIONS)))
    valid, k = True, None
    if mutation != "none":
        k = draw(st.integers(0, n - 1))
        X[k] = _mutate(base[k], mutation, rng)
        valid = SEQUENCE_MUTATIONS[mutation]
        if mutation == "zero-length":
            lengths = list(lengths)
            lengths[k] = 0
        if mutation == "ragged-rows":
            lengths = list(lengths)
            lengths[k] = len(X[k])
        if mutation == "1-d" and n == 1:
            valid = True  # a single univariate sequence is a valid X
    if form == "tuple":
        X = tuple(X)
    elif form in ("object-array", "series"):
        holder = np.empty(n, dtype=object)
        for i, x in enumerate(X):
            holder[i] = x
        X = holder
        if form == "series":
            X = pd.Series(holder, index=np.arange(n)[::-1] * 3 + 10)
    if k is not None and mutation in ("sparse-among-dense",) and k == 0:
        k = None  # then the dense ones are the odd ones out
    if mutation in ("features-2", "1-d", "features-0") and k == 0:
        k = None  # sequence 0 sets the count; the message names another one
    if mutation == "scalar" and k == 0 and form in ("object-array", "series"):
        k = None  # an object array led by a scalar reads as one 1-D array
    if n == 1:
        k = None  # "X has 1 features", "got 1D array": X is the one sequence
    return Case(X, lengths, valid, k if valid is not True else None,
                f"{form}-{mutation}")


# --------------------------------------------------------------------------
# Strategies: y and sample_weight
# --------------------------------------------------------------------------


def _good_y(Estimator, lengths, rng):
    n = len(lengths)
    if Estimator is RNNClassifier:
        return np.array(["a", "b"] * n)[:n]
    if Estimator is RNNRegressor:
        return rng.standard_normal(n)
    if Estimator is SequenceRegressor:
        return [rng.standard_normal(t) for t in lengths]
    steps = np.arange(sum(lengths))
    flat = np.where(steps % 2 == 0, "a", "b")
    ends = np.cumsum(lengths)
    return [flat[e - t:e] for t, e in zip(lengths, ends)]


@st.composite
def y_cases(draw, Estimator, lengths):
    """(y, valid): good targets for ``lengths`` or one defect."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = _good_y(Estimator, lengths, rng)
    n = len(lengths)
    defect = draw(st.sampled_from(
        ["none"] * 6 + ["short", "long", "none-y", "nan", "inf", "2d",
                        "series-odd-index", "list", "object", "ints", "bools",
                        "huge", "scalar", "3d"]
        + (["step-short", "step-long", "step-2d", "step-scalar", "not-list"]
           if Estimator in PER_STEP else [])))
    if defect == "none":
        return y, True
    if defect == "short":
        return y[:-1], False
    if defect == "long":
        return (list(y) + list(y[:1]) if Estimator in PER_STEP
                else np.concatenate([y, y[:1]])), False
    if defect == "none-y":
        return None, False
    if defect == "scalar":
        return 1.0, False
    if defect == "3d":
        # A per-step regressor reads it as (2, 2) targets of each sequence.
        return np.ones((n, 2, 2)), (Estimator is SequenceRegressor
                                    and all(t == 2 for t in lengths))
    if Estimator is SequenceRegressor:
        return _step_regression_defect(draw, y, lengths, defect)
    if Estimator is SequenceTagger:
        k = draw(st.integers(0, n - 1))
        y = list(y)
        if defect == "nan":
            y[k] = np.full(lengths[k], np.nan)
            return y, False
        if defect == "inf":
            y[k] = np.full(lengths[k], np.inf)
            return y, False
        if defect in ("step-short", "short"):
            y[k] = y[k][:-1]
            return y, False
        if defect == "step-long":
            y[k] = np.append(y[k], "a")
            return y, False
        if defect == "step-2d":
            y[k] = y[k].reshape(-1, 1)
            return y, False
        if defect == "step-scalar":
            y[k] = "a"
            return y, False
        if defect == "not-list":
            return np.concatenate(y), False
        if defect == "series-odd-index":
            return pd.Series(y, index=np.arange(n) * 3 + 5, dtype=object), "maybe"
        if defect == "list":
            return [list(v) for v in y], True
        if defect == "object":
            return [np.asarray(v, dtype=object) for v in y], True
        if defect == "ints":
            return [(v == "a").astype(int) for v in y], True
        if defect == "bools":
            return [v == "a" for v in y], True
        return y, "maybe"  # 2d, huge on labels: whatever the encoder says
    if defect == "nan":
        y = y.astype(object) if Estimator is RNNClassifier else y.copy()
        y[draw(st.integers(0, n - 1))] = np.nan
        return y, False
    if defect == "inf":
        y = y.astype(object) if Estimator is RNNClassifier else y.copy()
        y[draw(st.integers(0, n - 1))] = np.inf
        return y, False
    if defect == "2d":
        if Estimator is RNNRegressor:
            return np.column_stack([y, -y]), True
        return np.column_stack([y, y]), False
    if defect == "series-odd-index":
        return pd.Series(y, index=np.arange(n)[::-1] * 3 + 5), True
    if defect == "list":
        return list(y), True
    if defect == "object":
        return y.astype(object), Estimator is RNNRegressor or True
    if defect == "ints":
        return ((np.arange(n) % 2) if Estimator is RNNClassifier
                else np.round(4 * y).astype(int)), True
    if defect == "bools":
        return np.arange(n) % 2 == 0, True
    if defect == "huge":
        if Estimator is RNNRegressor:
            return 1e300 * y, "maybe"
        return y, True
    raise AssertionError(defect)


def _step_regression_defect(draw, y, lengths, defect):
    """(y, valid) of a per-step regressor with one defect."""
    n = len(lengths)
    k = draw(st.integers(0, n - 1))
    y = list(y)
    if defect in ("nan", "inf"):
        y[k] = np.full(lengths[k], np.nan if defect == "nan" else np.inf)
        return y, False
    if defect == "step-short":
        y[k] = y[k][:-1]
        return y, False
    if defect == "step-long":
        y[k] = np.append(y[k], 0.0)
        return y, False
    if defect == "step-2d":  # one (T_k, 1) array among 1-D ones
        y[k] = y[k].reshape(-1, 1)
        return y, n == 1
    if defect == "step-scalar":
        y[k] = 1.0
        return y, False
    if defect == "not-list":
        return np.concatenate(y), False
    if defect == "series-odd-index":
        return pd.Series(y, index=np.arange(n) * 3 + 5, dtype=object), "maybe"
    return {
        "list": ([list(v) for v in y], True),
        "object": ([np.asarray(v, dtype=object) for v in y], True),
        "ints": ([np.round(4 * v).astype(int) for v in y], True),
        "bools": ([v > 0 for v in y], True),
        "huge": ([1e300 * v for v in y], "maybe"),
        "2d": ([np.column_stack([v, -v]) for v in y], True),
    }[defect]


@st.composite
def weight_cases(draw, n, lengths=None):
    """(sample_weight, valid)."""
    kind = draw(st.sampled_from(
        ["none"] * 4 + ["ones", "ints", "bools", "short", "long", "2d", "nan",
                        "inf", "negative", "zeros", "series", "huge", "tiny",
                        "str", "scalar", "list"]
        + (["per-step", "per-step-short", "per-step-nan"] if lengths else [])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.uniform(0.5, 2.0, n)
    if kind == "none":
        return None, True
    return {
        "ones": (np.ones(n), True),
        "ints": (np.arange(1, n + 1), True),
        "bools": (np.ones(n, dtype=bool), True),
        "short": (w[:-1], False),
        "long": (np.r_[w, 1.0], False),
        "2d": (w[:, None], False),
        "nan": (np.r_[w[:-1], np.nan], False),
        "inf": (np.r_[w[:-1], np.inf], False),
        "negative": (np.r_[w[:-1], -1.0], False),
        "zeros": (np.zeros(n), False),
        "series": (pd.Series(w, index=np.arange(n) * 2 + 7), True),
        "huge": (np.full(n, 1e300), "maybe"),
        "tiny": (np.full(n, 1e-300), "maybe"),
        "str": (np.array(["a"] * n), False),
        "scalar": (1.0, False),
        "list": (list(w), True),
        "per-step": ([np.full(t, 1.5) for t in lengths or []], True),
        "per-step-short": ([np.ones(max(t - 1, 0)) for t in lengths or []],
                           False),
        "per-step-nan": ([np.full(t, np.nan) for t in lengths or []], False),
    }[kind]


# --------------------------------------------------------------------------
# Output checks
# --------------------------------------------------------------------------


def _check_predictions(est, X, n, lengths):
    predicted = est.predict(X)
    if isinstance(est, SequenceTagger):
        assert len(predicted) == n
        for p, t in zip(predicted, lengths):
            assert p.shape == (t,) and set(p) <= set(est.classes_)
    elif isinstance(est, SequenceRegressor):
        assert predicted.dtype == object and predicted.shape == (n,)
        for p, t in zip(predicted, lengths):
            assert p.shape[0] == t and p.dtype.kind == "f"
            _assert_finite(p)
        return
    elif isinstance(est, RNNClassifier):
        assert predicted.shape == (n,) and set(predicted) <= set(est.classes_)
    else:
        assert predicted.shape[0] == n and predicted.dtype.kind == "f"
        _assert_finite(predicted)
        return
    proba = est.predict_proba(X)
    if isinstance(est, SequenceTagger):
        assert [p.shape for p in proba] == [(t, len(est.classes_)) for t in lengths]
        proba = np.concatenate(proba)
    else:
        assert proba.shape == (n, len(est.classes_))
    assert proba.dtype.kind == "f"
    _assert_finite(proba)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def _clean(n=4, lengths=(3, 2, 4, 1)):
    rng = np.random.default_rng(1)
    return [rng.standard_normal((t, N_FEATURES)) for t in lengths[:n]]


_FITTED = {}


def _fitted(Estimator):
    """One model per estimator fitted on clean data, shared by predict tests."""
    if Estimator not in _FITTED:
        X = _clean()
        y = _good_y(Estimator, [len(x) for x in X], np.random.default_rng(2))
        _FITTED[Estimator] = Estimator(**TINY).fit(X, y)
    return _FITTED[Estimator]


def _fit_valid(case, y_valid, w_valid):
    verdicts = [case.valid, y_valid, w_valid]
    if False in verdicts:
        return False
    return "maybe" if "maybe" in verdicts else True


def _check_diverged(exc):
    message = str(exc)
    assert "diverged" in message or "non-finite" in message, message
    assert "StandardScaler" in message or "preprocessed" in message, message


# --------------------------------------------------------------------------
# Estimators: fit, partial_fit, predict, predict_proba, score
# --------------------------------------------------------------------------


@fuzz(2)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_fit_fuzz(Estimator, method, data):
    case = data.draw(x_cases(min_sequences=2), label="X")
    n = len(case.lengths)
    y, y_valid = data.draw(y_cases(Estimator, case.lengths), label="y")
    w, w_valid = data.draw(weight_cases(
        n, case.lengths if Estimator in PER_STEP else None),
        label="sample_weight")
    solver = data.draw(st.sampled_from(["adam", "sgd", "lbfgs"]
                                       if method == "fit" else ["adam", "sgd"]))
    est = Estimator(solver=solver, **TINY)
    names = [a for a, v in (("X", case.valid), ("y", y_valid),
                            ("sample_weight", w_valid)) if v is not True]
    names = names or ["X", "y", "sample_weight"]
    valid = _fit_valid(case, y_valid, w_valid)
    if method == "partial_fit" and valid == "maybe" and y_valid == "maybe":
        names.append("classes")
    if method == "fit":
        call = lambda: est.fit(X=case.X, y=y, sample_weight=w)  # noqa: E731
    else:
        kwargs = {}
        if Estimator not in REGRESSORS:
            classes = ["a", "b"]
            if y_valid is True:
                flat = (np.concatenate([np.asarray(v) for v in y])
                        if Estimator is SequenceTagger else np.asarray(y))
                classes = np.unique(flat)
            kwargs = {"classes": classes}
        call = lambda: est.partial_fit(case.X, y, sample_weight=w, **kwargs)  # noqa
    sequence = case.sequence if case.valid is False and y_valid is True \
        and w_valid is True else None
    ok, result = attempt(call, names, sequence, must_succeed=valid is True,
                         may_diverge=valid == "maybe")
    if not ok:
        return
    _assert_finite(est._params)
    X = _clean()
    if est.n_features_in_ == N_FEATURES and not getattr(est, "_fitted_on_2d",
                                                        False):
        _check_predictions(est, X, len(X), [len(x) for x in X])
    if case.valid is True:
        _check_predictions(est, case.X, n, case.lengths)


@fuzz(2)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_fuzz(Estimator, data):
    case = data.draw(x_cases(), label="X")
    est = _fitted(Estimator)
    valid = case.valid
    if case.what.startswith("dataframe") or case.what.endswith("-1-d"):
        valid = False  # one feature per step, fitted with three
    if "zero-length" in case.what and Estimator in PER_STEP:
        valid = True
    if valid == "maybe":
        valid = True  # huge inputs saturate the gates: finite outputs
    n = len(case.lengths)
    ok, _ = attempt(lambda: _check_predictions(est, case.X, n, case.lengths),
                    ["X"], case.sequence if valid is False else None,
                    must_succeed=valid is True)


@fuzz(2)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_score_fuzz(Estimator, data):
    case = data.draw(x_cases(), label="X")
    n = len(case.lengths)
    y, y_valid = data.draw(y_cases(Estimator, case.lengths), label="y")
    w, w_valid = data.draw(weight_cases(
        n, case.lengths if Estimator in PER_STEP else None),
        label="sample_weight")
    est = _fitted(Estimator)
    x_valid = case.valid if not case.what.startswith("dataframe") else False
    if x_valid == "maybe":
        x_valid = True
    if case.what.endswith("-1-d"):
        x_valid = False
    if Estimator is RNNRegressor and y_valid is True and np.ndim(y) == 2:
        y_valid = False  # one output fitted, two scored
    if Estimator is SequenceRegressor and y_valid is True and any(
            np.ndim(v) == 2 and np.shape(v)[1] != 1 for v in y):
        y_valid = False  # one output fitted, two scored
    if Estimator not in REGRESSORS and y_valid is True:
        flat = (np.concatenate([np.ravel(v) for v in y]) if not isinstance(
            y, (np.ndarray, pd.Series)) or Estimator is SequenceTagger
            else np.asarray(y))
        if np.asarray(flat).dtype.kind in "iub":
            y_valid = "maybe"  # numbers against string classes
    names = [a for a, v in (("X", x_valid), ("y", y_valid),
                            ("sample_weight", w_valid)) if v is not True]
    valid = all(v is True for v in (x_valid, y_valid, w_valid))
    ok, score = attempt(lambda: est.score(case.X, y, sample_weight=w),
                        names or ["X", "y", "sample_weight"],
                        must_succeed=valid)
    if ok:
        assert np.isscalar(score) or np.ndim(score) == 0
        if Estimator is RNNRegressor:
            assert np.isfinite(score) or n == 1  # R^2 of one target is NaN
        elif Estimator is SequenceRegressor:
            assert np.isfinite(score) or sum(case.lengths) == 1
        else:
            assert 0.0 <= score <= 1.0


# --------------------------------------------------------------------------
# StepTransformer, sliding_windows, SlidingWindows
# --------------------------------------------------------------------------


@fuzz(2)
@given(data=st.data())
def test_step_transformer_fuzz(data):
    case = data.draw(x_cases(), label="X")
    step = StepTransformer(StandardScaler(with_mean=False))
    # Values are the wrapped transformer's business: its own messages
    # ("could not convert string to float") pass through, so only the type
    # of an error is checked, and success where the input is valid.
    try:
        out = step.fit_transform(case.X)
    except (ValueError, TypeError) as exc:
        assert case.valid is not True, f"valid input refused: {exc}"
        return
    assert len(out) == len(case.lengths)
    for o, t in zip(out, case.lengths):
        assert o.shape[0] == t
    if case.valid is True:  # NaN passes StandardScaler by design; huge overflows
        for o in out:
            _assert_finite(o.toarray() if sp.issparse(o) else o)
    back = step.inverse_transform(out)
    assert len(back) == len(out)


SERIES_KINDS = ["1d", "2d", "float32", "int", "bool", "nan", "inf", "object",
                "str", "complex", "datetime", "empty", "3d", "scalar",
                "series-dates", "frame-odd-index", "read-only", "strided",
                "huge", "sparse", "list"]


@st.composite
def series_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    T = draw(st.integers(0, 12))
    kind = draw(st.sampled_from(SERIES_KINDS))
    x = rng.standard_normal((T, 2))
    valid = kind in ("1d", "2d", "float32", "int", "bool", "series-dates",
                     "frame-odd-index", "read-only", "strided", "huge", "list")
    series = {
        "1d": lambda: x[:, 0], "2d": lambda: x,
        "float32": lambda: x.astype(np.float32),
        "int": lambda: (4 * x).astype(int), "bool": lambda: x > 0,
        "nan": lambda: np.where(np.arange(T)[:, None] == T // 2, np.nan, x),
        "inf": lambda: np.where(np.arange(T)[:, None] == T - 1, np.inf, x),
        "object": lambda: np.array([[None, 1.0]] * T, dtype=object),
        "str": lambda: x.astype(str), "complex": lambda: x + 1j,
        "datetime": lambda: (1000 * x).astype(int).astype("datetime64[s]"),
        "empty": lambda: np.empty((0, 2)), "3d": lambda: x[:, :, None],
        "scalar": lambda: 1.0,
        "series-dates": lambda: pd.Series(
            x[:, 0], index=pd.date_range("2000", periods=T)),
        "frame-odd-index": lambda: pd.DataFrame(
            x, index=np.arange(T)[::-1] * 3, columns=["a", "b"]),
        "read-only": lambda: _read_only(x),
        "strided": lambda: np.repeat(x, 2, axis=0)[::2],
        "huge": lambda: 1e300 * x, "sparse": lambda: sp.csr_matrix(x),
        "list": lambda: x.tolist(),
    }[kind]()
    if kind in ("nan", "inf") and T == 0:
        valid = None  # empty anyway
    return series, T, valid, kind


def _read_only(x):
    x = x.copy()
    x.setflags(write=False)
    return x


@fuzz(2)
@given(case=series_cases(), window=st.one_of(st.integers(-1, 6),
                                            st.just("expanding"),
                                            st.just(2.5), st.just("x")),
       horizon=st.integers(0, 3), step=st.integers(0, 3),
       target=st.sampled_from([None, 0, 1, [0], [1, 0], 5, "a", -1]),
       min_window=st.sampled_from([None, 1, 3, 0]))
def test_sliding_windows_fuzz(case, window, horizon, step, target, min_window):
    series, T, valid, kind = case
    names = ["series", "window", "horizon", "step", "target", "min_window"]
    ok, result = attempt(lambda: sliding_windows(
        series, window, horizon=horizon, step=step, target=target,
        min_window=min_window), names)
    if not ok:
        return
    X, y, index = result
    assert len(X) == len(y) == len(index) > 0
    if window != "expanding":
        assert X.ndim == 3 and X.shape[1] == window
    for x in X:
        _assert_finite(x)
    _assert_finite(y)
    assert np.asarray(y).dtype.kind == "f"


@fuzz(2)
@given(case=series_cases(), other=series_cases(),
       window=st.one_of(st.integers(0, 5), st.just("expanding")),
       horizon=st.integers(1, 2))
def test_sliding_windows_transformer_fuzz(case, other, window, horizon):
    series, T, valid, kind = case
    windows = SlidingWindows(window, horizon=horizon)
    names = ["series", "window", "horizon", "step", "target", "min_window"]
    ok, _ = attempt(lambda: windows.fit(series), names)
    if not ok:
        return
    for method in ("transform", "make_xy"):
        ok, result = attempt(
            lambda method=method: getattr(windows, method)(other[0]), names)
        if not ok:
            continue
        X = result[0] if method == "make_xy" else result
        for x in X:
            _assert_finite(x)


# --------------------------------------------------------------------------
# Forecasting helpers
# --------------------------------------------------------------------------


def _one_step_model():
    series = np.sin(np.arange(30) / 3.0)
    X, y, _ = sliding_windows(series, 3)
    return RNNRegressor(**TINY).fit(X, y)


_ONE_STEP = []


@fuzz(2)
@given(case=series_cases(), n_steps=st.integers(-1, 4),
       window=st.integers(-1, 5))
def test_recursive_forecast_fuzz(case, n_steps, window):
    if not _ONE_STEP:
        _ONE_STEP.append(_one_step_model())
    series = case[0]
    if case[3] == "2d":
        series = series[:, :1]  # the model forecasts one column
    ok, forecast = attempt(lambda: recursive_forecast(
        _ONE_STEP[0], series, n_steps, window=window),
        ["history", "n_steps", "window", "estimator", "X"])
    if ok:
        assert forecast.shape[0] == n_steps
        _assert_finite(forecast)


@fuzz(2)
@given(data=st.data(), scale=st.sampled_from([None, "window", "global"]),
       target=st.sampled_from([None, 0, [2, 0], 7, -1, "a"]))
def test_relative_to_last_fuzz(data, scale, target):
    case = data.draw(x_cases(min_sequences=2), label="X")
    n = len(case.lengths)
    y, y_valid = data.draw(y_cases(RNNRegressor, case.lengths), label="y")
    w, w_valid = data.draw(weight_cases(n), label="sample_weight")
    if isinstance(target, list) and y_valid is True and np.ndim(y) == 1:
        y = np.column_stack([y, y])
    model = RelativeToLast(DummyRegressor(), target=target, scale=scale)
    ok, _ = attempt(lambda: model.fit(case.X, y, sample_weight=w),
                    ["X", "y", "sample_weight", "target", "sequence"])
    if ok:
        ok, predicted = attempt(lambda: model.predict(case.X), ["X"])
        if ok:
            assert predicted.shape[0] == n
            _assert_finite(predicted)


# --------------------------------------------------------------------------
# Metrics and scorers
# --------------------------------------------------------------------------

METRICS = [
    (metrics.flat_accuracy_score, {}), (metrics.sequence_accuracy_score, {}),
    (metrics.flat_f1_score, {"average": "macro"}),
    (metrics.flat_precision_score, {"average": "micro"}),
    (metrics.flat_recall_score, {"average": "weighted"}),
    (metrics.flat_precision_recall_fscore_support, {}),
    (metrics.flat_classification_report, {}),
    (metrics.flat_confusion_matrix, {}),
]


@st.composite
def label_sequences(draw, lengths):
    kind = draw(st.sampled_from(
        ["good"] * 4 + ["short", "step-short", "nan", "none", "scalar",
                        "2d-step", "ints", "mixed", "object", "dict",
                        "array-2d", "empty"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = [rng.choice(["a", "b", "c"], t) for t in lengths]
    valid = kind == "good"
    if kind == "short":
        y = y[:-1]
    elif kind == "step-short":
        y[-1] = y[-1][:-1]
    elif kind == "nan":
        y[0] = np.full(lengths[0], np.nan)
    elif kind == "none":
        y = None
    elif kind == "scalar":
        y = "a"
    elif kind == "2d-step":
        y[0] = y[0][:, None]
    elif kind == "ints":
        y = [(v == "a").astype(int) for v in y]
        valid = "maybe"
    elif kind == "mixed":
        y[0] = np.array([1] * lengths[0], dtype=object)
        valid = "maybe"
    elif kind == "object":
        y = [v.astype(object) for v in y]
        valid = "maybe"
    elif kind == "dict":
        y = {"a": 1}
    elif kind == "array-2d":
        y = np.array([[1, 2], [3, 4]])
        valid = "maybe"
    elif kind == "empty":
        y = []
    return y, valid


@fuzz(1)
@given(data=st.data(), which=st.integers(0, len(METRICS) - 1))
def test_metrics_fuzz(data, which):
    metric, kwargs = METRICS[which]
    lengths = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    y_true, t_valid = data.draw(label_sequences(lengths), label="y_true")
    y_pred, p_valid = data.draw(label_sequences(lengths), label="y_pred")
    w, w_valid = data.draw(weight_cases(len(lengths), lengths),
                           label="sample_weight")
    names = [a for a, v in (("y_true", t_valid), ("y_pred", p_valid),
                            ("sample_weight", w_valid)) if v is not True]
    valid = all(v is True for v in (t_valid, p_valid, w_valid))
    ok, result = attempt(lambda: metric(y_true, y_pred, sample_weight=w,
                                        **kwargs),
                         names or ["y_true", "y_pred", "sample_weight"],
                         must_succeed=valid)
    if ok and not isinstance(result, str):
        for part in (result if isinstance(result, tuple) else (result,)):
            if part is not None:
                _assert_finite(part)


@fuzz(1)
@given(data=st.data(),
       name=st.sampled_from(metrics.get_flat_scorer_names()))
def test_scorers_fuzz(data, name):
    case = data.draw(x_cases(), label="X")
    y, y_valid = data.draw(y_cases(SequenceTagger, case.lengths), label="y")
    scorer = metrics.get_flat_scorer(name)
    x_valid = case.valid is True and not case.what.startswith("dataframe") \
        and not case.what.endswith("-1-d")
    names = [a for a, v in (("X", x_valid), ("y", y_valid)) if v is not True]
    ok, score = attempt(lambda: scorer(_fitted(SequenceTagger), case.X, y),
                        names or ["X", "y"])
    if ok:
        assert np.isfinite(score)


def test_unknown_scorer_name_names_it():
    with pytest.raises(ValueError, match="nonsense"):
        metrics.get_flat_scorer("nonsense")


# --------------------------------------------------------------------------
# Regressions: every failure the fuzzer found, once each
# --------------------------------------------------------------------------


def _clean_fit(Estimator):
    X = _clean()
    return X, _good_y(Estimator, [len(x) for x in X], np.random.default_rng(0))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_string_sample_weight_names_it(Estimator):
    # Was numpy's bare "could not convert string to float: 'a'".
    X, y = _clean_fit(Estimator)
    with pytest.raises(ValueError, match=r"^sample_weight must hold numbers"):
        Estimator(**TINY).fit(X, y, sample_weight=["a"] * len(X))


@pytest.mark.parametrize("matrix", [sp.dok_matrix, sp.dok_array])
def test_list_of_dok_matrices_fits(matrix):
    # Was AttributeError: 'dok_matrix' object has no attribute 'data'.
    X, y = _clean_fit(RNNClassifier)
    # float64: the tolerance is float64 round-off.
    est = RNNClassifier(**TINY, dtype="float64").fit([matrix(x) for x in X], y)
    reference = RNNClassifier(**TINY, dtype="float64").fit(X, y)
    np.testing.assert_allclose(est._params, reference._params, rtol=1e-9)


@pytest.mark.parametrize("y, error", [
    (np.array([np.nan, "b", "a", "b"], dtype=object), ValueError)])
def test_unsortable_or_unknown_labels_name_y(y, error):
    # Was "Unknown label type: unknown" / "'<' not supported between ...".
    X, _ = _clean_fit(RNNClassifier)
    with pytest.raises(error, match=r"\(the labels y\)$"):
        RNNClassifier(**TINY).fit(X, y)


@pytest.mark.parametrize("y", [1.0, np.ones((4, 2, 2))], ids=["scalar", "3d"])
def test_regression_y_of_wrong_rank_names_y(y):
    # Was "Input should have at least 1 dimension" / "Found array with dim 3".
    X, _ = _clean_fit(RNNRegressor)
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        RNNRegressor(**TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        _fitted(RNNRegressor).score(X, y)


def test_regressor_score_of_huge_y_is_an_error_not_a_warning():
    # Was RuntimeWarning: overflow encountered in square (inside r2_score).
    X, y = _clean_fit(RNNRegressor)
    with pytest.raises(ValueError, match=r"^y is too large to score"):
        _fitted(RNNRegressor).score(X, 1e300 * y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_score_checks_y_and_sample_weight_by_name(Estimator):
    # Were scikit-learn's "Found input variables with inconsistent numbers of
    # samples: [3, 4]", "Sample weights must be 1D array or scalar", "object
    # of type 'NoneType' has no len()", "Input contains NaN".
    X, y = _clean_fit(Estimator)
    est = _fitted(Estimator)
    with pytest.raises(ValueError, match=r"X has 4 sequences but y has 3"):
        est.score(X, y[:-1])
    with pytest.raises(ValueError, match=r"^sample_weight has shape \(4, 1\)"):
        est.score(X, y, sample_weight=np.ones((4, 1)))
    with pytest.raises((TypeError, ValueError), match=r"\by\b"):
        est.score(X, None)
    nan_y = ([np.full(len(x), np.nan) for x in X] if Estimator in PER_STEP
             else np.full(len(X), np.nan))
    # the tagger names the sequence whose labels hold it: y[0]
    with pytest.raises(ValueError, match=r"Input y(\[0\])? contains NaN"):
        est.score(X, nan_y)


@pytest.mark.parametrize("series, match", [
    (np.empty(0), r"^series is empty"),
    (np.ones((4, 2)) + 1j, r"^series holds complex")])
def test_sliding_windows_name_the_series(series, match):
    # Were "Found array with 0 sample(s)" and "Complex data not supported".
    with pytest.raises(ValueError, match=match):
        sliding_windows(series, 2)
    with pytest.raises(ValueError, match=match):
        SlidingWindows(2).fit(series)


@pytest.mark.parametrize("history, match", [
    (np.empty(0), r"^history is empty"), (np.ones((5, 1, 1)), r"^history must be 1-D"),
    (np.ones(5) + 1j, r"^history holds complex")])
def test_recursive_forecast_names_the_history(history, match):
    if not _ONE_STEP:
        _ONE_STEP.append(_one_step_model())
    with pytest.raises(ValueError, match=match):
        recursive_forecast(_ONE_STEP[0], history, 2, window=3)


# Metrics, scorers and RelativeToLast (the xfails these tests replaced).

FLAT_TRUE = [np.array(["a", "b", "a"]), np.array(["b"])]
FLAT_PRED = [np.array(["a", "a", "a"]), np.array(["b"])]


@pytest.mark.parametrize("metric", [metrics.flat_accuracy_score,
                                    metrics.sequence_accuracy_score,
                                    metrics.flat_confusion_matrix])
def test_metrics_all_zero_sample_weight_names_it(metric):
    # Was scikit-learn's "Sample weights must contain at least one non-zero
    # number".
    with pytest.raises(ValueError, match=r"^sample_weight sums to zero"):
        metric(FLAT_TRUE, FLAT_PRED, sample_weight=np.zeros(2))


@pytest.mark.parametrize("metric", [metrics.flat_accuracy_score,
                                    metrics.sequence_accuracy_score])
def test_metrics_sample_weight_of_wrong_count_names_y_true(metric):
    # Was "sample_weight has shape (3,), expected (2,)": which sequences?
    with pytest.raises(ValueError, match=r"one weight per sequence of y_true"):
        metric(FLAT_TRUE, FLAT_PRED, sample_weight=np.ones(3))


def test_flat_metrics_take_per_step_weights():
    # A list of per-step weights (as SequenceTagger.fit takes) was refused
    # by numpy ("inhomogeneous shape"), unnamed.
    steps = [np.array([1.0, 1.0, 2.0]), np.array([0.5])]
    assert metrics.flat_accuracy_score(FLAT_TRUE, FLAT_PRED,
                                       sample_weight=steps) == 3.5 / 4.5


@pytest.mark.parametrize("metric", [metrics.flat_accuracy_score,
                                    metrics.sequence_accuracy_score])
def test_metrics_mixed_label_types_name_y_true_and_y_pred(metric):
    # Was scikit-learn's bare "Mix of label input types (string and number)".
    with pytest.raises(ValueError, match=r"^y_true and y_pred hold labels that "
                       r"cannot be compared: Mix of label input types"):
        metric(FLAT_TRUE, [np.array([1, 0, 1]), np.array([0])])


def test_nan_labels_are_an_error_not_a_warning():
    # Was RuntimeWarning: invalid value encountered in cast (in
    # type_of_target), through the scorers.
    nan_true = [np.full(3, np.nan), np.array([1.0])]
    with pytest.raises(ValueError, match=r"Input y_true contains NaN"):
        metrics.flat_accuracy_score(nan_true, [np.ones(3), np.ones(1)])
    X = _clean()
    y = [np.full(len(x), np.nan) for x in X]
    for name in metrics.get_flat_scorer_names():
        with pytest.raises(ValueError, match=r"Input y_true contains NaN"):
            metrics.get_flat_scorer(name)(_fitted(SequenceTagger), X, y)


def test_flat_metrics_of_empty_sequences_say_so():
    # Was scikit-learn's "Found empty input array (e.g., `y_true` or
    # `y_pred`)"; a whole-sequence score of empty sequences is defined.
    empty = [np.array([], dtype="<U1")]
    with pytest.raises(ValueError, match=r"^y_true and y_pred hold no time "
                       r"steps: every sequence is empty"):
        metrics.flat_accuracy_score(empty, empty)
    assert metrics.sequence_accuracy_score(empty, empty) == 1.0


def _windows():
    X, y, _ = sliding_windows(np.sin(np.arange(12) / 2.0), 3)
    return X, y


@pytest.mark.parametrize("weights, match", [
    (["a"] * 9, r"^sample_weight must hold numbers"),
    (np.zeros(9), r"^sample_weight sums to zero"),
    (np.ones(8), r"one weight per sequence of X")])
def test_relative_to_last_sample_weight_names_it(weights, match):
    # Were numpy's "could not convert string to float: 'a'" and
    # scikit-learn's "Sample weights must contain at least one non-zero
    # number".
    X, y = _windows()
    with pytest.raises(ValueError, match=match):
        RelativeToLast(DummyRegressor()).fit(X, y, sample_weight=weights)


def test_relative_to_last_y_of_wrong_rank_names_y():
    # Was check_array's "Found array with dim 3, while dim <= 2 is required".
    X, y = _windows()
    with pytest.raises(ValueError, match=r"^y must be 1-D"):
        RelativeToLast(DummyRegressor()).fit(X, np.ones((len(X), 2, 2)))


@pytest.mark.parametrize("scale", [None, "window", "global"])
def test_relative_to_last_overflow_is_an_error_not_a_warning(scale):
    # Was RuntimeWarning: overflow encountered in multiply / invalid value in
    # divide, for huge y and scale='global'.
    X, y = _windows()
    model = RelativeToLast(DummyRegressor(), scale=scale)
    huge = np.where(np.arange(len(y)) % 2, 1.0, -1.0) * 1e300
    if scale == "global":
        with pytest.raises(ValueError, match=r"^X and y are too large for "
                           r"RelativeToLast.*Scale the targets"):
            model.fit(X, huge)
    # Windows spanning -max..max overflow their differences, whatever the
    # scale: an error in fit, and in predict after a fit on ordinary windows.
    extreme = X.copy()
    extreme[0, 0, 0] = -np.finfo(np.float64).max
    extreme[0, -1, 0] = np.finfo(np.float64).max
    with pytest.raises(ValueError, match=r"^X and y are too large"):
        model.fit(extreme, y)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"^X is too large"):
        model.predict(extreme)


def test_relative_to_last_global_scale_of_huge_and_tiny_weights():
    # Huge weights times squared changes of 1e5 overflowed (RuntimeWarning:
    # overflow in multiply): the weights' fault, not y's.
    X, y = _windows()
    X, y = 1e5 * X, 1e5 * y
    reference = RelativeToLast(DummyRegressor(), scale="global").fit(X, y)
    for factor in (1e300, 1e-300):
        model = RelativeToLast(DummyRegressor(), scale="global").fit(
            X, y, sample_weight=np.full(len(X), factor))
        np.testing.assert_allclose(model.scale_, reference.scale_, rtol=1e-12)


def test_regression_tagger_nan_labels_named_before_training():
    # Fuzz (400 examples): NaN step labels among string labels became the
    # label "nan"; with 1e-300 weights training then "diverged", unnamed.
    X = [np.zeros((1, N_FEATURES)), np.ones((1, N_FEATURES))]
    y = [np.array([np.nan]), np.array(["b"])]
    for solver in ("adam", "lbfgs"):
        with pytest.raises(ValueError, match=r"y\[0\] contains NaN"):
            SequenceTagger(solver=solver, **TINY).fit(
                X, y, sample_weight=np.full(2, 1e-300))


def test_regression_predict_ragged_rows_in_object_array_named():
    # Fuzz (400 examples): ragged rows as sequence 0 of an object array gave
    # an AttributeError/unnamed "inhomogeneous shape" error.
    X = [np.zeros((2, N_FEATURES)), np.ones((2, N_FEATURES))]
    clf = RNNClassifier(**TINY).fit(X, ["a", "b"])
    holder = np.empty(2, dtype=object)
    holder[0] = [[1.0, 2.0, 3.0], [1.0]]
    holder[1] = X[1]
    with pytest.raises(ValueError, match=r"(?i)sequence 0"):
        clf.predict(holder)


def test_regression_regressor_score_empty_y_named():
    # Fuzz (400 examples): "Found array with 0 sample(s)" named no y.
    X = [np.zeros((1, N_FEATURES)), np.ones((1, N_FEATURES))]
    reg = RNNRegressor(**TINY).fit(X, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"^y is empty"):
        reg.score(X[:1], np.array([]))
