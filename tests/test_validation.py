"""Tests for the shared target and weight checks, and the row helpers they rely on."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skrnn._packing import PackedBatch
from skrnn._sequences import Sequences, block_rows, offsets_from_lengths
from skrnn._validation import (
    check_label_lists,
    check_n_targets,
    check_regression_targets,
    check_y_passed,
)


def test_check_y_passed_names_the_estimator():
    check_y_passed([1], "RNNRegressor")
    with pytest.raises(ValueError, match="^RelativeToLast requires y to be passed"):
        check_y_passed(None, "RelativeToLast")


def test_check_regression_targets_ravels_a_column_and_names_the_samples():
    with pytest.warns(Warning, match="column-vector y"):
        y = check_regression_targets([[1.0], [2.0]], 2)
    assert y.shape == (2,) and y.dtype == np.float64
    with pytest.raises(ValueError, match="X has 3 windows but y has 2 targets"):
        check_regression_targets([1.0, 2.0], 3, samples="windows")
    with pytest.raises(ValueError, match="X has 3 sequences but y has 2 targets"):
        check_n_targets(2, 3)


@pytest.mark.parametrize("any_sized", [False, True])
def test_check_label_lists_reads_rows_and_refuses_a_string(any_sized):
    rows = check_label_lists(np.zeros((2, 3)), "y_true", any_sized=any_sized)
    assert isinstance(rows, list) and len(rows) == 2
    with pytest.raises(TypeError, match="y_true must be a list of 1-D label arrays"):
        check_label_lists("abc", "y_true", any_sized=any_sized)


def test_check_label_lists_any_sized_accepts_other_containers():
    labels = range(2)
    assert check_label_lists(labels, "y", any_sized=True) is labels
    with pytest.raises(TypeError, match="got range"):
        check_label_lists(labels, "y")


def test_offsets_and_block_rows_match_a_loop():
    lengths = np.array([3, 0, 2, 4])
    offsets = offsets_from_lengths(lengths)
    assert offsets.dtype == np.int64
    assert_array_equal(offsets, [0, 3, 3, 5, 9])
    assert offsets_from_lengths(lengths, np.intp).dtype == np.intp
    starts = np.array([7, 1, 0, 2])
    rows, row_offsets = block_rows(starts, lengths)
    assert_array_equal(rows, np.concatenate(
        [np.arange(s, s + n) for s, n in zip(starts, lengths)]))
    assert_array_equal(row_offsets, offsets)


def test_step_rows_are_the_rows_take_copies():
    seqs = Sequences.from_lengths(np.arange(18.0).reshape(9, 2), [3, 0, 2, 4])
    indices = np.array([3, 0, 3, 1])
    rows, offsets = seqs.step_rows(indices)
    taken = seqs.take(indices)
    assert_array_equal(seqs.data[rows], taken.data)
    assert_array_equal(offsets, taken.offsets)


def test_packed_batch_rows_per_step_and_per_sequence():
    seqs = Sequences.from_lengths(np.zeros((6, 1)), [1, 3, 2])
    batch = PackedBatch(seqs, [0, 1, 2])
    assert batch.rows(per_step=False) is batch.order
    assert batch.rows(per_step=True) is batch.gather
