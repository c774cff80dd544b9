"""Input checks at the API boundary: each converts to the engine's dtype or raises an error
from vmsched.errors whose message names the parameter, the position and the bad value."""

import numbers

import numpy as np

from vmsched.engine import dtypes
from vmsched.errors import InvalidRequest, shown


def position(index, labels):
    """'[3, MEMORY_MB]' for index (3, 1) when labels[-1] names the columns."""
    parts = []
    for axis, i in enumerate(index):
        names = labels[axis] if labels and axis < len(labels) else None
        parts.append(str(names[i]) if names is not None and i < len(names) else str(i))
    return "[" + ", ".join(parts) + "]" if parts else ""


def _first(mask):
    return tuple(int(i) for i in np.argwhere(mask)[0])


def whole_numbers(name, value, shape=None, *, minimum=0, maximum=dtypes.MAX_AMOUNT,
                  dtype=dtypes.AMOUNT, labels=None, error=InvalidRequest):
    """An integer array (broadcast to `shape` if given) with minimum <= x <= maximum."""
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "iub":
        if array.dtype.kind == "f" and array.size and not np.isfinite(array).all():
            bad = _first(~np.isfinite(array))
            raise error(f"{name}{position(bad, labels)} = {array[bad].item()} is not a whole number")
        raise error(f"{name} has dtype {array.dtype}; expected whole numbers (an integer dtype)")
    if array.dtype.kind == "b":
        raise error(f"{name} has dtype bool; expected whole numbers")
    if shape is not None:
        array = _broadcast(name, array, shape, error)
    if array.size:
        low = array < minimum
        if low.any():
            bad = _first(low)
            what = "is negative" if minimum == 0 else f"is below {minimum}"
            raise error(f"{name}{position(bad, labels)} = {array[bad]} {what}")
        high = array > maximum
        if high.any():
            bad = _first(high)
            raise error(f"{name}{position(bad, labels)} = {array[bad]} is above {maximum}")
    return np.ascontiguousarray(array, dtype=dtype)


def positive_reals(name, value, shape=None, *, labels=None, error=InvalidRequest):
    """A finite float64 array > 0 (broadcast to `shape` if given)."""
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "iuf":
        raise error(f"{name} has dtype {array.dtype}; expected real numbers")
    array = array.astype(np.float64)
    if shape is not None:
        array = _broadcast(name, array, shape, error)
    bad_mask = ~np.isfinite(array) | (array <= 0)
    if bad_mask.any():
        bad = _first(bad_mask)
        raise error(f"{name}{position(bad, labels)} = {array[bad].item()} is not a finite number > 0")
    return np.ascontiguousarray(array, dtype=dtypes.RATIO)


def _broadcast(name, array, shape, error):
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise error(f"{name} has shape {array.shape}; it does not broadcast to {shape}") from None


def integer(name, value, *, minimum=None, maximum=None):
    """A Python int from an int or NumPy integer (not bool, not float)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidRequest(f"{name} = {shown(value)} is not an integer")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InvalidRequest(f"{name} = {value} is below {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidRequest(f"{name} = {value} is above {maximum}")
    return value


def nonnegative_real(name, value):
    """A finite float >= 0 from an int or float (not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real,)):
        raise InvalidRequest(f"{name} = {shown(value)} is not a number")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise InvalidRequest(f"{name} = {value} must be finite and >= 0")
    return value


def positive_real(name, value):
    """A finite float > 0 from an int or float (not bool)."""
    value = nonnegative_real(name, value)
    if value <= 0:
        raise InvalidRequest(f"{name} = {value} must be > 0")
    return value
