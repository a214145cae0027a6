"""Build the Cython kernels; all metadata lives in setup.cfg."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# SKRNN_DEBUG_BUILD=1 turns bounds, wraparound and initialisation checks back on
# (and Python division semantics), for hunting memory errors in the kernels.
DEBUG = os.environ.get("SKRNN_DEBUG_BUILD", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

COMPILE_ARGS = ["-O0", "-g"] if DEBUG else ["-O3"]

extensions = [
    Extension(
        f"skrnn._kernels.{name}",
        [f"skrnn/_kernels/{name}.pyx"],
        extra_compile_args=COMPILE_ARGS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name in ("_blas", "_recurrent")
]

# force: the generated C depends on the directives, which a file's timestamp
# does not show, so a debug build must not reuse a release build's C files.
setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, force=True))
