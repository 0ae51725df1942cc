"""Build script for minigrad's compiled kernels (the Cython modules in csrc/).

Every ``csrc/<name>.pyx`` becomes the extension ``minigrad.backend._<name>``.
OpenMP is used when the compiler accepts ``-fopenmp``; the code is portable
(no ``-march=native``, no ``-ffast-math``).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent.resolve()


def compiler_has_openmp() -> bool:
    """True if the C compiler builds and links a program with -fopenmp."""
    if os.environ.get("MINIGRAD_NO_OPENMP"):
        return False
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return False
    src = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "t.c")
        path.write_text(src)
        cmd = cc.split() + ["-fopenmp", str(path), "-o", str(Path(tmp, "t"))]
        return subprocess.run(cmd, capture_output=True).returncode == 0


def extensions() -> list[Extension]:
    openmp = compiler_has_openmp()
    compile_args = ["-O3", "-fno-strict-aliasing"]
    link_args: list[str] = []
    if openmp:
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    extra = os.environ.get("MINIGRAD_EXTRA_CFLAGS", "").split()
    exts = []
    for pyx in sorted(Path("csrc").glob("*.pyx")):
        exts.append(
            Extension(
                f"minigrad.backend._{pyx.stem}",
                [str(pyx)],
                include_dirs=[np.get_include(), "csrc"],
                # Rebuild when a shared header changes (the .pyx files include them).
                depends=sorted(str(p) for p in Path("csrc").glob("*.h")),
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=compile_args + extra,
                extra_link_args=link_args + extra,
            )
        )
    print(f"minigrad: building {len(exts)} extension(s), OpenMP={'on' if openmp else 'off'}",
          file=sys.stderr)
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=extensions())
