"""Ragged-aware preprocessing: per-time-step transformers, sliding windows, and
conversions from other libraries' layouts (long tables, channel-first arrays)."""

import sys
from collections.abc import Mapping
from itertools import chain
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import check_array, get_tags
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._sequences import (
    Sequences,
    as_step_array,
    check_sequences,
    float_dtype,
    is_dataframe,
    nested_arrays,
    offsets_from_lengths,
    panel_arrays,
    panel_layout,
    table_form,
    type_name,
)

__all__ = [
    "SlidingWindows",
    "StepTransformer",
    "add_static",
    "channels_last",
    "from_long",
    "sliding_windows",
]


# --------------------------------------------------------------------------
# StepTransformer


class StepTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Apply a scikit-learn transformer to every time step of ragged sequences.

    The time steps of all sequences are stacked into one table whose rows are
    the steps; a clone of `transformer` is fitted on that table, and
    :meth:`transform` transforms it in one call and splits the result back
    into one array (or sparse matrix) per sequence. A step is thus treated as
    a sample: a scaler learns its statistics over all steps of all sequences,
    an encoder its categories over all tokens.

    Parameters
    ----------
    transformer : estimator object
        A transformer with ``fit`` and ``transform`` that maps each row to one
        row, e.g. :class:`~sklearn.preprocessing.StandardScaler`,
        :class:`~sklearn.impute.SimpleImputer`,
        :class:`~sklearn.preprocessing.OneHotEncoder` or
        :class:`~sklearn.feature_extraction.DictVectorizer`. It is cloned in
        :meth:`fit`; its parameters are reachable as
        ``transformer__<name>``, e.g. in a grid search.

    Attributes
    ----------
    transformer_ : estimator object
        The fitted clone of `transformer`.
    n_features_in_ : int
        Features per time step seen in fit, when `transformer_` defines it
        (DictVectorizer, for one, does not).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in fit, when the sequences were DataFrames.

    See Also
    --------
    SlidingWindows : Cut a single long series into windows for forecasting.
    sklearn.preprocessing.FunctionTransformer : For a stateless function,
        which can already be applied sequence by sequence.

    Notes
    -----
    X may be

    - numeric sequences in any form the skrnn estimators accept: a list of
      (T_i, n_features) or (T_i,) arrays, a 3-D array, a 2-D array or
      DataFrame (n_samples, T) of univariate sequences, a nested table
      (cells of 1-D series, one column per channel), or a list of
      scipy.sparse matrices. Real numbers become float64 unless every
      sequence is float32, which stays float32. NaN and infinity are *not*
      rejected here: the transformer decides (SimpleImputer accepts NaN);
    - a DataFrame with an (instance, time) MultiIndex (a panel): its rows,
      ordered instance by instance and by time as the estimators read them,
      reach the transformer as one DataFrame, column names included;
    - a list of sequences of strings or other objects, e.g. the words of
      sentences as 1-D string arrays: each step is one row with one feature
      (a 2-D object array gives one row with n_features features);
    - a list of sequences of dicts, one dict per step, for DictVectorizer;
    - a list of DataFrames, stacked into one DataFrame so that column names
      reach the transformer (e.g. a ColumnTransformer selecting by name).

    Zero-length sequences are allowed: they contribute no rows to fit and
    come out of transform as (0, n_output_features) arrays.

    The output of :meth:`transform` is always a list, one item per sequence:
    ndarrays of shape (T_i, n_output_features), or CSR matrices when the
    transformer produces sparse output. Both are accepted by the skrnn
    estimators, so StepTransformer works as the first step of a Pipeline.
    `y` is ignored: the transformer is fitted on the steps alone.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skrnn.preprocessing import StepTransformer
    >>> X = [np.array([[0.0], [2.0]]), np.array([[4.0], [6.0], [8.0]])]
    >>> steps = StepTransformer(StandardScaler()).fit(X)
    >>> steps.transformer_.mean_
    array([4.])
    >>> [x.ravel().round(3).tolist() for x in steps.transform(X)]
    [[-1.414, -0.707], [0.0, 0.707, 1.414]]

    One-hot encoding words, one sequence per sentence:

    >>> from sklearn.preprocessing import OneHotEncoder
    >>> words = [np.array(["the", "cat"]), np.array(["a", "cat", "sat"])]
    >>> onehot = StepTransformer(OneHotEncoder(sparse_output=False))
    >>> [x.shape for x in onehot.fit_transform(words)]
    [(2, 4), (3, 4)]
    >>> onehot.get_feature_names_out().tolist()
    ['x0_a', 'x0_cat', 'x0_sat', 'x0_the']
    """

    _parameter_constraints: dict = {
        "transformer": [HasMethods(["fit", "transform"])],
    }

    def __init__(self, transformer):
        self.transformer = transformer

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit a clone of `transformer` on all time steps of all sequences.

        Parameters
        ----------
        X : list of array-like, sparse matrices, string arrays or dict lists
            The sequences; see the Notes of the class for every accepted form.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        steps, offsets = _stack_steps(X)
        self.transformer_ = clone(self.transformer)
        _call_on_steps(self.transformer_.fit, steps, offsets, "fit")
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit to all steps and transform them, with one call of the transformer.

        Parameters
        ----------
        X : list of array-like, sparse matrices, string arrays or dict lists
            The sequences; see the Notes of the class for every accepted form.
        y : None
            Ignored.

        Returns
        -------
        Xt : list of ndarray of shape (T_i, n_output_features) or of csr_matrix
            The transformed steps of each sequence.
        """
        steps, offsets = _stack_steps(X)
        self.transformer_ = clone(self.transformer)
        fit_transform = getattr(self.transformer_, "fit_transform", None)
        if fit_transform is None:
            _call_on_steps(self.transformer_.fit, steps, offsets, "fit")
            fit_transform = self.transformer_.transform
        out = _call_on_steps(fit_transform, steps, offsets, "fit_transform")
        return _split_steps(out, offsets, self.transformer_)

    def transform(self, X):
        """Transform every time step of every sequence, in one call.

        Parameters
        ----------
        X : list of array-like, sparse matrices, string arrays or dict lists
            The sequences, in a form of the kind seen in fit.

        Returns
        -------
        Xt : list of ndarray of shape (T_i, n_output_features) or of csr_matrix
            The transformed steps of each sequence.
        """
        check_is_fitted(self)
        steps, offsets = _stack_steps(X)
        out = _call_on_steps(self.transformer_.transform, steps, offsets, "transform")
        return _split_steps(out, offsets, self.transformer_)

    def _inner_has(name):
        def check(self):
            inner = getattr(self, "transformer_", self.transformer)
            return hasattr(inner, name)

        return check

    @available_if(_inner_has("inverse_transform"))
    def inverse_transform(self, X):
        """Map transformed sequences back with the transformer's inverse_transform.

        Parameters
        ----------
        X : list of ndarray of shape (T_i, n_output_features) or of sparse matrices
            Transformed sequences, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : list
            One item per sequence: a (T_i, n_features) array, or a list of
            dicts for DictVectorizer.
        """
        check_is_fitted(self)
        steps, offsets = _stack_steps(X)
        out = _call_on_steps(
            self.transformer_.inverse_transform, steps, offsets, "inverse_transform"
        )
        return _split_steps(out, offsets, self.transformer_)

    @available_if(_inner_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Names of the output features of every time step.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, passed to the transformer's
            ``get_feature_names_out``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The transformer's output feature names.
        """
        check_is_fitted(self)
        return self.transformer_.get_feature_names_out(input_features)

    del _inner_has

    @property
    def n_features_in_(self):
        """int: features per time step seen in fit (from `transformer_`)."""
        # AttributeError when unfitted or undefined, so hasattr() tells.
        return self.transformer_.n_features_in_

    @property
    def feature_names_in_(self):
        """ndarray of str: column names seen in fit (from `transformer_`)."""
        return self.transformer_.feature_names_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            inner = get_tags(self.transformer)
        except AttributeError:
            # Not an estimator; fit will reject it with a clear message.
            return tags
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.string = inner.input_tags.string
        tags.input_tags.dict = inner.input_tags.dict
        if inner.transformer_tags is not None:
            tags.transformer_tags = inner.transformer_tags
        return tags


def _stack_steps(X):
    """Stack every time step of X into one table; return (steps, offsets).

    steps is what the inner transformer sees: a 2-D ndarray (float for real
    numbers, else as given), a CSR matrix, a DataFrame or a list of dicts.
    offsets (int64, n_sequences + 1) delimits each sequence's rows.
    """
    if sp.issparse(X):
        raise TypeError(
            "A single scipy.sparse matrix is not accepted as X: its rows would be "
            "ambiguous between sequences and time steps. Pass a list of sparse "
            "matrices, one (T_i, n_features) matrix per sequence."
        )
    form = table_form(X)
    if form == "panel":
        # The panel's rows, reordered instance by instance: a DataFrame, so
        # that column names reach the transformer.
        order, lengths = panel_layout(X)
        steps = X if order is None else X.iloc[order]
        return steps.reset_index(drop=True), offsets_from_lengths(lengths)
    if form == "nested":
        X = nested_arrays(X)
    elif is_dataframe(X):
        X = X.to_numpy()
    if not isinstance(X, (list, tuple)):
        if isinstance(X, (str, bytes, Mapping)) or not hasattr(X, "__len__"):
            raise TypeError(
                f"X must be a list of sequences or an array; got {type_name(X)}."
            )
        array = np.asarray(X)
        if array.ndim == 3:
            n, t, f = array.shape
            return _as_steps_array(array.reshape(n * t, f)), _regular_offsets(n, t)
        if array.ndim == 2:
            n, t = array.shape
            return _as_steps_array(array.reshape(n * t, 1)), _regular_offsets(n, t)
        if array.ndim == 1 and array.dtype == object:
            X = list(array)
        else:
            raise ValueError(
                f"X must be a list of sequences, a 2-D array (n_samples, T) or a "
                f"3-D array (n_samples, T, n_features); got an array with "
                f"{array.ndim} dimension(s)."
            )
    if len(X) == 0:
        raise ValueError("X is empty (0 sequences); at least one is required.")

    kinds = [_sequence_kind(x) for x in X]
    main = next((k for k in kinds if k != "empty"), "empty")
    for i, kind in enumerate(kinds):
        if kind not in (main, "empty"):
            raise ValueError(
                f"Sequence {i} holds {_KIND_NAMES[kind]}, but the first "
                f"non-empty sequence holds {_KIND_NAMES[main]}; every sequence "
                "must have steps of the same kind."
            )
    lengths = np.fromiter(
        (_n_steps(x, k) for x, k in zip(X, kinds)), dtype=np.int64, count=len(X)
    )
    offsets = offsets_from_lengths(lengths)
    if main == "dicts":
        return _stack_dicts(X, kinds), offsets
    if main == "sparse":
        return _stack_sparse(X, kinds), offsets
    if main == "frame":
        return _stack_frames(X, kinds), offsets
    return _stack_arrays(X, kinds), offsets


_KIND_NAMES = {
    "array": "an array of steps",
    "sparse": "a scipy.sparse matrix",
    "dicts": "dicts (one per step)",
    "frame": "a DataFrame",
    "empty": "no steps",
}


def _sequence_kind(x):
    if sp.issparse(x):
        return "sparse" if x.shape[0] else "empty"
    if is_dataframe(x):
        return "frame" if x.shape[0] else "empty"
    if not _is_sequence_like(x):
        # A bare number, word or dict is a step, not a sequence: _stack_arrays
        # reports it with the sequence's index.
        return "array"
    if len(x) == 0:
        return "empty"
    # iter, not x[0]: a pandas Series would read 0 as an index label.
    if isinstance(next(iter(x)), Mapping):
        return "dicts"
    return "array"


def _is_sequence_like(x):
    return (
        hasattr(x, "__len__")
        and not isinstance(x, (Mapping, str, bytes))
        and getattr(x, "ndim", 1) != 0
    )


def _n_steps(x, kind):
    if kind in ("sparse", "frame"):
        return x.shape[0]
    if kind == "empty" or not _is_sequence_like(x):
        return 0
    return len(x)


def _stack_dicts(X, kinds):
    steps = list(chain.from_iterable(x for x, k in zip(X, kinds) if k == "dicts"))
    if not all(isinstance(step, Mapping) for step in steps):
        for i, x in enumerate(X):
            for t, step in enumerate(x):
                if not isinstance(step, Mapping):
                    raise ValueError(
                        f"Sequence {i}, step {t} is {type_name(step)}, not a "
                        "dict; every step must be a dict when the first is."
                    )
    return steps


def _stack_sparse(X, kinds):
    blocks = [x for x, k in zip(X, kinds) if k == "sparse"]
    n_features = blocks[0].shape[1]
    for i, (x, kind) in enumerate(zip(X, kinds)):
        if kind == "sparse" and x.shape[1] != n_features:
            raise ValueError(
                f"Sequence {i} has shape {x.shape}, but the first non-empty "
                f"sequence has {n_features} features per step; every sequence "
                "needs the same number of features."
            )
    dtypes = {x.dtype for x in blocks}
    dtype = float_dtype(dtypes) if all(d.kind in "fiub" for d in dtypes) else None
    return sp.vstack(blocks, format="csr", dtype=dtype)


def _stack_frames(X, kinds):
    pd = sys.modules["pandas"]
    frames = [x for x, k in zip(X, kinds) if k == "frame"]
    columns = frames[0].columns
    for i, (x, kind) in enumerate(zip(X, kinds)):
        if kind == "frame" and not x.columns.equals(columns):
            raise ValueError(
                f"Sequence {i} has columns {list(x.columns)}, but the first "
                f"non-empty sequence has {list(columns)}; every sequence needs "
                "the same columns."
            )
    return pd.concat(frames, ignore_index=True)


def _stack_arrays(X, kinds):
    arrays = []
    n_features = None
    for i, x in enumerate(X):
        if kinds[i] == "empty":
            continue
        a = as_step_array(x, i)
        if n_features is None:
            n_features = a.shape[1]
        elif a.shape[1] != n_features:
            raise ValueError(
                f"Sequence {i} has {a.shape[1]} features per time step, but the "
                f"first non-empty sequence has {n_features}; every sequence "
                "needs the same number of features."
            )
        arrays.append(a)
    if not arrays:
        # Every sequence is empty: a (0, 0) table lets the transformer decide.
        return np.empty((0, 0))
    return _as_steps_array(np.concatenate(_common_dtype(arrays), axis=0))


def _common_dtype(arrays):
    dtypes = {a.dtype for a in arrays}
    if all(d.kind in "fiub" for d in dtypes):
        dtype = float_dtype(dtypes)
        return [a.astype(dtype, copy=False) for a in arrays]
    if all(d.kind == "U" for d in dtypes) or all(d.kind == "S" for d in dtypes):
        return arrays
    # Mixed strings, numbers and objects: let the transformer see them as they are.
    return [a.astype(object, copy=False) for a in arrays]


def _as_steps_array(array):
    """The float policy for real numbers; other data is passed as given."""
    if array.dtype.kind in "fiub":
        return np.ascontiguousarray(array, dtype=float_dtype({array.dtype}))
    return array


def _regular_offsets(n_sequences, length):
    return np.arange(n_sequences + 1, dtype=np.int64) * np.int64(length)


def _call_on_steps(method, steps, offsets, what):
    """Call the inner transformer's method on the stacked steps."""
    n_steps = int(offsets[-1])
    if n_steps:
        return method(steps)
    try:
        return method(steps)
    except ValueError as exc:
        n = offsets.shape[0] - 1
        which = "sequence 0 has" if n == 1 else f"sequences 0 to {n - 1} all have"
        raise ValueError(
            f"X has no time steps ({which} length 0), and the transformer's "
            f"{what} cannot handle an empty input: {exc}"
        ) from exc


def _split_steps(out, offsets, transformer):
    """Split the transformer's output rows back into one item per sequence."""
    n_steps = int(offsets[-1])
    n_rows = len(out) if isinstance(out, list) else out.shape[0]
    if n_rows != n_steps:
        raise ValueError(
            f"{type(transformer).__name__} returned {n_rows} rows for {n_steps} "
            "time steps; StepTransformer needs a transformer that maps every "
            "row to one row."
        )
    bounds = offsets.tolist()
    pairs = zip(bounds[:-1], bounds[1:])
    if sp.issparse(out):
        return _split_csr(out.tocsr(), bounds)
    if isinstance(out, np.ndarray) and out.ndim == 2:
        return Sequences(out, offsets).to_list()
    if hasattr(out, "iloc"):
        return [out.iloc[a:b] for a, b in pairs]
    return [out[a:b] for a, b in pairs]


def _split_csr(matrix, bounds):
    """Row blocks of a CSR matrix as CSR matrices sharing its buffers.

    Building each block from slices of indptr/indices/data takes half the
    time of ``matrix[a:b]``, which matters with one block per sentence.
    """
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    n_columns = matrix.shape[1]
    make = type(matrix)
    blocks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        start, stop = indptr[a], indptr[b]
        blocks.append(
            make(
                (data[start:stop], indices[start:stop], indptr[a : b + 1] - start),
                shape=(b - a, n_columns),
                copy=False,
            )
        )
    return blocks


def _is_pandas(X):
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(X, (pd.DataFrame, pd.Series))


# --------------------------------------------------------------------------
# Other libraries' layouts


@validate_params(
    {
        "df": [HasMethods(["set_index"])],
        "id": "no_validation",
        "time": "no_validation",
        "features": "no_validation",
        "output": [StrOptions({"panel", "list"})],
    },
    prefer_skip_nested_validation=True,
)
def from_long(df, id, time, features=None, *, output="panel"):
    """Convert a long (tidy) table, one row per instance and time, to sequences.

    Parameters
    ----------
    df : pandas.DataFrame
        The table: a column of instance labels, a column of times, and the
        feature columns. Rows may come in any order.
    id : label
        The column naming each row's instance (sequence).
    time : label
        The column of each row's time; within an instance, rows are ordered
        by it (a stable sort), and each time occurs once.
    features : label, list of labels or None, default=None
        The feature columns, in this order; None takes every column but `id`
        and `time`.
    output : {"panel", "list"}, default="panel"
        "panel" returns a DataFrame indexed by an (id, time) MultiIndex, the
        form the skrnn estimators read with the column names as
        ``feature_names_in_``; "list" returns one (T_i, n_features) array per
        instance.

    Returns
    -------
    X : DataFrame or list of ndarray of shape (T_i, n_features)
        The sequences, instances in the order of their first row in `df`
        (``df[id].unique()``), each in time order.

    Raises
    ------
    ValueError
        If `id`, `time` or a feature is not a column of `df`, if a feature
        column holds no numbers, or if an instance has two rows at one time.

    See Also
    --------
    channels_last : Convert channel-first arrays (aeon, sktime numpy3D).

    Examples
    --------
    >>> import pandas as pd
    >>> from skrnn.preprocessing import from_long
    >>> df = pd.DataFrame({"id": ["b", "a", "b", "a", "b"],
    ...                    "t": [1, 0, 0, 1, 2],
    ...                    "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> [x.ravel().tolist() for x in from_long(df, "id", "t", output="list")]
    [[3.0, 1.0, 5.0], [2.0, 4.0]]
    >>> from_long(df, "id", "t").index.tolist()[:3]
    [('b', 0), ('b', 1), ('b', 2)]
    """
    for what, name in (("id", id), ("time", time)):
        if name not in df.columns:
            raise ValueError(
                f"{what}={name!r} is not a column of df; its columns are "
                f"{list(df.columns)}.")
    if features is None:
        features = [c for c in df.columns if c not in (id, time)]
    elif not isinstance(features, (list, tuple)):
        features = [features]
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise ValueError(
            f"features {missing} are not columns of df; its columns are "
            f"{list(df.columns)}.")
    panel = df.set_index([id, time])[list(features)]
    order, _ = panel_layout(panel, "df")
    if order is not None:
        panel = panel.iloc[order]
    if output == "list":
        return panel_arrays(panel, "df")
    return panel


def channels_last(X):
    """Convert channel-first sequences (aeon, sktime numpy3D) to skrnn's layout.

    skrnn reads a 3-D array as (n_samples, T, n_features), time before
    features; aeon and sktime's numpy3D put the channels first. A
    channel-first array passed as is would be read with its channels as time
    steps, which no check can tell from short sequences of many features.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_channels, T), or list of ndarray of \
            shape (n_channels, T_i)
        Channel-first sequences: one 3-D array, or one 2-D array per sequence
        (a 1-D object array of them is a list too).

    Returns
    -------
    Xt : ndarray of shape (n_samples, T, n_channels), or list of ndarray of \
            shape (T_i, n_channels)
        The same sequences, time first: transposed views, not copies.

    Raises
    ------
    ValueError
        If X is not 3-D, a sequence is not 2-D, or the sequences differ in
        their number of channels.

    See Also
    --------
    from_long : Convert a long table with id and time columns.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.preprocessing import channels_last
    >>> X = np.arange(12.0).reshape(2, 2, 3)  # 2 sequences, 2 channels, 3 steps
    >>> channels_last(X)[0]
    array([[0., 3.],
           [1., 4.],
           [2., 5.]])
    >>> [x.shape for x in channels_last([np.zeros((2, 5)), np.zeros((2, 4))])]
    [(5, 2), (4, 2)]
    """
    if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype == object:
        X = list(X)
    if not isinstance(X, (list, tuple)):
        array = np.asarray(X)
        if array.ndim != 3:
            raise ValueError(
                "channels_last needs a 3-D array (n_samples, n_channels, T) or "
                f"a list of (n_channels, T_i) arrays; got an array of shape "
                f"{array.shape}. A 2-D (n_samples, T) array is univariate and "
                "needs no conversion.")
        return np.swapaxes(array, 1, 2)
    if len(X) == 0:
        raise ValueError("X is empty (0 sequences); at least one is required.")
    out = []
    for i, x in enumerate(X):
        a = np.asarray(x)
        if a.ndim != 2:
            raise ValueError(
                f"Sequence {i} has shape {a.shape}; channel-first sequences are "
                "(n_channels, T_i) arrays.")
        if out and a.shape[0] != out[0].shape[1]:
            raise ValueError(
                f"Sequence {i} has {a.shape[0]} channels, but sequence 0 has "
                f"{out[0].shape[1]}; every sequence needs the same channels.")
        out.append(a.T)
    return out


# --------------------------------------------------------------------------
# Sliding windows

_WINDOW_CONSTRAINTS = {
    "window": [Interval(Integral, 1, None, closed="left"), StrOptions({"expanding"})],
    "horizon": [Interval(Integral, 1, None, closed="left")],
    "step": [Interval(Integral, 1, None, closed="left")],
    "target": "no_validation",
    "min_window": [Interval(Integral, 1, None, closed="left"), None],
}


@validate_params(
    {"series": ["array-like"], **_WINDOW_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def sliding_windows(series, window, *, horizon=1, step=1, target=None, min_window=None):
    """Cut a series into input windows and the value `horizon` steps after each.

    Window ``i`` covers rows ``[s, s + window)`` with ``s = i * step``, and its
    target is row ``s + window - 1 + horizon``: every target lies strictly
    after the last row of its window, so no window sees its own target.
    Windows are made while their target is inside the series.

    Parameters
    ----------
    series : array-like of shape (T,) or (T, n_features), or DataFrame or Series
        The series, oldest row first. Rows are time steps; values must be
        finite numbers. float32 stays float32, anything else becomes float64.
    window : int >= 1 or "expanding"
        An int gives fixed windows of that many rows. "expanding" gives
        windows that all start at row 0 and end ``step`` rows apart, the first
        with `min_window` rows.
    horizon : int >= 1, default=1
        How many rows after a window's last row its target lies: 1 forecasts
        the next row.
    step : int >= 1, default=1
        Rows between the ends of consecutive windows.
    target : int, label, list of them, or None, default=None
        The target columns: positions for arrays, column labels for a
        DataFrame. None takes every column. The windows always hold every
        column.
    min_window : int >= 1 or None, default=None
        Rows of the first expanding window (None means 1). Only valid with
        ``window="expanding"``.

    Returns
    -------
    X : ndarray of shape (n_windows, window, n_features) or list of ndarray
        The windows: one 3-D array for fixed windows (a copy of the data);
        for expanding windows a list of (T_i, n_features) arrays, views of one
        private copy of the series. A 1-D series has ``n_features == 1``.
    y : ndarray of shape (n_windows,) or (n_windows, n_targets)
        The targets: 1-D for a 1-D series or a single (non-list) `target`.
    target_index : ndarray of shape (n_windows,) or pandas.Index
        The row of each target: positions for arrays, index labels (e.g.
        dates) for a DataFrame or Series.

    Raises
    ------
    ValueError
        If the series has fewer than ``window + horizon`` rows
        (``min_window + horizon`` for expanding windows), contains NaN or an
        infinite value (the message gives its row and column), or if `target`
        names no column.

    See Also
    --------
    SlidingWindows : The same as a transformer, with windows for prediction.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.preprocessing import sliding_windows
    >>> X, y, target_index = sliding_windows(np.arange(6.0), 3)
    >>> X[:, :, 0]
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])
    >>> y, target_index
    (array([3., 4., 5.]), array([3, 4, 5]))
    >>> X, y, _ = sliding_windows(np.arange(6.0), "expanding", min_window=4)
    >>> [x.ravel().tolist() for x in X], y
    ([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0, 4.0]], array([4., 5.]))
    """
    _check_min_window(window, min_window)
    data, index, columns, one_d = _check_series(series)
    ends = _training_ends(data.shape[0], window, horizon, step, min_window)
    targets = ends + horizon
    cols, y_1d = _target_columns(target, columns, data.shape[1], one_d)
    y = data[targets][:, cols[0]] if y_1d else data[targets][:, cols]
    target_index = targets if index is None else index[targets]
    return _windows(data, ends, window, min_window), y, target_index


class SlidingWindows(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Cut a series into windows for forecasting: training pairs and final windows.

    :meth:`make_xy` gives the training windows and their targets, as
    :func:`sliding_windows` does. :meth:`transform` gives the windows whose
    targets lie *after* the end of the series, the inputs of a forecast.

    Parameters
    ----------
    window : int >= 1 or "expanding"
        An int gives fixed windows of that many rows; "expanding" gives
        windows that all start at row 0.
    horizon : int >= 1, default=1
        How many rows after a window's last row its target lies.
    step : int >= 1, default=1
        Rows between the ends of consecutive windows.
    target : int, label, list of them, or None, default=None
        The target columns of :meth:`make_xy` (positions, or DataFrame column
        labels); None takes every column.
    min_window : int >= 1 or None, default=None
        Rows of the shortest expanding window (None means 1); only valid with
        ``window="expanding"``.

    Attributes
    ----------
    n_features_in_ : int
        Columns of the series seen in fit (1 for a 1-D series).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when fitted on a DataFrame with string column names.

    See Also
    --------
    sliding_windows : The function behind :meth:`make_xy`.
    StepTransformer : Scale or encode every time step of the windows.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.preprocessing import SlidingWindows
    >>> series = np.arange(8.0)
    >>> windows = SlidingWindows(3, horizon=2).fit(series)
    >>> X, y = windows.make_xy(series)
    >>> X.shape, y
    ((4, 3, 1), array([4., 5., 6., 7.]))

    The windows whose targets, rows 8 and 9, lie beyond the series:

    >>> windows.transform(series)[:, :, 0]
    array([[4., 5., 6.],
           [5., 6., 7.]])
    """

    _parameter_constraints: dict = _WINDOW_CONSTRAINTS

    def __init__(self, window, horizon=1, step=1, target=None, min_window=None):
        self.window = window
        self.horizon = horizon
        self.step = step
        self.target = target
        self.min_window = min_window

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, series, y=None):
        """Validate the parameters and record the series' columns.

        Parameters
        ----------
        series : array-like of shape (T,) or (T, n_features), or DataFrame
            The series, oldest row first.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        _check_min_window(self.window, self.min_window)
        data, _, columns, _ = _check_series(series)
        self.n_features_in_ = data.shape[1]
        if columns is not None and all(isinstance(c, str) for c in columns):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def transform(self, series):
        """The windows whose targets lie after the end of the series.

        These are the windows ending in the last `horizon` rows (every
        `step`-th, counted back from the last row): the last one ends at the
        last row and forecasts row ``T - 1 + horizon``.

        Parameters
        ----------
        series : array-like of shape (T,) or (T, n_features), or DataFrame
            The series, oldest row first, with the columns seen in fit.

        Returns
        -------
        X : ndarray of shape (n_windows, window, n_features) or list of ndarray
            The windows, oldest first; a list for expanding windows.

        Raises
        ------
        ValueError
            If the series is shorter than one window, or its columns differ
            from those seen in fit.
        """
        check_is_fitted(self)
        data, _, columns, _ = _check_series(series)
        self._check_columns(data, columns)
        ends = _forecast_ends(
            data.shape[0], self.window, self.horizon, self.step, self.min_window
        )
        return _windows(data, ends, self.window, self.min_window)

    def make_xy(self, series):
        """Training windows and their targets, as :func:`sliding_windows` gives.

        Needs no prior :meth:`fit`; if the transformer is fitted, the series
        must have the columns seen in fit.

        Parameters
        ----------
        series : array-like of shape (T,) or (T, n_features), or DataFrame
            The series, oldest row first.

        Returns
        -------
        X : ndarray of shape (n_windows, window, n_features) or list of ndarray
            The windows; a list for expanding windows.
        y : ndarray of shape (n_windows,) or (n_windows, n_targets)
            The target of each window.
        """
        self._validate_params()
        if hasattr(self, "n_features_in_"):
            data, _, columns, _ = _check_series(series)
            self._check_columns(data, columns)
        X, y, _ = sliding_windows(
            series,
            self.window,
            horizon=self.horizon,
            step=self.step,
            target=self.target,
            min_window=self.min_window,
        )
        return X, y

    def _check_columns(self, data, columns):
        if data.shape[1] != self.n_features_in_:
            raise ValueError(
                f"series has {data.shape[1]} columns, but SlidingWindows was "
                f"fitted on {self.n_features_in_}."
            )
        names = getattr(self, "feature_names_in_", None)
        if names is not None and columns is not None and list(columns) != list(names):
            raise ValueError(
                f"series has columns {list(columns)}, but SlidingWindows was "
                f"fitted on {list(names)}."
            )


def _check_min_window(window, min_window):
    if min_window is not None and window != "expanding":
        raise ValueError(
            f"min_window={min_window} only applies to window='expanding'; got "
            f"window={window!r}."
        )


def _check_series(series):
    """Return (data, index, columns, one_d) with data a private C float copy."""
    index = columns = None
    if _is_pandas(series):
        index = series.index
        if series.ndim == 2:
            columns = series.columns
    values = np.asarray(series) if not is_dataframe(series) else series
    one_d = np.ndim(values) == 1
    if one_d:
        values = np.asarray(values).reshape(-1, 1)
    elif np.ndim(values) != 2:
        raise ValueError(
            "series must be 1-D (T,) or 2-D (T, n_features), rows being time "
            f"steps; got {np.ndim(values)} dimensions."
        )
    if columns is not None and not columns.is_unique:
        # Checked here, not left to check_array: scikit-learn < 1.7 accepts
        # duplicated names, and a target name must pick out one column.
        raise ValueError(
            "series needs unique column names; got duplicated "
            f"{list(columns[columns.duplicated()])}."
        )
    if np.iscomplexobj(values):
        raise ValueError("series holds complex data; pass real features, e.g. "
                         "its real and imaginary parts as two columns.")
    if len(values) == 0:
        # check_array's "Found array with 0 sample(s)" does not name series.
        raise ValueError("series is empty (0 rows); windows need at least "
                         "window + horizon rows.")
    data = check_array(
        values,
        dtype=(np.float64, np.float32),
        order="C",
        copy=True,
        ensure_all_finite=False,
        input_name="series",
    )
    finite = np.isfinite(data)
    if not finite.all():
        row, col = divmod(int(np.argmin(finite.reshape(-1))), data.shape[1])
        kind = "NaN" if np.isnan(data[row, col]) else "an infinite value"
        where = f"row {row}"
        if index is not None:
            where += f" (index {index[row]!r})"
        where += f", column {col}" if columns is None else f", column {columns[col]!r}"
        raise ValueError(
            f"series contains {kind} at {where}; fill or drop missing values "
            "before making windows."
        )
    return data, index, columns, one_d


def _too_short(n_rows, needed, what):
    return ValueError(
        f"series has {n_rows} rows, but {what} need at least {needed} rows."
    )


def _training_ends(n_rows, window, horizon, step, min_window):
    """Last rows of the training windows: their targets ``end + horizon`` exist."""
    first = (min_window or 1) - 1 if window == "expanding" else window - 1
    needed = first + 1 + horizon
    if n_rows < needed:
        size = (
            f"min_window={min_window or 1}"
            if window == "expanding"
            else f"window={window}"
        )
        raise _too_short(n_rows, needed, f"{size} and horizon={horizon}")
    return np.arange(first, n_rows - horizon, step, dtype=np.intp)


def _forecast_ends(n_rows, window, horizon, step, min_window):
    """Last rows of the windows whose targets lie after the series' end."""
    first = (min_window or 1) - 1 if window == "expanding" else window - 1
    if n_rows < first + 1:
        size = (
            f"min_window={min_window or 1}"
            if window == "expanding"
            else f"window={window}"
        )
        raise _too_short(n_rows, first + 1, size)
    lowest = max(first, n_rows - horizon)
    return np.arange(n_rows - 1, lowest - 1, -step, dtype=np.intp)[::-1]


def _windows(data, ends, window, min_window):
    if window == "expanding":
        return [data[: end + 1] for end in ends.tolist()]
    rows = ends[:, None] + np.arange(1 - window, 1, dtype=np.intp)
    return data[rows]


def _target_columns(target, columns, n_features, one_d):
    """Return (column positions, whether y is 1-D) for `target`."""
    if target is None:
        return list(range(n_features)), one_d
    scalar = not isinstance(target, (list, tuple, np.ndarray)) or (
        isinstance(target, np.ndarray) and target.ndim == 0
    )
    wanted = [target] if scalar else list(target)
    positions = []
    for t in wanted:
        if columns is not None:
            if t not in columns:
                raise ValueError(
                    f"target {t!r} is not a column of the DataFrame; its "
                    f"columns are {list(columns)}."
                )
            # Duplicated column names were rejected above: one position.
            positions.append(int(columns.get_loc(t)))
        elif isinstance(t, Integral) and -n_features <= t < n_features:
            positions.append(int(t) % n_features)
        else:
            raise ValueError(
                f"target {t!r} is not a column position of a series with "
                f"{n_features} column(s)."
            )
    return positions, scalar


# --------------------------------------------------------------------------
# Static covariates


def add_static(X, static):
    """Append per-sequence (static) features to every time step of each sequence.

    A recurrent network reads per-step features only; a fact about a whole
    sequence (a store's size, a sensor's site, a speaker's group) is given to
    it by repeating it along the sequence, as extra columns of every step.

    Parameters
    ----------
    X : sequences in any form the estimators accept
        A list of (T_i, n_features) or (T_i,) arrays, a 3-D array
        (n_samples, T, n_features) or a 2-D (n_samples, T) table of
        univariate sequences.
    static : array-like of shape (n_samples,) or (n_samples, n_static)
        One row of static features per sequence, numeric (encode categories
        first, e.g. with OneHotEncoder).

    Returns
    -------
    X_out : list of ndarray of shape (T_i, n_features + n_static), or \
            ndarray of shape (n_samples, T, n_features + n_static)
        The sequences with the static columns after their own; a 3-D array
        for 3-D or 2-D input, else a list.

    Raises
    ------
    ValueError
        If `static` does not have one finite row per sequence.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.preprocessing import add_static
    >>> X = [np.zeros((2, 1)), np.ones((3, 1))]
    >>> [x.tolist() for x in add_static(X, [10.0, 20.0])]
    [[[0.0, 10.0], [0.0, 10.0]], [[1.0, 20.0], [1.0, 20.0], [1.0, 20.0]]]
    """
    seqs, form = check_sequences(X, accept_sparse=False)
    if np.ndim(static) not in (1, 2):
        raise ValueError(f"static must be 1-D or 2-D, one row per sequence; got "
                         f"{np.ndim(static)} dimensions.")
    static = check_array(static, ensure_2d=False, dtype=np.float64,
                         input_name="static")
    static = static.reshape(static.shape[0], -1)
    if static.shape[0] != seqs.n_sequences:
        raise ValueError(f"static has {static.shape[0]} rows, but X has "
                         f"{seqs.n_sequences} sequences: one row per sequence.")
    dtype = np.result_type(seqs.dtype, np.float32)
    data = np.hstack([seqs.data, np.repeat(static, seqs.lengths, axis=0)]).astype(
        dtype, copy=False)
    if form in ("3d", "2d"):
        return data.reshape(seqs.n_sequences, -1, data.shape[1])
    return Sequences(data, seqs.offsets).to_list()
