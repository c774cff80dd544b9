"""How vmsched's Numba kernels are compiled.

Every kernel is cached on disk (`cache=True`) and releases the GIL (`nogil=True`). Kernels
work on arrays their caller owns (and on views of them) and never allocate, so they are
compiled without the Numba runtime (`_nrt=False`): taking a view or passing an array to
another kernel then costs no atomic reference count. With the runtime, the counts that its
pruning pass leaves in branching code (numba issue #2350, where this option is the
maintainers' workaround) took about a third of a host-models tick. A function that allocates
(np.empty and the like) uses `allocating` and hands its arrays to kernels.
"""

from numba import njit

#: A kernel: cached, no GIL, no runtime (must not allocate).
kernel = njit(cache=True, nogil=True, _nrt=False)

#: A kernel over hosts or VMs in parallel (prange); the same rules.
parallel_kernel = njit(cache=True, nogil=True, _nrt=False, parallel=True)

#: A small scalar helper, inlined into its callers by Numba.
scalar_helper = njit(cache=True, nogil=True, _nrt=False, inline="always")

#: A function that allocates the arrays it returns or hands to kernels.
allocating = njit(cache=True, nogil=True)


class using_threads:
    """with using_threads(n): parallel kernels run on n threads (None: as they are), at most
    Numba's NUMBA_NUM_THREADS; the previous count is restored afterwards."""

    def __init__(self, n):
        self.n = n
        self.previous = None

    def __enter__(self):
        if self.n is not None:
            import numba
            self.previous = numba.get_num_threads()
            numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            import numba
            numba.set_num_threads(self.previous)
        return False
