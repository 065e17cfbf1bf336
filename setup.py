"""Build the compiled training path's kernels (``initlab.nn.jit_kernels``, Cython -> C).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and ``fit(engine="jit")`` says what is missing.

Flags: ``-O3``, no ``-ffast-math`` and ``-ffp-contract=off`` (no fused multiply-add), so each
operation rounds as written and a result does not depend on the instruction set the loops
were vectorized for: a build for this machine's CPU (``-march=native``, the default: on a
2-vCPU Zen 4 EPYC the moons net's epoch took 21 us against 36-46 us for baseline x86-64)
gives the bits of a portable one. Set ``INITLAB_MARCH`` to build for another target, e.g.
``INITLAB_MARCH=x86-64-v2`` for a wheel that must run on other machines, or ``none`` to
leave ``-march`` out.
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

march = os.environ.get("INITLAB_MARCH", "native").strip()
flags = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]
if flags and march and march != "none":
    flags.append(f"-march={march}")

kernels = Extension(
    "initlab.nn.jit_kernels",
    ["src/initlab/nn/jit_kernels.pyx"],
    extra_compile_args=flags,
)
modules = cythonize([kernels], language_level=3)
for module in modules:
    module.optional = True  # set after cythonize, which drops it (Cython 3.1)

setup(ext_modules=modules)
