"""SGD and Adam against hand-computed closed-form updates on a small vector."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skrnn._optimizers import SGD, Adam

P0 = np.array([1.0, -2.0, 0.5])
GRADS = [
    np.array([0.5, -1.0, 2.0]),
    np.array([-0.25, 0.5, 1.0]),
    np.array([1.0, 0.0, -4.0]),
]


def _run(optimizer, params=None, grads=GRADS):
    """Apply the steps; returns the parameters after each one."""
    params = P0.copy() if params is None else params
    history = []
    for g in grads:
        g_before = g.copy()
        optimizer.step(params, g)
        assert_array_equal(g, g_before)  # the gradient is not modified
        history.append(params.copy())
    return history


# --------------------------------------------------------------------------
# SGD
# --------------------------------------------------------------------------


def test_sgd_constant_without_momentum():
    opt = SGD(3, np.float64, learning_rate_init=0.1, momentum=0.0,
              nesterov=False)
    history = _run(opt)
    # p1 = p0 - 0.1 g1 = [1 - .05, -2 + .1, .5 - .2]
    assert_allclose(history[0], [0.95, -1.9, 0.3], rtol=1e-15)
    # p2 = p1 - 0.1 g2 = [.95 + .025, -1.9 - .05, .3 - .1]
    assert_allclose(history[1], [0.975, -1.95, 0.2], rtol=1e-15)
    # p3 = p2 - 0.1 g3 = [.975 - .1, -1.95, .2 + .4]
    assert_allclose(history[2], [0.875, -1.95, 0.6], rtol=1e-15)
    assert opt.learning_rate == 0.1


def test_sgd_momentum():
    opt = SGD(3, np.float64, learning_rate_init=0.1, momentum=0.9,
              nesterov=False)
    history = _run(opt)
    # v1 = -0.1 g1 = [-.05, .1, -.2];                      p1 = p0 + v1
    assert_allclose(history[0], [0.95, -1.9, 0.3], rtol=1e-15)
    # v2 = .9 v1 - .1 g2 = [-.045 + .025, .09 - .05, -.18 - .1]
    #    = [-.02, .04, -.28];                               p2 = p1 + v2
    assert_allclose(history[1], [0.93, -1.86, 0.02], rtol=1e-14)
    # v3 = .9 v2 - .1 g3 = [-.018 - .1, .036, -.252 + .4]
    #    = [-.118, .036, .148];                             p3 = p2 + v3
    assert_allclose(history[2], [0.812, -1.824, 0.168], rtol=1e-14)
    assert_allclose(opt.velocity, [-0.118, 0.036, 0.148], rtol=1e-14)


def test_sgd_nesterov_momentum():
    opt = SGD(3, np.float64, learning_rate_init=0.1, momentum=0.9,
              nesterov=True)
    history = _run(opt)
    # Same velocities as above; the step is .9 v_t - .1 g_t.
    # step1 = .9 [-.05, .1, -.2] - [.05, -.1, .2] = [-.095, .19, -.38]
    assert_allclose(history[0], [0.905, -1.81, 0.12], rtol=1e-14)
    # step2 = .9 [-.02, .04, -.28] - [-.025, .05, .1] = [.007, -.014, -.352]
    assert_allclose(history[1], [0.912, -1.824, -0.232], rtol=1e-14)
    # step3 = .9 [-.118, .036, .148] - [.1, 0, -.4] = [-.2062, .0324, .5332]
    assert_allclose(history[2], [0.7058, -1.7916, 0.3012], rtol=1e-14)


def test_sgd_defaults_follow_mlp():
    opt = SGD(3, np.float64)
    assert opt.learning_rate == 0.1
    assert opt.momentum == 0.9
    assert opt.nesterov is True
    assert opt.power_t == 0.5
    assert opt.velocity.dtype == np.float64
    assert_array_equal(opt.velocity, 0.0)


def test_sgd_invscaling_sets_lr_at_epoch_end():
    opt = SGD(3, np.float64, learning_rate_init=0.2, learning_rate="invscaling",
              momentum=0.0, nesterov=False, power_t=0.25)
    _run(opt, grads=GRADS[:1])
    assert opt.learning_rate == 0.2  # unchanged within an epoch
    opt.epoch_ended(15)
    assert_allclose(opt.learning_rate, 0.2 / 16 ** 0.25, rtol=1e-15)  # = 0.1
    params = np.zeros(3)
    opt.step(params, GRADS[1])
    assert_allclose(params, -0.1 * GRADS[1], rtol=1e-15)
    # The schedule is always from the initial rate, never compounded.
    opt.epoch_ended(80)
    assert_allclose(opt.learning_rate, 0.2 / 81 ** 0.25, rtol=1e-15)  # = 0.2/3


@pytest.mark.parametrize("schedule", ["constant", "adaptive"])
def test_sgd_other_schedules_ignore_epoch_end(schedule):
    opt = SGD(3, np.float64, learning_rate_init=0.05, learning_rate=schedule)
    opt.epoch_ended(1000)
    assert opt.learning_rate == 0.05


def test_sgd_adaptive_divides_by_five_until_tiny(capsys):
    opt = SGD(3, np.float64, learning_rate_init=1e-4, learning_rate="adaptive")
    # 1e-4 -> 2e-5 -> 4e-6 -> 8e-7, then 8e-7 <= 1e-6 stops.
    expected = [2e-5, 4e-6, 8e-7]
    for lr in expected:
        assert opt.stalled(verbose=False) is False
        assert_allclose(opt.learning_rate, lr, rtol=1e-15)
    assert opt.stalled(verbose=False) is True
    assert_allclose(opt.learning_rate, 8e-7, rtol=1e-15)
    assert capsys.readouterr().out == ""


def test_sgd_adaptive_stops_at_1e_6_inclusive(capsys):
    opt = SGD(3, np.float64, learning_rate_init=1e-6, learning_rate="adaptive")
    assert opt.stalled(verbose=True) is True
    assert opt.learning_rate == 1e-6
    assert "stopping" in capsys.readouterr().out
    # Just above the threshold it divides once more, then stops.
    opt = SGD(3, np.float64, learning_rate_init=1.5e-6, learning_rate="adaptive")
    assert opt.stalled(verbose=True) is False
    assert_allclose(opt.learning_rate, 3e-7, rtol=1e-15)
    assert "Setting learning rate to 0.000000" in capsys.readouterr().out
    assert opt.stalled(verbose=False) is True


@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
def test_sgd_non_adaptive_stalls_stop_at_once(schedule):
    opt = SGD(3, np.float64, learning_rate_init=0.3, learning_rate=schedule)
    assert opt.stalled(verbose=False) is True
    assert opt.learning_rate == 0.3


def test_sgd_keeps_float32():
    opt = SGD(3, np.float32, learning_rate_init=0.1)
    params = P0.astype(np.float32)
    for g in GRADS:
        opt.step(params, g.astype(np.float32))
    assert params.dtype == np.float32
    assert opt.velocity.dtype == np.float32
    ref = SGD(3, np.float64, learning_rate_init=0.1)
    assert_allclose(params, _run(ref)[-1], rtol=1e-6)


# --------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------


def _adam_by_hand(lr, b1, b2, eps, grads=GRADS):
    """The documented update written out step by step, in scalar Python."""
    p = [float(x) for x in P0]
    m = [0.0] * 3
    v = [0.0] * 3
    history = []
    for t, g in enumerate(grads, start=1):
        lr_t = lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t)
        for k in range(3):
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            p[k] -= lr_t * m[k] / (v[k] ** 0.5 + eps)
        history.append(np.array(p))
    return history, np.array(m), np.array(v)


def test_adam_first_step_is_lr_times_sign():
    # m1 = .1 g, v1 = .001 g^2, lr_1 = lr sqrt(.001) / .1, so the step is
    # lr * g / (|g| + eps / sqrt(.001)): the sign of g times lr (to eps).
    opt = Adam(3, np.float64, learning_rate_init=0.01, epsilon=0.0)
    history = _run(opt, grads=GRADS[:1])
    assert_allclose(history[0], P0 - 0.01 * np.sign(GRADS[0]), rtol=1e-14)
    assert opt.t == 1


@pytest.mark.parametrize("eps", [1e-8, 0.1])
def test_adam_three_steps_match_closed_form(eps):
    lr, b1, b2 = 0.01, 0.9, 0.999
    opt = Adam(3, np.float64, learning_rate_init=lr, beta_1=b1, beta_2=b2,
               epsilon=eps)
    history = _run(opt)
    expected, m, v = _adam_by_hand(lr, b1, b2, eps)
    for got, want in zip(history, expected, strict=True):
        assert_allclose(got, want, rtol=1e-14)
    assert_allclose(opt.m, m, rtol=1e-14)
    assert_allclose(opt.v, v, rtol=1e-14)
    assert opt.t == 3
    assert_allclose(opt.learning_rate, lr * np.sqrt(1 - b2 ** 3) / (1 - b1 ** 3),
                    rtol=1e-15)


def test_adam_second_step_by_hand():
    # b1 = .5, b2 = .75, eps = 0, lr = .1 keep the numbers short.
    # t=1: m = .5 g1, v = .25 g1^2, lr_1 = .1 * sqrt(.25) / .5 = .1
    #      step = .1 * .5 g1 / (.5 |g1|) = .1 sign(g1) = [.1, -.1, .1]
    # t=2: m = .25 g1 + .5 g2 = [.125 - .125, -.25 + .25, .5 + .5] = [0, 0, 1]
    #      v = .1875 g1^2 + .25 g2^2 = [.046875 + .015625, .1875 + .0625,
    #          .75 + .25] = [.0625, .25, 1]
    #      lr_2 = .1 * sqrt(1 - .5625) / (1 - .25) = .1 * sqrt(.4375) / .75
    #      step = lr_2 * [0, 0, 1] / [.25, .5, 1]
    opt = Adam(3, np.float64, learning_rate_init=0.1, beta_1=0.5, beta_2=0.75,
               epsilon=0.0)
    history = _run(opt, grads=GRADS[:2])
    assert_allclose(history[0], [0.9, -1.9, 0.4], rtol=1e-15)
    lr_2 = 0.1 * np.sqrt(0.4375) / 0.75
    assert_allclose(history[1], [0.9, -1.9, 0.4 - lr_2], rtol=1e-15)
    assert_allclose(opt.m, [0.0, 0.0, 1.0], atol=1e-16)
    assert_allclose(opt.v, [0.0625, 0.25, 1.0], rtol=1e-15)


def test_adam_schedule_hooks():
    opt = Adam(3, np.float64, learning_rate_init=0.003)
    opt.epoch_ended(100)
    assert opt.learning_rate == 0.003
    assert opt.stalled(verbose=False) is True


def test_adam_keeps_float32():
    opt = Adam(3, np.float32, learning_rate_init=0.01)
    params = P0.astype(np.float32)
    for g in GRADS:
        opt.step(params, g.astype(np.float32))
    assert params.dtype == np.float32
    assert opt.m.dtype == opt.v.dtype == np.float32
    expected, _, _ = _adam_by_hand(0.01, 0.9, 0.999, 1e-8)
    assert_allclose(params, expected[-1], rtol=1e-6)


@pytest.mark.parametrize("make", [lambda: SGD(3, np.float64),
                                  lambda: Adam(3, np.float64)])
def test_step_keeps_the_previous_parameters_and_reports_non_finite_ones(make):
    opt = make()
    params, previous = P0.copy(), np.zeros(3)
    assert opt.step(params, GRADS[0], previous) is True
    assert_array_equal(previous, P0)
    assert not np.array_equal(params, P0)
    after = params.copy()
    assert opt.step(params, np.array([0.0, np.inf, 0.0]), previous) is False
    assert_array_equal(previous, after)
