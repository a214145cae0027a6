"""Shared pytest fixtures for the skrnn test suite."""

import numpy as np
import pytest
from _helpers import SEED


@pytest.fixture
def rng():
    """The data generator of SEED (environment variable SKRNN_TEST_SEED)."""
    return np.random.default_rng(SEED)

