"""The Examples sections of the public docstrings run, against the installed package."""

import doctest
import importlib
import warnings

import pytest

MODULES = [
    "skrnn._estimators",
    "skrnn._transcriber",
    "skrnn._sequences",
    "skrnn.datasets._loaders",
    "skrnn.forecasting",
    "skrnn.metrics",
    "skrnn.preprocessing",
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
