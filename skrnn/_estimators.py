"""The public estimators: RNNClassifier, RNNRegressor and SequenceTagger."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.validation import assert_all_finite, check_array, column_or_1d

from ._base import BaseRNN, sequence_weights
from ._loss import BinaryLogLoss, MultinomialLogLoss, SquaredError

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
        bptt_steps``, not with the lengths. A per-step loss is taken in every
        window; a loss on the final state reaches only the last window (the
        earlier ones run forward only). The windows' gradients are summed
        into one optimiser step per minibatch (the loss stays the minibatch
        loss). With ``bidirectional=True`` the reverse direction reads every
        window backwards from the zero state, as if the window were the
        whole sequence. None: full backpropagation through time. Needs
        'adam' or 'sgd'.
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
        Maximum loss evaluations of the 'lbfgs' solver."""

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

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        cell="lstm",
        activation="tanh",
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        clip_norm=5.0,
        bptt_steps=None,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, cell=cell,
            activation=activation, bidirectional=bidirectional, dropout=dropout,
            recurrent_dropout=recurrent_dropout, clip_norm=clip_norm,
            bptt_steps=bptt_steps, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun)
        self.class_weight = class_weight

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
        raw = self._raw_predict_seqs(seqs)
        return accuracy_score(self._codes(targets), self._decide(raw),
                              sample_weight=weights)

    def _decide(self, raw):
        if self.n_outputs_ == 1:
            return (raw[:, 0] > 0).astype(np.intp)
        return raw.argmax(axis=1)

    def _proba(self, raw):
        return self._loss_for(raw).link(raw)

    def _loss_for(self, raw):
        return BinaryLogLoss() if self.n_outputs_ == 1 else MultinomialLogLoss()


class RNNClassifier(ClassifierMixin, _ClassifierBase):
    __doc__ = (
        """Recurrent network classifier: one label per sequence.

    The final state of the top recurrent layer (of both directions, if
    bidirectional) goes through a linear layer with a logistic output for two
    classes and a softmax for more, trained on the log-loss.

    Parameters
    ----------"""
        + _PARAMETERS_DOC
        + """
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes in the loss, ``{label: weight}``; 'balanced'
        weighs them inversely to their frequencies.

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

    def _validate_targets(self, seqs, y, reset):
        y = _labels_1d(y, seqs.n_sequences)
        return self._targets_for_loss(self._encode_labels(y, reset))

    def _stratify_labels(self, seqs, targets):
        counts = np.bincount(self._codes(targets))
        return targets if counts[counts > 0].min() >= 2 else None

    def predict(self, X):
        """Predict the class of each sequence.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The predicted labels.
        """
        _, raw = self._raw_predict(X)
        return self.classes_[self._decide(raw)]

    def predict_proba(self, X):
        """Class probabilities of each sequence.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        _, raw = self._raw_predict(X)
        return self._proba(raw)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed without taking a log of it.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        _, raw = self._raw_predict(X)
        return self._loss_for(raw).log_link(raw)

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
        y = _labels_1d(y, predicted.shape[0])
        if y.dtype.kind == "f":
            assert_all_finite(y, input_name="y")
        weights = _score_weights(sample_weight, predicted.shape[0])
        try:
            return accuracy_score(y, predicted, sample_weight=weights)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"y cannot be compared with the predicted labels: {exc}") from exc


class RNNRegressor(RegressorMixin, BaseRNN):
    __doc__ = (
        """Recurrent network regressor: one value or vector per sequence.

    The final state of the top recurrent layer (of both directions, if
    bidirectional) goes through a linear output layer, trained on the squared
    error ``0.5 * ||prediction - y||^2`` per sequence.

    Parameters
    ----------"""
        + _PARAMETERS_DOC
        + """

    Attributes
    ----------"""
        + _ATTRIBUTES_DOC
        + """

    See Also
    --------
    RNNClassifier : The same network with a classification head.
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

    def _validate_targets(self, seqs, y, reset):
        y = _regression_targets(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        _check_n_targets(y.shape[0], seqs.n_sequences)
        targets = y.reshape(y.shape[0], -1)
        if reset:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = targets.shape[1]
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} outputs, but the model was fitted "
                f"with {self.n_outputs_}.")
        return targets

    def _make_loss(self):
        return SquaredError()

    def _validation_score(self, seqs, targets, weights):
        return r2_score(targets, self._raw_predict_seqs(seqs),
                        sample_weight=weights)

    @available_if(BaseRNN._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over X, y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict the target of each sequence.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, 1-D if the model was fitted on a 1-D y.
        """
        _, raw = self._raw_predict(X)
        return raw[:, 0] if self._y_1d else raw

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
        y = _regression_targets(y)
        if y.ndim == 2 and y.shape[1] == 1 and self._y_1d:
            y = column_or_1d(y, warn=True)
        _check_n_targets(y.shape[0], n)
        if y.reshape(n, -1).shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has shape {y.shape}, but the model predicts "
                f"{self.n_outputs_} output(s) per sequence.")
        weights = _score_weights(sample_weight, n)
        with np.errstate(over="ignore", invalid="ignore"):
            score = r2_score(y.reshape(predicted.shape), predicted,
                             sample_weight=weights)
        if n >= 2 and not np.isfinite(score):
            raise ValueError(
                "y is too large to score: the squared errors overflow float64. "
                "Scale the targets (e.g. with TransformedTargetRegressor).")
        return float(score)


class SequenceTagger(_ClassifierBase):
    __doc__ = (
        """Recurrent network tagger: one label per time step.

    The top recurrent layer's state at every step (both directions, aligned
    in time, if bidirectional) goes through a linear layer with a logistic
    output for two classes and a softmax for more; the loss is the log-loss
    averaged over the time steps of a minibatch.

    Parameters
    ----------"""
        + _PARAMETERS_DOC
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

    y is a list of 1-D label arrays, ``len(y[i]) == len(X[i])``; predict
    returns a list of 1-D arrays and score is the accuracy over all steps.

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

    _per_step = True

    def _validate_targets(self, seqs, y, reset):
        flat = np.concatenate(_step_labels(y, seqs.lengths))
        return self._targets_for_loss(self._encode_labels(flat, reset))

    def _split(self, seqs, flat):
        return np.split(flat, seqs.offsets[1:-1])

    def predict(self, X):
        """Predict the label of every time step.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        y : list of ndarray of shape (T_i,)
            The predicted labels of each sequence.
        """
        seqs, raw = self._raw_predict(X)
        return self._split(seqs, self.classes_[self._decide(raw)])

    def predict_proba(self, X):
        """Label probabilities of every time step.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        proba : list of ndarray of shape (T_i, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        seqs, raw = self._raw_predict(X)
        return self._split(seqs, self._proba(raw))

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed without taking a log of it.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features), or array-like
            Sequences in any accepted form.

        Returns
        -------
        log_proba : list of ndarray of shape (T_i, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        seqs, raw = self._raw_predict(X)
        return self._split(seqs, self._loss_for(raw).log_link(raw))

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
        labels = _step_labels(y, lengths)
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


def _step_labels(y, lengths):
    """y of a tagger checked against the sequence lengths: one 1-D label array
    per sequence."""
    if isinstance(y, np.ndarray) and y.dtype != object and y.ndim == 2:
        y = list(y)
    if not isinstance(y, (list, tuple, np.ndarray)):
        raise TypeError(
            "y must be a list of 1-D label arrays, one per sequence; got "
            f"{type(y).__name__}.")
    _check_n_targets(len(y), lengths.shape[0])
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


def _regression_targets(y):
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


def _score_weights(sample_weight, n):
    if sample_weight is None:
        return None
    return sequence_weights(sample_weight, np.ones(n, dtype=np.int64),
                            per_step=False)


def _labels_1d(y, n_sequences):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    elif y.ndim != 1:
        raise ValueError(
            f"y must be 1-D, one label per sequence; got shape {y.shape}.")
    _check_n_targets(y.shape[0], n_sequences)
    return y


def _check_n_targets(n_targets, n_sequences):
    if n_targets != n_sequences:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"X has {n_sequences} sequences but y has {n_targets} targets.")

