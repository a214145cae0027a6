/* Gate arithmetic of the recurrent cells, written once in _cells_impl.h and
 * instantiated here for float (suffix _f) and double (suffix _d).
 *
 * The Cython time loops call one block function per time step on the
 * contiguous rows active at that step, between BLAS calls. libm's exp and
 * tanh are scalar calls the compiler cannot vectorise, so both types take
 * expm1 from a branch-free polynomial inlined into the loops, and each block
 * function is compiled for AVX-512, AVX2 and the baseline, chosen at load
 * time, so one binary runs everywhere.
 *
 * Accuracy: expm1 to a few ulp over the clamped range in both types; sigmoid
 * and tanh are formed from it without cancellation, so float64 kernels agree
 * with a libm reference to round-off.
 */
#ifndef SKRNN_CELLS_H
#define SKRNN_CELLS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(SKRNN_NO_TARGET_CLONES)
#define SKRNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SKRNN_CLONES
#endif

/* Inlined into each clone, so that it is compiled for the clone's target. */
#if defined(__GNUC__)
#define SKRNN_INLINE __attribute__((always_inline))
#else
#define SKRNN_INLINE
#endif

/* The cells, in the order of the Cython enum. */
enum { SKRNN_ELMAN = 0, SKRNN_LSTM = 1, SKRNN_GRU = 2 };

/* expm1(x) = 2^n (expm1(r) + 1) - 1 with n = round(x / ln 2) and
 * r = x - n ln 2 in two parts (Cody & Waite), |r| <= ln(2) / 2; expm1(r) from
 * its Taylor series (degree 7 in float, 13 in double: the first omitted term
 * is below half an ulp). n is rounded by adding and subtracting 1.5 * 2^p,
 * which leaves n in the low bits of the sum, so 2^n is built by integer
 * arithmetic on those bits: no float-to-int conversion, which AVX2 lacks for
 * double. x is clamped so that 2^n stays normal; sigmoid and tanh need no
 * more. */
static inline float skrnn_expm1_f(float x)
{
    x = x < 88.0f ? x : 88.0f;
    x = x > -87.0f ? x : -87.0f;
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r * r + r;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return s * p + (s - 1.0f);
}

static inline double skrnn_expm1_d(double x)
{
    x = x < 708.0 ? x : 708.0;
    x = x > -708.0 ? x : -708.0;
    double t = x * 1.4426950408889634074 + 6755399441055744.0;
    double n = t - 6755399441055744.0;
    double r = x - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r * r + r;
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4338000000000000ull + 1023ull) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    return s * p + (s - 1.0);
}

#define REAL float
#define SFX(name) name##_f
#define EXPM1 skrnn_expm1_f
#define FABS __builtin_fabsf
#define COPYSIGN __builtin_copysignf
#include "_cells_impl.h"
#undef REAL
#undef SFX
#undef EXPM1
#undef FABS
#undef COPYSIGN

#define REAL double
#define SFX(name) name##_d
#define EXPM1 skrnn_expm1_d
#define FABS __builtin_fabs
#define COPYSIGN __builtin_copysign
#include "_cells_impl.h"
#undef REAL
#undef SFX
#undef EXPM1
#undef FABS
#undef COPYSIGN

#endif
