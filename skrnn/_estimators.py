"""The public estimators: per-sequence and per-step classifiers and regressors."""

import re
from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.validation import assert_all_finite, column_or_1d

from ._base import BaseRNN, extend_init
from ._loss import BinaryLogLoss, MultinomialLogLoss, regression_loss
from ._readout import READOUTS
from ._validation import (
    check_n_targets,
    check_regression_targets,
    labels_1d,
    regression_targets,
    score_weights,
    sequence_weights,
    step_labels,
    step_targets,
)


def _with_defaults(doc, **defaults):
    """``doc`` with the ``default=`` of each named parameter rewritten, so the
    parameter texts are written once for estimators whose defaults differ."""
    for name, default in defaults.items():
        doc, n = re.subn(rf"(\n    {name} : [^\n]*default=)[^\n]*",
                         rf"\g<1>{default!r}", doc)
        if n != 1:
            raise AssertionError(f"no single '{name}' entry in the docstring")
    return doc


# What the sequence-level estimators default to, chosen on the quality
# benchmark (benchmarks/README.md).
_SEQUENCE_LEVEL_DEFAULTS = dict(bidirectional=True, recurrent_dropout=0.25,
                                readout="max")
_TAGGER_DEFAULTS = dict(bidirectional=True, dropout=0.5, recurrent_dropout=0.25)
_NEXT_STEP_DEFAULTS = dict(recurrent_dropout=0.1)

_PARAMETERS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers,), default=(64,)
        Units of each stacked recurrent layer, bottom first.
    cell : {'lstm', 'gru', 'rnn'}, default='lstm'
        The recurrent cell: long short-term memory, gated recurrent unit, or
        the Elman cell ``h_t = act(x_t W_ih + b + h_{t-1} W_hh)``.
    activation : {'tanh', 'relu'}, default='tanh'
        The Elman cell's activation; the gated cells ignore it.
    bidirectional : bool, default=False
        Add a second direction that reads every sequence backwards; the two
        directions' states are concatenated.
    dropout : float in [0, 1), default=0.0
        Inverted-dropout rate on the input of every layer above the first and
        of the output layer, during training only.
    recurrent_dropout : float in [0, 1), default=0.0
        Variational inverted-dropout rate on the previous state ``h_{t-1}``
        where it enters the recurrent product ``h_{t-1} W_hh`` of every layer
        and direction: one mask per sequence, layer and direction, scaled by
        ``1 / (1 - recurrent_dropout)`` and held over all the sequence's
        steps. The state the cell carries (the GRU's ``z * h_{t-1}``, the
        LSTM's cell) is not masked. Training only, with 'adam' and 'sgd' (the
        full-batch 'lbfgs' objective is kept deterministic, as with
        ``dropout``); 0 draws nothing from the random state.
    clip_norm : float > 0 or None, default=5.0
        Rescale each minibatch gradient whose global L2 norm exceeds
        ``clip_norm`` to that norm; None disables clipping.
    bptt_steps : int >= 1 or None, default=None
        Truncated backpropagation through time: every sequence is cut into
        consecutive windows of ``bptt_steps`` steps; the state is carried
        from window to window, but the gradient is taken within each window
        only, so the memory of a training step grows with ``batch_size x
        bptt_steps``, not with the lengths. What each loss sees: a per-step
        loss is taken in every window; the 'last' readout's loss reaches
        only the last window (the earlier ones run forward only); a pooled
        readout ('mean', 'max', 'attention') pools every window's steps, and
        its gradient reaches every window's steps through the same pooled
        features (each window is run forward twice: once to pool, once to
        take its gradient). The windows' gradients are summed into one
        optimiser step per minibatch (the loss stays the minibatch loss).
        With ``bidirectional=True`` the reverse direction reads every window
        backwards from the zero state, as if the window were the whole
        sequence. None: full backpropagation through time. Needs 'adam' or
        'sgd', and a loss that splits into windows of steps (not the CTC
        loss of SequenceTranscriber).
    dtype : {'float32', 'float64'}, default='float32'
        The precision the network computes in, whatever the input's dtype:
        X (and X_val) is cast to it once, when it is validated; a finite
        value too large for float32 raises a ValueError naming its sequence,
        step and feature. float32, what PyTorch and Keras train in, is about
        twice as fast; 'float64' gives exact gradients, for tiny problems and
        for checking against a reference. Outputs users read (probabilities,
        regression values) are float64 arrays either way. 'lbfgs' computes
        in it too. A warm start needs the dtype of the previous fit.
    solver : {'adam', 'sgd', 'lbfgs'}, default='adam'
        The optimiser; 'lbfgs' is full-batch L-BFGS-B on the flat parameters.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), as in MLPClassifier.
    batch_size : int or 'auto', default='auto'
        Sequences per minibatch; 'auto' is ``min(32, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Step-size schedule of the 'sgd' solver, as in MLPClassifier.
    learning_rate_init : float, default=0.001
        Initial step size of 'sgd' and 'adam'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs (passes over the training sequences); for 'lbfgs', iterations.
    shuffle : bool, default=True
        Shuffle the sequences before every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, dropout and the early-
        stopping split; an int gives bit-identical fits.
    tol : float, default=1e-4
        Improvement of the loss (or validation score) below which an epoch
        counts as no improvement.
    verbose : bool, default=False
        Print one line per epoch: loss, validation score, elapsed time.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimiser state.
    momentum : float, default=0.9
        Momentum of the 'sgd' solver.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with 'sgd'.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the sequences and stop when their
        score stops improving; the best weights are restored.
    validation_fraction : float in (0, 1), default=0.1
        Fraction of sequences held out for early stopping.
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability constant.
    n_iter_no_change : int, default=10
        Epochs without improvement of at least ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum loss evaluations of the 'lbfgs' solver.
    n_jobs : int, default=None
        Threads that one ``fit``, ``partial_fit``, ``predict`` (and the
        methods built on it) runs on: None means 1 unless in a
        :obj:`joblib.parallel_backend` context, -1 all cores, as in
        scikit-learn. Never more than the cores the process may use
        (its CPU affinity, capped by ``OMP_NUM_THREADS`` where set, as
        joblib sets it in the workers of a parallel search), counting the
        threads other skrnn calls of the process already run. Training
        splits each minibatch into shards of at least 16 sequences and at
        least 1024 sequences x units (the widest layer's), so a minibatch of
        32 is split in two from 64 units up and not below, where a shard's
        per-step cost is mostly fixed; sequences of like lengths are spread
        over the shards, whose gradients are summed in a fixed order.
        Prediction runs its blocks of sequences in parallel. The plan does
        not depend on ``n_jobs``, so any ``n_jobs`` gives bit-identical fits
        and predictions."""

_SEQUENCE_LEVEL_PARAMETERS_DOC = _with_defaults(
    _PARAMETERS_DOC, bidirectional=_SEQUENCE_LEVEL_DEFAULTS["bidirectional"],
    recurrent_dropout=_SEQUENCE_LEVEL_DEFAULTS["recurrent_dropout"])

_READOUT_DOC = """
    readout : {'last', 'mean', 'max', 'attention'}, default='max'
        What the output layer reads of each sequence: the top layer's final
        state ('last'; of both directions if bidirectional), or its states at
        every step pooled per unit by their mean ('mean') or maximum ('max'),
        or weighted by a softmax over the steps of a learned score per step
        ('attention', the weights ``a_t = softmax_t(h_t . w)``). Pooling
        reads every step, so it helps on long sequences whose label depends
        on what happens anywhere in them."""

_REGRESSION_LOSS_DOC = """
    loss : {'squared_error', 'absolute_error', 'huber', 'quantile'}, \
            default='squared_error'
        The loss per output, summed over the outputs and averaged over the
        (weighted) samples, with r the prediction minus the target:
        ``0.5 r^2``; ``|r|``, which fits the conditional median; Huber's,
        ``0.5 r^2`` for ``|r| <= huber_epsilon`` and ``huber_epsilon (|r| -
        huber_epsilon / 2)`` beyond, robust to outliers; and the pinball loss
        ``max(-quantile r, (1 - quantile) r)``, which fits the conditional
        ``quantile``. The names and meanings are scikit-learn's regressors';
        ``score`` is R^2 whatever the loss, as theirs is. Early stopping and
        ``validation_scores_`` use R^2 with 'squared_error' and the negative
        mean loss with the others.
    huber_epsilon : float > 0, default=1.0
        The threshold of the 'huber' loss, in the units of y (scikit-learn's
        SGDRegressor calls it ``epsilon``, which is Adam's constant here, as
        in MLPRegressor).
    quantile : float in (0, 1), default=0.5
        The quantile the 'quantile' loss fits."""

_PREDICT_STATE_DOC = """
        initial_state : RecurrentState or None, default=None
            The state returned by an earlier call with ``return_state=True``:
            each sequence of X continues from the row of its position. None
            starts every sequence from the zero state.
        return_state : bool, default=False
            Also return the final states (a :class:`~skrnn.RecurrentState`),
            so that the next chunk of every sequence can continue from it.
            Predicting in chunks this way equals predicting whole sequences,
            to round-off. Unidirectional models only."""

_STATE_RETURNS_DOC = """
        state : RecurrentState
            Only with ``return_state=True``: where every sequence stopped."""

_ATTRIBUTES_DOC = """
    loss_ : float
        Training loss after the last epoch (data loss plus L2 term).
    loss_curve_ : list of float
        Training loss after each epoch.
    best_loss_ : float or None
        Lowest training loss seen; None with early stopping.
    validation_scores_ : list of float or None
        Validation score after each epoch, with early stopping.
    best_validation_score_ : float or None
        Best validation score, with early stopping.
    n_iter_ : int
        Completed epochs.
    t_ : int
        Training sequences seen by the optimiser.
    n_outputs_ : int
        Units of the output layer.
    n_features_in_ : int
        Features per time step; for 2-D input (n_samples, T), T.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when fitted on a DataFrame."""

_NOTES_DOC = """
    Every sequence is one sample, so the estimator works unchanged in
    Pipeline, GridSearchCV and cross-validation. Training is backpropagation
    through time over minibatches of sequences of different lengths, packed
    so that no time is spent on padding; the kernels are compiled and run
    without the GIL.

    The cells, with sigma the logistic function::

        Elman  h_t = act(x_t W_ih + b + h_{t-1} W_hh)
        LSTM   i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o),
               a = x_t W_ih + b + h_{t-1} W_hh
               c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
        GRU    r = sigma(x_t W_ir + b_r + h_{t-1} W_hr)
               z = sigma(x_t W_iz + b_z + h_{t-1} W_hz)
               n = tanh(x_t W_in + b_n + r * (h_{t-1} W_hn + b_hn))
               h_t = (1 - z) * n + z * h_{t-1}

    Initial states are zero. Input weights and the output layer are
    Glorot-uniform, each gate's recurrent block is a random orthogonal matrix,
    biases are zero except the LSTM forget gate's, which is one."""


class _ClassifierBase(BaseRNN):
    """What the sequence classifier and the tagger share: labels and class weights."""

    _parameter_constraints: dict = {
        **BaseRNN._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    __init__ = extend_init(BaseRNN.__init__, class_weight=None)

    def _encode_labels(self, labels, reset):
        """Labels -> integer codes into classes_; sets classes_ and n_outputs_.

        Without ``reset`` the classes are those of the first fit (or of the
        first partial_fit's ``classes``), and other labels are an error.
        """
        if labels.dtype.kind == "f":
            # Before check_classification_targets, which casts inf to int.
            assert_all_finite(labels, input_name="y")
        try:
            check_classification_targets(labels)
            if reset:
                self.classes_ = np.unique(labels)
        except (TypeError, ValueError) as exc:
            # sklearn's and numpy's messages ("Unknown label type: unknown",
            # "'<' not supported between 'str' and 'float'") leave the
            # argument unnamed; the type stays (MLPClassifier's).
            raise type(exc)(f"{exc} (the labels y)") from exc
        n_classes = self.classes_.shape[0]
        if n_classes < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes "
                f"in the data, but the data contain only one class: "
                f"{self.classes_[0]!r}.")
        self.n_outputs_ = 1 if n_classes == 2 else n_classes
        try:
            codes = np.minimum(np.searchsorted(self.classes_, labels),
                               n_classes - 1)
        except TypeError as exc:
            raise TypeError(
                f"y holds labels that cannot be compared with classes_ "
                f"{self.classes_.tolist()}: {exc}") from exc
        unseen = self.classes_[codes] != labels
        if np.any(unseen):
            raise ValueError(
                f"y has classes not in classes_: "
                f"{np.unique(labels[unseen]).tolist()}; classes_ is "
                f"{self.classes_.tolist()}.")
        return codes

    @available_if(BaseRNN._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over X, y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : array-like
            Labels, as for :meth:`fit`.
        sample_weight : array-like, default=None
            Weights, as for :meth:`fit`.
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

    def _make_loss(self):
        if self.n_outputs_ == 1:
            return BinaryLogLoss()
        return MultinomialLogLoss()

    def _targets_for_loss(self, codes):
        return codes.astype(np.float64) if self.n_outputs_ == 1 else codes

    def _codes(self, targets):
        return targets.astype(np.intp)

    def _sample_weights(self, seqs, targets, sample_weight):
        weights = super()._sample_weights(seqs, targets, sample_weight)
        if self.class_weight is not None:
            codes = self._codes(targets)
            per_class = compute_class_weight(
                self.class_weight, classes=np.arange(self.classes_.shape[0]),
                y=codes) if self.class_weight == "balanced" else np.array(
                [self.class_weight.get(c, 1.0) for c in self.classes_])
            weights = weights * per_class[codes]
        return weights

    def _validation_score(self, seqs, targets, weights):
        raw, _ = self._raw_predict_seqs(seqs)
        return accuracy_score(self._codes(targets), self._decide(raw),
                              sample_weight=weights)

    def _decide(self, raw):
        if self.n_outputs_ == 1:
            return (raw[:, 0] > 0).astype(np.intp)
        return raw.argmax(axis=1)

    def _proba(self, raw):
        return self._make_loss().link(raw)

    def _log_proba(self, raw):
        return self._make_loss().log_link(raw)


class RNNClassifier(ClassifierMixin, _ClassifierBase):
    __doc__ = (
        """Recurrent network classifier: one label per sequence.

    The final state of the top recurrent layer (of both directions, if
    bidirectional), or its states pooled over all steps (``readout``), go
    through a linear layer with a logistic output for two classes and a
    softmax for more, trained on the log-loss.

    The defaults read each sequence in both directions with recurrent
    dropout 0.25 and pool the top layer's states by their maximum: of the
    choices measured on the bundled classification sets
    (benchmarks/README.md, ``bench_quality.py``), the one that did best on
    both. Streaming prediction (``initial_state``, ``return_state``) needs
    ``bidirectional=False``.

    Parameters
    ----------"""
        + _SEQUENCE_LEVEL_PARAMETERS_DOC
        + """
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes in the loss, ``{label: weight}``; 'balanced'
        weighs them inversely to their frequencies."""
        + _READOUT_DOC
        + """

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels."""
        + _ATTRIBUTES_DOC
        + """

    See Also
    --------
    RNNRegressor : The same network with a linear output for regression.
    SequenceTagger : One label per time step.
    sklearn.neural_network.MLPClassifier : The feed-forward counterpart whose
        parameters these follow.

    Notes
    -----"""
        + _NOTES_DOC
        + """

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal((int(rng.integers(5, 15)), 2)) for _ in range(60)]
    >>> y = [int(x[:, 0].sum() > 0) for x in X]
    >>> clf = RNNClassifier((16,), learning_rate_init=0.02, max_iter=60,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """
    )

    _parameter_constraints: dict = {
        **_ClassifierBase._parameter_constraints,
        "readout": [StrOptions(set(READOUTS))],
    }

    __init__ = extend_init(_ClassifierBase.__init__, **_SEQUENCE_LEVEL_DEFAULTS)

    def _readout(self):
        return self.readout

    def _validate_targets(self, seqs, y, reset):
        y = labels_1d(y, seqs.n_sequences)
        return self._targets_for_loss(self._encode_labels(y, reset))

    def _stratify_labels(self, seqs, targets):
        counts = np.bincount(self._codes(targets))
        return targets if counts[counts > 0].min() >= 2 else None

    def predict(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        return _returned(self.classes_[self._decide(raw)], state)

    predict.__doc__ = """Predict the class of each sequence.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The predicted labels.""" + _STATE_RETURNS_DOC + "\n        "

    def predict_proba(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        return _returned(self._proba(raw), state)

    predict_proba.__doc__ = """Class probabilities of each sequence.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def predict_log_proba(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        return _returned(self._log_proba(raw), state)

    predict_log_proba.__doc__ = """Log of :meth:`predict_proba`, without a log of it.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on X against y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        score : float
            The (weighted) fraction of correctly classified sequences.
        """
        predicted = self.predict(X)
        y = labels_1d(y, predicted.shape[0])
        if y.dtype.kind == "f":
            assert_all_finite(y, input_name="y")
        weights = score_weights(sample_weight, predicted.shape[0])
        try:
            return accuracy_score(y, predicted, sample_weight=weights)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"y cannot be compared with the predicted labels: {exc}") from exc


class _RegressorBase(BaseRNN):
    """What the two regressors share: the regression losses, R^2 and partial_fit."""

    _parameter_constraints: dict = {
        **BaseRNN._parameter_constraints,
        "loss": [StrOptions({"squared_error", "absolute_error", "huber",
                             "quantile"})],
        "huber_epsilon": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    __init__ = extend_init(BaseRNN.__init__, loss="squared_error",
                           huber_epsilon=1.0, quantile=0.5)

    def _make_loss(self):
        return regression_loss(self.loss, self.huber_epsilon, self.quantile)

    def _validation_score(self, seqs, targets, weights):
        raw = self._raw_predict_seqs(seqs)[0]
        if self.loss == "squared_error":
            return r2_score(targets, raw, sample_weight=weights)
        # R^2 does not rank the fits of a quantile or robust loss as that
        # loss does: early stopping watches the loss itself.
        w = np.ones(raw.shape[0]) if weights is None else weights
        return -self._make_loss().loss_gradient(raw, targets, w / w.sum())[0]

    def _check_outputs(self, targets, reset, one_d):
        if reset:
            self._y_1d = one_d
            self.n_outputs_ = targets.shape[1]
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} outputs, but the model was fitted "
                f"with {self.n_outputs_}.")
        return targets

    @available_if(BaseRNN._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over X, y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : array-like
            Targets, as for :meth:`fit`.
        sample_weight : array-like, default=None
            Weights, as for :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _r2(self, y, predicted, weights):
        with np.errstate(over="ignore", invalid="ignore"):
            score = r2_score(y, predicted, sample_weight=weights)
        if y.shape[0] >= 2 and not np.isfinite(score):
            raise ValueError(
                "y is too large to score: the squared errors overflow float64. "
                "Scale the targets (e.g. with TransformedTargetRegressor).")
        return float(score)


class RNNRegressor(RegressorMixin, _RegressorBase):
    __doc__ = (
        """Recurrent network regressor: one value or vector per sequence.

    The final state of the top recurrent layer (of both directions, if
    bidirectional), or its states pooled over all steps (``readout``), go
    through a linear output layer, trained on the squared error
    ``0.5 * ||prediction - y||^2`` per sequence, or another ``loss``.

    The defaults read each sequence in both directions with recurrent
    dropout 0.25 and pool the top layer's states by their maximum: of the
    choices measured on the bundled classification sets
    (benchmarks/README.md, ``bench_quality.py``), the one that did best on
    both; no per-sequence regression set is bundled, so the regressor shares
    the classifier's network. Streaming prediction (``initial_state``,
    ``return_state``) needs ``bidirectional=False``.

    Parameters
    ----------"""
        + _SEQUENCE_LEVEL_PARAMETERS_DOC
        + _REGRESSION_LOSS_DOC
        + _READOUT_DOC
        + """

    Attributes
    ----------"""
        + _ATTRIBUTES_DOC
        + """

    See Also
    --------
    RNNClassifier : The same network with a classification head.
    SequenceRegressor : One value or vector per time step.
    sklearn.neural_network.MLPRegressor : The feed-forward counterpart whose
        parameters these follow.

    Notes
    -----"""
        + _NOTES_DOC
        + """

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.uniform(-1, 1, (int(rng.integers(3, 10)), 1)) for _ in range(80)]
    >>> y = [x[0, 0] for x in X]
    >>> reg = RNNRegressor((16,), learning_rate_init=0.02, max_iter=100,
    ...                    random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """
    )

    _parameter_constraints: dict = {
        **_RegressorBase._parameter_constraints,
        "readout": [StrOptions(set(READOUTS))],
    }

    __init__ = extend_init(_RegressorBase.__init__, **_SEQUENCE_LEVEL_DEFAULTS)

    def _readout(self):
        return self.readout

    def _validate_targets(self, seqs, y, reset):
        y = check_regression_targets(y, seqs.n_sequences)
        return self._check_outputs(y.reshape(y.shape[0], -1), reset, y.ndim == 1)

    def predict(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        return _returned(raw[:, 0] if self._y_1d else raw, state)

    predict.__doc__ = """Predict the target of each sequence.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, 1-D if the model was fitted on a 1-D y.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of :meth:`predict` on X against y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        score : float
            R^2, averaged uniformly over the outputs; NaN for one sequence,
            as in scikit-learn.

        Raises
        ------
        ValueError
            If y is not finite, does not match X or the fitted outputs, or is
            so large that its squared deviations overflow.
        """
        predicted = self.predict(X)
        n = predicted.shape[0]
        y = regression_targets(y)
        if y.ndim == 2 and y.shape[1] == 1 and self._y_1d:
            y = column_or_1d(y, warn=True)
        check_n_targets(y.shape[0], n)
        if y.reshape(n, -1).shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has shape {y.shape}, but the model predicts "
                f"{self.n_outputs_} output(s) per sequence.")
        weights = score_weights(sample_weight, n)
        return self._r2(y.reshape(predicted.shape), predicted, weights)


class SequenceTagger(_ClassifierBase):
    __doc__ = (
        """Recurrent network tagger: one label per time step.

    The top recurrent layer's state at every step (both directions, aligned
    in time, if bidirectional) goes through a linear layer with a logistic
    output for two classes and a softmax for more; the loss is the log-loss
    averaged over the time steps of a minibatch.

    By default each step's label reads the steps on both sides of it
    (``bidirectional=True``), and training drops half of every recurrent
    layer's outputs (``dropout=0.5``) and a quarter of the previous state
    in every recurrent product (``recurrent_dropout=0.25``):
    without them a tagger of many distinct tokens fits its training words
    within a few epochs and then generalises worse with every epoch, on the
    bundled tagging set (benchmarks/README.md, ``bench_quality.py``). On
    thousands of sequences, ``early_stopping=True`` ends the fit
    ``n_iter_no_change`` epochs past its best and keeps the best weights.
    Streaming prediction (``initial_state``, ``return_state``) needs
    ``bidirectional=False``.

    Parameters
    ----------"""
        + _with_defaults(_PARAMETERS_DOC, **_TAGGER_DEFAULTS)
        + """
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes in the loss, ``{label: weight}``; 'balanced'
        weighs them inversely to their frequencies over all steps.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The tag labels."""
        + _ATTRIBUTES_DOC
        + """

    See Also
    --------
    RNNClassifier : One label per sequence.

    Notes
    -----"""
        + _NOTES_DOC
        + """

    y is a list (or 1-D object array) of 1-D label arrays,
    ``len(y[i]) == len(X[i])``; predict returns a 1-D object array of 1-D
    label arrays and score is the accuracy over all steps.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import SequenceTagger
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal(int(rng.integers(4, 12))) for _ in range(40)]
    >>> y = [np.where(x > 0, "up", "down") for x in X]
    >>> tagger = SequenceTagger((8,), learning_rate_init=0.05, max_iter=30,
    ...                         random_state=0).fit(X, y)
    >>> [p.shape == x.shape for p, x in zip(tagger.predict(X[:2]), X[:2])]
    [True, True]
    """
    )

    __init__ = extend_init(_ClassifierBase.__init__, **_TAGGER_DEFAULTS)

    _per_step = True

    def _validate_targets(self, seqs, y, reset):
        flat = np.concatenate(step_labels(y, seqs.lengths))
        return self._targets_for_loss(self._encode_labels(flat, reset))

    def predict(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        labels = self.classes_[self._decide(raw)]
        return _returned(_per_sequence(seqs.offsets, labels), state)

    predict.__doc__ = """Predict the label of every time step.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        y : ndarray of shape (n_samples,), dtype object
            One array of shape (T_i,) per sequence: its predicted labels.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def predict_proba(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        return _returned(_per_sequence(seqs.offsets, self._proba(raw)), state)

    predict_proba.__doc__ = """Label probabilities of every time step.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        proba : ndarray of shape (n_samples,), dtype object
            One array of shape (T_i, n_classes) per sequence, columns in the
            order of ``classes_``.""" + _STATE_RETURNS_DOC + "\n        "

    def predict_log_proba(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        return _returned(_per_sequence(seqs.offsets, self._log_proba(raw)), state)

    predict_log_proba.__doc__ = """Log of :meth:`predict_proba`, without a log of it.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        log_proba : ndarray of shape (n_samples,), dtype object
            One array of shape (T_i, n_classes) per sequence.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def score(self, X, y, sample_weight=None):
        """Accuracy over all time steps of all sequences.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : list of array-like of shape (T_i,)
            True labels of every step.
        sample_weight : array-like of shape (n_samples,) or list of arrays, \
                default=None
            Weight of each sequence, applied to each of its steps, or one
            array of per-step weights per sequence, as in :meth:`fit`.

        Returns
        -------
        score : float
            The fraction of correctly tagged steps.
        """
        predicted = self.predict(X)
        lengths = np.array([p.shape[0] for p in predicted], dtype=np.int64)
        labels = step_labels(y, lengths)
        truth = (np.concatenate(labels) if labels
                 else np.empty(0, dtype=self.classes_.dtype))
        if truth.dtype.kind == "f":
            assert_all_finite(truth, input_name="y")
        flat = np.concatenate(predicted)
        if sample_weight is not None:
            sample_weight = sequence_weights(sample_weight, lengths, per_step=True)
        try:
            return accuracy_score(truth, flat, sample_weight=sample_weight)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"y cannot be compared with the predicted labels: {exc}") from exc


class SequenceRegressor(RegressorMixin, _RegressorBase):
    __doc__ = (
        """Recurrent network regressor per time step: one value or vector per step.

    The regression twin of :class:`SequenceTagger`: the top recurrent layer's
    state at every step (both directions, aligned in time, if bidirectional)
    goes through a linear output layer, trained on the squared error
    ``0.5 * ||prediction - y_t||^2`` (or another ``loss``) averaged over the
    time steps of a minibatch. Trained on targets that are the input advanced
    by one step (:func:`skrnn.forecasting.next_step`), it is a next-step model that
    :func:`skrnn.forecasting.generate` runs forward on its own predictions.

    ``recurrent_dropout`` defaults to 0.1: of the rates measured on the
    bundled series' next-step forecasts (benchmarks/README.md,
    ``bench_quality.py``), the one that did best over both series and
    horizons.

    Parameters
    ----------"""
        + _with_defaults(_PARAMETERS_DOC, **_NEXT_STEP_DEFAULTS)
        + _REGRESSION_LOSS_DOC
        + """

    Attributes
    ----------"""
        + _ATTRIBUTES_DOC
        + """

    See Also
    --------
    SequenceTagger : One label per time step.
    RNNRegressor : One value or vector per sequence.
    skrnn.forecasting.next_step : Next-step training pairs from series.

    Notes
    -----"""
        + _NOTES_DOC
        + """

    y is a list (or 1-D object array) of arrays of shape ``(T_i,)`` or
    ``(T_i, n_outputs)``, ``len(y[i]) == len(X[i])``; predict returns a 1-D
    object array of such arrays, and score is the R^2 over all steps.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import SequenceRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal((int(rng.integers(4, 12)), 1)) for _ in range(40)]
    >>> y = [np.cumsum(x[:, 0]) for x in X]
    >>> reg = SequenceRegressor((8,), learning_rate_init=0.05, max_iter=30,
    ...                         random_state=0).fit(X, y)
    >>> [p.shape == (len(x),) for p, x in zip(reg.predict(X[:2]), X[:2])]
    [True, True]
    """
    )

    __init__ = extend_init(_RegressorBase.__init__, **_NEXT_STEP_DEFAULTS)

    _per_step = True

    def _validate_targets(self, seqs, y, reset):
        flat, one_d = step_targets(y, seqs.lengths)
        return self._check_outputs(flat, reset, one_d)

    def predict(self, X, *, initial_state=None, return_state=False):
        seqs, raw, state = self._raw_predict(X, initial_state, return_state)
        values = raw[:, 0] if self._y_1d else raw
        return _returned(_per_sequence(seqs.offsets, values), state)

    predict.__doc__ = """Predict the target of every time step.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.""" + _PREDICT_STATE_DOC + """

        Returns
        -------
        y : ndarray of shape (n_samples,), dtype object
            One array of shape (T_i,) per sequence, or (T_i, n_outputs) if
            the model was fitted on 2-D targets.""" + (
        _STATE_RETURNS_DOC + "\n        ")

    def score(self, X, y, sample_weight=None):
        """R^2 of :meth:`predict` over all time steps of all sequences.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : list of array-like of shape (T_i,) or (T_i, n_outputs)
            True targets of every step.
        sample_weight : array-like of shape (n_samples,) or list of arrays, \
                default=None
            Weight of each sequence, applied to each of its steps, or one
            array of per-step weights per sequence, as in :meth:`fit`.

        Returns
        -------
        score : float
            scikit-learn's ``r2_score`` over the steps of all sequences
            stacked, averaged uniformly over the outputs.
        """
        predicted = self.predict(X)
        lengths = np.array([p.shape[0] for p in predicted], dtype=np.int64)
        truth, _ = step_targets(y, lengths)
        if truth.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {truth.shape[1]} output(s) per step, but the model "
                f"predicts {self.n_outputs_}.")
        flat = np.concatenate([p.reshape(p.shape[0], self.n_outputs_)
                               for p in predicted])
        weights = (None if sample_weight is None else
                   sequence_weights(sample_weight, lengths, per_step=True))
        return self._r2(truth, flat, weights)








def _returned(out, state):
    """A predict method's result: ``out``, with the final states if asked for."""
    return out if state is None else (out, state)


def _per_sequence(offsets, flat):
    """The rows of ``flat`` as a 1-D object array of one array per sequence,
    sequence i being rows ``offsets[i]:offsets[i + 1]``.

    An object array iterates like a list, supports fancy indexing and
    concatenates with ``np.concatenate``, which cross_val_predict needs.
    """
    out = np.empty(len(offsets) - 1, dtype=object)
    for i, part in enumerate(np.split(flat, offsets[1:-1])):
        out[i] = part
    return out
