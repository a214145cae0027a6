"""SequenceTranscriber: unaligned sequence-to-sequence learning with CTC."""

import weakref
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)

from ._base import BaseRNN, extend_init
from ._estimators import (
    _ATTRIBUTES_DOC,
    _NOTES_DOC,
    _PARAMETERS_DOC,
    _PREDICT_STATE_DOC,
    _STATE_RETURNS_DOC,
    _per_sequence,
    _returned,
)
from ._kernels._ctc import ctc_beam_search
from ._loss import CTCLoss
from ._network import Workspace
from ._sequences import block_rows, offsets_from_lengths
from ._validation import label_sequences, sequence_weights
from .metrics import edit_distances_of_codes, label_error_rate

# The float64 lattice buffers of a fit, kept as long as the fit's own work
# space (which the base creates per fit and never stores on the estimator).
_LATTICE_BUFFERS = weakref.WeakKeyDictionary()


class _LabelSequences:
    """Encoded label sequences: one flat code array plus (n + 1,) offsets."""

    __slots__ = ("codes", "offsets")

    def __init__(self, codes, offsets):
        self.codes = codes
        self.offsets = offsets

    @property
    def lengths(self):
        return np.diff(self.offsets)

    def take(self, indices):
        """The label sequences ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.intp)
        starts = self.offsets[indices]
        rows, offsets = block_rows(starts, self.offsets[indices + 1] - starts)
        return _LabelSequences(self.codes[rows], offsets.astype(np.intp, copy=False))


def _check_one_label_kind(labels):
    """Refuse text labels in some sequences and numbers in others, which
    concatenating them would silently turn into strings."""
    text = [i for i, s in enumerate(labels) if s.shape[0] and s.dtype.kind in "SU"]
    numbers = [i for i, s in enumerate(labels)
               if s.shape[0] and s.dtype.kind in "biuf"]
    if text and numbers:
        raise TypeError(
            f"y mixes label types: y[{text[0]}] holds strings but "
            f"y[{numbers[0]}] holds numbers.")


class SequenceTranscriber(BaseRNN):
    __doc__ = (
        """Recurrent network transcriber: an unaligned label sequence per sequence.

    The top recurrent layer's state at every step (both directions, aligned
    in time, if bidirectional) goes through a linear layer with a softmax over
    the labels and a *blank*; the loss is connectionist temporal
    classification (CTC, Graves et al. 2006): minus the log-probability of the
    label sequence, summed over every alignment of it with the input steps.
    No alignment is needed in y: ``y[i]`` is the label sequence of ``X[i]``,
    of any length the input allows.

    Parameters
    ----------"""
        + _PARAMETERS_DOC
        + """
    beam_width : int >= 1 or None, default=None
        Decoding of :meth:`predict` and :meth:`score`: None or 1 is best-path
        (greedy) decoding, the most probable label at every step with repeats
        merged and blanks removed; a larger width is prefix beam search,
        which keeps the ``beam_width`` most probable label prefixes after
        every step (each summed over its alignments) and returns the best.
        Validation scores during fit decode the same way.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted. Output ``k`` of the network is ``classes_[k]``;
        the last output, ``n_classes``, is the blank."""
        + _ATTRIBUTES_DOC
        + """

    See Also
    --------
    SequenceTagger : One label per time step, aligned with the input.
    skrnn.metrics.label_error_rate : The error that :meth:`score` reports.

    Notes
    -----"""
        + _NOTES_DOC
        + """

    A label sequence l of length L can be aligned with an input of T steps
    only if T >= L + r, with r the number of adjacent repeated labels in l
    (a repeat needs a blank between its two labels); fit refuses other pairs.
    The loss of a minibatch is the weighted mean of the sequences' CTC losses
    -log p(l | x); its gradient with respect to the raw scores of step t is
    ``softmax_t - gamma_t``, gamma_t being the posterior occupancy of each
    label at t, from the forward-backward recursions in log space. The
    recursions run in float64 whatever ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import SequenceTranscriber
    >>> rng = np.random.default_rng(0)
    >>> y = [rng.choice(list("ab"), int(rng.integers(1, 4))) for _ in range(40)]
    >>> # each label is held for 2 or 3 steps of a one-hot input, plus noise
    >>> X = [np.repeat(np.column_stack([l == "a", l == "b"]).astype(float),
    ...                rng.integers(2, 4, len(l)), axis=0)
    ...      + 0.1 * rng.standard_normal((1, 2)) for l in y]
    >>> model = SequenceTranscriber((16,), bidirectional=True, max_iter=60,
    ...                             learning_rate_init=0.05,
    ...                             random_state=0).fit(X, y)
    >>> model.classes_
    array(['a', 'b'], dtype='<U1')
    >>> [p.shape[1] for p in model.predict_proba(X[:2])]
    [3, 3]
    >>> bool(model.score(X, y) > 0.8)
    True
    """
    )

    _per_step = True
    # CTC aligns a whole label sequence with a whole input sequence: its loss
    # does not split into windows of steps.
    _truncatable = False

    _parameter_constraints: dict = {
        **BaseRNN._parameter_constraints,
        "beam_width": [Interval(Integral, 1, None, closed="left"), None],
    }

    __init__ = extend_init(BaseRNN.__init__, beam_width=None)

    # -- targets ---------------------------------------------------------

    def _validate_targets(self, seqs, y, reset):
        labels = label_sequences(y, "y", n_expected=seqs.n_sequences)
        lengths = np.fromiter((s.shape[0] for s in labels), dtype=np.intp,
                              count=len(labels))
        # Without the empty sequences, whose float64 dtype (of np.asarray([]))
        # would make integer labels float.
        nonempty = [s for s in labels if s.shape[0]]
        _check_one_label_kind(labels)
        flat = (np.concatenate(nonempty) if nonempty
                else np.empty(0, dtype=getattr(self, "classes_",
                                               np.empty(0)).dtype))
        if reset:
            if flat.shape[0] == 0:
                raise ValueError(
                    f"{type(self).__name__} needs at least one label in y; "
                    "every label sequence is empty.")
            try:
                check_classification_targets(flat)
                self.classes_ = np.unique(flat)
            except (TypeError, ValueError) as exc:
                # numpy's and sklearn's messages leave the argument unnamed.
                raise type(exc)(f"{exc} (the labels of y)") from exc
        n_classes = self.classes_.shape[0]
        self.n_outputs_ = n_classes + 1
        try:
            codes = np.minimum(np.searchsorted(self.classes_, flat),
                               n_classes - 1).astype(np.intp)
            unseen = self.classes_[codes] != flat
        except TypeError as exc:
            raise TypeError(
                f"y holds labels that cannot be compared with classes_ "
                f"{self.classes_.tolist()}: {exc}") from exc
        offsets = offsets_from_lengths(lengths, np.intp)
        if np.any(unseen):
            k = int(np.flatnonzero(unseen)[0])
            i = int(np.searchsorted(offsets, k, side="right") - 1)
            raise ValueError(
                f"y[{i}] holds the label {flat[k:k + 1].tolist()[0]!r}, which "
                f"is not in classes_ {self.classes_.tolist()}.")
        targets = _LabelSequences(codes, offsets)
        self._check_alignable(seqs, targets)
        return targets

    @staticmethod
    def _check_alignable(seqs, targets):
        """Refuse a pair whose labels need more steps than the input has."""
        codes, offsets = targets.codes, targets.offsets
        lengths = targets.lengths
        repeated = np.zeros(codes.shape[0], dtype=bool)
        repeated[1:] = codes[1:] == codes[:-1]
        # A label's predecessor in the flat array is in its own sequence
        # unless it is the sequence's first.
        repeated[offsets[:-1][lengths > 0]] = False
        running = np.zeros(codes.shape[0] + 1, dtype=np.intp)
        np.cumsum(repeated, out=running[1:])
        repeats = running[offsets[1:]] - running[offsets[:-1]]
        needed = lengths + repeats
        bad = np.flatnonzero(needed > seqs.lengths)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"y[{i}] cannot be aligned with X[{i}]: its {lengths[i]} labels "
                f"with {repeats[i]} adjacent repeats need at least {needed[i]} "
                f"time steps (CTC puts a blank between repeated labels), but "
                f"X[{i}] has {seqs.lengths[i]}.")

    def _make_loss(self):
        return CTCLoss()

    def _sample_weights(self, seqs, targets, sample_weight):
        # One weight per sequence: the loss is per sequence, not per step.
        return sequence_weights(sample_weight, seqs.lengths, per_step=False)

    def _batch_rows(self, batch):
        # Outputs per step, but one label sequence and weight per sequence.
        return batch.rows(per_step=False)

    def _sequence_totals(self, seqs, weights):
        return weights

    def _rows(self, seqs, values, indices):
        if isinstance(values, _LabelSequences):
            return values.take(indices)
        return values[indices]

    def _outputs_loss_grad(self, Z, batch, targets, weights, weight_total, ws):
        """The CTC loss of one packed minibatch's outputs and its gradient.

        CTC reads each sequence's label sequence as a whole, not one target
        per step, so the batch's labels are gathered in its packed order.
        """
        labels = targets.take(batch.order)
        buffers = _LATTICE_BUFFERS.get(ws)
        if buffers is None:
            buffers = _LATTICE_BUFFERS[ws] = Workspace(np.float64)
        return self._loss.loss_gradient(
            Z, batch, labels.codes, labels.offsets,
            weights[batch.order] / weight_total, buffers)

    def _validation_score(self, seqs, targets, weights):
        codes, offsets = self._decode(seqs, self._raw_predict_seqs(seqs)[0])
        distances = edit_distances_of_codes(targets.codes, targets.offsets, codes,
                                    offsets)
        weights = np.ones(seqs.n_sequences) if weights is None else weights
        # A validation set without labels scores its insertions per sequence.
        reference = max(float(weights @ targets.lengths), 1.0)
        return 1.0 - float(weights @ distances) / reference

    # -- fit -------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None):
        """Fit the model to sequences X and their label sequences y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features) or (T_i,), \
                array-like of shape (n_samples, T, n_features) or (n_samples, T)
            The training sequences, in any accepted form.
        y : list or 1-D object array of array-like of shape (L_i,)
            The label sequence of each sequence, unaligned: ``L_i`` may be
            anything from 0 to what ``T_i`` allows (see Notes). A string is
            its sequence of characters.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence's loss; the loss of a minibatch is the
            weighted mean. None weighs every sequence equally.
        X_val, y_val : validation sequences and label sequences, default=None
            A validation set of your own, scored (``1 - label error rate``)
            after every epoch into ``validation_scores_``; with
            ``early_stopping=True`` it decides when to stop.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If a label sequence cannot be aligned with its input (naming the
            sequence), or y does not hold one label sequence per sequence.
        TypeError
            If y is not a list of label sequences.
        """
        return super().fit(X, y, sample_weight, X_val=X_val, y_val=y_val)

    @available_if(BaseRNN._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over X, y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : list of array-like of shape (L_i,)
            Label sequences, as for :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.
        classes : array-like of shape (n_classes,), default=None
            Every label the model will ever see; required on the first call,
            since a later batch may hold labels this one lacks.

        Returns
        -------
        self : object
            The updated estimator.
        """
        _check_partial_fit_first_call(self, classes)
        return self._fit(X, y, sample_weight, incremental=True)

    # -- predict ---------------------------------------------------------

    def _decode(self, seqs, raw):
        """Class codes of every sequence's decoding and their (n + 1,) offsets."""
        lengths = seqs.lengths
        blank = self.n_outputs_ - 1
        if self.beam_width is None or self.beam_width == 1:
            best = raw.argmax(axis=1)
            keep = best != blank
            changed = np.ones(best.shape[0], dtype=bool)
            changed[1:] = best[1:] != best[:-1]
            # Every sequence's first step starts a new label.
            changed[seqs.offsets[:-1][lengths > 0]] = True
            keep &= changed
            sequence = np.repeat(np.arange(lengths.shape[0]), lengths)
            counts = np.bincount(sequence[keep], minlength=lengths.shape[0])
            codes = best[keep].astype(np.intp)
        else:
            log_proba = self._loss.log_link(raw.astype(np.float64))
            decoded = np.empty(raw.shape[0], dtype=np.intp)
            counts = np.empty(lengths.shape[0], dtype=np.intp)
            ctc_beam_search(log_proba, seqs.offsets.astype(np.intp),
                            self.beam_width, decoded, counts)
            position = np.arange(raw.shape[0]) - np.repeat(seqs.offsets[:-1],
                                                           lengths)
            codes = decoded[position < np.repeat(counts, lengths)]
        offsets = offsets_from_lengths(counts, np.intp)
        return codes, offsets

    def predict(self, X):
        """Transcribe every sequence into a label sequence.

        Decoding reads whole sequences (a label may span a chunk boundary),
        so unlike :meth:`predict_proba` it takes no ``initial_state``.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        y : ndarray of shape (n_samples,), dtype object
            The decoded label sequence of each sequence, a 1-D array of
            labels from ``classes_`` of length at most T_i; decoded as
            ``beam_width`` says.
        """
        seqs, raw, _ = self._raw_predict(X)
        codes, offsets = self._decode(seqs, raw)
        labels = self.classes_[codes]
        return _per_sequence(offsets, labels)

    def predict_proba(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        proba = self._loss.link(raw.astype(np.float64))
        return _returned(_per_sequence(seqs.offsets, proba), state)

    predict_proba.__doc__ = """Posteriors of the labels and the blank at every step.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        proba : ndarray of shape (n_samples,), dtype object
            One (T_i, n_classes + 1) float64 array per sequence: columns in
            the order of ``classes_``, then the blank, the last column.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def predict_log_proba(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        log_proba = self._loss.log_link(raw.astype(np.float64))
        return _returned(_per_sequence(seqs.offsets, log_proba), state)

    predict_log_proba.__doc__ = """Log of :meth:`predict_proba`, without a log of it.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        log_proba : ndarray of shape (n_samples,), dtype object
            One (T_i, n_classes + 1) array per sequence, the blank last.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def score(self, X, y, sample_weight=None):
        """One minus the label error rate of :meth:`predict` on X against y.

        The label error rate is the total edit distance between the
        predicted and true label sequences over the total length of the true
        ones (:func:`skrnn.metrics.label_error_rate`), each sequence weighted
        by its ``sample_weight``.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : list of array-like of shape (L_i,)
            True label sequences.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        score : float
            ``1 - label_error_rate``: 1 for perfect transcriptions; below 0
            when the predictions insert more labels than the truth holds.
        """
        predicted = self.predict(X)
        truth = label_sequences(y, "y", n_expected=predicted.shape[0])
        return 1.0 - label_error_rate(truth, list(predicted),
                                      sample_weight=sample_weight)
