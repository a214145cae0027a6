"""Stochastic optimisers and learning-rate schedules over one flat parameter vector."""

import math

import numpy as np

from ._kernels._optim import adam_step


class _FlatOptimizer:
    """State shared by the optimisers: arrays as long as the parameter vector."""

    def ensure_writeable(self):
        """Copy state arrays that are read-only (a model memory-mapped by
        joblib.load), so that updating never writes to the caller's file."""
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                setattr(self, name, value.copy())


class SGD(_FlatOptimizer):
    """Stochastic gradient descent with (Nesterov) momentum and MLP's schedules.

    ``velocity = momentum * velocity - lr * grad``; the step is the velocity,
    or ``momentum * velocity - lr * grad`` with Nesterov's momentum.
    'invscaling' sets ``lr = learning_rate_init / (t + 1) ** power_t`` at the
    end of each epoch, t being the number of samples seen; 'adaptive' divides
    lr by 5 when training stalls (see :meth:`stalled`).
    """

    def __init__(self, n_params, dtype, learning_rate_init=0.1,
                 learning_rate="constant", momentum=0.9, nesterov=True,
                 power_t=0.5):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.schedule = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocity = np.zeros(n_params, dtype=dtype)

    def step(self, params, grad, previous=None):
        """Apply one update to ``params`` in place, first copied into
        ``previous`` if given; returns whether every new value is finite."""
        if previous is not None:
            np.copyto(previous, params)
        self.velocity *= self.momentum
        self.velocity -= self.learning_rate * grad
        if self.nesterov:
            params += self.momentum * self.velocity - self.learning_rate * grad
        else:
            params += self.velocity
        return bool(np.isfinite(params).all())

    def epoch_ended(self, samples_seen):
        if self.schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (samples_seen + 1) ** self.power_t
            )

    def stalled(self, verbose):
        """Training has stopped improving: True to stop, False to go on."""
        if self.schedule != "adaptive" or self.learning_rate <= 1e-6:
            if verbose:
                print("Training loss did not improve; stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"Setting learning rate to {self.learning_rate:f}")
        return False


class Adam(_FlatOptimizer):
    """Adam (Kingma & Ba, 2015) with the bias correction folded into the rate.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, and the step is
    ``-lr_t m / (sqrt(v) + eps)`` with ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``.
    """

    def __init__(self, n_params, dtype, learning_rate_init=0.001, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.m = np.zeros(n_params, dtype=dtype)
        self.v = np.zeros(n_params, dtype=dtype)

    def step(self, params, grad, previous=None):
        """Apply one update to ``params`` in place, in one compiled pass that
        first copies them into ``previous`` if given; returns whether every
        new value is finite."""
        self.t += 1
        self.learning_rate = (self.learning_rate_init
                              * math.sqrt(1 - self.beta_2 ** self.t)
                              / (1 - self.beta_1 ** self.t))
        return adam_step(params, grad, self.m, self.v, self.beta_1,
                         self.beta_2, self.learning_rate, self.epsilon,
                         previous)

    def epoch_ended(self, samples_seen):
        pass

    def stalled(self, verbose):
        if verbose:
            print("Training loss did not improve; stopping.")
        return True
