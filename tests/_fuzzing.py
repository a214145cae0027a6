"""The fuzz tests' machinery: hypothesis strategies of malformed and
edge-case input, the oracle every call must satisfy, and their settings.

The fuzz tests themselves sit in the file of the module they fuzz
(test_estimators.py, test_preprocessing.py, test_forecasting.py,
test_metrics.py; the regressions they found in those files and in
test_validation.py and test_sequences.py). Each draws malformed and edge-case
inputs -- ragged lists with mixed ranks, every dtype (bool, ints, float16,
object, complex, strings, datetime), NaN and infinity in X, y and
sample_weight, empty and zero-length sequences, huge and tiny magnitudes,
non-contiguous, Fortran and read-only arrays, sparse matrices of every
format, pandas objects with odd indexes, y and weights of the wrong length --
and requires of every call one of two outcomes:

- success, with outputs of the documented shapes and dtypes and finite
  values (and success is *required* where the input is valid);
- a ValueError or TypeError whose message names the offending argument (and
  the offending sequence, where there is one).

Anything else -- another exception type, a RuntimeWarning (the suite turns
them into errors), a non-finite output, a crash or a hang -- fails.

Examples are derandomized (a fixed seed: the same inputs on every run). The
default count, ``SKRNN_FUZZ_EXAMPLES=60`` per test, keeps the fuzz tests
within about a minute and a half on 2 cores (about 3000 examples in total).
For a release check run a longer campaign, e.g.::

    SKRNN_FUZZ_EXAMPLES=2000 pytest tests -k fuzz

and ``SKRNN_FUZZ_SEED=<n>`` draws another fixed stream of examples.
"""

import os
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _helpers import N_FEATURES
from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
)

N_EXAMPLES = int(os.environ.get("SKRNN_FUZZ_EXAMPLES", "60"))


FUZZ_SEED = int(os.environ.get("SKRNN_FUZZ_SEED", "0"))


FUZZ_TINY = dict(hidden_layer_sizes=(2,), max_iter=1, random_state=0)


FUZZ_ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor]


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
            check_diverged(exc)
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


def assert_finite(array):
    array = np.asarray(array, dtype=np.float64)
    assert np.isfinite(array).all(), array


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


def good_y(Estimator, lengths, rng):
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
    y = good_y(Estimator, lengths, rng)
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


def check_predictions(est, X, n, lengths):
    predicted = est.predict(X)
    if isinstance(est, SequenceTagger):
        assert len(predicted) == n
        for p, t in zip(predicted, lengths):
            assert p.shape == (t,) and set(p) <= set(est.classes_)
    elif isinstance(est, SequenceRegressor):
        assert predicted.dtype == object and predicted.shape == (n,)
        for p, t in zip(predicted, lengths):
            assert p.shape[0] == t and p.dtype.kind == "f"
            assert_finite(p)
        return
    elif isinstance(est, RNNClassifier):
        assert predicted.shape == (n,) and set(predicted) <= set(est.classes_)
    else:
        assert predicted.shape[0] == n and predicted.dtype.kind == "f"
        assert_finite(predicted)
        return
    proba = est.predict_proba(X)
    if isinstance(est, SequenceTagger):
        assert [p.shape for p in proba] == [(t, len(est.classes_)) for t in lengths]
        proba = np.concatenate(proba)
    else:
        assert proba.shape == (n, len(est.classes_))
    assert proba.dtype.kind == "f"
    assert_finite(proba)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def clean_sequences(n=4, lengths=(3, 2, 4, 1)):
    rng = np.random.default_rng(1)
    return [rng.standard_normal((t, N_FEATURES)) for t in lengths[:n]]


_FITTED = {}


def fuzz_fitted(Estimator):
    """One model per estimator fitted on clean data, shared by predict tests."""
    if Estimator not in _FITTED:
        X = clean_sequences()
        y = good_y(Estimator, [len(x) for x in X], np.random.default_rng(2))
        _FITTED[Estimator] = Estimator(**FUZZ_TINY).fit(X, y)
    return _FITTED[Estimator]


def fit_valid(case, y_valid, w_valid):
    verdicts = [case.valid, y_valid, w_valid]
    if False in verdicts:
        return False
    return "maybe" if "maybe" in verdicts else True


def check_diverged(exc):
    message = str(exc)
    assert "diverged" in message or "non-finite" in message, message
    assert "StandardScaler" in message or "preprocessed" in message, message


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
        "read-only": lambda: read_only(x),
        "strided": lambda: np.repeat(x, 2, axis=0)[::2],
        "huge": lambda: 1e300 * x, "sparse": lambda: sp.csr_matrix(x),
        "list": lambda: x.tolist(),
    }[kind]()
    if kind in ("nan", "inf") and T == 0:
        valid = None  # empty anyway
    return series, T, valid, kind


def read_only(x):
    x = x.copy()
    x.setflags(write=False)
    return x


def clean_data(Estimator):
    X = clean_sequences()
    return X, good_y(Estimator, [len(x) for x in X], np.random.default_rng(0))


# Nothing here converges, batch sizes get clipped, column vectors get raveled:
# those warnings are documented behaviour, not what is being tested.
FUZZ_WARNINGS = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning"),
    pytest.mark.filterwarnings("ignore:Got batch_size:UserWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning"),
]


def fuzz_warnings(test):
    """The warning filters of the fuzz tests and their regressions."""
    for mark in FUZZ_WARNINGS:
        test = mark(test)
    return test
