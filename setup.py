"""Build the Cython extensions of vmsched.engine.

All Cython compiler directives live in CYTHON_DIRECTIVES. Setting VMSCHED_DEBUG=1 at build time
turns on bounds, wraparound and initialisation checks (an out-of-range index then raises
IndexError instead of reading memory it should not) and compiles the C with -O0 -g; tests run
once against such a build in CI.
"""

import hashlib
import os
from pathlib import Path

import Cython
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


def module_file(name: str, suffix: str, folder: Path = ROOT) -> Path:
    """The file of module vmsched.engine.<name> under folder/engine, e.g. state/_fleet.pyx."""
    return folder / "engine" / f"{name.replace('.', '/')}{suffix}"


def extension(name: str, source: str) -> Extension:
    """The extension vmsched.engine.<name>, compiled from `source` (its .pyx, or its translation)."""
    return Extension(
        f"vmsched.engine.{name}",
        [source],
        include_dirs=[numpy.get_include()],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("VMSCHED_DEBUG", "1" if DEBUG else "0"),
        ],
        # No FMA contraction: float results must not depend on the CPU (engine = reference).
        extra_compile_args=["-ffp-contract=off"] + (["-O0", "-g"] if DEBUG else ["-O3"]),
    )


def sources_fingerprint() -> str:
    """A hash of everything the Cython translation depends on: the engine's .pyx and .pxd files,
    the Cython and NumPy versions, the directives."""
    digest = hashlib.sha256(repr((Cython.__version__, numpy.__version__,
                                  sorted(CYTHON_DIRECTIVES.items()))).encode())
    for path in sorted(p for p in (ROOT / "engine").rglob("*") if p.suffix in (".pyx", ".pxd")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def native_extensions() -> list[Extension]:
    """The engine's extensions, translated by Cython only when their sources changed.

    Cython decides by file times, and those include the .pxd files of the Cython and NumPy that
    pip installs afresh in each isolated build environment, so every `pip install` translated
    everything again and the C compiler, seeing new files, recompiled everything. A content
    fingerprint decides instead: when it matches the last translation's, the C files already
    translated are compiled, and setuptools skips each module whose built library is newer.
    """
    translated = BUILD_BASE / "cython"
    stamp = translated / "sources.sha256"
    c_files = {name: module_file(name, ".c", translated) for name in ENGINE_MODULES}
    fingerprint = sources_fingerprint()
    if (stamp.exists() and stamp.read_text() == fingerprint
            and all(c_file.exists() for c_file in c_files.values())):
        return [extension(name, str(c_file.relative_to(ROOT))) for name, c_file in c_files.items()]
    extensions = cythonize(
        [extension(name, str(module_file(name, ".pyx").relative_to(ROOT)))
         for name in ENGINE_MODULES],
        compiler_directives=CYTHON_DIRECTIVES,
        include_path=[cython_include_dir()],
        build_dir=str(translated),
        nthreads=JOBS,
    )
    stamp.write_text(fingerprint)
    return extensions


setup(
    ext_modules=native_extensions(),
    # Everything built goes to a folder per build mode, so a debug build never reuses release
    # objects and the other way round.
    options={"build": {"build_base": str(BUILD_BASE)}, "build_ext": {"parallel": JOBS}},
)
