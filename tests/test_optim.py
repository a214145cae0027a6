"""The optimisers' fused updates (skrnn._kernels._optim) against the NumPy
expressions they replace: the same bits in both precisions."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from skrnn._kernels._optim import adam_step


def _numpy_adam_step(params, grad, m, v, b1, b2, lr, eps):
    """The update as separate NumPy operations, in adam_step's order; the
    rate multiplies in double precision in place, as a NumPy float64."""
    m *= b1
    m += (1 - b1) * grad
    v *= b2
    v += (1 - b2) * (grad * grad)
    work = m / (np.sqrt(v) + eps)
    work *= np.float64(lr)
    params -= work


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b1, b2, eps", [(0.9, 0.999, 1e-8), (0.5, 0.75, 0.1),
                                         (0.0, 0.0, 0.0)])
def test_adam_step_gives_the_bits_of_the_numpy_update(dtype, b1, b2, eps):
    rng = np.random.default_rng(0)
    n = 1001
    params = rng.standard_normal(n).astype(dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    want = [params.copy(), m.copy(), v.copy()]
    for t in range(1, 6):
        grad = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 4, n)).astype(dtype)
        grad[:7] = 0  # zero gradients: m and v decay, a 0/0 only if eps = 0
        if eps == 0:
            grad[:7] = 1
        lr = 0.01 * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        before = params.copy()
        _numpy_adam_step(want[0], grad, want[1], want[2], b1, b2, lr, eps)
        previous = np.full(n, np.nan, dtype)
        assert adam_step(params, grad, m, v, b1, b2, lr, eps, previous) is True
        assert_array_equal(previous, before)
        assert_array_equal(params, want[0])
        assert_array_equal(m, want[1])
        assert_array_equal(v, want[2])
    assert params.dtype == m.dtype == v.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_step_reports_a_parameter_that_is_no_longer_finite(dtype):
    # A huge step (lr 1e300 in double, rounded to inf or huge) or a NaN
    # gradient: the update says so, whatever element it happened to.
    n = 40
    for k in (0, 17, n - 1):
        grad = np.ones(n, dtype)
        grad[k] = np.nan
        p, m, v = np.zeros(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)
        assert adam_step(p, grad, m, v, 0.9, 0.999, 1e-3, 1e-8) is False
    p, m, v = np.zeros(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)
    assert adam_step(p, np.ones(n, dtype), m, v, 0.9, 0.999, 1e300, 1e-8) \
        is (dtype == np.float64)
    assert adam_step(p, np.ones(n, dtype), m, v, 0.9, 0.999, 1e308, 1e-8) is False


def test_adam_step_refuses_arrays_of_other_lengths():
    a = np.zeros(4)
    with pytest.raises(ValueError, match="one length.*grad 3"):
        adam_step(a.copy(), np.zeros(3), a.copy(), a.copy(), 0.9, 0.999, 0.1, 1e-8)
    with pytest.raises(ValueError, match="v 5"):
        adam_step(a.copy(), a.copy(), a.copy(), np.zeros(5), 0.9, 0.999, 0.1, 1e-8)
    with pytest.raises(ValueError, match="previous 2"):
        adam_step(a.copy(), a.copy(), a.copy(), a.copy(), 0.9, 0.999, 0.1, 1e-8,
                  np.zeros(2))
