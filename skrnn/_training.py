"""The training loops: minibatch epochs (adam, sgd) on sharded minibatches,
and full-batch L-BFGS."""

import time
import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from ._network import Workspace
from ._optimizers import SGD, Adam
from ._packing import PackedBatch, minibatch_indices, step_budget_batches
from ._progress import EpochProgress
from ._threads import Threads

# A training minibatch is split into shards, the plan of work that n_jobs
# threads share, fixed by the data and the architecture (never by n_jobs) so
# that every n_jobs gives the same fit: at least _SHARD_SEQUENCES sequences a
# shard, and at least _SHARD_WORK sequences x units, since a narrower
# shard's per-step cost is mostly fixed and splitting it only costs time.
_SHARD_SEQUENCES = 16
_SHARD_WORK = 1024


def shard_size(hidden_layer_sizes):
    """The fewest sequences a shard of a training minibatch holds."""
    return max(_SHARD_SEQUENCES, -(-_SHARD_WORK // max(hidden_layer_sizes)))


class TrainingMixin:
    """The epoch loops of :class:`~skrnn._base.BaseRNN`: the minibatch
    optimisers with early stopping and divergence checks, and L-BFGS."""

    def _shards(self, seqs, idx):
        """The fixed plan of a minibatch: as many shards as hold
        :func:`shard_size` sequences each, dealt in order of length so the
        shards' lengths match."""
        k = max(1, idx.shape[0] // shard_size(self._network.hidden_layer_sizes))
        if k == 1:
            return [idx]
        lengths = seqs.offsets[idx + 1] - seqs.offsets[idx]
        by_length = idx[np.argsort(-lengths, kind="stable")]
        return [by_length[j::k] for j in range(k)]

    def _step_loss_grad(self, seqs, targets, weights, idx, params, grad,
                        shards, rng, threads, sequence_totals, upcoming=None,
                        packed=None):
        """(loss, weight_total) of the minibatch ``idx``, its gradient written
        into ``grad``; None if it weighs nothing.

        The minibatch's shards (:meth:`_shards`) run on ``threads``, each
        into its own work space and gradient (``shards``: a dict of both by
        shard number, kept across minibatches), summed in shard order; with
        dropout each shard draws from a generator seeded from ``rng``, so the
        result does not depend on the threads. ``sequence_totals``: each
        sequence's weight (see :meth:`_sequence_totals`).

        ``upcoming``, the next minibatch (None: none), is packed into
        ``packed`` (a dict kept across minibatches) by the calling thread
        while it waits for the other threads' shards, where packing would
        otherwise hold the GIL as the next step's shards start.
        """
        plan, batches = None, {}
        if packed and packed["idx"] is idx:
            plan, batches = packed["plan"], packed["batches"]
        if packed is not None:
            packed.clear()
        if plan is None:
            plan = self._shards(seqs, idx)
        dropout, recurrent = self.dropout, self.recurrent_dropout
        if len(plan) == 1:
            ws, _ = self._shard_buffers(shards, 0, grad)
            if self.bptt_steps is not None:
                return self._truncated_loss_grad(
                    seqs, targets, weights, idx, params, grad, ws,
                    self.bptt_steps, dropout, rng, recurrent)
            batch = PackedBatch(seqs, idx)
            weight_total = weights[self._batch_rows(batch)].sum()
            if weight_total <= 0:
                return None
            return self._minibatch_loss_grad(
                seqs, targets, weights, batch, params, grad, ws, weight_total,
                dropout, rng, recurrent), weight_total
        # Summed in a fixed order from each sequence's weight (of all its
        # steps, per step); the shards are packed in the threads.
        weight_total = 0.0
        for part in plan:
            weight_total += sequence_totals[part].sum()
        if weight_total <= 0:
            return None
        rngs = [None] * len(plan)
        if dropout > 0 or recurrent > 0:
            rngs = [np.random.RandomState(seed) for seed in
                    rng.randint(np.iinfo(np.int32).max, size=len(plan))]

        def run(j):
            ws, shard_grad = self._shard_buffers(shards, j, grad)
            if self.bptt_steps is not None:
                return self._truncated_loss_grad(
                    seqs, targets, weights, plan[j], params, shard_grad, ws,
                    self.bptt_steps, dropout, rngs[j], recurrent,
                    weight_total=weight_total)[0]
            batch = batches.get(j)
            if batch is None:
                batch = PackedBatch(seqs, plan[j])
            return self._minibatch_loss_grad(
                seqs, targets, weights, batch, params, shard_grad, ws,
                weight_total, dropout, rngs[j], recurrent)

        def pack_upcoming():
            next_plan = self._shards(seqs, upcoming)
            if len(next_plan) > 1:
                packed.update(idx=upcoming, plan=next_plan, batches={
                    j: PackedBatch(seqs, part)
                    for j, part in enumerate(next_plan)})

        prefetch = (pack_upcoming if upcoming is not None and packed is not None
                    and self.bptt_steps is None else None)
        losses = threads.map(run, range(len(plan)), idle=prefetch)
        np.add(shards[0][1], shards[1][1], out=grad)
        for j in range(2, len(plan)):
            grad += shards[j][1]
        loss = 0.0
        for value in losses:
            loss += value
        return loss, weight_total

    def _sequence_totals(self, seqs, weights):
        """The weight of each sequence: its own, or the sum of its steps'."""
        if not self._per_step:
            return weights
        running = np.concatenate([[0.0], np.cumsum(weights)])
        return running[seqs.offsets[1:]] - running[seqs.offsets[:-1]]

    @staticmethod
    def _shard_buffers(shards, j, grad):
        """Shard j's work space and gradient (shard 0 of a one-shard
        minibatch writes into ``grad`` itself)."""
        if j not in shards:
            shards[j] = (Workspace(grad.dtype), np.zeros_like(grad))
        return shards[j]

    def _fit_stochastic(self, seqs, targets, weights, rng, incremental,
                        validation):
        with Threads(self.n_jobs) as threads:
            self._fit_stochastic_on(seqs, targets, weights, rng, incremental,
                                    validation, threads)

    def _fit_stochastic_on(self, seqs, targets, weights, rng, incremental,
                           validation, threads):
        params = self._params
        grad = np.zeros_like(params)
        shards, packed = {}, {}
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
        sequence_totals = self._sequence_totals(train_seqs, train_weights)
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
                minibatches = minibatch_indices(n_train, batch_size,
                                                rng if self.shuffle else None)
                order = EpochProgress(minibatches, n_train, self.verbose,
                                      self.n_iter_ + 1)
                for b, idx in enumerate(order):
                    upcoming = (minibatches[b + 1] if b + 1 < len(minibatches)
                                else None)
                    result = self._step_loss_grad(
                        train_seqs, train_targets, train_weights, idx, params,
                        grad, shards, rng, threads, sequence_totals, upcoming,
                        packed)
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
                    finite = optimizer.step(params, grad, last_good)
                    updates_in_epoch += 1
                    if not finite:
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
        with Threads(self.n_jobs) as threads:
            self._fit_lbfgs_on(seqs, targets, weights, threads)

    def _fit_lbfgs_on(self, seqs, targets, weights, threads):
        params = self._params
        n_params = params.shape[0]
        grad = np.zeros_like(params)
        total = np.zeros(n_params, dtype=np.float64)
        batches = [PackedBatch(seqs, idx) for idx in step_budget_batches(seqs.lengths)]
        weight_total = weights.sum()
        initial = params.copy()
        # Blocks run in waves of one per thread, each into a gradient of its
        # own, summed in block order: the same sum whatever the threads.
        wave = threads.size
        spaces = [(Workspace(params.dtype), np.zeros_like(params))
                  for _ in range(min(wave, len(batches)))]

        def block(j):
            ws, block_grad = spaces[j % wave]
            return self._minibatch_loss_grad(seqs, targets, weights, batches[j],
                                             params, block_grad, ws,
                                             weight_total)

        def loss_grad(flat):
            params[...] = flat
            total.fill(0)
            loss = 0.0
            for first in range(0, len(batches), wave):
                wave_blocks = range(first, min(first + wave, len(batches)))
                for j, value in zip(wave_blocks, threads.map(block, wave_blocks)):
                    loss += value
                    np.add(total, spaces[j % wave][1], out=total)
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
