"""skrnn: recurrent neural networks as scikit-learn estimators for ragged sequences."""

__version__ = "0.1.0.dev0"

from . import datasets, forecasting, metrics, preprocessing  # noqa: E402
from ._estimators import RNNClassifier, RNNRegressor, SequenceTagger  # noqa: E402
from ._transcriber import SequenceTranscriber  # noqa: E402

__all__ = [
    "RNNClassifier",
    "RNNRegressor",
    "SequenceTagger",
    "SequenceTranscriber",
    "datasets",
    "forecasting",
    "metrics",
    "preprocessing",
    "__version__",
]
