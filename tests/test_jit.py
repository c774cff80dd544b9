"""How vmsched's kernels are compiled (vmsched.engine.jit)."""

import numba
import pytest

from vmsched.engine.jit import jit

# Not cached: the test looks at what a compilation in this process compiles.
kernel = jit(cache=False, nogil=True, _nrt=False)


@kernel
def _add(a, b):
    return a + b


@kernel
def _calls_with_constants(x):
    count = 0                 # a literal 0 until Numba has typed the loop below
    for _ in range(x):
        count += 1
    return _add(x, False) + _add(count, True) + _add(-1, x > 2)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing compiles")
def test_constant_arguments_do_not_compile_more_copies_of_a_kernel():
    """A kernel called from another with constants compiles once, for the arguments' types
    (Numba alone compiles a copy per literal: 3 here)."""
    assert _calls_with_constants(3) == 3 + 4 + 0
    assert [str(t) for t in _add.signatures[0]] == ["int64", "bool"]
    assert len(_add.signatures) == 1
