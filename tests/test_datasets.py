"""Tests for the bundled data sets in skrnn.datasets."""

import copy
import doctest

import numpy as np
import pytest

from skrnn.datasets import (
    _loaders,
    load_basic_motions,
    load_co2,
    load_hkcancor_pos,
    load_japanese_vowels,
    load_sunspots,
)

ALL_LOADERS = [
    load_japanese_vowels,
    load_basic_motions,
    load_sunspots,
    load_co2,
    load_hkcancor_pos,
]


def _check_sequences(sequences, n_sequences, n_features, min_length, max_length):
    assert isinstance(sequences, list)
    assert len(sequences) == n_sequences
    for sequence in sequences:
        assert isinstance(sequence, np.ndarray)
        assert sequence.dtype == np.float64
        assert sequence.flags.c_contiguous
        assert sequence.ndim == 2
        assert sequence.shape[1] == n_features
        assert np.isfinite(sequence).all()
    lengths = [len(sequence) for sequence in sequences]
    assert min(lengths) >= min_length
    assert max(lengths) <= max_length
    return lengths


def _check_labels(y, n_samples, target_names):
    assert isinstance(y, np.ndarray)
    assert y.shape == (n_samples,)
    assert y.dtype.kind == "U"
    assert set(y) <= set(target_names)


@pytest.mark.parametrize(
    "load, n_train, n_test, n_features, min_length, max_length, target_names",
    [
        (load_japanese_vowels, 270, 370, 12, 7, 29, [str(i) for i in range(1, 10)]),
        (
            load_basic_motions,
            40,
            40,
            6,
            100,
            100,
            ["Standing", "Running", "Walking", "Badminton"],
        ),
    ],
)
def test_sequence_classification_loaders(
    load, n_train, n_test, n_features, min_length, max_length, target_names
):
    bunch = load()

    assert list(bunch.target_names) == target_names
    lengths_train = _check_sequences(
        bunch.X_train, n_train, n_features, min_length, max_length
    )
    lengths_test = _check_sequences(
        bunch.X_test, n_test, n_features, min_length, max_length
    )
    # The documented range is over both splits, so it must be reached.
    assert min(lengths_train + lengths_test) == min_length
    assert max(lengths_train + lengths_test) == max_length

    _check_labels(bunch.y_train, n_train, target_names)
    _check_labels(bunch.y_test, n_test, target_names)
    # Every class occurs in both splits.
    assert set(bunch.y_train) == set(target_names)
    assert set(bunch.y_test) == set(target_names)
    assert isinstance(bunch.DESCR, str) and bunch.DESCR


def test_japanese_vowels_balanced_train():
    y_train = load_japanese_vowels().y_train
    _, counts = np.unique(y_train, return_counts=True)
    assert counts.tolist() == [30] * 9


def test_basic_motions_balanced():
    bunch = load_basic_motions()
    for y in (bunch.y_train, bunch.y_test):
        _, counts = np.unique(y, return_counts=True)
        assert counts.tolist() == [10] * 4


@pytest.mark.parametrize("load", [load_japanese_vowels, load_basic_motions])
def test_sequence_classification_return_X_y(load):
    bunch = load()
    X_train, X_test, y_train, y_test = load(return_X_y=True)

    for sequences, expected in ((X_train, bunch.X_train), (X_test, bunch.X_test)):
        assert len(sequences) == len(expected)
        for sequence, expected_sequence in zip(sequences, expected, strict=True):
            np.testing.assert_array_equal(sequence, expected_sequence)
    np.testing.assert_array_equal(y_train, bunch.y_train)
    np.testing.assert_array_equal(y_test, bunch.y_test)


def test_load_sunspots():
    bunch = load_sunspots()

    values = bunch.data
    assert values.shape == (309,)
    assert values.dtype == np.float64
    assert np.isfinite(values).all()
    np.testing.assert_array_equal(bunch.years, np.arange(1700, 2009))
    assert isinstance(bunch.DESCR, str) and bunch.DESCR


def test_load_co2():
    bunch = load_co2()

    values = bunch.data
    assert values.shape == (2284,)
    assert values.dtype == np.float64
    assert np.isfinite(values).all()

    dates = bunch.dates
    assert dates.shape == (2284,)
    assert dates.dtype == np.dtype("datetime64[D]")
    assert dates[0] == np.datetime64("1958-03-29")
    assert dates[-1] == np.datetime64("2001-12-29")
    assert (np.diff(dates) == np.timedelta64(7, "D")).all()

    assert bunch.n_interpolated == 59
    assert isinstance(bunch.DESCR, str) and bunch.DESCR


def test_load_hkcancor_pos():
    bunch = load_hkcancor_pos()

    assert bunch.tag_names.shape == (14,)
    assert bunch.tag_names.dtype.kind == "U"
    assert len(set(bunch.tag_names)) == 14

    all_lengths = []
    for split, n_utterances, n_words in (
        ("train", 12_392, 119_815),
        ("test", 3_770, 33_841),
    ):
        words = bunch[f"words_{split}"]
        jyutping = bunch[f"jyutping_{split}"]
        tags = bunch[f"tags_{split}"]
        for sequences in (words, jyutping, tags):
            assert isinstance(sequences, list)
            assert len(sequences) == n_utterances

        lengths = [len(utterance) for utterance in words]
        assert sum(lengths) == n_words
        assert [len(utterance) for utterance in jyutping] == lengths
        assert [len(utterance) for utterance in tags] == lengths
        all_lengths.extend(lengths)

        for sequences in (words, jyutping, tags):
            for utterance in sequences:
                assert utterance.ndim == 1
                assert utterance.dtype.kind == "U"
                assert utterance.flags.c_contiguous
        assert set(np.concatenate(tags)) <= set(bunch.tag_names)

    assert min(all_lengths) == 2
    assert max(all_lengths) == 107
    assert set(np.concatenate(bunch.tags_train)) == set(bunch.tag_names)
    assert isinstance(bunch.DESCR, str) and bunch.DESCR


def test_hkcancor_pos_return_X_y():
    bunch = load_hkcancor_pos()
    words_train, words_test, tags_train, tags_test = load_hkcancor_pos(return_X_y=True)

    for returned, name in (
        (words_train, "words_train"),
        (words_test, "words_test"),
        (tags_train, "tags_train"),
        (tags_test, "tags_test"),
    ):
        np.testing.assert_array_equal(
            np.concatenate(returned), np.concatenate(bunch[name])
        )
        assert [len(s) for s in returned] == [len(s) for s in bunch[name]]


# Overwriting with values unlike the stored data makes any sharing visible.
_SENTINELS = {"f": np.nan, "i": -1, "U": "#", "M": np.datetime64("1900-01-01")}


def _arrays(bunch):
    """Yield every array in a Bunch, including those in lists of sequences."""
    for value in bunch.values():
        if isinstance(value, np.ndarray):
            yield value
        elif isinstance(value, list):
            yield from value


@pytest.mark.parametrize("load", ALL_LOADERS)
def test_calls_return_independent_arrays(load):
    # A caller may modify what a loader returns in place (scaling, say); that
    # must not leak into the result of the next call.
    reference = copy.deepcopy(load())
    modified = load()
    for array in _arrays(modified):
        array[...] = _SENTINELS[array.dtype.kind]

    fresh = load()
    assert fresh.keys() == reference.keys()
    for fresh_array, reference_array in zip(
        _arrays(fresh), _arrays(reference), strict=True
    ):
        np.testing.assert_array_equal(fresh_array, reference_array)


def test_split_by_lengths():
    values = np.arange(12, dtype=np.float32).reshape(6, 2)
    sequences = _loaders._split_by_lengths(values, [1, 3, 2], dtype=np.float64)

    assert [s.shape for s in sequences] == [(1, 2), (3, 2), (2, 2)]
    for sequence in sequences:
        assert sequence.dtype == np.float64
        assert sequence.flags.c_contiguous and sequence.flags.owndata
    np.testing.assert_array_equal(np.concatenate(sequences), values)


def test_split_by_lengths_rejects_inconsistent_lengths():
    with pytest.raises(ValueError, match="add up to 5, but 6 steps"):
        _loaders._split_by_lengths(np.zeros((6, 2)), [2, 3])


def test_loaders_doctests():
    results = doctest.testmod(_loaders)
    assert results.attempted > 0
    assert results.failed == 0
