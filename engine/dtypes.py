"""NumPy dtypes of the engine's state arrays (the C side is engine/_types.pxd).

Every array handed to the engine is converted to one of these at the API boundary.
"""

import numpy as np

#: Resource quantities (vCPUs, MiB, GiB, devices): int64.
AMOUNT = np.dtype(np.int64)
#: min_unit and step_size of an inventory record: int32.
UNIT = np.dtype(np.int32)
#: Dense host, VM slot and tenant indices: int32 (-1 means none).
INDEX = np.dtype(np.int32)
#: Allocation ratios: float64.
RATIO = np.dtype(np.float64)

#: Largest amount, total or capacity the engine accepts (2**53: every value is exact in float64,
#: and sums of many of them cannot overflow int64).
MAX_AMOUNT = 2**53
#: Largest min_unit or step_size (they are stored as int32).
MAX_UNIT = 2**31 - 1
#: Largest number of hosts or VM slots (indices are int32).
MAX_INDEX = 2**31 - 2
#: Largest number of resource classes (native kernels keep per-class scratch on the stack).
MAX_RESOURCES = 64
