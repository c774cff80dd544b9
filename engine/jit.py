"""How vmsched's Numba kernels are compiled.

Every kernel is cached on disk (`cache=True`) and releases the GIL (`nogil=True`). Kernels
work on arrays their caller owns (and on views of them) and never allocate, so they are
compiled without the Numba runtime (`_nrt=False`): taking a view or passing an array to
another kernel then costs no atomic reference count. With the runtime, the counts that its
pruning pass leaves in branching code (numba issue #2350, where this option is the
maintainers' workaround) took about a third of a host-models tick. A function that allocates
(np.empty and the like) uses `allocating` and hands its arrays to kernels.
"""

import numpy as np
import numba
from numba.core import types
from numba.core.registry import CPUDispatcher


class _Dispatcher(CPUDispatcher):
    """Numba's CPU dispatcher, except that a call from another kernel compiles the callee for
    the arguments' types, never for their constant values.

    Numba types a constant argument (`False`, `-1`, a counter's initial `0`, which it sees
    before the loop that increments it) as a literal and compiles the callee once more for
    each such literal: one cold compilation of the consolidation kernels compiled 15 such
    copies (about a third of its 80 s). The copies were never faster: every value they
    specialise on is a run-time argument of the callee's other compilation as well.
    """

    def get_call_template(self, args, kws):
        return super().get_call_template(tuple(types.unliteral(a) for a in args),
                                         {k: types.unliteral(a) for k, a in kws.items()})


def jit(cache=True, **options):
    """A decorator: the function compiled when first called (nopython) with Numba's `options`,
    cached on disk unless cache=False."""
    def decorate(func):
        if numba.config.DISABLE_JIT:
            return func
        dispatcher = _Dispatcher(py_func=func, locals={},
                                 targetoptions={"nopython": True, "boundscheck": None, **options})
        if cache:
            dispatcher.enable_caching()
        return dispatcher
    return decorate


#: A kernel: cached, no GIL, no runtime (must not allocate).
kernel = jit(nogil=True, _nrt=False)

#: A kernel over hosts or VMs in parallel (prange); the same rules.
parallel_kernel = jit(nogil=True, _nrt=False, parallel=True)

#: A small scalar helper, inlined into its callers by Numba.
scalar_helper = jit(nogil=True, _nrt=False, inline="always")

#: A function that allocates the arrays it returns or hands to kernels.
allocating = jit(nogil=True)


def frozen(array, dtype=np.float64):
    """`array` as a read-only, C-contiguous `dtype` array: a view when it already is one of
    that dtype and layout, else a copy.

    Numba compiles a kernel once per argument type, and an array's type includes whether it
    is writable and contiguous: a column slice, a one-row array (C and F contiguous at once) or
    a read-only input each compiled every kernel they reached once more (the consolidation
    kernels alone take about a minute). Arrays that kernels only read are handed over frozen,
    so each kernel compiles once whatever the caller passed.
    """
    view = np.ascontiguousarray(array, dtype).view()
    view.flags.writeable = False
    return view


class using_threads:
    """with using_threads(n): parallel kernels run on n threads (None: as they are), at most
    Numba's NUMBA_NUM_THREADS; the previous count is restored afterwards."""

    def __init__(self, n):
        self.n = n
        self.previous = None

    def __enter__(self):
        if self.n is not None:
            self.previous = numba.get_num_threads()
            numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            numba.set_num_threads(self.previous)
        return False
