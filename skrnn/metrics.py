"""Flat (per-time-step) and whole-sequence metrics and scorers for sequence taggers,
and the edit-distance metrics of transcribers.

A tagger's y is a list of 1-D label arrays, one per sequence. scikit-learn's
metrics and its string scorers (``scoring="accuracy"``, ``"f1_macro"``, ...)
do not understand that form: on sequences of different lengths they raise
``ValueError: unknown is not supported``, which GridSearchCV and
cross_validate turn into NaN scores and a warning (their default
``error_score=np.nan``), so a search silently finds nothing; on sequences of
equal length the list becomes a 2-D array, and 0/1 tags are then read as
multilabel-indicator rows and scored by *subset* accuracy, a different and
silently wrong number. The metrics here concatenate the steps of all
sequences (the "flat" metrics) or compare whole sequences, and the scorers
make them usable as ``scoring=``.

A transcriber's y is a list of label sequences whose lengths need not match
the predicted ones: :func:`edit_distance` and :func:`label_error_rate`
compare them by the Levenshtein distance, and
``neg_label_error_rate_scorer`` makes the rate usable as ``scoring=``.
"""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    make_scorer,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import assert_all_finite

from ._kernels._ctc import edit_distances
from ._sequences import offsets_from_lengths
from ._validation import (
    check_label_lists,
    label_sequence,
    label_sequences,
    sequence_weights,
)

__all__ = [
    "edit_distance",
    "flat_accuracy_score",
    "flat_accuracy_scorer",
    "flat_classification_report",
    "flat_confusion_matrix",
    "flat_f1_macro_scorer",
    "flat_f1_score",
    "flat_precision_recall_fscore_support",
    "flat_precision_score",
    "flat_recall_score",
    "get_flat_scorer",
    "get_flat_scorer_names",
    "label_error_rate",
    "neg_label_error_rate_scorer",
    "sequence_accuracy_score",
    "sequence_accuracy_scorer",
]


def _check_sequence_targets(y_true, y_pred):
    """Return (flat y_true, flat y_pred, lengths) after checking they align.

    Raises ValueError naming the first sequence whose lengths differ.
    """
    y_true = _as_sequence_list(y_true, "y_true")
    y_pred = _as_sequence_list(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true has {len(y_true)} sequences but y_pred has {len(y_pred)}; "
            "they must hold the same sequences."
        )
    if len(y_true) == 0:
        raise ValueError("y_true and y_pred are empty (0 sequences).")
    lengths_true = np.array([y.shape[0] for y in y_true], dtype=np.int64)
    lengths_pred = np.array([y.shape[0] for y in y_pred], dtype=np.int64)
    bad = np.flatnonzero(lengths_true != lengths_pred)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"Sequence {i} has {lengths_true[i]} labels in y_true but "
            f"{lengths_pred[i]} in y_pred; every sequence needs one predicted "
            "label per true label."
        )
    true, pred = np.concatenate(y_true), np.concatenate(y_pred)
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if labels.dtype.kind == "f":
            # Before unique_labels, whose int cast of NaN warns.
            assert_all_finite(labels, input_name=name)
    # The label checks scikit-learn's metrics make on the steps (no mix of
    # strings and numbers, ...), checked here because not every supported
    # version makes them, and because their messages do not say which
    # arguments they are about.
    try:
        unique_labels(true, pred)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"y_true and y_pred hold labels that cannot be compared: {exc}"
        ) from exc
    return true, pred, lengths_true


def _on_flat_steps(metric, y_true, y_pred, sample_weight, **kwargs):
    """sklearn's ``metric`` on the concatenated steps, sequence weights repeated."""
    true, pred, lengths = _check_sequence_targets(y_true, y_pred)
    if true.shape[0] == 0:
        # scikit-learn's "Found empty input array" does not say why.
        raise ValueError(
            "y_true and y_pred hold no time steps: every sequence is empty "
            f"({lengths.shape[0]} of them), so there is nothing to score per "
            "step.")
    if sample_weight is not None:
        sample_weight = sequence_weights(sample_weight, lengths, per_step=True,
                                         sequences_name="y_true")
    return metric(true, pred, sample_weight=sample_weight, **kwargs)


def _as_sequence_list(y, name):
    arrays = [np.asarray(yi) for yi in check_label_lists(y, name, any_sized=True)]
    for i, yi in enumerate(arrays):
        if yi.ndim != 1:
            raise ValueError(
                f"{name}[{i}] must be a 1-D array of labels, one per time step; "
                f"got shape {yi.shape}. {name} must be a list of such arrays, "
                "one per sequence."
            )
    return arrays


def flat_accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Accuracy over all time steps of all sequences.

    Parameters
    ----------
    y_true : list of array-like of shape (T_i,)
        True labels of every step of every sequence.
    y_pred : list of array-like of shape (T_i,)
        Predicted labels, as returned by ``SequenceTagger.predict``.
    normalize : bool, default=True
        Return the fraction of correct steps; if False, their (weighted)
        number.
    sample_weight : array-like of shape (n_sequences,) or list of arrays, \
default=None
        Weight of each sequence, applied to each of its steps, or one array
        of per-step weights per sequence (as ``SequenceTagger.fit`` takes).
        Weights must be finite and non-negative, not all zero.

    Returns
    -------
    score : float
        The fraction (or number) of correctly labelled steps.

    See Also
    --------
    sequence_accuracy_score : Fraction of sequences labelled entirely right.
    sklearn.metrics.accuracy_score : The metric on the concatenated steps.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.metrics import flat_accuracy_score
    >>> y_true = [np.array(["N", "V"]), np.array(["D", "N", "V"])]
    >>> y_pred = [np.array(["N", "N"]), np.array(["D", "N", "V"])]
    >>> flat_accuracy_score(y_true, y_pred)
    0.8
    """
    return float(_on_flat_steps(accuracy_score, y_true, y_pred, sample_weight,
                                normalize=normalize))


def sequence_accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Fraction of sequences whose every time step is labelled right.

    Parameters
    ----------
    y_true : list of array-like of shape (T_i,)
        True labels of every step of every sequence.
    y_pred : list of array-like of shape (T_i,)
        Predicted labels.
    normalize : bool, default=True
        Return the fraction of entirely right sequences; if False, their
        (weighted) number.
    sample_weight : array-like of shape (n_sequences,), default=None
        Weight of each sequence: finite and non-negative, not all zero.

    Returns
    -------
    score : float
        The fraction (or number) of sequences without a wrong label. An empty
        sequence counts as right.

    See Also
    --------
    flat_accuracy_score : Accuracy over all time steps.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.metrics import sequence_accuracy_score
    >>> y_true = [np.array(["N", "V"]), np.array(["D", "N", "V"])]
    >>> y_pred = [np.array(["N", "N"]), np.array(["D", "N", "V"])]
    >>> sequence_accuracy_score(y_true, y_pred)
    0.5
    """
    true, pred, lengths = _check_sequence_targets(y_true, y_pred)
    if sample_weight is not None:
        sample_weight = sequence_weights(sample_weight, lengths, per_step=False,
                                         sequences_name="y_true")
    sequence_ids = np.repeat(np.arange(lengths.shape[0]), lengths)
    n_wrong = np.bincount(
        sequence_ids, weights=(true != pred), minlength=lengths.shape[0]
    )
    right = n_wrong == 0
    return float(
        accuracy_score(
            np.ones_like(right),
            right,
            normalize=normalize,
            sample_weight=sample_weight,
        )
    )


def flat_precision_recall_fscore_support(
    y_true,
    y_pred,
    *,
    beta=1.0,
    labels=None,
    pos_label=1,
    average=None,
    warn_for=("precision", "recall", "f-score"),
    sample_weight=None,
    zero_division="warn",
):
    """Precision, recall, F-beta and support over all time steps.

    :func:`sklearn.metrics.precision_recall_fscore_support` applied to the
    concatenated steps of all sequences; the keyword arguments are its own.

    Parameters
    ----------
    y_true : list of array-like of shape (T_i,)
        True labels of every step of every sequence.
    y_pred : list of array-like of shape (T_i,)
        Predicted labels.
    beta : float, default=1.0
        Weight of recall in the F-score.
    labels : array-like, default=None
        The labels to include, and their order when ``average=None``.
    pos_label : int, float, bool or str, default=1
        The positive class when ``average="binary"``.
    average : {"micro", "macro", "weighted", "binary"} or None, default=None
        How to average over labels; None gives one score per label.
    warn_for : tuple or set, default=("precision", "recall", "f-score")
        Which metrics warn when ill-defined.
    sample_weight : array-like of shape (n_sequences,) or list of arrays, \
default=None
        Weight of each sequence, applied to each of its steps, or one array
        of per-step weights per sequence (as ``SequenceTagger.fit`` takes).
        Weights must be finite and non-negative, not all zero.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Value returned for a division by zero.

    Returns
    -------
    precision : float or ndarray of shape (n_labels,)
    recall : float or ndarray of shape (n_labels,)
    fbeta_score : float or ndarray of shape (n_labels,)
    support : None or ndarray of shape (n_labels,)
        Steps of each label in y_true; None when averaged.

    See Also
    --------
    flat_classification_report : The same numbers as a text report.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.metrics import flat_precision_recall_fscore_support
    >>> y_true = [np.array(["N", "V"]), np.array(["D", "N", "V"])]
    >>> y_pred = [np.array(["N", "N"]), np.array(["D", "N", "V"])]
    >>> p, r, f, s = flat_precision_recall_fscore_support(y_true, y_pred)
    >>> r.tolist(), s.tolist()
    ([1.0, 1.0, 0.5], [1, 2, 2])
    """
    return _on_flat_steps(precision_recall_fscore_support, y_true, y_pred,
                          sample_weight, beta=beta, labels=labels,
                          pos_label=pos_label, average=average,
                          warn_for=warn_for, zero_division=zero_division)


_AVERAGED_PARAMETERS = """
    Parameters
    ----------
    y_true : list of array-like of shape (T_i,)
        True labels of every step of every sequence.
    y_pred : list of array-like of shape (T_i,)
        Predicted labels.
    labels : array-like, default=None
        The labels to include, and their order when ``average=None``.
    pos_label : int, float, bool or str, default=1
        The positive class when ``average="binary"``.
    average : {"micro", "macro", "weighted", "binary"} or None, \
default="binary"
        How to average over labels, as in scikit-learn (whose default,
        "binary", needs two labels; taggers usually want "macro" or
        "weighted"); None gives one score per label.
    sample_weight : array-like of shape (n_sequences,) or list of arrays, \
default=None
        Weight of each sequence, applied to each of its steps, or one array
        of per-step weights per sequence (as ``SequenceTagger.fit`` takes).
        Weights must be finite and non-negative, not all zero.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Value returned for a division by zero."""


def _averaged_doc(what, sklearn_name, example):
    return f"""{what} over all time steps of all sequences.

    :func:`sklearn.metrics.{sklearn_name}` applied to the concatenated steps;
    the keyword arguments are its own.
{_AVERAGED_PARAMETERS}

    Returns
    -------
    score : float or ndarray of shape (n_labels,)
        The averaged score, or one per label when ``average=None``.

    See Also
    --------
    flat_precision_recall_fscore_support : All of them at once.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.metrics import {example[0]}
    >>> y_true = [np.array(["N", "V"]), np.array(["D", "N", "V"])]
    >>> y_pred = [np.array(["N", "N"]), np.array(["D", "N", "V"])]
    >>> round({example[0]}(y_true, y_pred, average="macro"), 4)
    {example[1]}
    """


def _flat_averaged(score, name, what, example):
    """The flat (over all steps) version of an averaged sklearn score."""
    def flat(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
             sample_weight=None, zero_division="warn"):
        return _on_flat_steps(score, y_true, y_pred, sample_weight,
                              labels=labels, pos_label=pos_label,
                              average=average, zero_division=zero_division)

    # Named as the module attribute, so that pickle and the docs find it.
    flat.__name__ = flat.__qualname__ = name
    flat.__doc__ = _averaged_doc(what, score.__name__, (name, example))
    return flat


flat_f1_score = _flat_averaged(f1_score, "flat_f1_score", "F1 score", "0.8222")
flat_precision_score = _flat_averaged(precision_score, "flat_precision_score",
                                      "Precision", "0.8889")
flat_recall_score = _flat_averaged(recall_score, "flat_recall_score", "Recall",
                                   "0.8333")


def flat_classification_report(
    y_true,
    y_pred,
    *,
    labels=None,
    target_names=None,
    sample_weight=None,
    digits=2,
    output_dict=False,
    zero_division="warn",
):
    """Per-label precision, recall and F1 over all time steps, as a report.

    :func:`sklearn.metrics.classification_report` applied to the concatenated
    steps; the keyword arguments are its own.

    Parameters
    ----------
    y_true : list of array-like of shape (T_i,)
        True labels of every step of every sequence.
    y_pred : list of array-like of shape (T_i,)
        Predicted labels.
    labels : array-like of shape (n_labels,), default=None
        The labels to report.
    target_names : list of str of shape (n_labels,), default=None
        Display names of the labels.
    sample_weight : array-like of shape (n_sequences,) or list of arrays, \
default=None
        Weight of each sequence, applied to each of its steps, or one array
        of per-step weights per sequence (as ``SequenceTagger.fit`` takes).
        Weights must be finite and non-negative, not all zero.
    digits : int, default=2
        Digits of the formatted numbers (ignored with `output_dict`).
    output_dict : bool, default=False
        Return a dict instead of a string.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Value returned for a division by zero.

    Returns
    -------
    report : str or dict
        The text report, or a dict of the same numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.metrics import flat_classification_report
    >>> y_true = [np.array(["N", "V"]), np.array(["D", "N", "V"])]
    >>> y_pred = [np.array(["N", "N"]), np.array(["D", "N", "V"])]
    >>> report = flat_classification_report(y_true, y_pred, output_dict=True)
    >>> report["accuracy"], report["V"]["recall"]
    (0.8, 0.5)
    """
    return _on_flat_steps(classification_report, y_true, y_pred, sample_weight,
                          labels=labels, target_names=target_names,
                          digits=digits, output_dict=output_dict,
                          zero_division=zero_division)


def flat_confusion_matrix(
    y_true, y_pred, *, labels=None, sample_weight=None, normalize=None
):
    """Confusion matrix over all time steps of all sequences.

    :func:`sklearn.metrics.confusion_matrix` applied to the concatenated steps.

    Parameters
    ----------
    y_true : list of array-like of shape (T_i,)
        True labels of every step of every sequence.
    y_pred : list of array-like of shape (T_i,)
        Predicted labels.
    labels : array-like of shape (n_labels,), default=None
        The labels indexing the matrix, in order; None takes the sorted labels
        present in either input.
    sample_weight : array-like of shape (n_sequences,) or list of arrays, \
default=None
        Weight of each sequence, applied to each of its steps, or one array
        of per-step weights per sequence (as ``SequenceTagger.fit`` takes).
        Weights must be finite and non-negative, not all zero.
    normalize : {"true", "pred", "all"} or None, default=None
        Normalise over true labels (rows), predicted labels (columns) or all.

    Returns
    -------
    C : ndarray of shape (n_labels, n_labels)
        ``C[i, j]``: steps of true label i predicted as label j.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.metrics import flat_confusion_matrix
    >>> y_true = [np.array(["N", "V"]), np.array(["D", "N", "V"])]
    >>> y_pred = [np.array(["N", "N"]), np.array(["D", "N", "V"])]
    >>> flat_confusion_matrix(y_true, y_pred, labels=["D", "N", "V"])
    array([[1, 0, 0],
           [0, 2, 0],
           [0, 1, 1]])
    """
    return _on_flat_steps(confusion_matrix, y_true, y_pred, sample_weight,
                          labels=labels, normalize=normalize)


# --------------------------------------------------------------------------
# Scorers


def _scorer_factories():
    factories = {
        "flat_accuracy": lambda: make_scorer(flat_accuracy_score),
        "sequence_accuracy": lambda: make_scorer(sequence_accuracy_score),
    }
    metrics = {
        "f1": flat_f1_score,
        "precision": flat_precision_score,
        "recall": flat_recall_score,
    }
    for name, metric in metrics.items():
        for average in ("micro", "macro", "weighted"):
            factories[f"flat_{name}_{average}"] = (
                lambda metric=metric, average=average: make_scorer(
                    metric, average=average, zero_division=0.0
                )
            )
    return factories


_SCORER_FACTORIES = _scorer_factories()


def get_flat_scorer_names():
    """Names accepted by :func:`get_flat_scorer`.

    Returns
    -------
    names : list of str
        The sorted scorer names.

    Examples
    --------
    >>> from skrnn.metrics import get_flat_scorer_names
    >>> "flat_f1_macro" in get_flat_scorer_names()
    True
    """
    return sorted(_SCORER_FACTORIES)


def get_flat_scorer(name):
    """A scorer for taggers by name, to pass as ``scoring=``.

    Parameters
    ----------
    name : str
        "flat_accuracy", "sequence_accuracy", or
        ``"flat_{f1,precision,recall}_{micro,macro,weighted}"``, e.g.
        "flat_f1_macro". Averaged scores use ``zero_division=0.0``, so that a
        label missing from a cross-validation fold does not warn.

    Returns
    -------
    scorer : callable
        A new scorer ``scorer(estimator, X, y)``, made with
        :func:`sklearn.metrics.make_scorer`; greater is better.

    Raises
    ------
    ValueError
        If `name` is not a known scorer name.

    Examples
    --------
    >>> from skrnn.metrics import get_flat_scorer
    >>> get_flat_scorer("flat_f1_macro")
    make_scorer(flat_f1_score, response_method='predict', average=macro, \
zero_division=0.0)
    """
    try:
        factory = _SCORER_FACTORIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{name!r} is not a valid flat scorer name; use one of "
            f"{get_flat_scorer_names()}."
        ) from None
    return factory()


flat_accuracy_scorer = get_flat_scorer("flat_accuracy")
flat_f1_macro_scorer = get_flat_scorer("flat_f1_macro")
sequence_accuracy_scorer = get_flat_scorer("sequence_accuracy")


# --------------------------------------------------------------------------
# Edit distance: transcribers


def _codes_and_offsets(sequences, index):
    """Integer codes of label sequences under the shared ``index`` (label ->
    code, grown as labels appear), and the (n + 1,) offsets delimiting them."""
    lengths = np.fromiter((s.shape[0] for s in sequences), dtype=np.intp,
                          count=len(sequences))
    offsets = offsets_from_lengths(lengths, np.intp)
    # A dict, not np.unique: it needs no order on the labels, and does not
    # cast numbers to strings when y_true and y_pred mix them.
    codes = np.fromiter(
        (index.setdefault(label, len(index))
         for s in sequences for label in s.tolist()),
        dtype=np.intp, count=int(offsets[-1]))
    return codes, offsets


def edit_distances_of_codes(true_codes, true_offsets, pred_codes, pred_offsets):
    """Edit distance of each pair of coded label sequences (see _codes_and_offsets)."""
    out = np.empty(true_offsets.shape[0] - 1, dtype=np.intp)
    edit_distances(true_codes, true_offsets, pred_codes, pred_offsets, out)
    return out


def edit_distance(a, b):
    """Levenshtein distance between two label sequences.

    The least number of label insertions, deletions and substitutions that
    turn one sequence into the other.

    Parameters
    ----------
    a, b : array-like of shape (n_labels,) or str
        The two label sequences; a string is its sequence of characters.

    Returns
    -------
    distance : int
        The edit distance, from 0 (equal) to ``max(len(a), len(b))``.

    See Also
    --------
    label_error_rate : Total edit distance over total reference length.

    Examples
    --------
    >>> from skrnn.metrics import edit_distance
    >>> edit_distance("kitten", "sitting")
    3
    >>> edit_distance(["a", "b"], [])
    2
    """
    index = {}
    a_codes, a_offsets = _codes_and_offsets([label_sequence(a, "a")], index)
    b_codes, b_offsets = _codes_and_offsets([label_sequence(b, "b")], index)
    return int(edit_distances_of_codes(a_codes, a_offsets, b_codes, b_offsets)[0])


def label_error_rate(y_true, y_pred, *, sample_weight=None):
    """Label error rate: total edit distance over total reference length.

    ``sum_i w_i d(y_true[i], y_pred[i]) / sum_i w_i len(y_true[i])``, with d
    the Levenshtein distance (:func:`edit_distance`), the measure of Graves
    et al. (2006) for unaligned sequence labelling. It is 0 for perfect
    transcriptions and can exceed 1 when predictions insert labels.

    Parameters
    ----------
    y_true : list of array-like of shape (L_i,) or str
        Reference label sequences, of any lengths; a string is its
        characters.
    y_pred : list of array-like of shape (M_i,) or str
        Predicted label sequences, as ``SequenceTranscriber.predict`` returns.
    sample_weight : array-like of shape (n_sequences,), default=None
        Weight of each sequence: finite and non-negative, not all zero.

    Returns
    -------
    rate : float
        The (weighted) label error rate.

    Raises
    ------
    ValueError
        If the numbers of sequences differ, or the references hold no label
        (the rate is then undefined).

    See Also
    --------
    edit_distance : The distance of one pair.

    Examples
    --------
    >>> from skrnn.metrics import label_error_rate
    >>> label_error_rate(["abc", "de"], ["abd", "de"])
    0.2
    """
    true = label_sequences(y_true, "y_true")
    pred = label_sequences(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(
            f"y_true has {len(true)} sequences but y_pred has {len(pred)}; "
            "they must hold the same sequences.")
    if len(true) == 0:
        raise ValueError("y_true and y_pred are empty (0 sequences).")
    index = {}
    true_codes, true_offsets = _codes_and_offsets(true, index)
    pred_codes, pred_offsets = _codes_and_offsets(pred, index)
    distances = edit_distances_of_codes(true_codes, true_offsets, pred_codes,
                                pred_offsets)
    lengths = np.diff(true_offsets)
    weights = (np.ones(len(true)) if sample_weight is None else
               sequence_weights(sample_weight, lengths, per_step=False,
                                sequences_name="y_true"))
    reference = float(weights @ lengths)
    if reference == 0:
        raise ValueError(
            "The label error rate is undefined: the reference sequences "
            "y_true (those of nonzero weight) hold no labels.")
    return float(weights @ distances) / reference


# Greater is better for a scorer: the negated rate, as sklearn's
# "neg_mean_squared_error" is.
neg_label_error_rate_scorer = make_scorer(label_error_rate,
                                          greater_is_better=False)
