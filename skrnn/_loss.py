"""Output links and losses on raw outputs, with their canonical-link gradients."""

import numpy as np
from scipy.special import expit, log_expit

from ._kernels._ctc import ctc_loss_grad
from ._sequences import offsets_from_lengths


class SquaredError:
    """Identity link, loss ``0.5 * ||z - y||^2`` per sample."""

    def loss_gradient(self, Z, Y, weights):
        """Weighted loss and its gradient with respect to Z.

        ``weights`` (n,) sum to one over the minibatch, so the loss is a
        weighted mean and the gradient is ``weights * (Z - Y)``.
        """
        diff = Z - Y
        loss = 0.5 * float(weights @ np.einsum("ij,ij->i", diff, diff))
        diff *= weights[:, None]
        return loss, diff.astype(Z.dtype, copy=False)

    def link(self, Z):
        return Z


class AbsoluteError:
    """Identity link, loss ``||z - y||_1`` per sample: fits the median."""

    def loss_gradient(self, Z, Y, weights):
        diff = Z - Y
        loss = float(weights @ np.abs(diff).sum(axis=1))
        # The subgradient 0 at a tie, as sklearn's absolute_error takes it.
        return loss, (np.sign(diff) * weights[:, None]).astype(Z.dtype, copy=False)

    def link(self, Z):
        return Z


class HuberLoss:
    """Identity link; per output ``0.5 r^2`` for ``|r| <= epsilon``, else
    ``epsilon (|r| - epsilon / 2)``, with ``r = z - y``: squared near the
    target, absolute far from it, so outliers pull with a bounded force."""

    def __init__(self, epsilon):
        self.epsilon = float(epsilon)

    def loss_gradient(self, Z, Y, weights):
        diff = Z - Y
        size = np.abs(diff)
        eps = self.epsilon
        per_output = np.where(size <= eps, 0.5 * diff * diff,
                              eps * (size - 0.5 * eps))
        loss = float(weights @ per_output.sum(axis=1))
        grad = np.clip(diff, -eps, eps) * weights[:, None]
        return loss, grad.astype(Z.dtype, copy=False)

    def link(self, Z):
        return Z


class PinballLoss:
    """Identity link; per output ``max(q r, (q - 1) r)`` with ``r = y - z``:
    minimised by the ``q``-quantile of y given the input."""

    def __init__(self, quantile):
        self.quantile = float(quantile)

    def loss_gradient(self, Z, Y, weights):
        r = Y - Z
        q = self.quantile
        loss = float(weights @ np.maximum(q * r, (q - 1) * r).sum(axis=1))
        # d/dz: -q above the prediction, 1 - q below it, 0 at a tie.
        grad = np.where(r > 0, -q, np.where(r < 0, 1 - q, 0.0)) * weights[:, None]
        return loss, grad.astype(Z.dtype, copy=False)

    def link(self, Z):
        return Z


def regression_loss(name, huber_epsilon=1.0, quantile=0.5):
    """The loss object of a regressor's ``loss`` parameter."""
    if name == "squared_error":
        return SquaredError()
    if name == "absolute_error":
        return AbsoluteError()
    if name == "huber":
        return HuberLoss(huber_epsilon)
    if name == "quantile":
        return PinballLoss(quantile)
    raise ValueError(f"unknown regression loss {name!r}")


class BinaryLogLoss:
    """Logistic link on one output; y holds 0 or 1."""

    def loss_gradient(self, Z, Y, weights):
        z = Z[:, 0]
        # -log p(y | z) = log(1 + exp(z)) - y z, written with log_expit so it
        # never overflows: log(1 + exp(z)) = -log_expit(-z).
        loss = float(weights @ (-log_expit(-z) - Y * z))
        grad = ((expit(z) - Y) * weights)[:, None]
        return loss, grad.astype(Z.dtype, copy=False)

    def link(self, Z):
        # expit(-z), not 1 - expit(z), which cancels to 0 for large z.
        z = Z[:, 0]
        return np.column_stack([expit(-z), expit(z)])

    def log_link(self, Z):
        z = Z[:, 0]
        return np.column_stack([log_expit(-z), log_expit(z)])


class MultinomialLogLoss:
    """Softmax link; y holds integer class codes."""

    def loss_gradient(self, Z, Y, weights):
        log_proba = self.log_link(Z)
        rows = np.arange(Z.shape[0])
        loss = -float(weights @ log_proba[rows, Y])
        grad = np.exp(log_proba)
        grad[rows, Y] -= 1
        grad *= weights[:, None]
        return loss, grad

    def link(self, Z):
        return np.exp(self.log_link(Z))

    def log_link(self, Z):
        # Max-shifted log-sum-exp: never log(softmax), which underflows.
        shifted = Z - Z.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class CTCLoss:
    """Softmax link over the classes and a blank (the last output); the
    connectionist temporal classification loss of each sequence's labels.

    Unlike the per-row losses, it reads a whole packed minibatch: the loss
    of a sequence sums over every alignment of its labels with its steps.
    """

    def loss_gradient(self, Z, batch, labels, label_offsets, weights, buffers):
        """Weighted loss of a packed minibatch and its gradient wrt Z.

        ``labels`` holds the class codes of the batch's label sequences in
        its packed order, delimited by ``label_offsets`` (B + 1,); ``weights``
        (B,) sum to one over the minibatch, or over the data set for a
        full-batch step. ``buffers`` is a float64 Workspace for the lattices.
        """
        lengths = batch.lengths.astype(np.intp, copy=False)
        n_states = 2 * np.diff(label_offsets) + 1
        lattice_offsets = offsets_from_lengths(lengths * n_states, np.intp)
        n_lattice = int(lattice_offsets[-1])
        dZ = np.empty_like(Z)
        losses = np.empty(lengths.shape[0])
        ctc_loss_grad(
            Z, batch.starts, lengths, labels, label_offsets, lattice_offsets,
            np.ascontiguousarray(weights, dtype=np.float64),
            buffers.get("logp", (int(lengths[0]), Z.shape[1])),
            buffers.get("alpha", (n_lattice,)),
            buffers.get("beta", (n_lattice,)), dZ, losses)
        return float(weights @ losses), dZ

    def link(self, Z):
        return np.exp(self.log_link(Z))

    def log_link(self, Z):
        return MultinomialLogLoss().log_link(Z)
