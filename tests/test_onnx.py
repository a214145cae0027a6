"""skrnn.onnx: the exported graphs, run in onnxruntime, predict as the estimators do."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
    SequenceTranscriber,
)
from skrnn.onnx import pad_sequences, to_onnx
from skrnn.preprocessing import StepTransformer

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

CELLS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
# Ragged, unsorted, with a tie and a length-1 sequence.
LENGTHS = [4, 9, 1, 7, 2, 7]
N_FEATURES = 3
TOL = {"rtol": 1e-5, "atol": 1e-5}
# Padding the graph must never read: a sequence's result may not depend on it.
PAD_VALUE = 3.0
# Every estimator, and every readout of the many-to-one ones.
KINDS_AND_READOUTS = [
    ("classifier", "last"), ("classifier", "mean"), ("classifier", "max"),
    ("classifier", "attention"), ("regressor", "last"), ("regressor", "mean"),
    ("regressor", "max"), ("regressor", "attention"), ("tagger", "last"),
    ("seq_regressor", "last"),
]


def _cell(cell):
    return ("rnn", cell[4:]) if cell.startswith("rnn") else (cell, "tanh")


def _sequences(seed, dtype=np.float32, lengths=LENGTHS):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, N_FEATURES)).astype(dtype) for n in lengths]


def _fitted(est, X, y, seed=0):
    """``est`` fitted briefly, then its weights perturbed, so that the outputs
    spread far from a barely trained model's (and zero biases hide nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    fitted = est[-1] if isinstance(est, Pipeline) else est
    rng = np.random.default_rng(seed)
    fitted._params += rng.normal(scale=0.4, size=fitted._params.shape).astype(
        fitted._params.dtype)
    return est


def _run(est, X, extra_steps=0):
    """The exported graph's outputs on X padded (with PAD_VALUE) to
    ``max length + extra_steps`` steps, by output name."""
    session = ort.InferenceSession(to_onnx(est).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    padded, lengths = pad_sequences(X)
    padded = np.concatenate(
        [padded, np.zeros((padded.shape[0], extra_steps, padded.shape[2]),
                          dtype=np.float32)], axis=1)
    for i, n in enumerate(lengths):
        padded[i, n:] = PAD_VALUE
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": padded, "lengths": lengths})))


def _estimator(kind, cell, n_layers, bidirectional, readout="last"):
    cell, activation = _cell(cell)
    params = {"hidden_layer_sizes": (4,) * n_layers, "cell": cell,
              "activation": activation, "bidirectional": bidirectional,
              "max_iter": 2, "random_state": 0}
    if kind in ("classifier", "regressor"):
        params["readout"] = readout
    return {"classifier": RNNClassifier, "regressor": RNNRegressor,
            "tagger": SequenceTagger, "seq_regressor": SequenceRegressor}[kind](
        **params)


def _targets(kind, X, seed=1, n_outputs=1):
    rng = np.random.default_rng(seed)
    n = len(X)
    if kind == "classifier":
        return np.array([0, 1, 2] * n)[:n]
    if kind == "regressor":
        y = rng.normal(size=(n, n_outputs))
        return y[:, 0] if n_outputs == 1 else y
    if kind == "tagger":
        return [rng.integers(0, 3, size=len(x)) for x in X]
    return [rng.normal(size=len(x)) if n_outputs == 1
            else rng.normal(size=(len(x), n_outputs)) for x in X]


def _check_against_predict(kind, est, X, extra_steps=0, tol=TOL):
    out = _run(est, X, extra_steps)
    lengths = [len(x) for x in X]
    T = max(lengths) + extra_steps
    if kind == "classifier":
        assert out["probabilities"].dtype == np.float32
        assert_allclose(out["probabilities"], est.predict_proba(X), **tol)
        assert_array_equal(out["label"], est.predict(X))
    elif kind == "regressor":
        assert_allclose(out["variable"], est.predict(X), **tol)
    elif kind == "tagger":
        assert out["probabilities"].shape[:2] == (len(X), T)
        assert out["label"].shape == (len(X), T)
        for i, (proba, labels) in enumerate(zip(est.predict_proba(X),
                                                est.predict(X))):
            assert_allclose(out["probabilities"][i, :lengths[i]], proba, **tol)
            assert_array_equal(out["label"][i, :lengths[i]], labels)
    else:
        assert out["variable"].shape[:2] == (len(X), T)
        for i, values in enumerate(est.predict(X)):
            assert_allclose(out["variable"][i, :lengths[i]], values, **tol)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind, readout", KINDS_AND_READOUTS)
def test_onnxruntime_matches_predict(kind, readout, cell, n_layers, bidirectional):
    X = _sequences(0)
    est = _fitted(_estimator(kind, cell, n_layers, bidirectional, readout), X,
                  _targets(kind, X))
    _check_against_predict(kind, est, X)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind, readout", KINDS_AND_READOUTS)
def test_float64_model_exports_in_float32(kind, readout, cell):
    # onnxruntime has no float64 RNN/LSTM/GRU kernels: the graph computes in
    # float32 with the weights rounded, still within TOL of the float64 model.
    X = _sequences(0, dtype=np.float64)
    est = _fitted(_estimator(kind, cell, 2, True, readout).set_params(
        dtype="float64"), X, _targets(kind, X))
    assert est._params.dtype == np.float64
    _check_against_predict(kind, est, X)


@pytest.mark.parametrize("kind", ["regressor", "seq_regressor"])
def test_multi_output_regressors(kind):
    X = _sequences(2)
    est = _fitted(_estimator(kind, "gru", 1, True, "mean"), X,
                  _targets(kind, X, n_outputs=2))
    assert _run(est, X)["variable"].shape[-1] == 2
    _check_against_predict(kind, est, X)


@pytest.mark.parametrize("labels", [
    np.array(["no", "yes"]), np.array([False, True]), np.array([-1.0, 2.0]),
    np.array(["cat", "dog", "eel"], dtype=object), np.array([3, 7, 9]),
])
def test_binary_and_multiclass_labels(labels):
    X = _sequences(3)
    y = labels[np.arange(len(X)) % labels.shape[0]]
    for est in (RNNClassifier((4,), cell="gru", max_iter=2, random_state=0),
                SequenceTagger((4,), max_iter=2, random_state=0)):
        target = y if isinstance(est, RNNClassifier) else [
            labels[np.arange(len(x)) % labels.shape[0]] for x in X]
        est = _fitted(est, X, target)
        kind = "classifier" if isinstance(est, RNNClassifier) else "tagger"
        _check_against_predict(kind, est, X)


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_dynamic_batch_and_steps(kind):
    X = _sequences(4)
    est = _fitted(_estimator(kind, "lstm", 2, True, "max"), X, _targets(kind, X))
    # Other batch sizes and lengths than the fit's, padded beyond the longest.
    for seed, lengths in [(5, [12, 3]), (6, [1]), (7, [2, 5, 1, 8, 8, 3, 6, 4])]:
        _check_against_predict(kind, est, _sequences(seed, lengths=lengths),
                               extra_steps=3)


@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger",
                                  "seq_regressor"])
@pytest.mark.parametrize("scaler", [StandardScaler(),
                                    StandardScaler(with_mean=False)])
def test_pipeline_folds_the_step_scaler(kind, scaler):
    X = [x * 10 + 4 for x in _sequences(8)]
    pipe = _fitted(make_pipeline(StepTransformer(scaler),
                                 _estimator(kind, "gru", 1, False, "attention")),
                   X, _targets(kind, X))
    _check_against_predict(kind, pipe, X)


def test_univariate_2d_fit():
    X2d = np.random.default_rng(9).normal(size=(5, 6)).astype(np.float32)
    est = _fitted(RNNRegressor((3,), max_iter=2, random_state=0), X2d,
                  np.arange(5.0))
    padded, lengths = pad_sequences(X2d)
    assert padded.shape == (5, 6, 1)
    assert_allclose(_run(est, list(X2d))["variable"], est.predict(X2d), **TOL)


def test_pad_sequences():
    X = _sequences(10, dtype=np.float64)
    padded, lengths = pad_sequences(X)
    assert padded.dtype == np.float32 and lengths.dtype == np.int64
    assert padded.shape == (len(X), max(LENGTHS), N_FEATURES)
    assert_array_equal(lengths, LENGTHS)
    for i, x in enumerate(X):
        assert_allclose(padded[i, :len(x)], x.astype(np.float32))
        assert not padded[i, len(x):].any()


def test_graph_inputs_and_outputs():
    X = _sequences(0)
    model = to_onnx(_fitted(_estimator("tagger", "rnn-tanh", 1, False), X,
                            _targets("tagger", X)))
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == ["X", "lengths"]
    assert [d.dim_param or d.dim_value for d in inputs["X"].shape.dim] == [
        "batch", "T", N_FEATURES]
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert {n.op_type for n in model.graph.node} >= {"RNN", "Gather"}


def test_unsupported_estimators_raise_type_error():
    X = _sequences(0)
    transcriber = SequenceTranscriber((3,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transcriber.fit(X, [np.array([0]), np.array([1, 0]), np.array([1]),
                            np.array([0, 1]), np.array([1]), np.array([0])])
    with pytest.raises(TypeError, match="got SequenceTranscriber"):
        to_onnx(transcriber)
    with pytest.raises(TypeError, match="got StandardScaler"):
        to_onnx(StandardScaler().fit([[0.0], [1.0]]))
    pipe = _fitted(make_pipeline(StepTransformer(MinMaxScaler()),
                                 RNNRegressor((3,), max_iter=1, random_state=0)),
                   X, np.arange(6.0))
    with pytest.raises(TypeError, match=r"StepTransformer\(MinMaxScaler\(\)\)"):
        to_onnx(pipe)


def test_unfitted_estimator_raises():
    with pytest.raises(NotFittedError):
        to_onnx(RNNClassifier())


def test_unsupported_labels_raise_value_error():
    X = _sequences(0)
    clf = _fitted(RNNClassifier((3,), max_iter=1, random_state=0), X,
                  _targets("classifier", X))
    clf.classes_ = np.array([1j, 2j, 3j])
    with pytest.raises(ValueError, match="dtype complex128"):
        to_onnx(clf)


def test_skrnn_imports_without_onnx(tmp_path):
    # onnx blocked from importing: skrnn and skrnn.onnx load; export says why not.
    # From another directory: the checkout's own uncompiled skrnn must not
    # shadow the installed one.
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "import skrnn, skrnn.onnx\n"
        "try:\n"
        "    skrnn.onnx.to_onnx(skrnn.RNNClassifier())\n"
        "except ImportError as exc:\n"
        "    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True, cwd=tmp_path)
    assert "pip install onnx onnxruntime" in result.stdout
