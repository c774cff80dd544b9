"""Build the Cython extensions of vmsched.engine.

All Cython compiler directives live in CYTHON_DIRECTIVES. Setting VMSCHED_DEBUG=1 at build time
turns on bounds, wraparound and initialisation checks (an out-of-range index then raises
IndexError instead of reading memory it should not) and compiles the C with -O0 -g; tests run
once against such a build in CI.
"""

import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent.resolve()
DEBUG = os.environ.get("VMSCHED_DEBUG", "0") not in ("", "0")
BUILD_BASE = ROOT / "build" / ("debug" if DEBUG else "release")
#: Modules are translated and compiled in parallel, one job per core this build may use.
JOBS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

# Native modules by layer (engine/<layer>/<name>.pyx -> vmsched.engine.<layer>.<name>).
ENGINE_MODULES = ["state._fleet", "placement._shape_trees", "placement._fit_index",
                  "placement._placement", "simulation._event_queue", "simulation._lifecycle"]


def cython_include_dir() -> str:
    """A folder where engine/ appears as vmsched/engine, so `cimport vmsched.engine._x` resolves.

    The source tree keeps the engine in engine/ (package_dir maps it); Cython finds .pxd files
    by package path, so it is shown the same files under their import names.
    """
    include = ROOT / "build" / "cython-include"
    link = include / "vmsched" / "engine"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        try:
            link.symlink_to(ROOT / "engine", target_is_directory=True)
        except OSError:  # no symlinks on this file system: copy the interfaces instead
            link.mkdir()
            for pxd in (ROOT / "engine").rglob("*.pxd"):
                target = link / pxd.relative_to(ROOT / "engine")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(pxd.read_text())
            for init in (ROOT / "engine").rglob("__init__.py"):
                target = link / init.relative_to(ROOT / "engine")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("")
    return str(include)


extensions = [
    Extension(
        f"vmsched.engine.{name}",
        [f"engine/{name.replace('.', '/')}.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("VMSCHED_DEBUG", "1" if DEBUG else "0"),
        ],
        # No FMA contraction: float results must not depend on the CPU (engine = reference).
        extra_compile_args=["-ffp-contract=off"] + (["-O0", "-g"] if DEBUG else ["-O3"]),
    )
    for name in ENGINE_MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=CYTHON_DIRECTIVES,
        include_path=[cython_include_dir()],
        build_dir=str(BUILD_BASE / "cython"),
        nthreads=JOBS,
    ),
    # Everything built goes to a folder per build mode, so a debug build never reuses release
    # objects and the other way round.
    options={"build": {"build_base": str(BUILD_BASE)}, "build_ext": {"parallel": JOBS}},
)
