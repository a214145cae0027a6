"""The Sequences container for ragged samples, and conversion of every X form to it."""

import itertools
import numbers
import operator
import sys

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ._kernels._pack import matrix_shapes, pack_arrays

__all__ = ["ArraySequences", "Sequences", "block_rows", "check_sequences",
           "check_step_features", "offsets_from_lengths"]

# C-level attribute getters, so that the checks of a list of arrays map over
# it without Python code per sequence.
_NDIM = operator.attrgetter("ndim")
_DTYPE = operator.attrgetter("dtype")
_SHAPE = operator.attrgetter("shape")
# The dtypes pack_arrays reads (native byte order: "=" equals these).
_PACKABLE = (np.dtype(np.float32), np.dtype(np.float64))

_DENSE_FORMS = (
    "a list or tuple of arrays (one (T_i, n_features) or (T_i,) array per "
    "sequence), a 3-D array (n_samples, T, n_features), or a 2-D array or "
    "pandas DataFrame (n_samples, T) of equal-length univariate sequences"
)
_ACCEPTED_FORMS = (
    f"{_DENSE_FORMS}, a nested table (a 2-D object array or DataFrame "
    "(n_samples, n_channels) of 1-D series), a pandas DataFrame with an "
    "(instance, time) MultiIndex, or a list of scipy.sparse matrices (one "
    "(T_i, n_features) matrix per sequence)"
)
_LONG_TABLE_HINT = (
    "A DataFrame without an (instance, time) MultiIndex is read as (n_samples, "
    "T): one univariate sequence per row, its columns being the time steps. "
    "If its rows are time steps of several instances (a long table with id "
    "and time columns), convert it with skrnn.preprocessing.from_long(X, "
    "id=..., time=...) or give it an (instance, time) MultiIndex with "
    "X.set_index([id, time])."
)


class Sequences:
    """n ragged sequences stored as one (sum T_i, n_features) array plus offsets.

    Keeping every time step of every sequence in one contiguous block lets the
    rest of the data path (packing, kernels, per-step transformers) work on a
    single array instead of a Python list of arrays.

    Parameters
    ----------
    data : ndarray of shape (sum T_i, n_features) or scipy.sparse.csr_matrix
        All time steps, sequence after sequence. Dense data is C-contiguous
        float32 or float64; sparse data is a canonical CSR matrix.
    offsets : ndarray of shape (n_sequences + 1,), dtype int64
        Row boundaries: sequence ``i`` is ``data[offsets[i]:offsets[i + 1]]``.
        ``offsets[0] == 0``, non-decreasing, ``offsets[-1] == data.shape[0]``.

    Attributes
    ----------
    data : ndarray of shape (n_steps, n_features) or csr_matrix
        The stored time steps (not copied).
    offsets : ndarray of shape (n_sequences + 1,)
        The stored row boundaries (not copied).

    See Also
    --------
    check_sequences : Build a Sequences from any accepted form of X.

    Notes
    -----
    The constructor stores its arguments as given: it neither copies nor
    validates them beyond cheap assertions, because it is called on hot paths
    (every minibatch subset). Use :func:`check_sequences` on user input.

    Examples
    --------
    >>> import numpy as np
    >>> seqs = Sequences.from_lengths(np.arange(10.0).reshape(5, 2), [2, 3])
    >>> seqs.lengths
    array([2, 3])
    >>> seqs[1]
    array([[4., 5.],
           [6., 7.],
           [8., 9.]])
    """

    __slots__ = ("data", "offsets")

    def __init__(self, data, offsets):
        assert data.ndim == 2, "data must be 2-D (sum T_i, n_features)"
        assert offsets.dtype == np.int64 and offsets.ndim == 1, (
            "offsets must be a 1-D int64 array"
        )
        assert offsets.shape[0] >= 1 and offsets[0] == 0, "offsets[0] must be 0"
        assert offsets[-1] == data.shape[0], "offsets[-1] must equal data.shape[0]"
        self.data = data
        self.offsets = offsets

    @classmethod
    def from_lengths(cls, data, lengths):
        """Build a Sequences from stacked data and per-sequence lengths.

        Parameters
        ----------
        data : ndarray of shape (sum T_i, n_features) or csr_matrix
            All time steps, sequence after sequence; stored as given.
        lengths : array-like of int, shape (n_sequences,)
            Number of time steps of each sequence.

        Returns
        -------
        seqs : Sequences
            The container with ``offsets = [0, cumsum(lengths)]``.

        Raises
        ------
        ValueError
            If `lengths` is not a 1-D array of non-negative integers or does not
            sum to ``data.shape[0]``.
        """
        lengths = np.asarray(lengths)
        if lengths.ndim != 1 or (lengths.size and lengths.dtype.kind not in "iu"):
            raise ValueError(
                "lengths must be a 1-D array of integers; got an array with "
                f"shape {lengths.shape} and dtype {lengths.dtype}."
            )
        if lengths.size and lengths.min() < 0:
            raise ValueError("lengths must be non-negative.")
        offsets = offsets_from_lengths(lengths)
        if offsets[-1] != data.shape[0]:
            raise ValueError(
                f"lengths sum to {offsets[-1]}, but data has {data.shape[0]} rows."
            )
        return cls(data, offsets)

    @property
    def lengths(self):
        """ndarray of shape (n_sequences,), dtype int64: time steps per sequence."""
        return np.diff(self.offsets)

    @property
    def n_sequences(self):
        """int: number of sequences."""
        return self.offsets.shape[0] - 1

    def __len__(self):
        return self.offsets.shape[0] - 1

    @property
    def n_features(self):
        """int: number of features per time step."""
        return self.data.shape[1]

    @property
    def dtype(self):
        """numpy.dtype: dtype of the stored data."""
        return self.data.dtype

    @property
    def is_sparse(self):
        """bool: whether the data is a scipy.sparse CSR matrix."""
        return sp.issparse(self.data)

    @property
    def n_steps(self):
        """int: total number of time steps (sum of lengths)."""
        return int(self.offsets[-1])

    def __getitem__(self, i):
        """Return sequence `i` (a view for dense data, a CSR slice for sparse).

        Parameters
        ----------
        i : int
            Sequence index; negative values count from the end.

        Returns
        -------
        seq : ndarray of shape (T_i, n_features) or csr_matrix

        Raises
        ------
        TypeError
            If `i` is not an integer (use :meth:`take` for several sequences).
        IndexError
            If `i` is out of range.
        """
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(
                "Sequences indices must be integers, not "
                f"{type(i).__name__}; use Sequences.take for several sequences."
            ) from None
        n = self.offsets.shape[0] - 1
        if i < 0:
            i += n
        # IndexError (not ValueError) keeps the legacy iteration protocol working.
        if not 0 <= i < n:
            raise IndexError(f"sequence index out of range for {n} sequences")
        return self.data[self.offsets[i] : self.offsets[i + 1]]

    def take(self, indices):
        """Return the sequences at `indices`, in that order, with new data.

        Parameters
        ----------
        indices : array-like of int, shape (n_selected,)
            Sequence indices (negative values count from the end; repeats are
            allowed). A boolean mask of length ``n_sequences`` is also accepted.

        Returns
        -------
        seqs : Sequences
            A new container whose data is a fresh C-contiguous array (or CSR
            matrix) holding only the selected sequences.

        Raises
        ------
        IndexError
            If an index is out of range.
        """
        n = self.offsets.shape[0] - 1
        indices = np.asarray(indices)
        if indices.dtype == bool and indices.shape == (n,):
            indices = np.flatnonzero(indices)
        indices = indices.astype(np.int64, copy=False).reshape(-1)
        if indices.size:
            if indices.min() < -n or indices.max() >= n:
                raise IndexError(f"sequence index out of range for {n} sequences")
            indices = np.where(indices < 0, indices + n, indices)
        rows, offsets = self.step_rows(indices)
        if sp.issparse(self.data):
            data = self.data[rows]
        else:
            data = np.take(self.data, rows, axis=0)
        return Sequences(data, offsets)

    def step_rows(self, indices):
        """Rows of the data holding the sequences `indices`, in that order.

        Parameters
        ----------
        indices : ndarray of int, shape (n_selected,)
            Sequence indices, non-negative (repeats are allowed).

        Returns
        -------
        rows : ndarray of shape (sum of the selected lengths,), dtype int64
            The data rows of selected sequence 0, then of 1, and so on; a
            per-step array aligned with the data is subset by them.
        offsets : ndarray of shape (n_selected + 1,), dtype int64
            The selected sequences' boundaries within ``rows``.
        """
        starts = self.offsets[indices]
        return block_rows(starts, self.offsets[indices + 1] - starts)

    def pack(self, batch):
        """The packed input of a :class:`~skrnn._packing.PackedBatch`: the
        rows ``batch.gather`` of the data."""
        if sp.issparse(self.data):
            return self.data[batch.gather]
        return np.take(self.data, batch.gather, axis=0)

    def to_list(self):
        """Return the sequences as a list of arrays (views for dense data).

        Returns
        -------
        seqs : list of ndarray of shape (T_i, n_features) or of csr_matrix
        """
        offsets = self.offsets.tolist()
        data = self.data
        return [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    def __repr__(self):
        kind = "sparse" if self.is_sparse else "dense"
        return (
            f"Sequences(n_sequences={self.n_sequences}, n_steps={self.n_steps}, "
            f"n_features={self.n_features}, dtype={self.dtype}, {kind})"
        )


class ArraySequences:
    """Sequences still held as the caller's arrays, their values unchecked.

    :func:`check_sequences` with ``defer_values=True`` returns one for a list
    of float32 or float64 arrays: their shapes are checked, but their values
    are cast, copied and checked for NaN and infinity only where a minibatch
    is packed (:meth:`pack`, in compiled code and in predict's threads), so a
    predict never copies all of X into one array first. Anything else that
    reads :attr:`data` gets the :class:`Sequences` data, made (and checked,
    with the same error) on first use.

    Parameters
    ----------
    arrays : list of ndarray of shape (T_i, n_features)
        The sequences, float32 or float64 in native byte order; held, not
        copied.
    offsets : ndarray of shape (n_sequences + 1,), dtype int64
        Their row boundaries, as :class:`Sequences`'s.
    dtype : numpy dtype
        The dtype they are cast to.
    input_name : str
        Name of the input in error messages.
    """

    __slots__ = ("arrays", "offsets", "dtype", "n_features", "_input_name",
                 "_data")

    is_sparse = False

    def __init__(self, arrays, offsets, dtype, input_name):
        self.arrays = arrays
        self.offsets = offsets
        self.dtype = np.dtype(dtype)
        self.n_features = int(arrays[0].shape[1])
        self._input_name = input_name
        self._data = None

    lengths = Sequences.lengths
    n_sequences = Sequences.n_sequences
    n_steps = Sequences.n_steps
    __len__ = Sequences.__len__

    @property
    def data(self):
        """ndarray of shape (n_steps, n_features): every step, checked."""
        return self._checked_data()

    def _checked_data(self):
        if self._data is None:
            self._data = _concatenated(self.arrays, self.offsets, self.dtype,
                                       self._input_name)
        return self._data

    def __getitem__(self, i):
        return Sequences(self.data, self.offsets)[i]

    def pack(self, batch):
        """The packed input of a :class:`~skrnn._packing.PackedBatch` (its
        sequences ``batch.order``, ``batch.batch_sizes[t]`` active at step
        t), cast, and checked as :attr:`data` is; from the layout alone, so
        the batch's gather rows are never made.

        Raises
        ------
        ValueError
            If X holds a NaN or an infinity (or a value too large for the
            dtype): the first one of all of X, so the message does not
            depend on which minibatch met one.
        """
        out = np.empty((batch.n_steps, self.n_features), dtype=self.dtype)
        if not pack_arrays(self.arrays, batch.order, batch.batch_sizes, out):
            # The error of the first bad value of all of X.
            self._checked_data()
            raise ValueError(
                f"Input {self._input_name} changed while it was read: a value "
                "that was not finite in one minibatch is finite now.")
        return out

    def __repr__(self):
        return (f"ArraySequences(n_sequences={self.n_sequences}, "
                f"n_steps={self.n_steps}, n_features={self.n_features}, "
                f"dtype={self.dtype})")


def check_sequences(X, *, input_name="X", accept_sparse=True, allow_empty=False,
                    dtype=None, defer_values=False):
    """Convert any accepted X into (Sequences, form), form naming X's layout.

    Every form of the same sequences gives an identical container: same values,
    dtype and offsets. The data is always a new array that the caller's X does
    not share, so it can be modified freely. With ``dtype=None`` float32 input
    stays float32 and any other numeric input becomes float64 (scikit-learn's
    MLP policy); a given ``dtype`` is the data's whatever the input's.

    Parameters
    ----------
    X : list, tuple, ndarray or DataFrame
        - list or tuple of (T_i, n_features) or (T_i,) array-likes, or a 1-D
          object array of them: ragged sequences (1-D ones are univariate);
        - list or tuple of scipy.sparse matrices (T_i, n_features);
        - 3-D array (n_samples, T, n_features): equal-length sequences;
        - 2-D array or DataFrame (n_samples, T): equal-length univariate
          sequences, each of shape (T, 1). A list of equal-length plain
          Python lists of numbers is a 2-D array-like to scikit-learn, and is
          read as this form too (the same sequences, with the 2-D form's
          bookkeeping: ``n_features_in_`` is T).
        - nested table: a 2-D object array or DataFrame (n_samples,
          n_channels) whose cells are 1-D series, one channel each, of equal
          length within a row (sktime's nested_univ); a single column may hold
          (T_i, n_features) arrays instead;
        - panel: a DataFrame with an (instance, time) MultiIndex, one row per
          time step and one column per feature (sktime's pd-multiindex).
          Instances come in the order of their first row; the rows of each
          are ordered by time (a stable sort), so row order does not matter.
    input_name : str, default="X"
        Name of the input used in error messages.
    accept_sparse : bool, default=True
        Whether lists of sparse matrices are accepted.
    allow_empty : bool, default=False
        Whether zero-length sequences are accepted (a tagger predicts an
        empty label array for them); X itself must still hold sequences.
    dtype : {'float32', 'float64'}, numpy dtype or None, default=None
        The dtype of the data, cast to once (an estimator's compute
        precision); None follows the input as above.
    defer_values : bool, default=False
        Whether a list of float32 or float64 arrays is returned as an
        :class:`ArraySequences`, whose values are copied and checked only
        where minibatches are packed (predict, which packs every step once).
        The container then reads the caller's arrays, and never writes them.

    Returns
    -------
    seqs : Sequences or ArraySequences
        The validated sequences.
    form : {"ragged", "3d", "2d", "nested", "panel"}
        Which form X had.

    Raises
    ------
    TypeError
        If X is not one of the accepted forms (including a single sparse
        matrix), or if X is sparse and `accept_sparse` is False.
    ValueError
        If X is empty, 1-D, 0-D or has more than 3 dimensions, or if a sequence
        has length 0, no features, a feature count differing from sequence 0,
        more than 2 dimensions, non-numeric or complex data, a NaN or
        infinite value, or a finite value too large for ``dtype`` (float32
        holds magnitudes up to about 3.4e38). The message names the sequence
        (and, for non-finite or too large values, the time step and
        feature). A nested table's row whose channels differ in length, or a
        cell that is not a 1-D series, is named by row and column; a panel's
        duplicated (instance, time) row by its labels.

    Examples
    --------
    >>> import numpy as np
    >>> seqs, form = check_sequences([np.zeros((3, 2)), np.ones((1, 2))])
    >>> form, seqs.offsets, seqs.dtype
    ('ragged', array([0, 3, 4]), dtype('float64'))
    >>> seqs, form = check_sequences(np.zeros((4, 6), dtype=np.float32))
    >>> form, seqs.lengths, seqs.n_features, seqs.dtype
    ('2d', array([6, 6, 6, 6]), 1, dtype('float32'))
    >>> check_sequences([np.ones((2, 3))], dtype="float32")[0].dtype
    dtype('float32')

    A nested table of two channels, its rows of 3 and 2 steps:

    >>> nested = np.empty((2, 2), dtype=object)
    >>> nested[0] = [np.arange(3.0), -np.arange(3.0)]
    >>> nested[1] = [np.ones(2), np.zeros(2)]
    >>> seqs, form = check_sequences(nested)
    >>> form, seqs.lengths, seqs[1]
    ('nested', array([3, 2]), array([[1., 0.],
           [1., 0.]]))

    A panel, rows indexed by (instance, time):

    >>> import pandas as pd
    >>> panel = pd.DataFrame(
    ...     {"a": [1.0, 2.0, 3.0]},
    ...     index=pd.MultiIndex.from_tuples([("u", 0), ("v", 0), ("u", 1)]))
    >>> seqs, form = check_sequences(panel)
    >>> form, seqs.lengths, seqs[0].ravel()
    ('panel', array([2, 1]), array([1., 3.]))
    """
    if sp.issparse(X):
        raise TypeError(_single_sparse_message(input_name, accept_sparse))
    if isinstance(X, (list, tuple)):
        if _is_nested_list_table(X):
            return _check_2d(X, input_name, dtype), "2d"
        return (_check_ragged(X, input_name, accept_sparse, allow_empty, dtype,
                              defer_values), "ragged")
    form = table_form(X)
    if form == "panel":
        return _check_ragged(panel_arrays(X, input_name), input_name, False,
                             allow_empty, dtype), "panel"
    if form == "nested":
        return _check_ragged(nested_arrays(X, input_name), input_name, False,
                             allow_empty, dtype), "nested"
    if is_dataframe(X):
        _check_column_dtypes(X, input_name, _LONG_TABLE_HINT)
        return _check_2d(X, input_name, dtype), "2d"
    if isinstance(X, (str, bytes)) or not (
        isinstance(X, (np.ndarray, np.generic, numbers.Number))
        or hasattr(X, "__array__")
    ):
        raise TypeError(
            f"Unsupported type for {input_name}: {type_name(X)}. {input_name} "
            f"must be {_ACCEPTED_FORMS}."
        )

    array = np.asarray(X)
    if array.ndim == 0:
        raise ValueError(
            "Expected 2D array, got scalar array instead: "
            f"{input_name} must hold sequences, but got the scalar {X!r}. "
            f"{input_name} must be {_ACCEPTED_FORMS}."
        )
    if array.ndim == 1:
        # An object array of anything but numbers or strings (a dict, None)
        # is read as sequences, so that the error names the bad one.
        if array.dtype == object and (
            array.shape[0] == 0 or not _is_scalar_like(array[0])
            or not isinstance(array[0], (numbers.Number, np.generic, str, bytes))
        ):
            return (_check_ragged(list(array), input_name, accept_sparse,
                                  allow_empty, dtype), "ragged")
        raise ValueError(
            "Expected 2D array, got 1D array instead "
            f"(shape={array.shape}). Reshape your data: a single univariate "
            f"sequence x is [x] or x.reshape(1, -1); several sequences are a "
            f"list of arrays. "
            f"{input_name} must be {_ACCEPTED_FORMS}."
        )
    if array.ndim == 2:
        return _check_2d(X, input_name, dtype), "2d"
    if array.ndim == 3:
        return _check_3d(array, input_name, dtype), "3d"
    raise ValueError(
        f"Found array with dim {array.ndim}. {input_name} must be {_ACCEPTED_FORMS}."
    )


def check_step_features(seqs, n_expected, estimator_name, X=None, form=None):
    """Check that `seqs` has the per-step feature count seen during fit.

    Parameters
    ----------
    seqs : Sequences
        The validated predict-time sequences.
    n_expected : int
        Number of features per time step seen in fit.
    estimator_name : str
        Name of the estimator, for the error message.
    X, form : the input and the form check_sequences found, default=None
        A DataFrame read as the 2-D form gets a hint in the error: it may be
        a long table, whose rows are time steps.

    Raises
    ------
    ValueError
        If ``seqs.n_features != n_expected``.
    """
    if seqs.n_features != n_expected:
        hint = f" {_LONG_TABLE_HINT}" if form == "2d" and is_dataframe(X) else ""
        raise ValueError(
            f"X has {seqs.n_features} features, but {estimator_name} is "
            f"expecting {n_expected} features as input.{hint}"
        )


# --------------------------------------------------------------------------
# Helpers


def type_name(obj):
    """The qualified name of ``obj``'s type, for error messages."""
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def is_dataframe(X):
    # pandas is optional: if it was never imported, X cannot be a DataFrame.
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(X, pd.DataFrame)


def table_form(X):
    """"panel", "nested" or None: whether X is a panel or a nested table.

    A panel is a DataFrame indexed by a MultiIndex; a nested table is a 2-D
    object array or DataFrame whose first cell is a series, not a number.
    """
    if is_dataframe(X):
        if isinstance(X.index, sys.modules["pandas"].MultiIndex):
            return "panel"
        if X.shape[0] and X.shape[1] and not _is_scalar_like(X.iat[0, 0]):
            return "nested"
    elif (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == object
          and X.size and not _is_scalar_like(X[0, 0])):
        return "nested"
    return None


def nested_arrays(X, input_name="X"):
    """A nested table's sequences: one (T_i, n_channels) array per row.

    The cells of a row are its channels, 1-D and of one length; a table of
    one column may hold (T_i, n_features) arrays. Values are as given (the
    caller checks them); errors name the row and column.
    """
    if is_dataframe(X):
        names, cells = list(X.columns), X.to_numpy(dtype=object)
    else:
        names, cells = None, X
    n_rows, n_columns = cells.shape

    def column(j):
        return f"column {j}" if names is None else f"column {names[j]!r}"

    arrays = []
    for i in range(n_rows):
        channels = []
        for j in range(n_columns):
            cell = cells[i, j]
            try:
                a = np.asarray(cell)
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"The cell at row {i}, {column(j)} of {input_name} could "
                    f"not be converted to an array: {exc}") from exc
            if a.ndim == 1 or (a.ndim == 2 and n_columns == 1):
                channels.append(a)
                continue
            if a.ndim == 0:
                what = f"holds the scalar {cell!r}"
            else:
                what = f"has shape {a.shape}"
            raise ValueError(
                f"{input_name} is a nested table, but its cell at row {i}, "
                f"{column(j)} {what}; every cell must be a 1-D series (one "
                "channel of one sequence), or, in a table of one column, a "
                "(T_i, n_features) array.")
        if n_columns == 1:
            arrays.append(channels[0])
            continue
        lengths = [a.shape[0] for a in channels]
        for j in range(1, n_columns):
            if lengths[j] != lengths[0]:
                raise ValueError(
                    f"Row {i} of {input_name} has channels of unequal lengths: "
                    f"{column(0)} has {lengths[0]} steps but {column(j)} has "
                    f"{lengths[j]}; every channel of a sequence needs the same "
                    "length.")
        arrays.append(np.stack(channels, axis=1))
    return arrays


def panel_layout(X, input_name="X"):
    """(order, lengths) of a panel: the row positions instance by instance,
    each in time order (None if the rows are so already), and the steps of
    each instance, instances in the order of their first row."""
    pd = sys.modules["pandas"]
    index = X.index
    if index.nlevels != 2:
        raise ValueError(
            f"{input_name} has a MultiIndex of {index.nlevels} levels, but a "
            "panel needs exactly two, (instance, time). Drop the others or "
            "join them into one instance level first.")
    if len(X) == 0:
        raise ValueError(
            f"{input_name} is an empty panel (0 rows); at least one sequence is "
            "required.")
    # factorize numbers instances by first appearance, and times in sorted order.
    instance, instances = pd.factorize(index.get_level_values(0))
    try:
        time, _ = pd.factorize(index.get_level_values(1), sort=True)
    except TypeError as exc:
        raise TypeError(
            f"The time level of {input_name}'s index holds values that cannot be "
            f"ordered: {exc}") from exc
    for codes, level in ((instance, "instance"), (time, "time")):
        if codes.min() < 0:
            row = int(np.argmin(codes))
            raise ValueError(
                f"Row {row} of {input_name} has a missing {level} label in its "
                "(instance, time) index.")
    # lexsort is stable, its last key the primary one.
    order = np.lexsort((time, instance))
    rows = instance[order], time[order]
    repeated = np.flatnonzero((rows[0][1:] == rows[0][:-1])
                              & (rows[1][1:] == rows[1][:-1]))
    if repeated.size:
        # NumPy scalars as Python ones: their repr would read np.int64(0).
        label = [v.item() if isinstance(v, np.generic) else v
                 for v in index[order[repeated[0]]]]
        raise ValueError(
            f"{input_name} has several rows for instance {label[0]!r} at time "
            f"{label[1]!r}; a panel needs one row per (instance, time).")
    lengths = np.bincount(instance, minlength=len(instances)).astype(np.int64)
    if np.array_equal(order, np.arange(order.shape[0])):
        order = None
    return order, lengths


def panel_arrays(X, input_name="X"):
    """A panel's sequences: one (T_i, n_features) array per instance."""
    _check_column_dtypes(X, input_name)
    order, lengths = panel_layout(X, input_name)
    values = X.to_numpy()
    if order is not None:
        values = values[order]
    return Sequences.from_lengths(values, lengths).to_list()


def _check_column_dtypes(X, input_name, hint=""):
    """Raise ValueError naming a DataFrame column that holds no numbers."""
    api = sys.modules["pandas"].api.types
    for name, dtype in X.dtypes.items():
        if not (api.is_numeric_dtype(dtype) or api.is_bool_dtype(dtype)
                or dtype == np.dtype(object)):
            raise ValueError(
                f"Column {name!r} of {input_name} holds {dtype} values, not "
                f"numbers; every feature must be numeric. {hint}".rstrip())


def _is_nested_list_table(X):
    """Whether X is a list of equal-length plain lists of numbers (2-D to sklearn)."""
    if len(X) == 0 or not all(isinstance(row, (list, tuple)) for row in X):
        return False
    width = len(X[0])
    if width == 0 or any(len(row) != width for row in X):
        return False
    try:
        table = np.asarray(X)
    except (ValueError, TypeError):
        return False
    return table.ndim == 2 and table.dtype.kind in "biuf"


def _is_scalar_like(x):
    if sp.issparse(x) or isinstance(x, (list, tuple)):
        return False  # a sequence (ragged rows included: checked as one)
    try:
        return np.ndim(x) == 0
    except ValueError:  # ragged nested data: not a scalar
        return False


def _single_sparse_message(input_name, accept_sparse):
    if not accept_sparse:
        return (
            f"Sparse input is not supported here; {input_name} must be {_DENSE_FORMS}."
        )
    return (
        f"A single scipy.sparse matrix is not accepted as {input_name}: its rows "
        "would be ambiguous between sequences and time steps. Sparse input must "
        "be a list of scipy.sparse matrices, one (T_i, n_features) matrix per "
        "sequence."
    )


def float_dtype(dtypes, wanted=None):
    """The float dtype data of ``dtypes`` is cast to: ``wanted`` if given."""
    if wanted is not None:
        return np.dtype(wanted)
    # scikit-learn's MLP policy: float32 only if every input is float32.
    if all(dtype == np.float32 for dtype in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _dtype_error(dtype, index, example=None):
    """The ValueError for a sequence whose dtype is complex or not numeric."""
    if dtype.kind == "c" or isinstance(example, complex | np.complexfloating):
        return ValueError(
            f"Complex data not supported (sequence {index}, dtype {dtype}); "
            "convert it to real features first, e.g. real and imaginary parts."
        )
    what = f"dtype {dtype.str!r}"
    if dtype.kind == "O":
        what = f"dtype 'object' holding {type_name(example)}"
    return ValueError(
        f"Sequence {index} contains non-numeric data ({what}); every value must "
        "be a number. Encode strings or categories as numbers first, e.g. with "
        "sklearn.preprocessing.OneHotEncoder."
    )


def _object_to_float64(array, index):
    """Convert an object array of numbers to float64, or raise naming `index`."""
    # A Python loop is acceptable here: object input is already slow, and
    # astype alone would silently parse numeric strings such as "1.5".
    for value in array.flat:
        if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
            raise _dtype_error(array.dtype, index, value)
        if not isinstance(value, numbers.Number | np.bool_):
            raise _dtype_error(array.dtype, index, value)
    try:
        return array.astype(np.float64)
    except OverflowError as exc:
        raise ValueError(
            f"Sequence {index} contains a value too large for dtype('float64')."
        ) from exc


def _to_numeric(array, index):
    """Return `array` if its dtype is real numeric, a float64 copy if object."""
    kind = array.dtype.kind
    if kind in "fiub":
        return array
    if kind == "O":
        return _object_to_float64(array, index)
    raise _dtype_error(array.dtype, index)


def _check_finite(data, offsets, input_name, original=None):
    """Raise ValueError locating the first NaN or infinity, if any.

    ``original(sequence, step, feature)``, if given, is the input's value
    before the cast to ``data``'s dtype: an infinity that was finite there
    is a value too large for that dtype, and is named as such.
    """
    values = data.data if sp.issparse(data) else data
    finite = np.isfinite(values)
    if finite.all():
        return
    # Only on failure: locate the first bad value (argmin of a bool array is
    # the first False).
    k = int(np.argmin(finite.reshape(-1)))
    if sp.issparse(data):
        row = int(np.searchsorted(data.indptr, k, side="right")) - 1
        feature = int(data.indices[k])
        bad = data.data[k]
    else:
        row, feature = divmod(k, data.shape[1])
        bad = data.reshape(-1)[k]
    sequence = int(np.searchsorted(offsets, row, side="right")) - 1
    step = row - int(offsets[sequence])
    padded_name = f"{input_name} " if input_name else ""
    if np.isinf(bad) and original is not None:
        value = original(sequence, step, feature)
        if np.isfinite(value):
            raise ValueError(
                f"Input {padded_name}holds {float(value)!r} (sequence "
                f"{sequence}, time step {step}, feature {feature}), too large "
                f"for {values.dtype}, the precision the estimator computes in "
                f"(largest {float(np.finfo(values.dtype).max):.8g}). Scale the "
                "input (e.g. with StandardScaler) or set dtype='float64'.")
    if np.isnan(bad):
        kind = "NaN"
    else:
        kind = f"infinity or a value too large for {values.dtype!r}"
    raise ValueError(
        f"Input {padded_name}contains {kind} "
        f"(sequence {sequence}, time step {step}, feature {feature})."
    )


def _check_lengths_and_features(lengths, n_features, shapes, allow_empty=False):
    """Raise ValueError for the first zero-length or badly-shaped sequence."""
    empty = np.flatnonzero(lengths == 0)
    if empty.size and not allow_empty:
        raise ValueError(
            f"Sequence {empty[0]} has length 0; every sequence needs at least "
            "one time step."
        )
    featureless = np.flatnonzero(n_features == 0)
    if featureless.size:
        i = int(featureless[0])
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shapes(i)}) while a minimum "
            f"of 1 is required (sequence {i})."
        )
    mismatch = np.flatnonzero(n_features != n_features[0])
    if mismatch.size:
        i = int(mismatch[0])
        raise ValueError(
            f"Sequence {i} has {n_features[i]} features per time step, but "
            f"sequence 0 has {n_features[0]}; every sequence needs the same "
            "number of features."
        )


def offsets_from_lengths(lengths, dtype=np.int64):
    """Row boundaries ``[0, cumsum(lengths)]`` of blocks of the given lengths.

    Parameters
    ----------
    lengths : ndarray of int, shape (n,)
        Rows of each block (sequence, label sequence, time step...).
    dtype : numpy dtype, default=np.int64
        The dtype of the offsets, which the sums accumulate in.

    Returns
    -------
    offsets : ndarray of shape (n + 1,)
        Block i is rows ``offsets[i]:offsets[i + 1]``.

    Examples
    --------
    >>> offsets_from_lengths(np.array([2, 0, 3]))
    array([0, 2, 2, 5])
    """
    offsets = np.zeros(lengths.shape[0] + 1, dtype=dtype)
    # int64 accumulation: total lengths past 2**31 must not wrap around.
    np.cumsum(lengths, dtype=dtype, out=offsets[1:])
    return offsets


def block_rows(starts, lengths):
    """Rows ``starts[j]:starts[j] + lengths[j]`` of every block j, one after another.

    Parameters
    ----------
    starts : ndarray of int, shape (n,)
        First row of each block.
    lengths : ndarray of int, shape (n,)
        Rows of each block.

    Returns
    -------
    rows : ndarray of shape (sum(lengths),), dtype int64
        The rows of block 0, then of block 1, and so on.
    offsets : ndarray of shape (n + 1,), dtype int64
        The blocks' boundaries within ``rows``.

    Examples
    --------
    >>> block_rows(np.array([5, 0]), np.array([2, 3]))
    (array([5, 6, 0, 1, 2]), array([0, 2, 5]))
    """
    offsets = offsets_from_lengths(lengths)
    # Row r, inside block j, is starts[j] + (r - offsets[j]): one repeat plus
    # one arange, no loop.
    rows = np.repeat(starts - offsets[:-1], lengths)
    rows += np.arange(offsets[-1], dtype=np.int64)
    return rows, offsets


def as_step_array(x, i):
    """Sequence ``i`` as a 2-D (T, n_features) array; a 1-D one is univariate."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"Sequence {i} could not be converted to an array: {exc}"
        ) from exc
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(
            f"Sequence {i} has {a.ndim} dimensions; expected a 1-D (T,) or "
            "2-D (T, n_features) array."
        )
    return a


def _check_ragged(X, input_name, accept_sparse, allow_empty=False, dtype=None,
                  defer_values=False):
    if len(X) == 0:
        raise ValueError(
            f"{input_name} is empty (0 sequences); at least one sequence is required."
        )
    if sp.issparse(X[0]):
        return _check_ragged_sparse(X, input_name, accept_sparse, allow_empty,
                                    dtype)

    # Per sequence only asarray and shape bookkeeping; all value checks run
    # once on the concatenated array. The common case, a list of 2-D arrays,
    # is read in one compiled pass (Python per sequence was a tenth of a
    # predict on 2000 short ones) and kept as X itself: a copy of the list
    # would be one more word per sequence.
    fast = matrix_shapes(X) if type(X) is list else None
    if fast is not None and all(d.kind in "fiub" for d in fast[1]):
        arrays, (shapes, dtypes) = X, fast
    else:
        arrays = _ragged_arrays(X)
        dtypes = set(map(_DTYPE, arrays))
        if any(dtype.kind not in "fiub" for dtype in dtypes):
            arrays = [_to_numeric(a, i) for i, a in enumerate(arrays)]
            dtypes = set(map(_DTYPE, arrays))
        shapes = np.fromiter(itertools.chain.from_iterable(map(_SHAPE, arrays)),
                             dtype=np.int64, count=2 * len(arrays)).reshape(-1, 2)
    lengths = shapes[:, 0]
    _check_lengths_and_features(
        lengths, shapes[:, 1],
        lambda i, shapes=shapes: tuple(int(s) for s in shapes[i]),
        allow_empty,
    )
    offsets = offsets_from_lengths(lengths)
    # Freed before the data is made: two words per sequence that would
    # otherwise add to the peak of validating many short sequences.
    del shapes, lengths
    dtype = float_dtype(dtypes, dtype)
    if defer_values and all(d in _PACKABLE for d in dtypes):
        # A list of our own: the caller's may change while predict reads it.
        return ArraySequences(list(arrays), offsets, dtype, input_name)
    return Sequences(_concatenated(arrays, offsets, dtype, input_name), offsets)


def _ragged_arrays(X):
    """The dense sequences of X as 2-D arrays (1-D ones as (T, 1))."""
    if set(map(type, X)) == {np.ndarray}:
        # Without Python code per sequence (map over C attribute getters).
        if set(map(_NDIM, X)) == {2}:
            return X if isinstance(X, list) else list(X)
        return [x if x.ndim == 2 else as_step_array(x, i)
                for i, x in enumerate(X)]
    arrays = []
    append = arrays.append
    for i, x in enumerate(X):
        if sp.issparse(x):
            raise ValueError(
                f"Sequence {i} is a scipy.sparse matrix, but sequence 0 is "
                "dense; all sequences must be dense or all sparse."
            )
        append(as_step_array(x, i))
    return arrays


def _concatenated(arrays, offsets, dtype, input_name):
    """The arrays stacked into one C-ordered array of ``dtype``, checked."""
    # An explicit C-ordered output: concatenate alone would return a
    # Fortran-ordered array when every input is Fortran-ordered. Without a
    # dtype casts only widen (int/bool/float16 -> float64); a float32 one may
    # overflow, which _check_finite reports against the original value.
    data = np.empty((offsets[-1], arrays[0].shape[1]), dtype=dtype)
    with np.errstate(over="ignore"):
        np.concatenate(arrays, axis=0, out=data, casting="same_kind")
    _check_finite(data, offsets, input_name,
                  lambda i, t, f: arrays[i][t, f])
    return data


def _check_ragged_sparse(X, input_name, accept_sparse, allow_empty=False,
                         dtype=None):
    if not accept_sparse:
        raise TypeError(
            f"Sparse input is not supported here: sequence 0 of {input_name} is a "
            "scipy.sparse matrix. Pass dense arrays, e.g. [x.toarray() for x in "
            f"{input_name}]; {input_name} must be {_DENSE_FORMS}."
        )
    for i, x in enumerate(X):
        if not sp.issparse(x):
            raise ValueError(
                f"Sequence {i} is dense ({type_name(x)}), but sequence 0 is a "
                "scipy.sparse matrix; all sequences must be sparse or all dense."
            )
        if x.ndim != 2:
            raise ValueError(
                f"Sequence {i} has {x.ndim} dimensions; expected a 2-D "
                "(T, n_features) sparse matrix."
            )
        if x.dtype.kind not in "fiub":
            raise _dtype_error(x.dtype, i)

    shapes = np.array([x.shape for x in X], dtype=np.int64)
    lengths = shapes[:, 0]
    _check_lengths_and_features(
        lengths, shapes[:, 1],
        lambda i, shapes=shapes: tuple(int(s) for s in shapes[i]),
        allow_empty,
    )
    offsets = offsets_from_lengths(lengths)

    dtype = float_dtype({x.dtype for x in X}, dtype)
    with np.errstate(over="ignore"):
        stacked = sp.vstack(X, format="csr", dtype=dtype)
    # vstack of one block may hand back the caller's own buffers; canonicalising
    # in place below must never touch them.
    # (A dok_matrix has no .data: it never shares one.)
    if any(np.may_share_memory(stacked.data, getattr(x, "data", None))
           for x in X[:1]):
        stacked = stacked.copy()
    data = sp.csr_matrix(stacked)
    with np.errstate(over="ignore"):
        data.sum_duplicates()
    _check_finite(data, offsets, input_name,
                  lambda i, t, f: sp.csr_matrix(X[i], dtype=np.float64)[t, f])
    return Sequences(data, offsets)


def _check_2d(X, input_name, dtype=None):
    # check_array gives scikit-learn's own messages (empty input, object data
    # holding non-numbers, complex data) that its common estimator checks expect.
    array = check_array(
        X,
        dtype=(np.float64, np.float32),
        order="C",
        ensure_all_finite=False,
        input_name=input_name,
    )
    # The container must never share the caller's memory: check_array may
    # return the caller's buffer for an ndarray or for any object exposing
    # __array__ (it cannot tell those from a fresh array by identity).
    source = array
    if dtype is not None and array.dtype != dtype:
        # astype copies, so the cast is the fresh array as well.
        with np.errstate(over="ignore"):
            array = array.astype(dtype, order="C")
    elif (array is X or not (array.flags.owndata and array.flags.writeable)
            or np.shares_memory(array, np.asarray(X))):
        array = np.array(array, order="C", copy=True)
    n_samples, n_steps = array.shape
    data = array.reshape(n_samples * n_steps, 1)
    offsets = np.arange(n_samples + 1, dtype=np.int64) * np.int64(n_steps)
    _check_finite(data, offsets, input_name,
                  lambda i, t, f: source[i, t])
    return Sequences(data, offsets)


def _check_3d(array, input_name, dtype=None):
    n_samples, n_steps, n_features = array.shape
    if n_samples == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a minimum "
            f"of 1 is required ({input_name} is empty; at least one sequence is "
            "required)."
        )
    if array.dtype.kind not in "fiub":
        if array.dtype.kind != "O":
            raise _dtype_error(array.dtype, 0)
        array = np.stack([_object_to_float64(a, i) for i, a in enumerate(array)])
    _check_lengths_and_features(
        np.full(n_samples, n_steps, dtype=np.int64),
        np.full(n_samples, n_features, dtype=np.int64),
        lambda i: (n_steps, n_features),
    )
    dtype = float_dtype([array.dtype], dtype)
    # Always a fresh C-ordered array: the container must not alias (or inherit
    # read-only flags from) the caller's X.
    with np.errstate(over="ignore"):
        data = np.array(array, dtype=dtype, order="C", copy=True)
    data = data.reshape(n_samples * n_steps, n_features)
    offsets = np.arange(n_samples + 1, dtype=np.int64) * np.int64(n_steps)
    _check_finite(data, offsets, input_name,
                  lambda i, t, f: array[i, t, f])
    return Sequences(data, offsets)
