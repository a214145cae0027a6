"""skrnn: recurrent neural networks as scikit-learn estimators for ragged sequences."""

__version__ = "0.1.0.dev0"

from . import datasets, forecasting, metrics, onnx, preprocessing  # noqa: E402
from ._estimators import (  # noqa: E402
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
)
from ._state import RecurrentState  # noqa: E402
from ._transcriber import SequenceTranscriber  # noqa: E402

__all__ = [
    "RNNClassifier",
    "RNNRegressor",
    "RecurrentState",
    "SequenceRegressor",
    "SequenceTagger",
    "SequenceTranscriber",
    "datasets",
    "forecasting",
    "metrics",
    "onnx",
    "preprocessing",
    "__version__",
]
