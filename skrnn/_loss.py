"""Output links and losses on raw outputs, with their canonical-link gradients."""

import numpy as np
from scipy.special import expit, log_expit

from ._kernels._ctc import ctc_loss_grad


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
        lattice_offsets = np.zeros(lengths.shape[0] + 1, dtype=np.intp)
        np.cumsum(lengths * n_states, out=lattice_offsets[1:])
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
