"""Output links and losses: closed forms, finite differences and stability."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skrnn._loss import (
    AbsoluteError,
    BinaryLogLoss,
    HuberLoss,
    MultinomialLogLoss,
    PinballLoss,
    SquaredError,
    regression_loss,
)

N_SAMPLES = 6
N_CLASSES = 4


def _weights(rng, n=N_SAMPLES):
    w = rng.uniform(0.1, 2.0, n)
    return w / w.sum()


def _problem(kind, rng, dtype=np.float64):
    """(loss, Z, Y) with moderate raw outputs and matching targets."""
    if kind in REGRESSION:
        Z = rng.normal(size=(N_SAMPLES, 3))
        Y = rng.normal(size=(N_SAMPLES, 3))
        return REGRESSION[kind](), Z.astype(dtype), Y
    if kind == "binary":
        Z = rng.normal(scale=3.0, size=(N_SAMPLES, 1))
        Y = (rng.random(N_SAMPLES) < 0.5).astype(np.float64)
        return BinaryLogLoss(), Z.astype(dtype), Y
    Z = rng.normal(scale=3.0, size=(N_SAMPLES, N_CLASSES))
    Y = rng.integers(0, N_CLASSES, N_SAMPLES).astype(np.intp)
    return MultinomialLogLoss(), Z.astype(dtype), Y


def _closed_form(kind, Z, Y, w):
    """Per-sample losses and gradients written straight from the definitions."""
    Z = Z.astype(np.float64)
    if kind == "squared":
        return 0.5 * ((Z - Y) ** 2).sum(axis=1), Z - Y
    if kind == "absolute":
        return np.abs(Z - Y).sum(axis=1), np.sign(Z - Y)
    if kind == "huber":
        r, e = Z - Y, HUBER_EPSILON
        small = np.abs(r) <= e
        loss = np.where(small, 0.5 * r ** 2, e * np.abs(r) - 0.5 * e ** 2)
        return loss.sum(axis=1), np.where(small, r, e * np.sign(r))
    if kind == "quantile":
        r, q = Y - Z, QUANTILE
        loss = np.where(r >= 0, q * r, (q - 1) * r)
        return loss.sum(axis=1), np.where(r > 0, -q, 1 - q)
    if kind == "binary":
        z = Z[:, 0]
        p = 1.0 / (1.0 + np.exp(-z))
        loss = -(Y * np.log(p) + (1 - Y) * np.log(1 - p))
        return loss, (p - Y)[:, None]
    e = np.exp(Z)
    proba = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(Z.shape[1])[Y]
    return -np.log(proba[np.arange(Z.shape[0]), Y]), proba - onehot


HUBER_EPSILON, QUANTILE = 0.7, 0.8
REGRESSION = {
    "squared": SquaredError,
    "absolute": AbsoluteError,
    # A threshold inside the spread of N(0, 2) residuals: both regimes occur.
    "huber": lambda: HuberLoss(HUBER_EPSILON),
    "quantile": lambda: PinballLoss(QUANTILE),
}
KINDS = [*REGRESSION, "binary", "multinomial"]


@pytest.mark.parametrize("kind", KINDS)
def test_loss_and_gradient_match_closed_form(rng, kind):
    loss_fn, Z, Y = _problem(kind, rng)
    w = _weights(rng)
    Z0, Y0 = Z.copy(), Y.copy()
    loss, grad = loss_fn.loss_gradient(Z, Y, w)
    per_sample, per_grad = _closed_form(kind, Z, Y, w)
    assert isinstance(loss, float)
    assert_allclose(loss, w @ per_sample, rtol=1e-13)
    assert grad.shape == Z.shape
    assert_allclose(grad, w[:, None] * per_grad, rtol=1e-12, atol=1e-15)
    # Inputs are left alone.
    assert_array_equal(Z, Z0)
    assert_array_equal(Y, Y0)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_matches_finite_differences(rng, kind):
    loss_fn, Z, Y = _problem(kind, rng)
    w = _weights(rng)
    _, grad = loss_fn.loss_gradient(Z, Y, w)
    h = 1e-6
    fd = np.empty_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        fd[idx] = (loss_fn.loss_gradient(Zp, Y, w)[0]
                   - loss_fn.loss_gradient(Zm, Y, w)[0]) / (2 * h)
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_weighted_mean(rng, kind):
    loss_fn, Z, Y = _problem(kind, rng)
    n = Z.shape[0]
    uniform = np.full(n, 1.0 / n)
    per_sample = np.array([loss_fn.loss_gradient(Z[i:i + 1], Y[i:i + 1],
                                                 np.ones(1))[0] for i in range(n)])
    loss, grad = loss_fn.loss_gradient(Z, Y, uniform)
    assert_allclose(loss, per_sample.mean(), rtol=1e-13)
    # A weight of zero removes a sample; weights act linearly.
    w = np.zeros(n)
    w[2] = 1.0
    loss2, grad2 = loss_fn.loss_gradient(Z, Y, w)
    assert_allclose(loss2, per_sample[2], rtol=1e-13)
    assert_array_equal(np.delete(grad2, 2, axis=0), 0)
    # Integer weights = repeated samples.
    counts = np.array([1, 3, 0, 2, 1, 1])
    loss3, grad3 = loss_fn.loss_gradient(Z, Y, counts / counts.sum())
    rep = np.repeat(np.arange(n), counts)
    loss_rep, grad_rep = loss_fn.loss_gradient(
        Z[rep], Y[rep], np.full(rep.shape[0], 1.0 / rep.shape[0]))
    assert_allclose(loss3, loss_rep, rtol=1e-13)
    summed = np.zeros_like(grad3)
    np.add.at(summed, rep, grad_rep)
    assert_allclose(grad3, summed, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_outputs_keep_their_dtype(rng, kind):
    loss_fn, Z, Y = _problem(kind, rng, dtype=np.float32)
    w = _weights(rng)
    loss, grad = loss_fn.loss_gradient(Z, Y, w.astype(np.float32))
    assert np.isfinite(loss)
    if kind != "squared":
        # SquaredError returns the dtype of Z - Y (float64 targets promote);
        # the estimator casts dZ back to the network's dtype.
        assert grad.dtype == np.float32
    ref_loss, ref_grad = loss_fn.loss_gradient(Z.astype(np.float64), Y, w)
    assert_allclose(loss, ref_loss, rtol=1e-5)
    assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# Huge raw outputs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("z", [1000.0, -1000.0, 1e300, -1e300])
def test_binary_log_loss_is_stable_for_huge_outputs(z):
    loss_fn = BinaryLogLoss()
    Z = np.array([[z], [z]])
    Y = np.array([1.0, 0.0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise",
                                                divide="raise"):
        warnings.simplefilter("error")
        right, grad_right = loss_fn.loss_gradient(Z[:1], Y[:1], np.ones(1))
        wrong, grad_wrong = loss_fn.loss_gradient(Z[1:], Y[1:], np.ones(1))
        proba = loss_fn.link(Z)
        log_proba = loss_fn.log_link(Z)
    if z < 0:  # the label 0 is right
        right, wrong = wrong, right
        grad_right, grad_wrong = grad_wrong, grad_right
    assert right == 0.0
    assert wrong == abs(z)
    assert_array_equal(np.abs(grad_right), 0.0)
    assert_array_equal(np.abs(grad_wrong), 1.0)
    assert np.isfinite(log_proba).all()
    assert_array_equal(proba.sum(axis=1), 1.0)
    assert_array_equal(proba[:, int(z > 0)], 1.0)
    assert_array_equal(log_proba[:, int(z > 0)], 0.0)
    assert_array_equal(log_proba[:, int(z < 0)], -abs(z))


@pytest.mark.parametrize("scale", [1000.0, 1e300])
def test_multinomial_log_loss_is_stable_for_huge_outputs(scale):
    loss_fn = MultinomialLogLoss()
    Z = scale * np.array([[1.0, -1.0, 0.0], [-1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
    Y = np.array([0, 0, 1])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise",
                                                divide="raise"):
        warnings.simplefilter("error")
        losses = [loss_fn.loss_gradient(Z[i:i + 1], Y[i:i + 1], np.ones(1))
                  for i in range(3)]
        proba = loss_fn.link(Z)
        log_proba = loss_fn.log_link(Z)
    # Row 0: right and certain. Row 1: wrong by 2 * scale. Row 2: a tie
    # between two classes, each with probability 1/2.
    assert losses[0][0] == 0.0
    assert_allclose(losses[1][0], 2 * scale, rtol=1e-15)
    assert_allclose(losses[2][0], np.log(2), rtol=1e-15)
    assert_array_equal(losses[0][1], 0.0)
    assert_array_equal(losses[1][1], [[-1.0, 0.0, 1.0]])
    assert_allclose(losses[2][1], [[0.5, -0.5, 0.0]], rtol=1e-15)
    assert np.isfinite(log_proba).all()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-15)
    assert_allclose(proba, [[1, 0, 0], [0, 0, 1], [0.5, 0.5, 0]], rtol=1e-15)


def test_squared_error_with_huge_outputs_is_finite():
    loss_fn = SquaredError()
    Z = np.array([[1000.0], [-1000.0]])
    Y = np.array([[0.0], [1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = loss_fn.loss_gradient(Z, Y, np.array([0.5, 0.5]))
    assert loss == 0.25 * (1000.0 ** 2 + 1001.0 ** 2)
    assert_array_equal(grad, [[500.0], [-500.5]])


# --------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "multinomial"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_link_probabilities_and_log_link(rng, kind, scale):
    loss_fn, Z, _ = _problem(kind, rng)
    Z = Z * scale
    proba = loss_fn.link(Z)
    log_proba = loss_fn.log_link(Z)
    n_classes = 2 if kind == "binary" else N_CLASSES
    assert proba.shape == log_proba.shape == (Z.shape[0], n_classes)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    assert np.isfinite(log_proba).all()
    assert np.all(log_proba <= 0)
    # The link is exp(log_link) to absolute round-off everywhere ...
    assert_allclose(np.exp(log_proba), proba, rtol=1e-14, atol=2e-16)
    # ... and log_link is log(link) to relative round-off wherever the link
    # is not tiny (see the large-z tests below for the tails).
    accurate = proba >= 1e-4
    assert accurate.any()
    assert_allclose(log_proba[accurate], np.log(proba[accurate]), rtol=1e-12,
                    atol=1e-14)
    # Where the link is tiny or underflows, log_link stays finite and small.
    assert np.all(log_proba[~accurate] < np.log(1e-4) + 1e-9)


def _log_link_and_link(kind, z):
    """Both links at raw outputs whose small probability exp(-z) is normal."""
    if kind == "binary":
        loss_fn, Z = BinaryLogLoss(), np.array([[z], [-z]])
    else:
        loss_fn, Z = MultinomialLogLoss(), np.array([[z, 0.0], [0.0, z]])
    return loss_fn.log_link(Z), loss_fn.link(Z)


@pytest.mark.parametrize("z", [20.0, 30.0, 36.0])
def test_multinomial_log_link_equals_log_of_link(z):
    log_proba, proba = _log_link_and_link("multinomial", z)
    # Probabilities near 1 are stored to absolute round-off, hence the atol.
    assert_allclose(log_proba, np.log(proba), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("z", [20.0, 30.0, 36.0, 700.0])
def test_binary_log_link_equals_log_of_link(z):
    log_proba, proba = _log_link_and_link("binary", z)
    assert_allclose(log_proba, np.log(proba), rtol=1e-12, atol=1e-15)


def test_binary_link_matches_its_two_columns(rng):
    loss_fn = BinaryLogLoss()
    Z = rng.normal(scale=4.0, size=(10, 1))
    proba = loss_fn.link(Z)
    assert_allclose(proba[:, 1], 1.0 / (1.0 + np.exp(-Z[:, 0])), rtol=1e-14)
    # The binary loss is the two-class multinomial loss on logits [0, z].
    y = (rng.random(10) < 0.5).astype(np.intp)
    w = _weights(rng, 10)
    Z2 = np.column_stack([np.zeros(10), Z[:, 0]])
    bin_loss, bin_grad = loss_fn.loss_gradient(Z, y.astype(np.float64), w)
    multi_loss, multi_grad = MultinomialLogLoss().loss_gradient(Z2, y, w)
    assert_allclose(bin_loss, multi_loss, rtol=1e-13)
    assert_allclose(bin_grad[:, 0], multi_grad[:, 1], rtol=1e-12, atol=1e-16)
    assert_allclose(MultinomialLogLoss().link(Z2), proba, rtol=1e-13, atol=1e-16)


def test_squared_error_link_is_identity(rng):
    Z = rng.normal(size=(4, 2))
    assert_array_equal(SquaredError().link(Z), Z)


def test_regression_loss_by_name():
    assert isinstance(regression_loss("squared_error"), SquaredError)
    assert isinstance(regression_loss("absolute_error"), AbsoluteError)
    assert regression_loss("huber", huber_epsilon=0.3).epsilon == 0.3
    assert regression_loss("quantile", quantile=0.9).quantile == 0.9
    with pytest.raises(ValueError, match="unknown regression loss"):
        regression_loss("poisson")


@pytest.mark.parametrize("kind", ["absolute", "huber", "quantile"])
def test_robust_losses_at_their_kinks(kind):
    """At r = 0 (and |r| = epsilon for Huber) the gradient is the one
    subgradient scikit-learn takes; the loss is continuous there."""
    loss = REGRESSION[kind]()
    Y = np.zeros((3, 1))
    Z = np.array([[0.0], [HUBER_EPSILON], [-HUBER_EPSILON]])
    value, grad = loss.loss_gradient(Z, Y, np.full(3, 1 / 3))
    if kind == "absolute":
        assert_allclose(grad[:, 0] * 3, [0.0, 1.0, -1.0])
    elif kind == "huber":
        assert_allclose(grad[:, 0] * 3, [0.0, HUBER_EPSILON, -HUBER_EPSILON])
        assert_allclose(value, HUBER_EPSILON ** 2 / 3)
    else:
        assert_allclose(grad[:, 0] * 3, [0.0, 1 - QUANTILE, -QUANTILE])


def test_pinball_loss_is_minimised_by_the_quantile(rng):
    """The constant minimising the mean pinball loss is the sample quantile."""
    y = rng.standard_normal(2001)[:, None]
    loss = PinballLoss(0.9)
    grid = np.linspace(0.8, 1.8, 2001)
    values = [loss.loss_gradient(np.full_like(y, c), y, np.full(y.shape[0],
                                 1 / y.shape[0]))[0] for c in grid]
    assert abs(grid[int(np.argmin(values))] - np.quantile(y, 0.9)) < 2e-3
