"""Tests of the row-major BLAS façade (gemm_into) and of the packed product
(packed_gemm_into), through their Python entry points."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from skrnn._kernels._blas import gemm_into, packed_gemm_into, packed_gemm_level

DTYPES = [np.float32, np.float64]
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]


def _operands(rng, m, n, k, trans_a, trans_b, dtype):
    """Random a, b, c stored so that op(a) is (m, k), op(b) is (k, n), c is (m, n)."""
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    return a, b, c


def _assert_gemm(c, a, b, c0, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """c equals alpha * op(a) @ op(b) + beta * c0 within the rounding-error bound.

    The bound of a k-term dot product in precision u is about (k + 2) u times
    the same sum taken in absolute values, so cancellation does not make the
    check flaky; the float64 expected value adds its own, smaller error.
    """
    op_a = (a.T if trans_a else a).astype(np.float64)
    op_b = (b.T if trans_b else b).astype(np.float64)
    c0 = c0.astype(np.float64)
    expected = alpha * (op_a @ op_b) + beta * c0
    scale = abs(alpha) * (np.abs(op_a) @ np.abs(op_b)) + abs(beta) * np.abs(c0)
    k = op_a.shape[1]
    bound = 2 * (k + 2) * np.finfo(c.dtype).eps * scale
    assert c.shape == expected.shape
    assert np.all(np.abs(c - expected) <= bound), np.max(np.abs(c - expected) - bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (1.0, 1.0), (-0.5, 2.0)])
def test_gemm_into_matches_numpy(rng, dtype, trans_a, trans_b, alpha, beta):
    m, n, k = 5, 3, 7
    a, b, c = _operands(rng, m, n, k, trans_a, trans_b, dtype)
    c0 = c.copy()
    gemm_into(a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)
    assert c.dtype == dtype
    _assert_gemm(c, a, b, c0, trans_a, trans_b, alpha, beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES)
def test_gemm_into_defaults_overwrite_c(rng, dtype, trans_a, trans_b):
    # beta = 0 by default: whatever c held, NaN included, is not read.
    m, n, k = 4, 6, 2
    a, b, c = _operands(rng, m, n, k, trans_a, trans_b, dtype)
    c[:] = np.nan
    gemm_into(a, b, c, trans_a=trans_a, trans_b=trans_b)
    _assert_gemm(c, a, b, np.zeros_like(c), trans_a, trans_b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES)
def test_gemm_into_empty_inner_dimension(rng, dtype, trans_a, trans_b):
    # k = 0: the product is an empty sum, so c becomes beta * c.
    m, n = 3, 4
    a, b, c = _operands(rng, m, n, 0, trans_a, trans_b, dtype)
    c0 = c.copy()
    gemm_into(a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=3.0, beta=0.5)
    assert_array_equal(c, (dtype(0.5) * c0).astype(dtype))

    c[:] = np.nan
    gemm_into(a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=3.0, beta=0.0)
    assert_array_equal(c, np.zeros((m, n), dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES)
@pytest.mark.parametrize("m, n", [(0, 4), (3, 0), (0, 0)])
def test_gemm_into_empty_result(rng, dtype, trans_a, trans_b, m, n):
    a, b, c = _operands(rng, m, n, 5, trans_a, trans_b, dtype)
    gemm_into(a, b, c, trans_a=trans_a, trans_b=trans_b, beta=1.0)
    assert c.shape == (m, n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_into_in_place_on_views(rng, dtype):
    # c may be a C-contiguous block of a larger buffer; rows around it stay as is.
    a = rng.standard_normal((2, 3)).astype(dtype)
    b = rng.standard_normal((3, 4)).astype(dtype)
    buf = rng.standard_normal((6, 4)).astype(dtype)
    before = buf.copy()
    gemm_into(a, b, buf[2:4])
    assert_array_equal(buf[:2], before[:2])
    assert_array_equal(buf[4:], before[4:])
    _assert_gemm(buf[2:4], a, b, np.zeros((2, 4)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_into_accepts_read_only_operands(rng, dtype):
    a = rng.standard_normal((3, 2)).astype(dtype)
    b = rng.standard_normal((2, 5)).astype(dtype)
    a.flags.writeable = False
    b.flags.writeable = False
    c = np.empty((3, 5), dtype=dtype)
    gemm_into(a, b, c)
    _assert_gemm(c, a, b, np.zeros((3, 5)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "a_shape, b_shape, c_shape, trans_a, trans_b",
    [
        ((3, 4), (5, 2), (3, 2), False, False),  # inner dimensions differ
        ((3, 4), (4, 2), (3, 3), False, False),  # c has the wrong width
        ((3, 4), (4, 2), (4, 2), False, False),  # c has the wrong height
        ((3, 4), (4, 2), (3, 2), True, False),  # op(a) is (4, 3)
        ((3, 4), (4, 2), (3, 2), False, True),  # op(b) is (2, 4)
        ((4, 3), (2, 4), (3, 3), True, True),  # c should be (3, 2)
    ],
)
def test_gemm_into_shape_mismatch(dtype, a_shape, b_shape, c_shape, trans_a,
                                  trans_b):
    a = np.ones(a_shape, dtype=dtype)
    b = np.ones(b_shape, dtype=dtype)
    c = np.full(c_shape, 7.0, dtype=dtype)
    with pytest.raises(ValueError, match="do not conform"):
        gemm_into(a, b, c, trans_a=trans_a, trans_b=trans_b)
    assert_array_equal(c, np.full(c_shape, 7.0, dtype=dtype))


needs_packed = pytest.mark.skipif(
    packed_gemm_level() == 0,
    reason="no packed product on this machine (or SKRNN_NO_PACKED_GEMM is set)")


@needs_packed
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
# Every tile height up to and past a whole tile (8 rows, 3 with AVX2), panel
# edges (a panel is 128 bytes of columns) and k from 1 up.
@pytest.mark.parametrize("m, n, k", [(1, 32, 1), (2, 32, 3), (3, 33, 5), (5, 47, 16),
                                     (8, 64, 64), (9, 64, 17), (17, 100, 40),
                                     (24, 256, 64)])
def test_packed_gemm_matches_numpy(rng, dtype, trans_b, accumulate, m, n, k):
    a, b, c = _operands(rng, m, n, k, False, trans_b, dtype)
    c0 = c.copy()
    assert packed_gemm_into(a, b, c, trans_b=trans_b, accumulate=accumulate)
    assert c.dtype == dtype
    _assert_gemm(c, a, b, c0, False, trans_b, 1.0, 1.0 if accumulate else 0.0)


@needs_packed
@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_gemm_rows_do_not_depend_on_their_neighbours(rng, dtype):
    # Each element is summed over k in one order whatever the tile it is in,
    # so a row gives the same bits alone as among any number of rows.
    a, b, c = _operands(rng, 19, 70, 33, False, False, dtype)
    packed_gemm_into(a, b, c)
    for first, rows in [(0, 1), (3, 5), (8, 11), (18, 1)]:
        part = np.empty((rows, 70), dtype=dtype)
        packed_gemm_into(a[first:first + rows].copy(), b, part)
        assert_array_equal(part, c[first:first + rows])


@needs_packed
@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_gemm_reads_c_only_to_accumulate(rng, dtype):
    a, b, c = _operands(rng, 6, 40, 9, False, False, dtype)
    c[:] = np.nan
    packed_gemm_into(a, b, c)
    _assert_gemm(c, a, b, np.zeros_like(c))


@needs_packed
@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_gemm_declines_less_than_a_panel(rng, dtype):
    # A panel is 128 bytes of columns: 32 floats or 16 doubles.
    n = 128 // np.dtype(dtype).itemsize - 1
    a, b, c = _operands(rng, 4, n, 8, False, False, dtype)
    c0 = c.copy()
    assert not packed_gemm_into(a, b, c)
    assert_array_equal(c, c0)


def test_packed_gemm_checks_shapes():
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match="do not conform"):
        packed_gemm_into(a, np.ones((4, 5)), np.empty((2, 5)))
    with pytest.raises(ValueError, match="non-empty"):
        packed_gemm_into(np.ones((0, 3)), np.ones((3, 5)), np.empty((0, 5)))
