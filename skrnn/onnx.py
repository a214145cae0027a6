"""Export of fitted skrnn estimators to ONNX graphs that take ragged lengths as input.

:func:`to_onnx` writes a fitted :class:`~skrnn.RNNClassifier`,
:class:`~skrnn.RNNRegressor`, :class:`~skrnn.SequenceTagger` or
:class:`~skrnn.SequenceRegressor` (alone, or after
``StepTransformer(StandardScaler())`` in a Pipeline) as an ONNX graph of the
standard ``RNN``, ``LSTM`` and ``GRU`` operators, one node per layer, with
each sequence's length passed as ``sequence_lens``. The graph reads a padded
batch; :func:`pad_sequences` makes one from any X the estimators accept.

The ``onnx`` package is needed to export and ``onnxruntime`` (or any ONNX
runtime) to run the graphs: ``pip install skrnn[onnx]``. skrnn itself imports
without them.
"""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._estimators import RNNClassifier, RNNRegressor, SequenceRegressor, SequenceTagger
from ._sequences import check_sequences
from .preprocessing import StepTransformer

__all__ = ["pad_sequences", "to_onnx"]

# Softmax over one axis (13), Shape with start/end (15); ReduceMax still
# takes its axes as an attribute, as it does below opset 18.
OPSET = 17

# ONNX's gate blocks as indices of skrnn's: LSTM i, o, f, c of skrnn's
# i, f, g, o; GRU z, r, h of skrnn's r, z, n.
_GATE_ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}
_OPERATORS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_SUPPORTED = (RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor)


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "skrnn.onnx.to_onnx needs the onnx package; install it with "
            "`pip install onnx onnxruntime` (or `pip install skrnn[onnx]`)."
        ) from exc
    return onnx


class _Graph:
    """Nodes and initialisers of a graph under construction, with unique names."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes, self.initializers = [], []
        self._count = 0

    def _name(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem, array):
        name = self._name(stem)
        array = np.asarray(array)
        if array.dtype.kind in "OUS":
            tensor = self.onnx.helper.make_tensor(
                name, self.onnx.TensorProto.STRING, array.shape,
                [str(v).encode() for v in array.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type, inputs, n_outputs=1, outputs=None, **attrs):
        """Add a node; returns its output name, or names if more than one."""
        if outputs is None:
            outputs = [self._name(op_type.lower()) for _ in range(n_outputs)]
        self.nodes.append(self.onnx.helper.make_node(
            op_type, inputs, outputs, name=self._name(op_type), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs


def _split_pipeline(estimator):
    """(the standard scalers before the model, the model), or a TypeError."""
    if not isinstance(estimator, Pipeline):
        scalers, model = [], estimator
    else:
        *pre, (_, model) = estimator.steps
        scalers = []
        for name, step in pre:
            if step is None or step == "passthrough":
                continue
            if not (isinstance(step, StepTransformer)
                    and isinstance(getattr(step, "transformer_", None),
                                   StandardScaler)):
                raise TypeError(
                    f"to_onnx exports a Pipeline whose steps before the model "
                    f"are StepTransformer(StandardScaler()) (fitted); step "
                    f"{name!r} is {type(step).__name__}"
                    + (f"({type(step.transformer).__name__}())"
                       if isinstance(step, StepTransformer) else "") + ".")
            scalers.append(step.transformer_)
    if not isinstance(model, _SUPPORTED):
        raise TypeError(
            f"to_onnx exports RNNClassifier, RNNRegressor, SequenceTagger and "
            f"SequenceRegressor (alone or after StepTransformer(StandardScaler()) "
            f"in a Pipeline); got {type(model).__name__}.")
    return scalers, model


def _classes_tensor(classes):
    """classes_ as an array ONNX can hold: int64, float, bool or string."""
    if classes.dtype == object:
        # Labels held as Python objects (strings from pandas, say) as a typed
        # array, where that holds them exactly.
        typed = np.asarray(classes.tolist())
        if typed.dtype.kind in "iufbU" and np.array_equal(typed, classes):
            classes = typed
    kind = classes.dtype.kind
    if kind in "iu":
        return classes.astype(np.int64)
    if kind in "fb":
        return classes
    if kind in "US":
        return classes.astype(str).astype(object)
    raise ValueError(
        f"to_onnx exports class labels that are integers, floats, booleans or "
        f"strings; classes_ has dtype {classes.dtype} "
        f"({[type(c).__name__ for c in classes[:3]]}).")


def _recurrent_weights(net, p, hidden):
    """W, R, B of one layer's ONNX node, from its directions' skrnn views.

    skrnn computes ``x W_ih + h W_hh + b`` with gate blocks side by side in
    columns; ONNX computes ``x W^T + h R^T + Wb + Rb`` with blocks in rows,
    in its own gate order. The GRU's ``b_hn`` sits inside the reset product,
    which is ONNX's ``Rb`` of the h gate under ``linear_before_reset=1``.
    """
    blocks = np.concatenate([np.arange(g * hidden, (g + 1) * hidden)
                             for g in _GATE_ORDER[net.cell]])
    W, R, B = [], [], []
    for d in p:
        W.append(d["W_ih"].T[blocks])
        R.append(d["W_hh"].T[blocks])
        Rb = np.zeros(blocks.shape[0], dtype=np.float32)
        if net.cell == "gru":
            Rb[2 * hidden:] = d["b_hn"]
        B.append(np.concatenate([d["b"][blocks], Rb]))
    return [np.ascontiguousarray(np.stack(a), dtype=np.float32) for a in (W, R, B)]


def _length_mask(g, S, lengths):
    """(batch, T) booleans, true at each sequence's own steps."""
    T = g.op("Squeeze", [g.op("Shape", [S], start=1, end=2)])
    steps = g.op("Range", [g.const("zero", np.array(0, dtype=np.int64)), T,
                           g.const("one", np.array(1, dtype=np.int64))])
    return g.op("Less", [
        g.op("Unsqueeze", [steps, g.const("axes", np.array([0]))]),
        g.op("Unsqueeze", [lengths, g.const("axes", np.array([1]))])])


def _pool(g, readout, S, lengths, w_att):
    """A pooled readout over each sequence's own steps of S (batch, T, D)."""
    mask = _length_mask(g, S, lengths)
    if readout in ("mean", "max"):
        mask3 = g.op("Unsqueeze", [mask, g.const("axes", np.array([2]))])
    if readout == "mean":
        total = g.op("ReduceSum", [
            g.op("Where", [mask3, S, g.const("zero", np.float32(0))]),
            g.const("axes", np.array([1]))], keepdims=0)
        count = g.op("Cast", [
            g.op("Unsqueeze", [lengths, g.const("axes", np.array([1]))])],
            to=g.onnx.TensorProto.FLOAT)
        return g.op("Div", [total, count])
    if readout == "max":
        neg_inf = g.const("neg_inf", np.float32(-np.inf))
        return g.op("ReduceMax", [g.op("Where", [mask3, S, neg_inf])],
                    axes=[1], keepdims=0)
    if readout == "attention":
        neg_inf = g.const("neg_inf", np.float32(-np.inf))
        scores = g.op("MatMul", [S, g.const("w_att", w_att)])
        alpha = g.op("Softmax", [g.op("Where", [mask, scores, neg_inf])], axis=1)
        # (batch, 1, T) @ (batch, T, D): the weighted sum over the steps.
        pooled = g.op("MatMul", [
            g.op("Unsqueeze", [alpha, g.const("axes", np.array([1]))]), S])
        return g.op("Squeeze", [pooled, g.const("axes", np.array([1]))])
    raise ValueError(
        f"to_onnx exports the readouts 'last', 'mean', 'max' and 'attention'; "
        f"the model has readout={readout!r}.")


def to_onnx(estimator):
    """Export a fitted recurrent estimator as an ONNX model.

    Parameters
    ----------
    estimator : RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor \
            or Pipeline
        A fitted estimator, or a fitted Pipeline of
        ``StepTransformer(StandardScaler())`` steps (folded into the graph as
        ``Sub`` and ``Div``) followed by one of those estimators. Every cell
        (``'rnn'`` with ``'tanh'`` or ``'relu'``, ``'lstm'``, ``'gru'``),
        stacked layers, ``bidirectional=True`` and every readout
        (``'last'``, ``'mean'``, ``'max'``, ``'attention'``) export.

    Returns
    -------
    model : onnx.ModelProto
        The graph, with opset 17. Save it with ``onnx.save(model, path)`` or
        run ``model.SerializeToString()`` in ``onnxruntime.InferenceSession``.

        Inputs:

        - ``X``: float32 (batch, T, n_features), sequence i in
          ``X[i, :lengths[i]]`` and padding after it (any finite values);
          batch and T are dynamic;
        - ``lengths``: int64 (batch,), each in ``1..T``.

        Outputs:

        - RNNClassifier: ``label`` (batch,) of the classes_ (int64, float,
          bool or string) and ``probabilities`` float32 (batch, n_classes);
        - RNNRegressor: ``variable`` float32 (batch,) or (batch, n_outputs),
          as predict;
        - SequenceTagger: ``label`` (batch, T) and ``probabilities``
          (batch, T, n_classes);
        - SequenceRegressor: ``variable`` (batch, T) or (batch, T, n_outputs).

        The per-step outputs are padded like X: positions ``t >= lengths[i]``
        hold padding, not predictions.

    Raises
    ------
    ImportError
        If the onnx package is not installed.
    TypeError
        If the estimator, or a Pipeline step before it, is not one of the
        above.
    ValueError
        If the class labels are not integers, floats, booleans or strings.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    See Also
    --------
    pad_sequences : The padded batch and lengths the graph reads.

    Notes
    -----
    Each recurrent layer is one ``RNN``, ``LSTM`` or ``GRU`` node reading
    ``sequence_lens``, so each sequence's final state is that of its own last
    step and a reverse direction starts at its own last step. skrnn's gate
    blocks are reordered to ONNX's (LSTM i, o, f, c; GRU z, r, h) and the
    GRU's ``b_hn``, inside the reset product, becomes ``Rb`` of the h gate
    under ``linear_before_reset=1``. Pooled readouts are masked by the
    lengths (a sum over the steps divided by the length; a maximum over
    ``Where(mask, S, -inf)``; a softmax of masked scores).

    The graph computes in float32: onnxruntime has no float64 kernels for
    the recurrent operators, so a model fitted on float64 data is exported
    with its weights rounded to float32.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skrnn import RNNClassifier
    >>> from skrnn.onnx import pad_sequences, to_onnx
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(n, 2)).astype(np.float32) for n in (3, 5, 4, 6)]
    >>> clf = RNNClassifier((4,), max_iter=5, random_state=0).fit(X, [0, 1, 0, 1])
    >>> session = ort.InferenceSession(to_onnx(clf).SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> padded, lengths = pad_sequences(X)
    >>> padded.shape, lengths.tolist()
    ((4, 6, 2), [3, 5, 4, 6])
    >>> label, proba = session.run(None, {"X": padded, "lengths": lengths})
    >>> bool((label == clf.predict(X)).all())
    True
    >>> bool(np.allclose(proba, clf.predict_proba(X), atol=1e-5))
    True
    """
    onnx = _import_onnx()
    scalers, model = _split_pipeline(estimator)
    check_is_fitted(model, "_params")
    net = model._network
    params = net.views(model._params.astype(np.float32))
    g = _Graph(onnx)
    TP = onnx.TensorProto

    x = "X"
    for scaler in scalers:
        if scaler.with_mean:
            x = g.op("Sub", [x, g.const("mean", scaler.mean_.astype(np.float32))])
        if scaler.with_std:
            x = g.op("Div", [x, g.const("scale", scaler.scale_.astype(np.float32))])

    # The recurrent operators read time-major input; onnxruntime does not
    # implement their batch-major layout=1.
    seq = g.op("Transpose", [x], perm=[1, 0, 2])
    seq_lens = g.op("Cast", ["lengths"], to=TP.INT32)
    n_dir = net.n_directions
    sizes = net.hidden_layer_sizes
    reads_last = net.readout == "last" and not net.per_step
    for layer, hidden in enumerate(sizes):
        W, R, B = _recurrent_weights(net, params.layers[layer], hidden)
        attrs = {"hidden_size": hidden,
                 "direction": "bidirectional" if n_dir == 2 else "forward"}
        if net.cell == "rnn":
            attrs["activations"] = ["Relu" if net.relu else "Tanh"] * n_dir
        if net.cell == "gru":
            attrs["linear_before_reset"] = 1
        top = layer == len(sizes) - 1
        Y, Y_h = g._name("Y"), g._name("Y_h")
        # The top layer of a 'last' readout needs only the final states.
        g.op(_OPERATORS[net.cell],
             [seq, g.const("W", W), g.const("R", R), g.const("B", B), seq_lens],
             outputs=["" if top and reads_last else Y, Y_h], **attrs)
        if not (top and reads_last):
            # Y (T, directions, batch, H) -> (T, batch, directions * H): both
            # directions side by side, as the next layer and the head read them.
            seq = g.op("Reshape", [g.op("Transpose", [Y], perm=[0, 2, 1, 3]),
                                   g.const("shape", np.array([0, 0, -1]))])
    if reads_last:
        feats = g.op("Reshape", [g.op("Transpose", [Y_h], perm=[1, 0, 2]),
                                 g.const("shape", np.array([0, -1]))])
    else:
        feats = g.op("Transpose", [seq], perm=[1, 0, 2])
        if net.pooled:
            feats = _pool(g, net.readout, feats, "lengths",
                          None if params.w_att is None else params.w_att)
    Z = g.op("Add", [g.op("MatMul", [feats, g.const("W_out", params.W_out)]),
                     g.const("b_out", params.b_out)])

    dims = ["batch", "T"] if net.per_step else ["batch"]
    if isinstance(model, (RNNClassifier, SequenceTagger)):
        outputs = _classifier_head(g, model, Z, dims)
    else:
        outputs = _regressor_head(g, model, Z, dims)

    graph = onnx.helper.make_graph(
        g.nodes, f"skrnn_{type(model).__name__}",
        [onnx.helper.make_tensor_value_info(
            "X", TP.FLOAT, ["batch", "T", net.n_features]),
         onnx.helper.make_tensor_value_info("lengths", TP.INT64, ["batch"])],
        outputs, g.initializers)
    onnx_model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="skrnn")
    # onnxruntime releases older than the onnx package reject its newest IR.
    onnx_model.ir_version = min(onnx_model.ir_version, 8)
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def _classifier_head(g, model, Z, dims):
    """``label`` and ``probabilities`` outputs from the raw outputs Z."""
    TP = g.onnx.TensorProto
    classes = _classes_tensor(model.classes_)
    if model.n_outputs_ == 1:
        # The logistic link on one output: [expit(-z), expit(z)], label z > 0.
        proba = g.op("Concat", [g.op("Sigmoid", [g.op("Neg", [Z])]),
                                g.op("Sigmoid", [Z])], axis=-1)
        index = g.op("Cast", [g.op("Squeeze", [
            g.op("Greater", [Z, g.const("zero", np.float32(0))]),
            g.const("axes", np.array([-1]))])], to=TP.INT64)
    else:
        proba = g.op("Softmax", [Z], axis=-1)
        index = g.op("ArgMax", [Z], axis=-1, keepdims=0)
    g.op("Gather", [g.const("classes", classes), index], outputs=["label"], axis=0)
    g.op("Identity", [proba], outputs=["probabilities"])
    label_type = (TP.STRING if classes.dtype == object else
                  g.onnx.helper.np_dtype_to_tensor_dtype(classes.dtype))
    make = g.onnx.helper.make_tensor_value_info
    return [make("label", label_type, dims),
            make("probabilities", TP.FLOAT, dims + [model.classes_.shape[0]])]


def _regressor_head(g, model, Z, dims):
    """The ``variable`` output: Z, 1-D per row if the model was fitted on 1-D y."""
    if model._y_1d:
        g.op("Squeeze", [Z, g.const("axes", np.array([-1]))], outputs=["variable"])
        shape = dims
    else:
        g.op("Identity", [Z], outputs=["variable"])
        shape = dims + [model.n_outputs_]
    return [g.onnx.helper.make_tensor_value_info(
        "variable", g.onnx.TensorProto.FLOAT, shape)]


def pad_sequences(X, *, dtype=np.float32):
    """The padded batch and lengths that an exported graph reads.

    Parameters
    ----------
    X : list of array-like of shape (T_i, n_features), or array-like
        Dense sequences in any form the skrnn estimators accept.
    dtype : dtype, default=np.float32
        The batch's dtype; the exported graphs read float32.

    Returns
    -------
    X_padded : ndarray of shape (n_samples, max T_i, n_features)
        Sequence i in ``X_padded[i, :lengths[i]]``, zeros after it.
    lengths : ndarray of shape (n_samples,), dtype int64
        The length of each sequence.

    See Also
    --------
    to_onnx : Export a fitted estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn.onnx import pad_sequences
    >>> padded, lengths = pad_sequences([np.ones((2, 1)), np.ones((3, 1))])
    >>> padded[:, :, 0].tolist(), lengths.tolist()
    ([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [2, 3])
    """
    seqs, _ = check_sequences(X, accept_sparse=False)
    lengths = seqs.lengths.astype(np.int64)
    padded = np.zeros((lengths.shape[0], int(lengths.max()), seqs.n_features),
                      dtype=dtype)
    owner = np.repeat(np.arange(lengths.shape[0]), lengths)
    step = np.arange(seqs.data.shape[0]) - np.repeat(seqs.offsets[:-1], lengths)
    padded[owner, step] = seqs.data
    return padded, lengths
