"""vmsched.HostModels: what each VM gets, tick by tick, on its host.

`HostModels(cpu="fair_share", memory="esxi", **parameters).step(fleet, cpu_demand,
active_memory, tick_s)` runs the vCPU scheduler and the memory model of every host for one tick
on the VMs allocated in `fleet`, in parallel over hosts (Numba), and returns a TickResult.

CPU models (engine/kernels_cpu.py): `fair_share` (proportional share with reservations and
limits, water-filling) and `proportional` (CloudSim's time-shared scaling).
Memory models (engine/kernels_memory.py): `esxi` (page sharing, ballooning, compression,
swapping by host state) and `none` (no overcommit effects). MEMORY_PARAMETERS lists every
parameter with its default and unit.

Inputs per VM: CPU demand in cores (0 <= d <= vCPUs) and active memory in MiB
(0 <= a <= configured MiB), either by VM handle (order="slot": arrays indexed by handle, at
least fleet.slot_high_water long) or in the models' layout (order="layout": arrays aligned
with `layout(fleet).vms`, the native order, grouped by host). Memory a VM has touched stays
consumed until it leaves: the models keep it between ticks, per VM.
"""

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vmsched import _validate
from vmsched.engine.jit import frozen
from vmsched.engine.models import kernels_host
from vmsched.engine.models.kernels_memory import N_PARAMETERS, STATE_NAMES
from vmsched.errors import InvalidRequest, shown

#: Memory parameters: name -> (default, unit and meaning). Order = the kernel's vector.
MEMORY_PARAMETERS = {
    "sharing": (0.05, "fraction of resident memory saved by page sharing, [0, 1 - 1/ratio)"),
    "idle_tax": (0.75, "Waldspurger's idle memory tax rate, [0, 1)"),
    "max_balloon": (0.65, "most a balloon takes, as a fraction of the VM's memory"),
    "compression_cache": (0.10, "compression cache size, fraction of the VM's memory"),
    "compression_ratio": (2.0, "compressed pages' size ratio (> 1)"),
    "high_at": (4.0, "high state from this many minFree free"),
    "clear_at": (1.0, "clear state from this many minFree free (the reclamation target)"),
    "soft_at": (0.64, "soft state (ballooning) from this many minFree free"),
    "hard_at": (0.32, "hard state (+ compression, swapping) from this many minFree; low below"),
    "block_at": (0.16, "below this many minFree free the host blocks allocations"),
    "min_free_base_mib": (899.0, "minFree for the first min_free_knee_mib of host memory, MiB"),
    "min_free_knee_mib": (28672.0, "host memory covered by min_free_base_mib, MiB"),
    "min_free_rest": (0.01, "minFree's share of host memory above the knee"),
}
assert len(MEMORY_PARAMETERS) == N_PARAMETERS


@dataclass(frozen=True)
class Model:
    """A host model: a name and the index of its native kernel."""

    name: str
    code: int


CPU_MODELS = {name: Model(name, code) for code, name in enumerate(kernels_host.CPU_MODELS)}
MEMORY_MODELS = {name: Model(name, code)
                 for code, name in enumerate(kernels_host.MEMORY_MODELS)}


def _resolve(kind, spec, registry):
    if isinstance(spec, Model) and spec in registry.values():
        return spec
    if isinstance(spec, str) and spec in registry:
        return registry[spec]
    raise InvalidRequest(f"{kind} model {shown(spec)} is unknown; known: {', '.join(registry)}")


@dataclass
class Layout:
    """VMs grouped by host: vms[host_start[h]:host_start[h + 1]] are host h's VM handles."""

    vms: np.ndarray
    host_start: np.ndarray
    generation: np.ndarray
    vcpus: np.ndarray
    memory: np.ndarray
    settings: dict            # per-VM arrays, or empty arrays when every VM uses defaults
    cpu_capacity: np.ndarray  # cores per host: pCPUs - reserved
    guest_memory: np.ndarray  # MiB per host: memory - reserved
    host_memory: np.ndarray   # MiB per host
    key: tuple


class _FleetState:
    """What the models remember about one fleet: its layout and the touched memory (and, for
    step(reuse=True), output buffers)."""

    def __init__(self):
        self.layout = None
        self.touched = None
        self.hosts = None
        self.buffers = {}

    def levels(self, name, n_hosts):
        """Each host's last CPU or memory water level (a first guess for the next solve)."""
        if name not in self.buffers or len(self.buffers[name]) != n_hosts:
            self.buffers[name] = np.zeros(n_hosts)
        return self.buffers[name]

    def buffer(self, name, size, dtype=np.float64):
        array = self.buffers.get(name)
        if array is None or array.shape != (size,) or array.dtype != dtype:
            array = self.buffers[name] = np.empty(size, dtype)
        return array


class HostModels:
    """CPU and memory models for every host. threads: Numba threads (None: Numba's default)."""

    def __init__(self, cpu="fair_share", memory="esxi", *, threads=None, **parameters):
        self.cpu = _resolve("cpu", cpu, CPU_MODELS)
        self.memory = _resolve("memory", memory, MEMORY_MODELS)
        unknown = set(parameters) - set(MEMORY_PARAMETERS)
        if unknown:
            raise InvalidRequest(f"unknown parameters {sorted(unknown)}; known: "
                                 f"{', '.join(MEMORY_PARAMETERS)}")
        values = {name: parameters.get(name, default)
                  for name, (default, _) in MEMORY_PARAMETERS.items()}
        self.parameters = _check_parameters(values)
        self._vector = np.array(list(self.parameters.values()), dtype=np.float64)
        if self.memory.name == "none":
            self._vector[0] = 0.0  # no page sharing either
        self.threads = None if threads is None else _validate.integer("threads", threads,
                                                                      minimum=1)
        self._fleets = weakref.WeakKeyDictionary()

    def touched(self, fleet):
        """Consumed (touched) MiB per VM of `fleet` in layout order, as the last step left it
        (a copy; zeros before the first step)."""
        return np.array(self._state(fleet).touched, dtype=np.float64)

    @property
    def parameter_vector(self):
        """The memory parameters in the kernels' order (MEMORY_PARAMETERS), float64; under
        memory="none" page sharing is 0."""
        return self._vector

    # ------------------------------------------------------------ layout

    def layout(self, fleet):
        """The VMs of `fleet` grouped by host (rebuilt when the fleet changed)."""
        return self._state(fleet).layout

    def _state(self, fleet):
        state = self._fleets.get(fleet)
        if state is None:
            state = self._fleets[fleet] = _FleetState()
        settings = fleet.vm_settings
        key = (fleet.n_changes, fleet.inventory_version, settings.version)
        if state.layout is None or state.layout.key != key:
            state.layout, state.touched = _build_layout(fleet, key, state)
        return state

    # ------------------------------------------------------------ one tick

    def step(self, fleet, cpu_demand, active_memory, tick_s=300.0, *, order="slot",
             validate=True, reuse=False):
        """Run one tick of tick_s seconds; returns a TickResult. See the module doc.

        validate=False skips the input checks (for arrays the caller made itself);
        reuse=True writes into buffers the models own, so the result is only valid until the
        next step (a simulation loop avoids allocating per tick this way)."""
        tick_s = float(tick_s)
        if not np.isfinite(tick_s) or tick_s <= 0:
            raise InvalidRequest(f"tick_s = {tick_s} must be a finite number > 0")
        state = self._state(fleet)
        layout = state.layout
        demand = _per_vm("cpu_demand", cpu_demand, layout, order, fleet, validate)
        active = _per_vm("active_memory", active_memory, layout, order, fleet, validate)
        if validate:
            limits = (("cpu_demand", demand, layout.vcpus, "vCPUs"),
                      ("active_memory", active, layout.memory, "MiB"))
            for name, values, bound, unit in limits:
                above = values > bound
                if above.any():
                    i = int(np.argmax(above))
                    raise InvalidRequest(f"{name} of vm {int(layout.vms[i])} = {values[i]} is "
                                         f"above its {bound[i]:g} {unit}")
        n_vms, n_hosts = len(layout.vms), len(layout.host_start) - 1
        if reuse:
            spare = state.buffers.pop("spare_touched", None)
            touched = spare if spare is not None and spare.shape == (n_vms,) else np.empty(n_vms)
            make = state.buffer
        else:
            touched = np.empty(n_vms)

            def make(name, size, dtype=np.float64):
                return np.empty(size, dtype)
        granted = make("granted", n_vms)
        resident = make("resident", n_vms)
        host_granted = make("host_granted", n_hosts)
        host_demand = make("host_demand", n_hosts)
        host_state = make("host_state", n_hosts, np.int8)
        host_free = make("host_free", n_hosts)
        host_blocked = make("host_blocked", n_hosts, np.bool_)
        s = layout.settings
        previous_threads = _set_threads(self.threads)
        try:
            kernels_host.tick(
                self.cpu.code, self.memory.code, layout.host_start, layout.cpu_capacity,
                layout.guest_memory, layout.host_memory, self._vector,
                demand, layout.vcpus, s["cpu_shares"], s["cpu_reservation"], s["cpu_limit"],
                active, layout.memory, s["memory_shares"], s["memory_reservation"],
                s["memory_limit"], state.touched, touched, granted, resident,
                state.levels("cpu_levels", n_hosts), state.levels("memory_levels", n_hosts),
                host_granted, host_demand, host_state, host_free, host_blocked)
        finally:
            _set_threads(previous_threads)
        if reuse:
            state.buffers["spare_touched"] = state.touched
        state.touched = touched
        return TickResult(self, layout, tick_s, demand, active, touched, granted, resident,
                          host_granted, host_demand, host_state, host_free, host_blocked)

    def __getstate__(self):
        """Pickle with what the models remember of each fleet (touched memory, water levels):
        a simulation pickled with its fleet resumes exactly."""
        state = dict(self.__dict__)
        state["_fleets"] = [(fleet, remembered) for fleet, remembered in self._fleets.items()]
        return state

    def __setstate__(self, state):
        fleets = state.pop("_fleets")
        self.__dict__.update(state)
        self._fleets = weakref.WeakKeyDictionary(fleets)

    def nbytes_per_vm(self):
        """Bytes per VM of per-tick state: inputs (demand, active), outputs (granted,
        resident, touched) and the layout (handle, generation, vCPUs, MiB)."""
        return 5 * 8 + 4 + 4 + 8 + 8

    def __repr__(self):
        return f"HostModels(cpu={shown(self.cpu.name)}, memory={shown(self.memory.name)})"


class TickResult:
    """One tick's outcome, in layout order (`vms` gives the handles). Per VM: granted cores and
    used / ready / throttled core-seconds; touched (consumed), resident, shared, ballooned,
    compressed, swapped and stalled (active, not resident) MiB. Per host: utilisation
    (sum granted / C), contention (sum capped demand / C), memory state, free MiB, blocked."""

    def __init__(self, models, layout, tick_s, demand, active, touched, granted, resident,
                 host_granted, host_demand, host_state, host_free, host_blocked):
        self.models, self.layout, self.tick_s = models, layout, tick_s
        self.vms = layout.vms
        self.demand, self.active, self.touched = demand, active, touched
        self.granted, self.resident = granted, resident
        self.host_granted, self.host_demand = host_granted, host_demand
        self.host_state, self.host_free, self.host_blocked = host_state, host_free, host_blocked
        self._memory = None

    # CPU ---------------------------------------------------------------
    @property
    def cpu_limit(self):
        limit = self.layout.settings["cpu_limit"]
        return limit if len(limit) else self.layout.vcpus

    @property
    def capped_demand(self):
        """D = min(demand, limit), cores."""
        return np.minimum(self.demand, self.cpu_limit)

    @property
    def used_core_s(self):
        return self.granted * self.tick_s

    @property
    def ready_core_s(self):
        """(D - granted) x tick: CPU wanted but not given because of contention."""
        return np.maximum(self.capped_demand - self.granted, 0.0) * self.tick_s

    @property
    def throttled_core_s(self):
        """(demand - D) x tick: held back by the limit."""
        return (self.demand - self.capped_demand) * self.tick_s

    @property
    def ready_fraction(self):
        capped = self.capped_demand
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(capped > 0, (capped - self.granted) / capped, 0.0)

    @property
    def utilization(self):
        capacity = self.layout.cpu_capacity
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(capacity > 0, self.host_granted / capacity, 0.0)

    @property
    def contention(self):
        capacity = self.layout.cpu_capacity
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(capacity > 0, self.host_demand / capacity, np.inf)

    # memory ------------------------------------------------------------
    def _derived_memory(self):
        if self._memory is None:
            n = len(self.vms)
            arrays = [np.empty(n) for _ in range(5)]
            params = self.models.parameter_vector
            kernels_host.derive_memory(self.layout.host_start, self.host_state, params,
                                       self.layout.memory, self.active, self.touched,
                                       self.resident, *arrays)
            self._memory = dict(zip(("ballooned", "compressed", "swapped", "shared", "stall"),
                                    arrays))
        return self._memory

    @property
    def ballooned(self):
        return self._derived_memory()["ballooned"]

    @property
    def compressed(self):
        return self._derived_memory()["compressed"]

    @property
    def swapped(self):
        return self._derived_memory()["swapped"]

    @property
    def shared(self):
        return self._derived_memory()["shared"]

    @property
    def stall(self):
        """Active memory that is not resident, MiB."""
        return self._derived_memory()["stall"]

    @property
    def state_names(self):
        return np.array(STATE_NAMES)[self.host_state]

    # tables ------------------------------------------------------------
    def vm_frame(self):
        """Per-VM outcome, indexed by VM handle (layout order)."""
        return pd.DataFrame({
            "host": np.repeat(np.arange(len(self.layout.host_start) - 1),
                              np.diff(self.layout.host_start)),
            "demand_cores": self.demand, "granted_cores": self.granted,
            "used_core_s": self.used_core_s, "ready_core_s": self.ready_core_s,
            "throttled_core_s": self.throttled_core_s, "active_mib": self.active,
            "consumed_mib": self.touched, "resident_mib": self.resident,
            "shared_mib": self.shared, "ballooned_mib": self.ballooned,
            "compressed_mib": self.compressed, "swapped_mib": self.swapped,
            "stall_mib": self.stall,
        }, index=pd.Index(self.vms, name="vm"))

    def host_frame(self):
        """Per-host outcome."""
        return pd.DataFrame({
            "granted_cores": self.host_granted, "demand_cores": self.host_demand,
            "utilization": self.utilization, "contention": self.contention,
            "memory_state": pd.Categorical(self.state_names, categories=list(STATE_NAMES)),
            "free_mib": self.host_free, "blocked": self.host_blocked,
        }, index=pd.RangeIndex(len(self.host_free), name="host"))

    def by_slot(self, values, fill=np.nan):
        """Spread a layout-order array over VM handles (length slot_high_water)."""
        out = np.full(int(self.vms.max()) + 1 if len(self.vms) else 0, fill, dtype=float)
        out[self.vms] = values
        return out


# ---------------------------------------------------------------- helpers

def _check_parameters(values):
    out = {name: _validate.nonnegative_real(name, value) for name, value in values.items()}
    if not 0 <= out["idle_tax"] < 1:
        raise InvalidRequest(f"idle_tax = {out['idle_tax']} must be in [0, 1)")
    if out["compression_ratio"] <= 1:
        raise InvalidRequest(f"compression_ratio = {out['compression_ratio']} must be > 1")
    if not 0 <= out["sharing"] < 1 - 1 / out["compression_ratio"]:
        raise InvalidRequest(f"sharing = {out['sharing']} must be in [0, 1 - 1/compression_ratio)")
    for name in ("max_balloon", "compression_cache"):
        if out[name] > 1:
            raise InvalidRequest(f"{name} = {out[name]} must be in [0, 1]")
    order = ["high_at", "clear_at", "soft_at", "hard_at", "block_at"]
    for above, below in zip(order, order[1:]):
        if out[above] < out[below]:
            raise InvalidRequest(f"{above} = {out[above]} must be >= {below} = {out[below]}")
    if out["clear_at"] <= 0 or out["min_free_base_mib"] <= 0:
        raise InvalidRequest("clear_at and min_free_base_mib must be > 0")
    return out


def _build_layout(fleet, key, state):
    """The layout of the fleet's VMs now, with the touched memory of the VMs that stay."""
    cpu, mem = fleet.resource_index("VCPU"), fleet.resource_index("MEMORY_MB")
    request = np.asarray(fleet.vm_request)
    old = state.layout
    capacity = max(fleet.slot_capacity, 1)
    if len(state.buffers.get("kept_generation", ())) < capacity:
        kept = np.zeros(capacity)
        generation = np.full(capacity, -1, np.int64)
        if "kept_generation" in state.buffers:
            size = len(state.buffers["kept_generation"])
            kept[:size] = state.buffers["kept_touched"]
            generation[:size] = state.buffers["kept_generation"]
        state.buffers["kept_touched"], state.buffers["kept_generation"] = kept, generation
    if old is not None and state.touched is not None and len(old.vms):
        kernels_host.keep_by_slot(old.vms, old.generation, state.touched,
                                  state.buffers["kept_touched"], state.buffers["kept_generation"])
    vms, host_start, vcpus, memory, generation, touched = kernels_host.build_layout(
        np.asarray(fleet.vm_host), fleet.n_hosts, frozen(request[:, cpu], np.int64),
        frozen(request[:, mem], np.int64),
        np.asarray(fleet.vm_generation), state.buffers["kept_touched"],
        state.buffers["kept_generation"])
    settings = fleet.vm_settings
    if settings.has_custom(fleet, vms):
        values = settings.effective(fleet, vms)
    else:
        values = {name: _EMPTY for name in
                  ("cpu_shares", "cpu_reservation", "cpu_limit", "memory_shares",
                   "memory_reservation", "memory_limit")}
    hosts = state.hosts
    if hosts is None or hosts[0] != fleet.inventory_version:
        total, reserved = fleet.total, fleet.reserved
        hosts = state.hosts = (fleet.inventory_version,
                               (total[:, cpu] - reserved[:, cpu]).astype(np.float64),
                               (total[:, mem] - reserved[:, mem]).astype(np.float64),
                               total[:, mem].astype(np.float64))
    layout = Layout(
        vms=vms, host_start=host_start, generation=generation, vcpus=vcpus, memory=memory,
        settings=values, cpu_capacity=hosts[1], guest_memory=hosts[2], host_memory=hosts[3],
        key=key)
    return layout, touched


_EMPTY = np.empty(0)


def _per_vm(name, values, layout, order, fleet, validate):
    array = np.asarray(values)
    if order == "layout":
        expected = len(layout.vms)
        if array.shape != (expected,):
            raise InvalidRequest(f"{name} has shape {array.shape}; expected ({expected},) in "
                                 f"layout order")
    elif order == "slot":
        if array.ndim != 1 or array.shape[0] != fleet.slot_high_water:
            raise InvalidRequest(f"{name} has shape {array.shape}; expected one value per VM "
                                 f"handle ({fleet.slot_high_water},)")
        array = array[layout.vms]
    else:
        raise InvalidRequest(f"order = {shown(order)} is neither 'slot' nor 'layout'")
    if validate:
        if array.dtype.kind not in "iuf":
            raise InvalidRequest(f"{name} has dtype {array.dtype}; expected numbers")
        bad = ~np.isfinite(array) | (array < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidRequest(f"{name} of vm {int(layout.vms[i])} = {array[i]} must be "
                                 f"finite and >= 0")
    return np.ascontiguousarray(array, dtype=np.float64)


def _set_threads(threads):
    """Set Numba's thread count; return the previous one (None: unchanged)."""
    if threads is None:
        return None
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return previous
