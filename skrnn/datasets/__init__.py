"""Real sequence and time-series data sets, bundled with skrnn."""

from ._loaders import (
    load_basic_motions,
    load_co2,
    load_hkcancor_pos,
    load_japanese_vowels,
    load_sunspots,
)

__all__ = [
    "load_basic_motions",
    "load_co2",
    "load_hkcancor_pos",
    "load_japanese_vowels",
    "load_sunspots",
]
