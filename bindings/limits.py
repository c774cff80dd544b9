"""How much memory a run may use, and how much it will need: refuse before starting what
cannot fit, instead of being killed by the OS (or failing in a 970-TiB allocation) later.

The limit is the smallest of the machine's memory, the cgroup's memory limit (v2
`memory.max` or v1 `memory.limit_in_bytes`) and the address-space limit (RLIMIT_AS). The
estimate is the process's resident memory now (its address space, against RLIMIT_AS) plus
what the run adds, from costs measured on
runs of this build: bytes per VM (the VM table, the event queue, the fleet's slots, the
result tables), per tick (the series and its table) and per host (the layout and the host
arrays); generating a synthetic workload adds its own bytes per VM. The 1M-VM, 30-day
benchmark peaks at about 0.8 GiB; the estimate for it is about 1.2 times that.

Override: `Simulation(..., memory_limit_bytes=math.inf)` (or any number of bytes), or the
environment variable VMSCHED_MEMORY_LIMIT (bytes, or "inf"); `vmsched ... --memory-limit
GIB` on the command line.
"""

import math
import os
import resource
from pathlib import Path

from vmsched.errors import ResourceLimit

#: Measured costs (bytes) of a simulation with host models, results included.
BYTES_PER_VM = 520
BYTES_PER_TICK = 480
BYTES_PER_HOST = 4096
#: Generating a synthetic workload, at its peak, per VM.
SYNTHETIC_BYTES_PER_VM = 260


def resident_bytes(virtual=False):
    """The process's resident memory now (bytes); virtual: its address space instead (what
    RLIMIT_AS limits: mapped libraries, reserved arenas and stacks count too)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0 if virtual else 1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):   # not Linux: the peak so far (kB on Linux, bytes on macOS)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024


def memory_limit():
    """(bytes, what sets it): the smallest of the machine's memory, the cgroup's limit and
    RLIMIT_AS; VMSCHED_MEMORY_LIMIT (bytes or "inf") replaces them."""
    given = os.environ.get("VMSCHED_MEMORY_LIMIT")
    if given:
        return float(given), "VMSCHED_MEMORY_LIMIT"
    limits = []
    try:
        limits.append((os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                       "the machine's memory"))
    except (ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            limits.append((int(text), f"the cgroup's limit ({path})"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft not in (resource.RLIM_INFINITY, -1):
        limits.append((soft, "the address-space limit (RLIMIT_AS)"))
    return min(limits) if limits else (math.inf, "no limit found")


def simulation_bytes(n_vms, n_ticks, n_hosts, synthetic=False):
    """Bytes a simulation of n_vms over n_ticks on n_hosts adds (and generating the VMs, if
    synthetic)."""
    per_vm = BYTES_PER_VM + (SYNTHETIC_BYTES_PER_VM if synthetic else 0)
    return float(n_vms) * per_vm + float(n_ticks) * BYTES_PER_TICK + float(n_hosts) * BYTES_PER_HOST


def check_fits(added_bytes, what, limit_bytes=None):
    """Raise ResourceLimit if resident memory now plus added_bytes exceeds the limit
    (limit_bytes, or memory_limit()); returns the estimated peak in bytes."""
    if limit_bytes is None:
        limit, source = memory_limit()
    else:
        limit, source = float(limit_bytes), "memory_limit_bytes"
    peak = resident_bytes(virtual="RLIMIT_AS" in source) + added_bytes
    if peak > limit:
        raise ResourceLimit(f"{what} needs about {_gib(peak)} of memory (estimate), more than "
                            f"the {_gib(limit)} this process may use ({source}); make the run "
                            f"smaller, or override the limit (memory_limit_bytes, "
                            f"VMSCHED_MEMORY_LIMIT, --memory-limit)")
    return peak


def _gib(n_bytes):
    """Bytes for a person: MiB below 1 GiB, PiB from 1 PiB, else GiB."""
    if n_bytes >= 2**50:
        return f"{n_bytes / 2**50:,.1f} PiB"
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:,.0f} MiB"
    return f"{n_bytes / 2**30:,.1f} GiB"
