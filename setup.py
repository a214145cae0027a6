"""Build the Cython kernels; all metadata lives in setup.cfg."""

import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# SKRNN_DEBUG_BUILD=1 turns bounds, wraparound and initialisation checks back on
# (and Python division semantics), for hunting memory errors in the kernels.
DEBUG = os.environ.get("SKRNN_DEBUG_BUILD", "0") not in ("", "0")
# SKRNN_SANITIZE=1 builds them with AddressSanitizer and UndefinedBehaviorSanitizer,
# stopping at the first report; load the runtime with LD_PRELOAD to run them.
SANITIZE = os.environ.get("SKRNN_SANITIZE", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

# -fno-trapping-math lets gcc turn the float selects of the gate arithmetic
# (clamps, signs) into vector blends; nothing here relies on FP traps.
COMPILE_ARGS = ["-fno-trapping-math"] + (["-O0", "-g"] if DEBUG else ["-O3"])
SANITIZE_FLAGS = ["-fsanitize=address,undefined"]
MACROS = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
LINK_ARGS = []
if SANITIZE:
    # -O1 keeps the reported frames and lines close to the source.
    COMPILE_ARGS = ["-fno-trapping-math", *SANITIZE_FLAGS, "-fno-omit-frame-pointer",
                    "-fno-sanitize-recover=all", "-O1", "-g"]
    LINK_ARGS = SANITIZE_FLAGS

# The optimisers' fused updates must round as NumPy's separate operations do:
# no product and sum contracted into a fused multiply-add (aarch64 has them);
# and their square roots (of v >= 0) never set errno, so gcc may vectorise.
MODULE_ARGS = {"_optim": ["-ffp-contract=off", "-fno-math-errno"]}

# The C headers the kernels include, which a change must rebuild.
HEADERS = ("_cells", "_cells_impl", "_gemm", "_gemm_impl", "_gemm_type")

extensions = [
    Extension(
        f"skrnn._kernels.{name}",
        [f"skrnn/_kernels/{name}.pyx"],
        extra_compile_args=COMPILE_ARGS + MODULE_ARGS.get(name, []),
        extra_link_args=LINK_ARGS,
        depends=[f"skrnn/_kernels/{h}.h" for h in HEADERS],
        define_macros=MACROS,
        # _pack reads the caller's arrays through numpy's C API.
        include_dirs=[numpy.get_include()],
    )
    for name in ("_blas", "_recurrent", "_pack", "_ctc", "_sync", "_optim")
]

# force: the generated C depends on the directives, which a file's timestamp
# does not show, so a debug build must not reuse a release build's C files.
setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, force=True))
