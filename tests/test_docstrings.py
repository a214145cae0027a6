"""The Examples sections of the public docstrings run, against the installed package."""

import doctest
import importlib
import importlib.util
import warnings

import pytest

MODULES = [
    "skrnn._estimators",
    "skrnn._transcriber",
    "skrnn._sequences",
    "skrnn._state",
    "skrnn.datasets._loaders",
    "skrnn.forecasting",
    "skrnn.metrics",
    "skrnn.preprocessing",
    # Its examples run the exported graph, so they need onnx and onnxruntime.
    pytest.param("skrnn.onnx", marks=pytest.mark.skipif(
        importlib.util.find_spec("onnx") is None
        or importlib.util.find_spec("onnxruntime") is None,
        reason="onnx and onnxruntime are not installed")),
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        # The examples train for a handful of epochs on purpose.
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
