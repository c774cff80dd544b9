# See dtypes.py for the matching NumPy dtypes; tests check that the two agree.
"""C types of the engine's state: every native module takes its type aliases from here."""

from libc.stdint cimport int32_t, int64_t

# A resource quantity: whole vCPUs, MiB, GiB or devices. Never negative in requests.
ctypedef int64_t amount_t
# min_unit and step_size of an inventory record (small positive integers).
ctypedef int32_t unit_t
# A dense host, VM slot, tenant or resource-class index; -1 marks "none".
ctypedef int32_t index_t
# An allocation ratio (overcommit factor), finite and > 0.
ctypedef double ratio_t
