"""The target and sample-weight checks every estimator, metric and forecaster shares."""

# The checks of X live beside the container, in _sequences.py; these check
# what comes with X: y in each estimator's form, and the sample weights.

import numpy as np
from sklearn.utils.validation import assert_all_finite, check_array, column_or_1d

__all__ = [
    "check_label_lists",
    "check_n_targets",
    "check_regression_targets",
    "check_y_passed",
    "label_sequence",
    "label_sequences",
    "labels_1d",
    "regression_targets",
    "score_weights",
    "sequence_weights",
    "step_labels",
    "step_targets",
]


def check_y_passed(y, estimator_name):
    """Raise the error of a fit called without targets.

    Parameters
    ----------
    y : object
        The targets given to fit.
    estimator_name : str
        Name of the estimator, for the message.

    Raises
    ------
    ValueError
        If `y` is None, in scikit-learn's wording (its common checks match it).
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target "
            "y is None.")


def check_label_lists(y, name, any_sized=False):
    """y of a tagger or of a tagger's metric: a container of label arrays.

    Parameters
    ----------
    y : list, tuple or ndarray
        One 1-D array-like of labels per sequence; a 2-D non-object array is
        read as equal-length sequences stacked as rows.
    name : str
        Name of the argument, for the message.
    any_sized : bool, default=False
        Accept any sized container but a string (as the metrics do), not
        only a list, tuple or array (as the estimators do).

    Returns
    -------
    y : list, tuple or ndarray
        `y`, its rows as a list if it was a 2-D array; the items are the
        caller's to convert and check.

    Raises
    ------
    TypeError
        If `y` is not a container of label arrays.
    """
    if isinstance(y, np.ndarray) and y.dtype != object and y.ndim == 2:
        # Equal-length sequences stacked as rows.
        y = list(y)
    if any_sized:
        bad = isinstance(y, (str, bytes)) or not hasattr(y, "__len__")
    else:
        bad = not isinstance(y, (list, tuple, np.ndarray))
    if bad:
        raise TypeError(
            f"{name} must be a list of 1-D label arrays, one per sequence; got "
            f"{type(y).__name__}.")
    return y


def check_regression_targets(y, n_samples, samples="sequences"):
    """y of a per-sequence regressor, checked against ``n_samples`` inputs.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets; a column vector is raveled with a DataConversionWarning.
    n_samples : int
        Number of input sequences.
    samples : str, default="sequences"
        What the inputs are called in the message ("windows" for RelativeToLast).

    Returns
    -------
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs), float64

    Raises
    ------
    ValueError
        If y is not a finite 1-D or 2-D array of numbers, is empty, or does
        not hold one target per input.
    """
    y = regression_targets(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    check_n_targets(y.shape[0], n_samples, samples)
    return y


def sequence_weights(sample_weight, lengths, per_step, sequences_name=None):
    """Checked sample weights: one per sequence, or with ``per_step`` one per
    time step (a sequence's weight repeated over its steps, or a list of one
    weight array per sequence). ``sequences_name``, if given, is the argument
    holding the sequences, named where the weights do not match them."""
    n = lengths.shape[0]
    of = "" if sequences_name is None else f" of {sequences_name}"
    if sample_weight is None:
        weights = np.ones(n)
    elif (per_step and isinstance(sample_weight, (list, tuple))
          and len(sample_weight) > 0 and np.ndim(sample_weight[0]) == 1):
        if len(sample_weight) != n:
            raise ValueError(
                f"sample_weight has {len(sample_weight)} arrays, expected "
                f"{n}: one per sequence{of}.")
        parts = [_as_float_weights(w, f"sample_weight[{i}]")
                 for i, w in enumerate(sample_weight)]
        for i, part in enumerate(parts):
            if part.shape != (lengths[i],):
                raise ValueError(
                    f"sample_weight[{i}] has shape {part.shape}, expected "
                    f"({lengths[i]},): one weight per time step of "
                    f"sequence {i}{of}.")
        return _checked_weights(np.concatenate(parts))
    else:
        weights = _as_float_weights(sample_weight, "sample_weight")
        if weights.shape != (n,):
            raise ValueError(
                f"sample_weight has shape {weights.shape}, expected ({n},): "
                f"one weight per sequence{of}."
            )
    if per_step:
        weights = np.repeat(weights, lengths)
    return _checked_weights(weights)


def _as_float_weights(values, name):
    # numpy's own message ("could not convert string to float: 'a'") does not
    # say which argument held the string.
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} must hold numbers: {exc}") from exc


def _checked_weights(weights):
    if not np.isfinite(weights).all() or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if weights.sum() <= 0:
        raise ValueError("sample_weight sums to zero: every weight is 0.")
    return weights


def step_labels(y, lengths):
    """y of a tagger checked against the sequence lengths: one 1-D label array
    per sequence."""
    y = check_label_lists(y, "y")
    check_n_targets(len(y), lengths.shape[0])
    labels = [np.asarray(yi) for yi in y]
    got = np.fromiter((yi.shape[0] if yi.ndim == 1 else -1 for yi in labels),
                      dtype=np.int64, count=len(labels))
    bad = np.flatnonzero(got != lengths)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"y[{i}] must be a 1-D array with one label per time step of "
            f"sequence {i} ({lengths[i]} steps); got shape {labels[i].shape}.")
    for i, yi in enumerate(labels):
        if yi.dtype.kind == "f":
            # Before the sequences are concatenated: NaN among string labels
            # would become the label "nan".
            assert_all_finite(yi, input_name=f"y[{i}]")
    return labels


def step_targets(y, lengths):
    """y of a per-step regressor checked against the sequence lengths.

    Returns the targets of all steps stacked, (sum T_i, n_outputs) float64,
    and whether each y[i] was 1-D.
    """
    if isinstance(y, np.ndarray) and y.dtype != object and y.ndim in (2, 3):
        y = list(y)
    if not isinstance(y, (list, tuple, np.ndarray)):
        raise TypeError(
            "y must be a list of per-step target arrays, one per sequence; got "
            f"{type(y).__name__}.")
    check_n_targets(len(y), lengths.shape[0])
    parts, ndims = [], set()
    for i, yi in enumerate(y):
        yi = check_array(yi, ensure_2d=False, dtype=np.float64,
                         input_name=f"y[{i}]", ensure_min_samples=0,
                         ensure_min_features=0)
        if yi.ndim not in (1, 2) or yi.shape[0] != lengths[i]:
            raise ValueError(
                f"y[{i}] must have one target per time step of sequence {i} "
                f"({lengths[i]} steps), shape ({lengths[i]},) or "
                f"({lengths[i]}, n_outputs); got shape {yi.shape}.")
        ndims.add(yi.ndim)
        parts.append(yi if yi.ndim == 2 else yi[:, None])
    widths = {p.shape[1] for p in parts}
    if len(widths) > 1 or len(ndims) > 1:
        raise ValueError(
            "y's arrays must all have the same number of outputs and "
            f"dimensions; got widths {sorted(widths)} and dimensions "
            f"{sorted(ndims)}.")
    flat = np.concatenate(parts) if parts else np.empty((0, 1))
    if flat.size == 0:
        raise ValueError("y is empty: at least one target is required.")
    return flat, ndims == {1}


def regression_targets(y):
    """y of a regressor as a finite float64 array of 1 or 2 dimensions."""
    # check_array's own messages for these ("Found array with dim 3", "Input
    # should have at least 1 dimension") do not name y.
    try:
        # As np.ndim does, without the __array_function__ dispatch that
        # array-likes such as sklearn's _NotAnArray refuse.
        ndim = y.ndim if hasattr(y, "ndim") else np.asarray(y).ndim
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"y must be a 1-D or 2-D array of numbers: {exc}") from exc
    if ndim not in (1, 2):
        raise ValueError(
            f"y must be 1-D (n_samples,) or 2-D (n_samples, n_outputs); got "
            f"{ndim} dimensions.")
    y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y",
                    ensure_min_samples=0, ensure_min_features=0)
    if y.size == 0:  # check_array's "Found array with 0 sample(s)" names no y
        raise ValueError(
            f"y is empty (shape={y.shape}): at least one target is required.")
    return y


def score_weights(sample_weight, n):
    """Checked per-sequence weights of a score over ``n`` sequences, or None."""
    if sample_weight is None:
        return None
    return sequence_weights(sample_weight, np.ones(n, dtype=np.int64),
                            per_step=False)


def labels_1d(y, n_sequences):
    """y of a classifier: one label per sequence, a column vector raveled."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    elif y.ndim != 1:
        raise ValueError(
            f"y must be 1-D, one label per sequence; got shape {y.shape}.")
    check_n_targets(y.shape[0], n_sequences)
    return y


def check_n_targets(n_targets, n_sequences, samples="sequences"):
    """Raise scikit-learn's inconsistent-samples error if y does not match X.

    Parameters
    ----------
    n_targets : int
        Number of targets in y.
    n_sequences : int
        Number of sequences in X.
    samples : str, default="sequences"
        What X's samples are called in the message.

    Raises
    ------
    ValueError
        If ``n_targets != n_sequences``.
    """
    if n_targets != n_sequences:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"X has {n_sequences} {samples} but y has {n_targets} targets.")


def label_sequence(labels, name):
    """One label sequence as a 1-D array; a string is its characters.

    Raises TypeError or ValueError naming ``name`` if it is not a sequence of
    labels, or holds NaN or inf.
    """
    if isinstance(labels, str):
        labels = list(labels)
    elif isinstance(labels, bytes) or not hasattr(labels, "__len__"):
        raise TypeError(
            f"{name} must be a sequence of labels (a list, 1-D array or "
            f"string); got {type(labels).__name__}.")
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence of labels; got shape "
            f"{array.shape}.")
    if array.dtype.kind in "fc":
        assert_all_finite(array, input_name=name)
    return array


def label_sequences(y, name, n_expected=None):
    """y of a transcriber as a list of 1-D label arrays, one per sequence."""
    if isinstance(y, np.ndarray) and y.dtype != object and y.ndim == 2:
        # Equal-length label sequences stacked as rows.
        y = list(y)
    if isinstance(y, (str, bytes)) or not isinstance(y, (list, tuple,
                                                          np.ndarray)):
        raise TypeError(
            f"{name} must be a list of label sequences, one per sequence; got "
            f"{type(y).__name__}.")
    if isinstance(y, np.ndarray) and y.ndim != 1:
        raise ValueError(
            f"{name} must be a list or 1-D object array of label sequences; "
            f"got an array of shape {y.shape}.")
    if n_expected is not None and len(y) != n_expected:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"X has {n_expected} sequences but {name} has {len(y)} label "
            "sequences.")
    return [label_sequence(yi, f"{name}[{i}]") for i, yi in enumerate(y)]
