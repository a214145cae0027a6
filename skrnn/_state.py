"""RecurrentState: the states a model hands from one predict call to the next."""

import numpy as np


class RecurrentState:
    """Where every sequence stopped: returned by ``predict(..., return_state=True)``.

    Pass it back as ``predict(X_next, initial_state=state)`` to continue each
    sequence of ``X`` with the next chunk of its steps: predicting a sequence
    chunk by chunk this way equals predicting it whole, to round-off.

    Parameters
    ----------
    h : list of ndarray of shape (n_sequences, n_units)
        Each layer's hidden state, bottom layer first.
    c : list of ndarray of shape (n_sequences, n_units) or None, default=None
        Each layer's cell state (LSTM only).
    pool : dict of ndarray or None, default=None
        The running statistics of a pooled readout (``'mean'``: ``sum`` and
        ``count``; ``'max'``: ``max``; ``'attention'``: ``top``, ``norm``
        and ``acc``); None for the ``'last'`` readout and per-step models.

    Attributes
    ----------
    h, c, pool
        As given. Row i of every array belongs to sequence i of the ``X``
        that produced the state.
    n_sequences : int
        Sequences the state holds.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 12, 1))
    >>> reg = RNNRegressor((8,), bidirectional=False, max_iter=5,
    ...                    random_state=0).fit(X, X[:, -1, 0])
    >>> first, state = reg.predict(X[:, :7], return_state=True)
    >>> rest = reg.predict(X[:, 7:], initial_state=state)
    >>> bool(np.allclose(rest, reg.predict(X), rtol=1e-5, atol=1e-6))
    True
    """

    def __init__(self, h, c=None, pool=None):
        self.h = list(h)
        self.c = None if c is None else list(c)
        self.pool = None if pool is None else dict(pool)

    @property
    def n_sequences(self):
        return self.h[0].shape[0]

    def __len__(self):
        return self.n_sequences

    def __getitem__(self, index):
        """The state of the sequences ``index`` (an int, slice or index array)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return RecurrentState(
            [h[index] for h in self.h],
            None if self.c is None else [c[index] for c in self.c],
            None if self.pool is None else {k: v[index] for k, v in self.pool.items()})

    def __repr__(self):
        units = tuple(h.shape[1] for h in self.h)
        kinds = "h, c" if self.c is not None else "h"
        pool = "" if self.pool is None else f", pool={sorted(self.pool)}"
        return (f"RecurrentState(n_sequences={self.n_sequences}, units={units}, "
                f"states=({kinds}){pool})")

    # -- what the estimators read and write ------------------------------

    @classmethod
    def _zeros(cls, n_sequences, hidden_sizes, cell_state, pool_kind, dtype):
        h = [np.zeros((n_sequences, units), dtype=dtype) for units in hidden_sizes]
        c = ([np.zeros_like(a) for a in h] if cell_state else None)
        return cls(h, c, None if pool_kind is None else {})

    def _layers(self, rows):
        """The network's per-layer state of sequences ``rows`` (one direction)."""
        out = []
        for layer, h in enumerate(self.h):
            state = {"h": h[rows]}
            if self.c is not None:
                state["c"] = self.c[layer][rows]
            out.append([state])
        return out

    def _pool_rows(self, rows):
        if not self.pool:
            return None
        return {kind: value[rows] for kind, value in self.pool.items()}

    def _write(self, rows, layers, pool):
        """Store the network's final states (and pooled statistics) of ``rows``."""
        for layer, (state,) in enumerate(layers):
            self.h[layer][rows] = state["h"]
            if self.c is not None:
                self.c[layer][rows] = state["c"]
        if pool is not None:
            for kind, value in pool.items():
                if kind not in self.pool:
                    shape = (self.n_sequences,) + value.shape[1:]
                    self.pool[kind] = np.zeros(shape, dtype=value.dtype)
                self.pool[kind][rows] = value

    def _checked(self, n_sequences, hidden_sizes, cell_state, pool_kind, dtype,
                 model):
        """A copy in ``dtype`` after checking that it fits the model and X."""
        if len(self.h) != len(hidden_sizes):
            raise ValueError(
                f"initial_state has {len(self.h)} layer(s), but {model} has "
                f"{len(hidden_sizes)} (hidden_layer_sizes={hidden_sizes}).")
        for layer, (h, units) in enumerate(zip(self.h, hidden_sizes)):
            if np.ndim(h) != 2 or np.shape(h)[1] != units:
                raise ValueError(
                    f"initial_state.h[{layer}] has shape {np.shape(h)}, but "
                    f"layer {layer} of {model} has {units} units: it needs "
                    f"({n_sequences}, {units}).")
            if np.shape(h)[0] != n_sequences:
                raise ValueError(
                    f"initial_state holds {np.shape(h)[0]} sequences, but X has "
                    f"{n_sequences}: pass the state of the same sequences, "
                    "in the same order.")
        if cell_state != (self.c is not None):
            raise ValueError(
                f"initial_state {'lacks' if cell_state else 'has'} cell states "
                f"(c), which {model} {'needs' if cell_state else 'does not have'}"
                ": pass a state returned by this model.")
        if cell_state:
            for layer, (c, h) in enumerate(zip(self.c, self.h)):
                if np.shape(c) != np.shape(h):
                    raise ValueError(
                        f"initial_state.c[{layer}] has shape {np.shape(c)}; it "
                        f"needs {np.shape(h)}, the shape of h[{layer}].")
        if self.pool and pool_kind is None:
            raise ValueError(
                f"initial_state holds a pooled readout's statistics, which "
                f"{model} does not read: pass a state returned by this model.")
        pool = None
        if pool_kind is not None:
            pool = {k: np.array(v, dtype=dtype) for k, v in (self.pool or {}).items()}
            expected = {"mean": {"sum", "count"}, "max": {"max"},
                        "attention": {"top", "norm", "acc"}}[pool_kind]
            if pool and set(pool) != expected:
                raise ValueError(
                    f"initial_state.pool has {sorted(pool)}, but the "
                    f"{pool_kind!r} readout keeps {sorted(expected)}: pass a "
                    "state returned by this model.")
            for kind, value in pool.items():
                if value.shape[0] != n_sequences:
                    raise ValueError(
                        f"initial_state.pool[{kind!r}] has {value.shape[0]} "
                        f"rows; X has {n_sequences} sequences.")
        state = RecurrentState(
            [np.array(h, dtype=dtype) for h in self.h],
            None if self.c is None else [np.array(c, dtype=dtype) for c in self.c],
            pool)
        for name, arrays in (("h", state.h), ("c", state.c or [])):
            for layer, a in enumerate(arrays):
                if not np.isfinite(a).all():
                    raise ValueError(
                        f"initial_state.{name}[{layer}] holds NaN or infinity.")
        return state
