"""Shared pytest fixtures for the skrnn test suite."""

import os

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(int(os.environ.get("SKRNN_TEST_SEED", "0")))
