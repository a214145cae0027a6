"""The estimator base: parameters, input and target checks, initialisation, the
minibatch loss; training, truncated BPTT and prediction are mixed in."""

import inspect
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    validate_data,
)

from . import __version__
from ._bptt import TruncatedBPTTMixin
from ._network import RecurrentNetwork
from ._predicting import PredictionMixin
from ._sequences import check_sequences, check_step_features
from ._threads import single_threaded_blas
from ._training import TrainingMixin
from ._validation import check_y_passed, sequence_weights


def extend_init(base_init, **extra):
    """An ``__init__`` that takes ``base_init``'s parameters and the keyword-only
    ``extra`` ones (``name=default``), so each default is written once; an
    ``extra`` name that ``base_init`` already takes changes only its default.

    scikit-learn reads an estimator's parameters from its ``__init__``
    signature, which is why the new one carries an explicit ``__signature__``.
    """
    signature = inspect.signature(base_init)
    added = {name: default for name, default in extra.items()
             if name not in signature.parameters}
    signature = signature.replace(parameters=[
        p.replace(default=extra[p.name]) if p.name in extra else p
        for p in signature.parameters.values()] + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in added.items()])

    def __init__(self, *args, **kwargs):
        values = signature.bind(self, *args, **kwargs)
        values.apply_defaults()
        values = dict(values.arguments)
        del values["self"]
        for name in added:
            setattr(self, name, values.pop(name))
        base_init(self, **values)

    __init__.__signature__ = signature
    return __init__


class BaseRNN(TrainingMixin, TruncatedBPTTMixin, PredictionMixin, BaseEstimator,
              metaclass=ABCMeta):
    """Base class of the recurrent estimators.

    Owns everything the estimators share: parameter validation, the input
    conversion to :class:`~skrnn._sequences.Sequences`, the network and its
    flat parameter vector, the optimisers and the epoch loop with early
    stopping, warm start and interrupt handling, and streaming prediction of
    raw outputs. Subclasses add the target encoding, the loss and the public
    predict/score methods; ``_per_step`` says whether the head reads every
    step (tagging) or each sequence's final state.
    """

    _per_step = False
    # Whether the loss splits into windows of steps, as bptt_steps needs.
    _truncatable = True

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "cell": [StrOptions({"lstm", "gru", "rnn"})],
        "activation": [StrOptions({"tanh", "relu"})],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "bptt_steps": [Interval(Integral, 1, None, closed="left"), None],
        "dtype": [StrOptions({"float32", "float64"})],
        "solver": [StrOptions({"adam", "sgd", "lbfgs"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
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
        dtype="float32",
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
        n_jobs=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cell = cell
        self.activation = activation
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.clip_norm = clip_norm
        self.bptt_steps = bptt_steps
        self.dtype = dtype
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.n_jobs = n_jobs

    # -- subclass hooks --------------------------------------------------

    @abstractmethod
    def _validate_targets(self, seqs, y, reset):
        """Encode y for the loss; set classes_/n_outputs_ when ``reset``.

        Returns the targets, one row per sequence (or per step, aligned with
        ``seqs.data``, for a per-step model).
        """

    @abstractmethod
    def _make_loss(self):
        """The loss object matching the encoded targets."""

    def _readout(self):
        """What the head reads of a many-to-one network (see _readout.py)."""
        return "last"

    def _sample_weights(self, seqs, targets, sample_weight):
        """Weights aligned with ``targets`` (per step for a per-step model)."""
        return sequence_weights(sample_weight, seqs.lengths, self._per_step)

    @abstractmethod
    def _validation_score(self, seqs, targets, weights):
        """The score early stopping watches, on encoded validation targets."""

    # -- input -----------------------------------------------------------

    def _compute_dtype(self):
        """The precision a fit computes in: ``dtype``."""
        return np.dtype(self.dtype)

    def _validate_sequences(self, X, reset, dtype=None, allow_empty=False,
                            defer_values=False):
        """X in any accepted form -> Sequences, with sklearn's feature checks.

        The data is cast once, to ``dtype`` if given, else to the compute
        dtype when ``reset`` and to the fitted one otherwise.
        ``allow_empty`` lets zero-length sequences through (tagger predict);
        ``defer_values`` may return an ArraySequences (see check_sequences).
        """
        if dtype is None:
            dtype = self._compute_dtype() if reset else self._params.dtype
        seqs, form = check_sequences(X, allow_empty=allow_empty, dtype=dtype,
                                     defer_values=defer_values)
        if reset:
            self._fitted_on_2d = form == "2d"
            self._n_step_features = seqs.n_features
            if form == "2d":
                # n_features_in_ is T and feature names come from a DataFrame,
                # as sklearn requires of tabular input.
                validate_data(self, X, reset=True, skip_check_array=True)
            else:
                self.n_features_in_ = seqs.n_features
                # The columns of a nested table or panel are its features.
                _check_feature_names(self, X, reset=True)
        else:
            if form == "2d" and self._fitted_on_2d:
                validate_data(self, X, reset=False, skip_check_array=True)
            elif form != "2d" and not self._fitted_on_2d:
                _check_feature_names(self, X, reset=False)
            check_step_features(seqs, self._n_step_features, type(self).__name__,
                                X, form)
        return seqs

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if len(sizes) == 0 or any(
            not isinstance(s, Integral) or s <= 0 for s in sizes
        ):
            # The declared constraint ("array-like") cannot see the entries;
            # this is the same error, in sklearn's wording.
            raise InvalidParameterError(
                f"The 'hidden_layer_sizes' parameter of {type(self).__name__} "
                "must be a positive int or a non-empty array-like of positive "
                f"ints, one per recurrent layer. Got {self.hidden_layer_sizes!r} "
                "instead."
            )
        return tuple(int(s) for s in sizes)

    # -- fit -------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None):
        """Fit the model to sequences X and targets y.

        Parameters
        ----------
        X : list of array-like of shape (T_i, n_features) or (T_i,), \
                array-like of shape (n_samples, T, n_features) or (n_samples, T)
            The training sequences; see the package documentation for every
            accepted form.
        y : array-like
            The targets: one per sequence, or for :class:`SequenceTagger` a
            list of one label array per sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the loss; a :class:`SequenceTagger`
            also takes a list of one weight array per sequence (one weight
            per step). The loss of a minibatch is the weighted mean, and the
            L2 term is divided by the sum of the weights, as in MLPClassifier.
            None weighs every sequence equally.
        X_val, y_val : validation sequences and targets, default=None
            A validation set of your own, scored after every epoch into
            ``validation_scores_`` instead of one split off the training data;
            with ``early_stopping=True`` it decides when to stop and which
            weights to keep. Give one when searching hyperparameters, so the
            stopping rule never sees the data a search scores on.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, validation_data=(X_val, y_val))

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight, incremental=False,
             validation_data=(None, None)):
        check_y_passed(y, type(self).__name__)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.bptt_steps is not None and self.solver == "lbfgs":
            raise ValueError(
                "bptt_steps needs a stochastic solver ('adam' or 'sgd'): the "
                "truncated gradient is not the gradient of the loss that "
                "L-BFGS's line search evaluates. Use bptt_steps=None with "
                "solver='lbfgs'.")
        if self.bptt_steps is not None and not self._truncatable:
            raise ValueError(
                f"{type(self).__name__} does not support bptt_steps: its loss "
                "does not split into windows of time steps. Use "
                "bptt_steps=None.")
        X_val, y_val = validation_data
        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val, or neither.")
        hidden = self._hidden_sizes()
        reuse = (incremental or self.warm_start) and hasattr(self, "_params")
        seqs = self._validate_sequences(X, reset=not reuse)
        # A classifier's first partial_fit has its classes_ from `classes`.
        reset_targets = not reuse and not (incremental and hasattr(self, "classes_"))
        targets = self._validate_targets(seqs, y, reset=reset_targets)
        weights = self._sample_weights(seqs, targets, sample_weight)
        validation = None
        if X_val is not None:
            val_seqs = self._validate_sequences(X_val, reset=False,
                                                dtype=seqs.dtype)
            validation = (val_seqs,
                          self._validate_targets(val_seqs, y_val, reset=False),
                          None)

        if not reuse:
            self._random_state = check_random_state(self.random_state)
        rng = self._random_state
        architecture = (self.cell, self.activation, hidden, self.bidirectional,
                        seqs.n_features, self.n_outputs_, self._readout(),
                        self._compute_dtype().name)
        if reuse and architecture != self._architecture:
            raise ValueError(
                "warm_start=True needs the architecture of the previous fit "
                f"(cell, activation, hidden_layer_sizes, bidirectional, "
                f"features, outputs, readout, dtype) {self._architecture}; got "
                f"{architecture}. "
                "Set warm_start=False to fit from scratch."
            )
        if not reuse:
            self._architecture = architecture
            self._network = RecurrentNetwork(
                cell=self.cell, activation=self.activation,
                n_features=seqs.n_features, hidden_layer_sizes=hidden,
                bidirectional=self.bidirectional, n_outputs=self.n_outputs_,
                per_step=self._per_step, readout=self._readout())
            with single_threaded_blas():
                # The orthogonal initialisation's QR is BLAS work too.
                self._params = self._network.init_params(rng, seqs.dtype)
            self._optimizer = None
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        else:
            # (X was cast to the fitted dtype by _validate_sequences.)
            if not self._params.flags.writeable:
                # e.g. loaded with joblib's mmap_mode="r": never update the
                # caller's file in place.
                self._params = self._params.copy()
            if self._optimizer is not None:
                self._optimizer.ensure_writeable()
        self._loss = self._make_loss()

        # Overflow is caught explicitly (a non-finite loss stops training with
        # a clear error), so numpy's own overflow warnings would only be noise.
        with single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
            if self.solver == "lbfgs":
                self._fit_lbfgs(seqs, targets, weights)
            else:
                self._fit_stochastic(seqs, targets, weights, rng, incremental,
                                     validation)
        self._check_finite_params()
        return self

    def _minibatch_loss_grad(self, seqs, targets, weights, batch, params, grad,
                             ws, weight_total, dropout=0.0, rng=None,
                             recurrent_dropout=0.0):
        """Loss of one packed minibatch and its gradient, written into ``grad``.

        Weights are divided by ``weight_total``: the minibatch's own for a
        stochastic step, the whole data set's for a full-batch one.
        """
        net = self._network
        views = ws.views(net, params)
        masks = None
        if recurrent_dropout > 0:
            masks = net.recurrent_masks(rng, batch.n_sequences,
                                        recurrent_dropout, params.dtype)
        Z = net.forward(views, batch, ws, dropout=dropout, rng=rng,
                        recurrent_mask=masks)
        loss, dZ = self._outputs_loss_grad(Z, batch, targets, weights,
                                           weight_total, ws)
        net.backward(views, ws.views(net, grad), batch,
                     dZ.astype(Z.dtype, copy=False), ws)
        return loss

    def _outputs_loss_grad(self, Z, batch, targets, weights, weight_total, ws):
        """Loss of a batch's raw outputs Z and its gradient wrt Z: the loss of
        each row ``_batch_rows`` selects, weighted."""
        rows = self._batch_rows(batch)
        return self._loss.loss_gradient(Z, targets[rows],
                                        weights[rows] / weight_total)

    def _batch_rows(self, batch):
        """Rows of the targets and weights that ``batch`` reads: one per packed
        step for a per-step model, one per sequence otherwise."""
        return batch.rows(self._per_step)

    def _regularize(self, params, grad, weight_total):
        """Add MLP's L2 term on the weights (not biases), to loss and ``grad``.

        The term is ``0.5 * alpha * ||W||^2 / weight_total``, the total being
        the sum of the sample weights that normalise the data loss.
        """
        if self.alpha == 0:
            return 0.0
        weights = params[: self._network.n_weights]
        grad[: self._network.n_weights] += (self.alpha / weight_total) * weights
        return 0.5 * self.alpha * float(weights @ weights) / weight_total

    def _check_finite_params(self):
        if not np.isfinite(self._params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data "
                "may contain large values and need to be preprocessed."
            )

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(32, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                f"Got batch_size={self.batch_size} larger than the number of "
                f"training sequences ({n_samples}); it is clipped to "
                f"{n_samples}.", stacklevel=2)
        return min(self.batch_size, n_samples)

    def _rows(self, seqs, values, indices):
        """Entries of per-sequence or per-step ``values`` for sequences ``indices``."""
        if not self._per_step:
            return values[indices]
        return values[seqs.step_rows(indices)[0]]

    def _subset(self, seqs, targets, indices):
        return seqs.take(indices), self._rows(seqs, targets, indices)

    def _split_validation(self, seqs, targets, rng):
        """Hold out whole sequences for early stopping (stratified if classifying)."""
        n = seqs.n_sequences
        stratify = self._stratify_labels(seqs, targets)
        n_val = int(np.ceil(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"early_stopping needs at least one training and one "
                f"validation sequence; {n} sequences with validation_fraction="
                f"{self.validation_fraction} leave none for one of them.")
        if stratify is not None:
            n_classes = np.unique(stratify).shape[0]
            if min(n_val, n - n_val) < n_classes:
                raise ValueError(
                    f"early_stopping splits the sequences stratified by class, "
                    f"but validation_fraction={self.validation_fraction} of "
                    f"{n} sequences gives {n_val} validation and {n - n_val} "
                    f"training sequences, fewer than the {n_classes} classes. "
                    "Raise validation_fraction, or pass X_val and y_val.")
        train, val = train_test_split(
            np.arange(n), test_size=self.validation_fraction,
            random_state=rng, stratify=stratify)
        return train, val

    def _stratify_labels(self, seqs, targets):
        return None

    # -- predict ---------------------------------------------------------

    def __getstate__(self):
        # A copy: BaseEstimator may hand back the instance's own __dict__.
        state = dict(super().__getstate__())
        state["_skrnn_version"] = __version__
        return state

    def __setstate__(self, state):
        version = state.pop("_skrnn_version", None)
        if version != __version__:
            warnings.warn(
                f"Trying to unpickle {type(self).__name__} from skrnn version "
                f"{version} when using version {__version__}. This might lead "
                "to breaking code or invalid results. Use at your own risk.",
                UserWarning, stacklevel=2)
        super().__setstate__(state)
