"""The optimisers' updates of the flat parameter vector in one pass each.

Each runs the same operations, in the same order and the same precision, as
the NumPy expressions in the docstrings (kept in the tests as references), so
the fused pass gives the same bits; skrnn's setup builds this module without
contracting a product and a sum into one fused multiply-add for that reason.
"""

from cython cimport floating
from libc.math cimport sqrt, sqrtf


def adam_step(floating[::1] params, const floating[::1] grad,
              floating[::1] m, floating[::1] v, double beta_1, double beta_2,
              double learning_rate, double epsilon, floating[::1] previous=None):
    """One Adam update in place, with the bias-corrected ``learning_rate``:

    ``m = m * b1 + (1 - b1) * g``, ``v = v * b2 + (1 - b2) * (g * g)``,
    ``params -= m / (sqrt(v) + eps) * learning_rate``. As NumPy does with
    Python floats, the betas and eps are rounded to the arrays' precision
    first; the rate multiplies in double precision, the product rounded
    back (as NumPy multiplies by a float64 scalar in place).

    ``previous`` (optional) receives the parameters before the update.
    Returns whether every updated parameter is finite.
    """
    cdef Py_ssize_t i, n = params.shape[0]
    cdef bint keep = previous is not None
    if (grad.shape[0] != n or m.shape[0] != n or v.shape[0] != n
            or (keep and previous.shape[0] != n)):
        raise ValueError(
            f"adam_step needs arrays of one length; got params {n}, grad "
            f"{grad.shape[0]}, m {m.shape[0]}, v {v.shape[0]}"
            + (f", previous {previous.shape[0]}." if keep else "."))
    cdef floating b1 = <floating> beta_1, c1 = <floating> (1.0 - beta_1)
    cdef floating b2 = <floating> beta_2, c2 = <floating> (1.0 - beta_2)
    cdef floating eps = <floating> epsilon
    cdef floating g, mi, vi, root, p
    cdef bint finite = True
    with nogil:
        for i in range(n):
            g = grad[i]
            mi = m[i] * b1
            mi = mi + c1 * g
            m[i] = mi
            vi = v[i] * b2
            vi = vi + c2 * (g * g)
            v[i] = vi
            if floating is float:
                root = sqrtf(vi)
            else:
                root = sqrt(vi)
            p = params[i]
            if keep:
                previous[i] = p
            p = p - <floating> (<double> (mi / (root + eps)) * learning_rate)
            params[i] = p
            # p - p is 0 for a finite p and NaN for an infinity or a NaN.
            finite &= (p - p) == 0
    return finite
