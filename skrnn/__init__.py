"""skrnn: recurrent neural networks as scikit-learn estimators for ragged sequences."""

__version__ = "0.1.0.dev0"
