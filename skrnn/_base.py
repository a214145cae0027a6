"""The estimator base: validation, initialisation, the epoch loop and prediction."""

import inspect
import threading
import time
import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import threadpoolctl
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import ThreadpoolController

from . import __version__, _readout
from ._kernels._pack import packed_gather
from ._network import RecurrentNetwork, Workspace
from ._optimizers import SGD, Adam
from ._packing import PackedBatch, minibatch_indices, predict_batches
from ._progress import EpochProgress
from ._sequences import Sequences, check_sequences, check_step_features
from ._state import RecurrentState

_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"controller": None, "limiter": None, "users": 0}


def _release_openblas_control():
    """Let the calling thread set OpenBLAS's thread count.

    A pthreads OpenBLAS has one process-wide pool, so threadpoolctl lets only
    one "controlling" thread change it and silently ignores the others. Our
    limit is process-wide and reference-counted under _BLAS_LOCK, and may be
    set by one thread and restored by another (a joblib worker), so control
    is released around both; otherwise fits in worker threads ran a
    multi-threaded BLAS, oversubscribed and no longer equal to serial fits.
    """
    controller = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(controller, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@contextmanager
def _single_threaded_blas():
    """Context in which BLAS runs on one thread.

    The recurrent loop alternates small products with gate arithmetic; idle
    BLAS worker threads spinning between the products slowed a fit of the
    Japanese Vowels quick start fifty-fold on 2 cores. Parallelism comes from
    running fits side by side instead (joblib, whose threads the kernels do
    not block because they release the GIL).

    The limit is process-wide, so concurrent fits and predicts share one: the
    first to enter sets it and the last to leave restores the original
    thread counts, whatever order the threads finish in.
    """
    with _BLAS_LOCK:
        if _BLAS_STATE["users"] == 0:
            if _BLAS_STATE["controller"] is None:
                _BLAS_STATE["controller"] = ThreadpoolController()
            _release_openblas_control()
            _BLAS_STATE["limiter"] = _BLAS_STATE["controller"].limit(
                limits=1, user_api="blas")
            _release_openblas_control()
        _BLAS_STATE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["users"] -= 1
            if _BLAS_STATE["users"] == 0:
                _release_openblas_control()
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None
                _release_openblas_control()


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


def _window_of(seqs, starts, lengths):
    """Sequences of the steps ``starts[j]:starts[j] + lengths[j]`` of ``seqs``'
    data, and the data row of each of its rows; a view of one sequence's."""
    if starts.shape[0] == 1:
        a = int(starts[0])
        b = a + int(lengths[0])
        return (Sequences(seqs.data[a:b], np.array([0, b - a], dtype=np.int64)),
                np.arange(a, b))
    rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    rows += np.arange(rows.shape[0])
    return Sequences.from_lengths(seqs.data[rows], lengths), rows


def _window_rows(seqs, starts, lengths, k, bptt_steps):
    """Window k of the sequences (starts, lengths), sorted longest first:
    those longer than ``k * bptt_steps``, a prefix, and its data rows."""
    first = k * bptt_steps
    n = int(np.count_nonzero(lengths > first))
    return _window_of(seqs, starts[:n] + first,
                      np.minimum(lengths[:n] - first, bptt_steps))


def _packed_window_rows(starts, lengths, k, bptt_steps):
    """The data rows of window k in packed order (its PackedBatch's gather
    through its data rows), without copying its data."""
    first = k * bptt_steps
    n = int(np.count_nonzero(lengths > first))
    lengths = np.minimum(lengths[:n] - first, bptt_steps)
    at_least = np.bincount(lengths)[::-1].cumsum()[::-1]
    rows = np.empty(int(lengths.sum()), dtype=np.intp)
    packed_gather(np.ascontiguousarray(starts[:n] + first, dtype=np.int64),
                  np.ascontiguousarray(at_least[1:], dtype=np.intp), rows)
    return rows


def _carried(state, n):
    """The initial state of a window's first ``n`` sequences, carried from
    the last window's final ``state`` (None: the first window). A reverse
    direction starts every window from the zero state."""
    if state is None:
        return None
    out = []
    for row in state:
        forward = {kind: value[:n] for kind, value in row[0].items()}
        out.append([forward] + [{kind: np.zeros_like(value)
                                 for kind, value in forward.items()}
                                for _ in row[1:]])
    return out


def _prefix(masks, n):
    """Recurrent masks of the first ``n`` sequences."""
    if masks is None:
        return None
    return [[m[:n] for m in row] for row in masks]


def extend_init(base_init, **extra):
    """An ``__init__`` that takes ``base_init``'s parameters and the keyword-only
    ``extra`` ones (``name=default``), so each default is written once.

    scikit-learn reads an estimator's parameters from its ``__init__``
    signature, which is why the new one carries an explicit ``__signature__``.
    """
    signature = inspect.signature(base_init)
    signature = signature.replace(parameters=list(signature.parameters.values()) + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in extra.items()])

    def __init__(self, *args, **kwargs):
        values = signature.bind(self, *args, **kwargs)
        values.apply_defaults()
        values = dict(values.arguments)
        del values["self"]
        for name in extra:
            setattr(self, name, values.pop(name))
        base_init(self, **values)

    __init__.__signature__ = signature
    return __init__


class BaseRNN(BaseEstimator, metaclass=ABCMeta):
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

    def _validate_sequences(self, X, reset, dtype=None, allow_empty=False):
        """X in any accepted form -> Sequences, with sklearn's feature checks.

        The data is cast once, to ``dtype`` if given, else to the compute
        dtype when ``reset`` and to the fitted one otherwise.
        ``allow_empty`` lets zero-length sequences through (tagger predict).
        """
        if dtype is None:
            dtype = self._compute_dtype() if reset else self._params.dtype
        seqs, form = check_sequences(X, allow_empty=allow_empty, dtype=dtype)
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
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target "
                "y is None.")
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
            with _single_threaded_blas():
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
        with _single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
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
        views = net.views(params)
        masks = None
        if recurrent_dropout > 0:
            masks = net.recurrent_masks(rng, batch.n_sequences,
                                        recurrent_dropout, params.dtype)
        Z = net.forward(views, batch, ws, dropout=dropout, rng=rng,
                        recurrent_mask=masks)
        loss, dZ = self._outputs_loss_grad(Z, batch, targets, weights,
                                           weight_total, ws)
        net.backward(views, net.views(grad), batch, dZ.astype(Z.dtype, copy=False),
                     ws)
        return loss

    def _outputs_loss_grad(self, Z, batch, targets, weights, weight_total, ws):
        """Loss of a batch's raw outputs Z and its gradient wrt Z: the loss of
        each row ``_batch_rows`` selects, weighted."""
        rows = self._batch_rows(batch)
        return self._loss.loss_gradient(Z, targets[rows],
                                        weights[rows] / weight_total)

    def _truncated_loss_grad(self, seqs, targets, weights, idx, params, grad,
                             ws, bptt_steps, dropout=0.0, rng=None,
                             recurrent_dropout=0.0):
        """Truncated BPTT of the minibatch ``idx``: (loss, weight_total), its
        gradient written into ``grad``; None if the minibatch weighs nothing.

        Each sequence is cut into consecutive windows of ``bptt_steps`` steps
        (the last may be shorter). Window k of every sequence long enough is
        packed with the others' into one minibatch, so the recurrent products
        stay as wide as the minibatch; the states a window ends in start the
        next one, as constants: the gradient is taken within each window
        only. Only one window's trace is alive at a time, so memory is
        O(batch x bptt_steps x H) whatever the lengths.

        A per-step loss is taken in every window. A loss on each sequence's
        final state (the 'last' readout) reaches only its last window; the
        earlier windows run forward only. A pooled readout pools every
        window's steps (see :meth:`_pooled_windows`). The loss is the
        minibatch loss (the weights are divided by the minibatch's total),
        so the windows' gradients are summed into one gradient for one
        optimiser step.

        A reverse direction (bidirectional) is truncated by the same
        windows: it reads each window backwards from the zero state, as if
        the window were the whole sequence; only the forward direction
        carries its state from window to window. The recurrent-dropout mask
        of a sequence is drawn once and holds over all its windows.

        With ``bptt_steps`` at least the longest length this is the
        untruncated :meth:`_minibatch_loss_grad`, bit for bit.
        """
        net = self._network
        views = net.views(params)
        offsets = seqs.offsets
        lengths = offsets[idx + 1] - offsets[idx]
        # The packed order of the whole minibatch: every window's active
        # sequences are a prefix of it, in the same order.
        by_length = np.argsort(-lengths, kind="stable")
        order, lengths = idx[by_length], lengths[by_length]
        starts = offsets[order]
        n_windows = -(-lengths // bptt_steps)
        if self._per_step:
            # Summed window by window, as the full pass sums its packed rows.
            weight_total = 0.0
            for k in range(int(n_windows[0])):
                weight_total += weights[
                    _packed_window_rows(starts, lengths, k, bptt_steps)].sum()
        else:
            weight_total = weights[order].sum()
        if weight_total <= 0:
            return None
        masks = None
        if recurrent_dropout > 0:
            masks = net.recurrent_masks(rng, order.shape[0], recurrent_dropout,
                                        params.dtype)
        if net.pooled:
            loss = self._pooled_windows(seqs, targets, weights, order, starts,
                                        lengths, n_windows, views, grad, ws,
                                        bptt_steps, weight_total, dropout,
                                        rng, masks)
        elif self._per_step:
            loss = self._per_step_windows(seqs, targets, weights, starts,
                                          lengths, n_windows, views, grad, ws,
                                          bptt_steps, weight_total, dropout,
                                          rng, masks)
        else:
            loss = self._last_window(seqs, targets, weights, order, starts,
                                     lengths, n_windows, views, grad, ws,
                                     bptt_steps, weight_total, dropout, rng,
                                     masks)
        return loss, weight_total

    def _per_step_windows(self, seqs, targets, weights, starts, lengths,
                          n_windows, views, grad, ws, bptt_steps,
                          weight_total, dropout, rng, masks):
        """Per-step loss: every window's forward and backward, summed."""
        net = self._network
        state, loss = None, 0.0
        grads = net.views(grad)
        window_grad = ws.get(("window_grad",), grad.shape)
        window_grads = net.views(window_grad)
        for k in range(int(n_windows[0])):
            window, rows = _window_rows(seqs, starts, lengths, k, bptt_steps)
            batch = PackedBatch(window, np.arange(window.n_sequences))
            n = batch.n_sequences
            Z, final = net.forward(
                views, batch, ws, dropout=dropout, rng=rng,
                initial_state=_carried(state, n),
                return_state=True, recurrent_mask=_prefix(masks, n))
            rows = rows[batch.gather]
            window_loss, dZ = self._loss.loss_gradient(
                Z, targets[rows], weights[rows] / weight_total)
            loss += window_loss
            # The first window writes the gradient, the others add to it.
            net.backward(views, grads if k == 0 else window_grads, batch,
                         dZ.astype(Z.dtype, copy=False), ws)
            if k > 0:
                grad += window_grad
            state = final
        return loss

    def _pooled_windows(self, seqs, targets, weights, order, starts, lengths,
                        n_windows, views, grad, ws, bptt_steps, weight_total,
                        dropout, rng, masks):
        """Pooled readout: the features pool every window's steps, so a first
        pass runs the windows forward and merges their pooled statistics,
        which give the features, the loss and dL/dF; a second runs each
        window again and takes its gradient, its steps' share of dL/dF
        flowing back from the same global features (mean: 1/T of it; max:
        to the first maximum over all windows; attention: through the
        softmax over all steps). The second pass replays the first's
        dropout draws, so both see the same network; one window is run
        once."""
        net = self._network
        kind = net.readout
        n_k = int(n_windows[0])

        def window_forward(k, state):
            window, _ = _window_rows(seqs, starts, lengths, k, bptt_steps)
            batch = PackedBatch(window, np.arange(window.n_sequences))
            n = batch.n_sequences
            S, final = net.forward(views, batch, ws, dropout=dropout, rng=rng,
                                   initial_state=_carried(state, n),
                                   return_state=True,
                                   recurrent_mask=_prefix(masks, n),
                                   steps_only=True)
            return batch, S, final

        state, stats, draws = None, None, []
        for k in range(n_k):
            if dropout > 0 and n_k > 1:
                draws.append(rng.get_state())
            batch, S, state = window_forward(k, state)
            stats = _readout.merge_prefix(kind, stats, _readout.statistics(
                kind, S, batch, views.w_att), batch.n_sequences)
        Z, head = net.pooled_head(views, stats, ws, dropout=dropout, rng=rng)
        loss, dZ = self._loss.loss_gradient(Z, targets[order],
                                            weights[order] / weight_total)
        dF, d_W_out, d_b_out = net.pooled_head_backward(
            views, dZ.astype(Z.dtype, copy=False), head)
        F = head[0]
        after = rng.get_state() if draws else None
        grads = net.views(grad)
        window_grad = ws.get(("window_grad",), grad.shape)
        d_w_att, taken, state = None, None, None
        for k in range(n_k):
            if n_k > 1:
                if draws:
                    rng.set_state(draws[k])
                batch, S, state = window_forward(k, state)
            n = batch.n_sequences
            dS, d_w, taken = _readout.chunk_backward(
                kind, dF[:n], S, batch, F[:n], _readout.prefix(stats, n),
                views.w_att, None if taken is None else taken[:n])
            if d_w is not None:
                d_w_att = d_w if d_w_att is None else d_w_att + d_w
            # The first window writes the gradient, the others add to it.
            net.backward(views, grads if k == 0 else net.views(window_grad),
                         batch, dS, ws, d_steps=True)
            if k > 0:
                grad += window_grad
        if after is not None:
            rng.set_state(after)
        grads.W_out[...] = d_W_out
        grads.b_out[...] = d_b_out
        if d_w_att is not None:
            grads.w_att[...] = d_w_att
        return loss

    def _last_window(self, seqs, targets, weights, order, starts, lengths,
                     n_windows, views, grad, ws, bptt_steps, weight_total,
                     dropout, rng, masks):
        """Loss on the final state: the earlier windows forward only, then
        each sequence's last window with its gradient."""
        net = self._network
        n_all = order.shape[0]
        carried = None
        for k in range(int(n_windows[0]) - 1):
            # Sequences with a window after this one: a prefix, all of whose
            # windows k are full.
            n = int(np.count_nonzero(n_windows > k + 1))
            window, _ = _window_rows(seqs, starts[:n], lengths[:n], k,
                                     bptt_steps)
            batch = PackedBatch(window, np.arange(n))
            initial = _carried(carried, n)
            if dropout > 0 or masks is not None:
                # A training pass, so the carried state sees the same dropout
                # as the window that takes the gradient; its trace is dropped.
                _, final = net.forward(views, batch, ws, dropout=dropout,
                                       rng=rng, initial_state=initial,
                                       return_state=True,
                                       recurrent_mask=_prefix(masks, n))
            else:
                _, final = net.predict(views, batch, ws, initial_state=initial,
                                       return_state=True)
            if carried is None:
                carried = net.zero_state(n_all, views.W_out.dtype)
            for layer, row in enumerate(final):
                for kind, value in row[0].items():
                    carried[layer][0][kind][:n] = value
        first = (n_windows - 1) * bptt_steps
        window, _ = _window_of(seqs, starts + first, lengths - first)
        batch = PackedBatch(window, np.arange(n_all))
        initial = None
        if carried is not None:
            initial = [[{kind: value[batch.order] for kind, value in d.items()}
                        for d in row] for row in carried]
        Z = net.forward(views, batch, ws, dropout=dropout, rng=rng,
                        initial_state=initial,
                        recurrent_mask=None if masks is None else
                        [[m[batch.order] for m in row] for row in masks])
        rows = order[batch.order]
        loss, dZ = self._loss.loss_gradient(Z, targets[rows],
                                            weights[rows] / weight_total)
        net.backward(views, net.views(grad), batch,
                     dZ.astype(Z.dtype, copy=False), ws)
        return loss

    def _batch_rows(self, batch):
        """Rows of the targets and weights that ``batch`` reads: one per packed
        step for a per-step model, one per sequence otherwise."""
        return batch.gather if self._per_step else batch.order

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

    def _fit_stochastic(self, seqs, targets, weights, rng, incremental,
                        validation):
        params = self._params
        grad = np.zeros_like(params)
        ws = Workspace(params.dtype)
        if self._optimizer is None or not (self.warm_start or incremental):
            if self.solver == "sgd":
                self._optimizer = SGD(
                    params.shape[0], params.dtype, self.learning_rate_init,
                    self.learning_rate, self.momentum, self.nesterovs_momentum,
                    self.power_t)
            else:
                self._optimizer = Adam(
                    params.shape[0], params.dtype, self.learning_rate_init,
                    self.beta_1, self.beta_2, self.epsilon)
        optimizer = self._optimizer

        # Without a split the training set is the data itself, not a copy:
        # the data then takes memory once, whatever N.
        train_seqs, train_targets, train_weights = seqs, targets, weights
        if self.early_stopping and validation is None:
            train, val = self._split_validation(seqs, targets, rng)
            validation = (self._subset(seqs, targets, val)
                          + (self._rows(seqs, weights, val),))
            train_seqs, train_targets, train_weights = (
                self._subset(seqs, targets, train)
                + (self._rows(seqs, weights, train),))
        if validation is not None and not incremental:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            if self.early_stopping:
                self.best_loss_ = None
                self._best_params = params.copy()
        n_train = train_seqs.n_sequences
        batch_size = self._batch_size(n_train)

        # Weights before the step in flight, to fall back on when a step
        # overflows: the model must keep finite weights.
        last_good = params.copy()
        start = time.perf_counter()
        updates_in_epoch, epoch_rng_state = 1, None
        try:
            for _ in range(self.max_iter):
                accumulated = 0.0
                # Restored if the epoch is interrupted before its first
                # update, so that warm_start resumes the shuffling stream
                # exactly where an uninterrupted fit would be.
                epoch_rng_state = rng.get_state()
                updates_in_epoch = 0
                order = minibatch_indices(n_train, batch_size,
                                          rng if self.shuffle else None)
                order = EpochProgress(order, n_train, self.verbose, self.n_iter_ + 1)
                for b, idx in enumerate(order):
                    if self.bptt_steps is None:
                        batch = PackedBatch(train_seqs, idx)
                        weight_total = train_weights[
                            self._batch_rows(batch)].sum()
                        if weight_total <= 0:
                            continue
                        loss = self._minibatch_loss_grad(
                            train_seqs, train_targets, train_weights, batch,
                            params, grad, ws, weight_total, self.dropout, rng,
                            self.recurrent_dropout)
                    else:
                        result = self._truncated_loss_grad(
                            train_seqs, train_targets, train_weights, idx,
                            params, grad, ws, self.bptt_steps, self.dropout,
                            rng, self.recurrent_dropout)
                        if result is None:
                            continue
                        loss, weight_total = result
                    loss += self._regularize(params, grad, weight_total)
                    grad_norm = float(np.sqrt(grad @ grad))
                    if not (np.isfinite(loss) and np.isfinite(grad_norm)):
                        self._diverged(b)
                        return
                    if self.clip_norm is not None and grad_norm > self.clip_norm:
                        grad *= self.clip_norm / grad_norm
                    np.copyto(last_good, params)
                    optimizer.step(params, grad)
                    updates_in_epoch += 1
                    if not np.isfinite(params @ params):
                        params[...] = last_good
                        self._diverged(b)
                        return
                    accumulated += loss * idx.shape[0]
                self.n_iter_ += 1
                self.t_ += n_train
                self.loss_ = accumulated / n_train
                self.loss_curve_.append(self.loss_)
                self._update_no_improvement_count(validation)
                if self.verbose:
                    self._report_epoch(start)
                optimizer.epoch_ended(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    if optimizer.stalled(self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic optimizer: maximum iterations "
                        f"({self.max_iter}) reached and the optimization "
                        "hasn't converged yet.",
                        ConvergenceWarning, stacklevel=2)
        except KeyboardInterrupt:
            if updates_in_epoch == 0:
                rng.set_state(epoch_rng_state)
            warnings.warn(
                f"Training interrupted by user after {self.n_iter_} complete "
                "epochs; the model keeps the last applied update.", stacklevel=2)
        if self.early_stopping and self.validation_scores_:
            params[...] = self._best_params

    def _diverged(self, minibatch):
        where = f"epoch {self.n_iter_ + 1}, minibatch {minibatch + 1}"
        if self.early_stopping and self.validation_scores_:
            self._params[...] = self._best_params
            warnings.warn(
                f"Training diverged (non-finite loss or gradient at {where}); "
                "restored the weights of the best validation score.",
                ConvergenceWarning, stacklevel=2)
            return
        raise ValueError(
            f"Training diverged: the loss or its gradient became non-finite at "
            f"{where}. Scale the input (e.g. with StandardScaler), lower "
            "learning_rate_init, or set clip_norm. The model keeps the last "
            "finite weights."
        )

    def _update_no_improvement_count(self, validation):
        """MLP's stopping rule, on the validation score with early stopping,
        else on the training loss; a validation set is scored either way."""
        if validation is not None:
            score = self._validation_score(*validation)
            self.validation_scores_.append(score)
            previous_best = self.best_validation_score_
            if score > previous_best:
                self.best_validation_score_ = score
                if self.early_stopping:
                    self._best_params = self._params.copy()
        if self.early_stopping:
            if score < previous_best + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _report_epoch(self, start):
        unit = "Iteration" if self.solver == "lbfgs" else "Epoch"
        line = f"{unit} {self.n_iter_}, loss = {self.loss_:.8f}"
        if self.validation_scores_:
            line += f", validation score = {self.validation_scores_[-1]:.6f}"
        line += f", elapsed {time.perf_counter() - start:.2f} s"
        print(line, flush=True)

    def _fit_lbfgs(self, seqs, targets, weights):
        params = self._params
        n_params = params.shape[0]
        grad = np.zeros_like(params)
        total = np.zeros(n_params, dtype=np.float64)
        ws = Workspace(params.dtype)
        batches = [PackedBatch(seqs, idx) for idx in predict_batches(seqs.lengths)]
        weight_total = weights.sum()
        initial = params.copy()

        def loss_grad(flat):
            params[...] = flat
            total.fill(0)
            loss = 0.0
            for batch in batches:
                loss += self._minibatch_loss_grad(seqs, targets, weights, batch,
                                                  params, grad, ws, weight_total)
                np.add(total, grad, out=total)
            grad[...] = 0
            loss += self._regularize(params, grad, weight_total)
            np.add(total, grad, out=total)
            return loss, total

        self.loss_curve_ = []
        start = time.perf_counter()

        def record(intermediate_result):
            # One entry per iteration, like the stochastic solvers' epochs;
            # also the verbose report (SciPy's own iprint is deprecated).
            self.loss_ = float(intermediate_result.fun)
            self.loss_curve_.append(self.loss_)
            self.n_iter_ = len(self.loss_curve_)
            if self.verbose:
                self._report_epoch(start)

        result = scipy.optimize.minimize(
            loss_grad, params.astype(np.float64), method="L-BFGS-B", jac=True,
            callback=record,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                     "gtol": self.tol},
        )
        if not (np.isfinite(result.fun) and np.isfinite(result.x).all()):
            params[...] = initial
            raise ValueError(
                "Training diverged: L-BFGS met a non-finite loss or weights. "
                "Scale the input (e.g. with StandardScaler) or use another "
                "cell or activation.")
        params[...] = result.x
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        self.t_ = seqs.n_sequences * self.n_iter_
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iterations "
                f"({result.message}). Increase max_iter or max_fun, or scale "
                "the data.", ConvergenceWarning, stacklevel=2)

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
        starts = seqs.offsets[indices]
        lengths = seqs.lengths[indices]
        steps = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return values[steps + np.arange(lengths.sum())]

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

    def _raw_predict(self, X, initial_state=None, return_state=False):
        """Validated X, its raw outputs (see :meth:`_raw_predict_seqs`) and,
        with ``return_state``, the final states as a RecurrentState."""
        check_is_fitted(self, "_params")
        seqs = self._validate_sequences(X, reset=False,
                                        allow_empty=self._per_step)
        if initial_state is not None or return_state:
            if self._network.n_directions == 2:
                raise ValueError(
                    f"{type(self).__name__} with bidirectional=True cannot carry "
                    "its state from one predict call to the next: its reverse "
                    "direction reads each sequence from its end. Predict whole "
                    "sequences, or fit with bidirectional=False.")
            if initial_state is not None:
                initial_state = self._check_initial_state(initial_state, seqs)
        raw, state = self._raw_predict_seqs(seqs, initial_state, return_state)
        # Users read float64 outputs, as scikit-learn returns, whatever the
        # precision the network computed them in.
        return seqs, raw.astype(np.float64, copy=False), state

    def _check_initial_state(self, state, seqs):
        if not isinstance(state, RecurrentState):
            raise TypeError(
                "initial_state must be the RecurrentState that predict returned "
                f"with return_state=True; got {type(state).__name__}.")
        net = self._network
        return state._checked(
            seqs.n_sequences, net.hidden_layer_sizes, net._cell.cell_state,
            net.readout if net.pooled else None, self._params.dtype,
            type(self).__name__)

    def _raw_predict_seqs(self, seqs, initial_state=None, return_state=False):
        """Raw outputs in the caller's order: (n, k), or per step (sum T_i, k),
        and the final states (a RecurrentState, or None without ``return_state``).

        Streams over length-sorted minibatches with a work space of its own,
        so it writes nothing to the estimator and threads can share a model.
        Each sequence starts from its row of ``initial_state`` (zero if None).
        """
        net = self._network
        params = net.views(self._params)
        ws = Workspace(self._params.dtype)
        rows = seqs.n_steps if self._per_step else seqs.n_sequences
        out = np.empty((rows, self.n_outputs_), dtype=self._params.dtype)
        final = None
        if return_state:
            # A zero-length sequence (a tagger's) keeps the state it came with.
            final = (RecurrentState._zeros(
                seqs.n_sequences, net.hidden_layer_sizes, net._cell.cell_state,
                net.readout if net.pooled else None, self._params.dtype)
                if initial_state is None
                else initial_state[np.arange(seqs.n_sequences)])
        nonempty = np.flatnonzero(seqs.lengths > 0)
        with _single_threaded_blas():
            max_steps = net.steps_per_batch(itemsize=self._params.dtype.itemsize)
            lengths = seqs.lengths[nonempty]
            for idx in predict_batches(lengths, max_steps):
                members = nonempty[idx]
                if lengths[idx[0]] > max_steps and net.n_directions == 1:
                    # One sequence longer than the budget: in chunks of time,
                    # the state carried over, so that memory beyond its data
                    # does not grow with its length (a reversed direction
                    # needs the whole sequence at once).
                    self._predict_in_chunks(seqs, int(members[0]), max_steps,
                                            params, ws, out, initial_state, final)
                    continue
                batch = PackedBatch(seqs, members)
                Z = self._predict_batch(batch, params, ws, batch.order,
                                        initial_state, final)
                out[batch.gather if self._per_step else batch.order] = Z
        return out, final

    def _predict_batch(self, batch, params, ws, rows, initial_state, final):
        """Raw outputs of one packed batch whose sequence j is row ``rows[j]``
        of ``initial_state`` and ``final`` (either may be None)."""
        net = self._network
        state = pool = None
        if initial_state is not None:
            state = initial_state._layers(rows)
            pool = initial_state._pool_rows(rows)
        if final is None and pool is None:
            return net.predict(params, batch, ws, initial_state=state)
        result = net.predict(params, batch, ws, initial_state=state,
                             return_state=True, pool_state=pool)
        if final is not None:
            final._write(rows, result[1], result[2] if net.pooled else None)
        return result[0]

    def _predict_in_chunks(self, seqs, i, max_steps, params, ws, out,
                           initial_state, final):
        start, stop = int(seqs.offsets[i]), int(seqs.offsets[i + 1])
        rows = np.array([i])
        # The chunks hand their state on through `carried`, row i of a state
        # of its own, so that `initial_state` is only read.
        carried = (initial_state[rows] if initial_state is not None else
                   RecurrentState._zeros(
                       1, self._network.hidden_layer_sizes,
                       self._network._cell.cell_state,
                       self._network.readout if self._network.pooled else None,
                       self._params.dtype))
        for a in range(start, stop, max_steps):
            b = min(a + max_steps, stop)
            chunk = type(seqs)(seqs.data[a:b], np.array([0, b - a], dtype=np.int64))
            Z = self._predict_batch(PackedBatch(chunk, [0]), params, ws,
                                    np.array([0]), carried if a > start or
                                    initial_state is not None else None, carried)
            if self._per_step:
                out[a:b] = Z
        if not self._per_step:
            out[i] = Z[0]
        if final is not None:
            final._write(rows, carried._layers([0]),
                         carried._pool_rows([0]) if self._network.pooled else None)

    # -- persistence -----------------------------------------------------

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
