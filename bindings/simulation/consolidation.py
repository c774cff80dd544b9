"""Dynamic consolidation with live migration, power and energy: Beloglazov and Buyya's
experiment (CCPE 2012), on any fleet of power-modelled hosts and any day of CPU traces.

Every `interval_s` (300 s) a consolidation round detects overloaded hosts, migrates VMs away
from them to the host whose power rises least, then empties the least utilised hosts whose
VMs all fit elsewhere and switches them off. Between rounds the hosts share their CPU among
their VMs and every host's energy is integrated at each update (every round and every
migration completion). Semantics and units: vmsched.engine.simulation.kernels_consolidation.

    >>> results = consolidate("20110303/", "lr-mmt-1.2", preset="cloudsim-planetlab")
    >>> results.summary["energy kWh"]          # 163.48, as CloudSim 3.0.3 prints it

Policies (`parse_policy`): `npa` (no power management: every host at full power), `dvfs`
(power follows utilisation, no migration), or DETECTOR-SELECTOR[-PARAMETER] with detectors
`thr` (static threshold, 0.8), `iqr` (1.5), `mad` (2.5), `lr` and `lrr` (1.2) and selectors
`mmt` (least memory), `mu` (least utilisation), `mc` (most correlated), `rs` (random, seeded).

Rules: `cloudsim` reproduces CloudSim 3.0.3 (its quirks included: VMs destroyed when their
demand reaches 0, memory ignored while consolidating, the power increase taken against the
round's start, underload exclusions as coded, updates at 300.1, 600.1, ... s); `vmsched`
drops the quirks (memory counts, VMs run to the end, a fresh power baseline, targets of the
overload phase not emptied in the same round, updates at 0, 300, ... through the end, energy
from the first instant). The preset `cloudsim-planetlab` is CloudSim's set-up (800 hosts
alternating HP ProLiant ML110 G4 and G5, 2 pCPUs of 1860 / 2660 MIPS, 4096 MiB, 1 Gbit/s; VMs
of 2500 / 2000 / 1000 / 500 MIPS and 870 / 1740 / 1740 / 613 MiB in four blocks of the sorted
files) and defaults to the cloudsim rules.

Speeds: a host's capacity is pcpus * pcpu_speed and a VM's demand utilisation * vcpu_speed
(one vCPU gets at most one pCPU's speed); with speeds of 1.0 both are in cores. Migrations
last memory MiB / (bandwidth / 16) seconds with the bandwidth in Mbit/s (CloudSim: half the
link carries the migration), and meanwhile the VM gets 90% of its demand on the source and
10% on the target.
"""

import math
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.engine.jit import frozen
from vmsched.engine.models import kernels_detectors as detectors
from vmsched.engine.simulation import kernels_consolidation as engine
from vmsched.errors import InvalidRequest, shown
from vmsched.models.power import resolve_power_model

#: Default detector parameters (Beloglazov and Buyya's best values).
DEFAULT_PARAMETERS = {"thr": 0.8, "iqr": 1.5, "mad": 2.5, "lr": 1.2, "lrr": 1.2}
#: The static threshold the history-based detectors fall back to with too little history.
FALLBACK_THRESHOLD = 0.7
RULES = ("cloudsim", "vmsched")
#: Migration models: CloudSim's (memory over half the link, once) and pre-copy rounds.
MIGRATION_MODELS = ("cloudsim", "precopy")
#: Round (and trace sample) interval, seconds.
INTERVAL_S = 300.0
#: VMs one host's list can hold (at once, counting VMs migrating in) under CloudSim's rules,
#: and at most under vmsched's (where it follows from memory: _list_capacity).
LIST_CAPACITY = 64
MAX_LIST_CAPACITY = 4096

#: CloudSim's published PlanetLab results (Beloglazov and Buyya's experiments; CloudSim 3.0.3
#: with the trace files sorted by name, except where noted), as it prints them:
#: (day, policy) -> (energy kWh, migrations, SLATAH %, PDM %, SLAV %, host shutdowns).
CLOUDSIM_FIGURES = {
    ("20110303", "npa"): (2410.80, 0, 0.00, 0.00, 0.00000, 455),
    ("20110303", "dvfs"): (802.75, 0, 0.00, 0.00, 0.00000, 455),
    ("20110303", "thr-mmt-0.8"): (192.62, 26711, 4.91, 0.06, 0.00318, 5885),
    ("20110303", "iqr-mmt-1.5"): (189.98, 26282, 4.82, 0.06, 0.00301, 5868),
    ("20110303", "mad-mmt-2.5"): (185.79, 26556, 5.05, 0.07, 0.00334, 5828),
    ("20110303", "lr-mmt-1.2"): (163.48, 27859, 5.86, 0.08, 0.00464, 5053),
    ("20110303", "lrr-mmt-1.2"): (163.48, 27859, 5.86, 0.08, 0.00464, 5053),
    ("20110303", "lr-mc-1.2"): (151.07, 23380, 7.01, 0.10, 0.00683, 4078),
    ("20110303", "lr-mu-1.2"): (175.60, 30166, 8.15, 0.08, 0.00613, 5632),
    ("20110303", "thr-mu-0.8"): (212.07, 31305, 7.40, 0.07, 0.00495, None),  # CloudSim 4.0
    ("20110303", "lr-rs-1.2"): (149.75, 23168, 7.28, 0.10, 0.00723, 4035),    # unseeded
    ("20110306", "lr-mmt-1.2"): (123.28, 20878, 5.88, 0.08, 0.00462, 4018),
}
#: Of those, the ones vmsched reproduces exactly (the others: MC's regression library,
#: CloudSim 4.0, CloudSim's unseeded random selection).
CLOUDSIM_EXACT = tuple(key for key in CLOUDSIM_FIGURES
                       if key[1] not in ("lr-mc-1.2", "thr-mu-0.8", "lr-rs-1.2"))


@dataclass(frozen=True)
class ConsolidationPolicy:
    """kind: 'npa', 'dvfs' or 'migrate'; for 'migrate', the detector, its parameter (a
    threshold for thr, the safety factor s otherwise) and the selector."""

    name: str
    kind: str
    detector: str = None
    selector: str = None
    parameter: float = None


def parse_policy(spec):
    """A ConsolidationPolicy from a name such as 'lr-mmt-1.2', 'thr-mu' or 'dvfs'."""
    if isinstance(spec, ConsolidationPolicy):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidRequest(f"consolidation policy {shown(spec)} is not a name such as "
                             f"'lr-mmt-1.2', 'npa' or 'dvfs'")
    text = spec.strip().lower()
    if text in ("npa", "dvfs"):
        return ConsolidationPolicy(text, text)
    parts = text.split("-")
    if len(parts) not in (2, 3) or parts[0] not in DEFAULT_PARAMETERS \
            or parts[1] not in engine.SELECTOR_NAMES:
        raise InvalidRequest(
            f"consolidation policy {shown(spec)} is unknown; give npa, dvfs or "
            f"DETECTOR-SELECTOR[-PARAMETER] with a detector in {', '.join(DEFAULT_PARAMETERS)} "
            f"and a selector in {', '.join(engine.SELECTOR_NAMES)} (e.g. lr-mmt-1.2)")
    detector, selector = parts[0], parts[1]
    parameter = DEFAULT_PARAMETERS[detector]
    if len(parts) == 3:
        try:
            parameter = float(parts[2])
        except ValueError:
            raise InvalidRequest(f"consolidation policy {shown(spec)}: parameter "
                                 f"{shown(parts[2])} is not a number") from None
    if not math.isfinite(parameter) or parameter < 0 or (detector == "thr" and
                                                         not 0 < parameter <= 1):
        what = "a threshold in (0, 1]" if detector == "thr" else "a safety factor >= 0"
        raise InvalidRequest(f"consolidation policy {shown(spec)}: {detector} takes {what}, "
                             f"not {parameter:g}")
    return ConsolidationPolicy(f"{detector}-{selector}-{parameter:g}", "migrate", detector,
                               selector, parameter)


@dataclass(frozen=True)
class ConsolidationSetup:
    """A fleet and VM types: hosts cycle through host_types (pcpus, MIPS per pCPU, memory
    MiB, power model); VM i gets vm_types[i // ceil(n / len(vm_types))] (MIPS, memory MiB)."""

    name: str
    n_hosts: int
    host_types: tuple
    vm_types: tuple
    bandwidth_mbps: float
    vm_bandwidth_mbps: float
    rules: str


SETUPS = {
    "cloudsim-planetlab": ConsolidationSetup(
        "cloudsim-planetlab", 800,
        ((2, 1860.0, 4096, "hp_proliant_ml110_g4"), (2, 2660.0, 4096, "hp_proliant_ml110_g5")),
        ((2500.0, 870), (2000.0, 1740), (1000.0, 1740), (500.0, 613)),
        1000.0, 100.0, "cloudsim"),
}


def _source(workload, rules, duration_s):
    """(utilisation source for the engine, the run's end s, start_s, end_s per VM; end_s
    inf for a VM that never leaves). A trace workload: per-VM 300 s traces of one length,
    every VM from 0 to their end (CloudSim repeats the last sample once). A synthetic one
    (vmsched's rules): VMs arrive and leave as the table says, their utilisation computed
    when the engine asks for it."""
    from vmsched.workload.utilization import SyntheticUtilization

    cpu = workload.cpu
    table = workload.table
    if len(table) == 0:
        raise InvalidRequest("the workload has no VMs")
    start = table["start_s"].to_numpy(np.float64)
    stop = table["end_s"].to_numpy(np.float64)
    stop = np.where(np.isnan(stop), np.inf, stop)
    nothing = frozen(np.zeros(0))   # read-only arrays, as kernels take them (jit.frozen)
    if isinstance(cpu, SyntheticUtilization):
        if rules == "cloudsim":
            raise InvalidRequest("CloudSim's rules run a day of traces (as PlanetLab's); give "
                                 "rules='vmsched' to consolidate a synthetic workload")
        end = workload.duration_s if duration_s is None else float(duration_s)
        if not math.isfinite(end) or end <= 0:
            raise InvalidRequest(f"duration_s = {shown(duration_s)} must be finite and > 0")
        source = (np.int64(engine.SYNTHETIC), frozen(np.zeros((1, 1))), frozen(cpu.level),
                  frozen(cpu.daily_profile), float(cpu.noise_cv), np.uint64(cpu.seed))
        return source, end, start, stop
    if not hasattr(cpu, "offsets") or not hasattr(cpu, "step_s"):
        raise InvalidRequest(
            "consolidation needs per-VM CPU traces sampled every 300 s (a trace workload such "
            "as --format planetlab) or a synthetic workload; this workload's CPU source is "
            f"{getattr(cpu, 'name', type(cpu).__name__)}")
    if cpu.step_s != INTERVAL_S:
        raise InvalidRequest(f"consolidation needs traces sampled every {INTERVAL_S:g} s, "
                             f"not {cpu.step_s:g} s")
    lengths = np.diff(cpu.offsets)
    if lengths.min() != lengths.max() or lengths[0] == 0:
        raise InvalidRequest("consolidation needs traces of one length for every VM; "
                             f"lengths run from {lengths.min()} to {lengths.max()} samples")
    n_samples = int(lengths[0])
    end = n_samples * INTERVAL_S
    if (start != 0).any() or not np.array_equal(stop, np.full(len(table), end)):
        raise InvalidRequest(
            "consolidation runs trace VMs present from 0 s to the end of their traces (as "
            "PlanetLab's days); this workload has VMs arriving or leaving at other times "
            "(a synthetic workload may)")
    if duration_s is not None and float(duration_s) != end:
        raise InvalidRequest(f"duration_s = {shown(duration_s)}: a trace workload runs for "
                             f"its traces' {end:g} s")
    # One row of samples per VM, a view (traces of one length lie one after another); the
    # engine repeats the last sample past the end.
    first = int(cpu.offsets[0])
    samples = cpu.values[first:cpu.offsets[-1]].reshape(len(table), n_samples)
    source = (np.int64(engine.DENSE), frozen(samples), nothing, nothing, 0.0, np.uint64(0))
    return source, end, start, stop


def _anti_affinity(workload, rules):
    """(group code per VM, -1 for none; max members per host per VM) from the workload's
    `group` column and `groups` ({name: 'anti-affinity' or ('anti-affinity', max_per_host)}):
    consolidation keeps hard anti-affinity at every placement and migration (vmsched's rules;
    CloudSim has no server groups)."""
    table = workload.table
    n = len(table)
    codes = np.full(n, -1, np.int64)
    limits = np.zeros(n)
    if "group" not in table or table["group"].isna().all():
        return codes, limits
    if rules == "cloudsim":
        raise InvalidRequest("CloudSim's rules have no server groups; give rules='vmsched' to "
                             "consolidate a workload with a group column")
    names = {}
    for row, group in enumerate(table["group"].tolist()):
        if group is None or (isinstance(group, float) and np.isnan(group)):
            continue
        spec = workload.groups.get(group)
        if spec is None:
            raise InvalidRequest(f"vm {shown(table['vm_id'][row])} is in group {shown(group)}, "
                                 f"which the workload's groups do not define")
        spec = (spec,) if isinstance(spec, str) else tuple(spec)
        if spec[0] != "anti-affinity":
            raise InvalidRequest(f"group {shown(group)} is {shown(spec[0])}: consolidation "
                                 f"keeps 'anti-affinity' groups only")
        maximum = spec[1] if len(spec) > 1 else 1
        if isinstance(maximum, bool) or not isinstance(maximum, (int, np.integer)) or maximum < 1:
            raise InvalidRequest(f"group {shown(group)}: max_per_host = {shown(maximum)} must "
                                 f"be a whole number >= 1")
        codes[row] = names.setdefault(group, len(names))
        limits[row] = maximum
    return codes, limits


def _hosts_from_setup(setup):
    n = setup.n_hosts
    kinds = [setup.host_types[h % len(setup.host_types)] for h in range(n)]
    pcpus = np.array([k[0] for k in kinds], np.float64)
    speed = np.array([k[1] for k in kinds], np.float64)
    memory = np.array([k[2] for k in kinds], np.float64)
    resolved = {k[3]: resolve_power_model(k[3]) for k in setup.host_types}
    models = [resolved[k[3]] for k in kinds]
    bandwidth = np.full(n, setup.bandwidth_mbps)
    return pcpus, speed, memory, bandwidth, models


def _hosts_from_fleet(fleet, pcpu_speed, bandwidth_mbps):
    n = fleet.n_hosts
    resources = fleet.resources
    if "VCPU" not in resources or "MEMORY_MB" not in resources:
        raise InvalidRequest("consolidation needs a fleet with VCPU and MEMORY_MB classes")
    v, m = resources.index("VCPU"), resources.index("MEMORY_MB")
    pcpus = (fleet.total[:, v] - fleet.reserved[:, v]).astype(np.float64)
    memory = fleet.capacity[:, m].astype(np.float64)     # Placement's capacity, MiB
    speed = _per_host("pcpu_speed", pcpu_speed, n)
    bandwidth = _per_host("bandwidth_mbps", bandwidth_mbps, n)
    if (pcpus <= 0).any():
        raise InvalidRequest(f"host {int(np.argmax(pcpus <= 0))} has no pCPU to consolidate onto")
    return pcpus, speed, memory, bandwidth, list(fleet.power_models())


def _list_capacity(host_memory, vm_memory, rules):
    """VMs one host's list may hold at once (counting VMs migrating in): LIST_CAPACITY, or
    under vmsched's rules (memory counts) as many of the smallest VM as the largest host's
    memory holds, plus one, up to MAX_LIST_CAPACITY."""
    if rules == "cloudsim":
        return LIST_CAPACITY
    smallest = float(vm_memory.min())
    if smallest <= 0:
        return MAX_LIST_CAPACITY
    return int(min(MAX_LIST_CAPACITY, max(LIST_CAPACITY, host_memory.max() // smallest + 1)))


def _per_host(name, value, n):
    array = np.broadcast_to(np.asarray(value, np.float64), (n,)).copy() \
        if np.ndim(value) == 0 else np.asarray(value, np.float64)
    if array.shape != (n,):
        raise InvalidRequest(f"{name} has shape {array.shape}; give a scalar or one value per "
                             f"host ({n})")
    if not np.isfinite(array).all() or (array <= 0).any():
        raise InvalidRequest(f"{name} = {shown(array[~(np.isfinite(array) & (array > 0))][0])} "
                             f"must be finite and > 0")
    return array


def consolidate(workload, policy="lr-mmt-1.2", *, preset=None, rules=None, fleet=None,
                pcpu_speed=1.0, vcpu_speed=1.0, bandwidth_mbps=1000.0, seed=0,
                migration="cloudsim", dirty_rate_per_s=0.02, max_downtime_s=0.3,
                max_copy_rounds=30, duration_s=None):
    """Run dynamic consolidation of a day of traces (or a synthetic workload); returns
    ConsolidationResults.

    workload: a Workload of per-VM 300 s traces (every VM from 0 to the end), a PlanetLab
    day folder, or (vmsched's rules) a synthetic workload, whose VMs arrive and leave as its
    table says over `duration_s` (default: the workload's). A VM of n vCPUs requests
    utilisation x n x vcpu_speed and gets at most n pCPUs' speed. policy: see parse_policy. preset: 'cloudsim-planetlab' for CloudSim's fleet
    and VM types (then fleet, speeds and bandwidth come from it), else `fleet` (a Fleet: its
    VCPU totals are pCPUs, MEMORY_MB capacities the memory, its power models the power) with
    pcpu_speed (per host) and vcpu_speed (per VM) and bandwidth_mbps (per host). The
    workload's anti-affinity groups (its `group` column and `groups`) hold at every placement
    and migration (vmsched's rules). rules:
    'cloudsim' or 'vmsched' (default: the preset's, else 'vmsched'). seed: for `rs`.
    migration: 'cloudsim' (memory MiB / (bandwidth / 16) s) or 'precopy': rounds over the
    same share of the link, divided among the migrations a host takes part in at once, each
    copying what the VM dirtied during the last (dirty_rate_per_s of its active memory, the
    workload's memory utilisation, per second) until the rest fits max_downtime_s or
    max_copy_rounds have run; the summary reports the MiB transferred and the downtime."""
    from vmsched.workload.readers.planetlab import read_planetlab

    chosen = parse_policy(policy)
    setup = None
    if preset is not None:
        if preset not in SETUPS:
            raise InvalidRequest(f"consolidation preset {shown(preset)} is unknown; known: "
                                 f"{', '.join(SETUPS)}")
        setup = SETUPS[preset]
        if fleet is not None:
            raise InvalidRequest(f"preset {preset} brings its own fleet; give a fleet or a "
                                 f"preset, not both")
    elif fleet is None:
        raise InvalidRequest("give a fleet (a Fleet) or a preset ('cloudsim-planetlab')")
    rules = rules if rules is not None else (setup.rules if setup else "vmsched")
    if rules not in RULES:
        raise InvalidRequest(f"rules {shown(rules)} are unknown; known: {', '.join(RULES)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidRequest(f"seed = {shown(seed)} must be an integer >= 0")
    if migration not in MIGRATION_MODELS:
        raise InvalidRequest(f"migration model {shown(migration)} is unknown; known: "
                             f"{', '.join(MIGRATION_MODELS)}")
    for name, value, low in (("dirty_rate_per_s", dirty_rate_per_s, 0.0),
                             ("max_downtime_s", max_downtime_s, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value) or value < low:
            raise InvalidRequest(f"{name} = {shown(value)} must be a finite number >= {low:g}")
    if isinstance(max_copy_rounds, bool) or not isinstance(max_copy_rounds, (int, np.integer)) \
            or max_copy_rounds < 1:
        raise InvalidRequest(f"max_copy_rounds = {shown(max_copy_rounds)} must be a whole "
                             f"number >= 1")
    if isinstance(workload, (str, Path)):
        workload = read_planetlab(workload)
    source, end, start_s, end_s = _source(workload, rules, duration_s)
    table = workload.table
    n_vms = len(table)
    vcpus = table["VCPU"].to_numpy(np.float64) if "VCPU" in table else np.ones(n_vms)
    if (vcpus < 1).any():
        raise InvalidRequest(f"vm {shown(table['vm_id'].iloc[int(np.argmax(vcpus < 1))])} has "
                             f"VCPU < 1; every VM needs a vCPU")
    if setup is not None and (vcpus != 1).any():
        raise InvalidRequest(f"preset {setup.name} has one-vCPU VMs (as PlanetLab's); this "
                             f"workload has VMs of several vCPUs")
    if setup is not None:
        pcpus, speed, memory, bandwidth, models = _hosts_from_setup(setup)
        block = -(-n_vms // len(setup.vm_types))
        types = np.arange(n_vms) // block
        vm_mips = np.array([setup.vm_types[t][0] for t in types])
        vm_memory = np.array([setup.vm_types[t][1] for t in types], np.float64)
        vm_bandwidth = setup.vm_bandwidth_mbps
    else:
        pcpus, speed, memory, bandwidth, models = _hosts_from_fleet(fleet, pcpu_speed,
                                                                    bandwidth_mbps)
        vm_mips = _per_host("vcpu_speed", vcpu_speed, n_vms) * vcpus
        if "MEMORY_MB" not in table:
            raise InvalidRequest("the workload has no MEMORY_MB column")
        vm_memory = table["MEMORY_MB"].to_numpy(np.float64)
        vm_bandwidth = 0.0
    n_hosts = len(pcpus)

    hf = np.zeros((n_hosts, engine.N_HF))
    hi = np.zeros((n_hosts, engine.N_HI), np.int64)
    watts = np.zeros((n_hosts, 11))
    # Capacities in CloudSim's integers where they are: int MIPS, kbit/s.
    hf[:, engine.H_TOTAL] = pcpus * speed
    hf[:, engine.H_PE] = speed
    hf[:, engine.H_PCPUS] = pcpus
    hf[:, engine.H_RAM] = memory
    hf[:, engine.H_BW] = bandwidth * 1000.0
    distinct = {id(m): m for m in models}          # (a preset shares a few model objects)
    code_of = {key: m.code for key, m in distinct.items()}
    points_of = {key: m.points for key, m in distinct.items()}
    codes = np.array([code_of[id(m)] for m in models], np.int64)
    hi[:, engine.H_KIND] = codes
    watts[:] = np.array([points_of[id(m)] for m in models])
    # Classes of interchangeable hosts: same capacity, speed, memory, bandwidth and power
    # model (kind and watts), numbered in the order of their first host.
    model_key = {key: (code_of[key], points_of[key].tobytes()) for key in distinct}
    classes = {}
    hi[:, engine.H_CLASS] = [
        classes.setdefault(key, len(classes)) for key in zip(
            hf[:, engine.H_TOTAL].tolist(), speed.tolist(), memory.tolist(),
            bandwidth.tolist(), [model_key[id(m)] for m in models])]

    vf = np.zeros((n_vms, engine.N_VF))
    vi = np.zeros((n_vms, engine.N_VI), np.int64)
    codes_of_groups, max_per_host = _anti_affinity(workload, rules)
    vi[:, engine.V_GROUP] = codes_of_groups
    vf[:, engine.V_GROUP_MAX] = max_per_host
    vf[:, engine.V_MIPS] = vm_mips
    vf[:, engine.V_VCPUS] = vcpus
    vf[:, engine.V_START_S] = start_s
    vf[:, engine.V_END_S] = end_s
    vf[:, engine.V_RAM] = vm_memory
    vf[:, engine.V_BW] = vm_bandwidth * 1000.0
    vf[:, engine.V_ACTIVE] = np.clip(workload.memory.sample(np.arange(n_vms), 0.0), 0.0, 1.0)

    options = np.zeros(engine.N_OPTIONS, np.int64)
    options[engine.O_POLICY] = {"npa": engine.NPA, "dvfs": engine.DVFS}.get(chosen.kind,
                                                                            engine.MIGRATE)
    if chosen.kind == "migrate":
        options[engine.O_DETECTOR] = detectors.DETECTOR_NAMES.index(chosen.detector)
        options[engine.O_SELECTOR] = engine.SELECTOR_NAMES.index(chosen.selector)
    options[engine.O_CLOUDSIM] = int(rules == "cloudsim")
    options[engine.O_SEED] = int(seed)
    options[engine.O_GROUPS] = int((codes_of_groups >= 0).any())
    options[engine.O_MIGRATION] = MIGRATION_MODELS.index(migration)
    parameters = np.zeros(engine.N_PARAMETERS)
    parameters[engine.P_PARAMETER] = chosen.parameter or 0.0
    parameters[engine.P_FALLBACK] = FALLBACK_THRESHOLD
    parameters[engine.P_INTERVAL] = INTERVAL_S
    parameters[engine.P_END] = end
    parameters[engine.P_FIRST] = 0.1 if rules == "cloudsim" else 0.0
    parameters[engine.P_BANDWIDTH_DIVISOR] = 16000.0
    parameters[engine.P_DIRTY_RATE] = dirty_rate_per_s
    parameters[engine.P_MAX_DOWNTIME] = max_downtime_s
    parameters[engine.P_MAX_ROUNDS] = max_copy_rounds
    series = np.zeros((int(end // INTERVAL_S) + 2, engine.N_SERIES))

    capacity = _list_capacity(memory, vm_memory, rules)
    started = time.perf_counter()
    result, rows = engine.run_consolidation(source, hf, hi, watts, vf, vi, options,
                                            parameters, capacity, series)
    wall = time.perf_counter() - started
    if result[engine.R_ERROR] == engine.ERR_LIST_FULL:
        raise InvalidRequest(f"a host was planned more than {capacity} VMs at once; "
                             f"consolidation supports at most that many per host")
    if result[engine.R_ERROR] != engine.ERR_NONE:
        raise InvalidRequest("consolidation planned more migrations at once than it can "
                             "queue (one per VM and round at most); the run was stopped")
    return ConsolidationResults(chosen, rules, setup.name if setup else None, workload, models,
                                result, hf, vf, vi, series[:rows], wall, migration)


class ConsolidationResults:
    """Outcome of `consolidate`: `summary` (a Series), tables `hosts`, `vms` and `rounds`
    (pandas), and `write(folder)` for Parquet files and a PNG."""

    def __init__(self, policy, rules, preset, workload, models, result, hf, vf, vi, series,
                 wall_s, migration="cloudsim"):
        E = engine
        self.policy = policy
        self.rules = rules
        self.preset = preset
        self.wall_s = wall_s
        self.raw = result.copy()
        active = result[E.R_ACTIVE_S]
        requested = result[E.R_REQ_S]
        slatah = result[E.R_SLA_S] / active if active > 0 else 0.0
        pdm = result[E.R_MIG_LOSS] / requested if requested > 0 else 0.0
        slav = slatah * pdm
        energy_kwh = result[E.R_ENERGY_J] / 3.6e6
        shutdowns = int(result[E.R_SHUTDOWNS])
        migrations_timed = result[E.R_MIG_N]
        self.summary = pd.Series({
            "policy": policy.name,
            "rules": rules,
            "migration model": migration,
            "hosts": len(models),
            "VMs": len(vf),
            "energy kWh": energy_kwh,
            "migrations": int(result[E.R_MIGRATIONS]),
            "SLATAH %": 100 * slatah,
            "PDM %": 100 * pdm,
            "SLAV %": 100 * slav,
            "ESV": energy_kwh * slav,
            "host shutdowns": shutdowns,
            "mean time before a host shutdown s": (result[E.R_SHUTDOWN_S] / shutdowns
                                                   if shutdowns else float("nan")),
            "mean migration duration s": (result[E.R_MIG_S] / migrations_timed
                                          if migrations_timed else float("nan")),
            "MiB transferred": result[E.R_TRANSFERRED_MIB],
            "migration downtime s": result[E.R_DOWNTIME_S],
            "overall SLA violation %": (100 * (requested - result[E.R_ALLOC_S]) / requested
                                        if requested > 0 else 0.0),
            "average SLA violation %": (100 * result[E.R_SLA_SUM] / result[E.R_SLA_N]
                                        if result[E.R_SLA_N] else 0.0),
            "VMs destroyed at zero demand": int(result[E.R_DESTROYED]),
            "VMs not placed": int(result[E.R_NOT_PLACED]),
            "VMs finished": int(result[E.R_FINISHED]),
            "VMs delayed": int(result[E.R_DELAYED]),
            "mean delay s": (result[E.R_DELAY_S] / result[E.R_DELAYED]
                             if result[E.R_DELAYED] else 0.0),
            "anti-affinity violations": int(result[E.R_GROUP_VIOLATIONS]),
            # CloudSim exits on these; here the host is skipped or its power taken at 1.
            "utilisations above 1": int(result[E.R_ANOMALIES]),
            "simulated s": result[E.R_END_S],
            "wall seconds": wall_s,
        }, dtype=object)
        self._tables = (models, workload.table["vm_id"], hf, vf, vi, series)

    # The tables are built when first read (a sweep over policies often reads the summary
    # only).
    @cached_property
    def hosts(self):
        """Per host: power model, energy kWh, active s, SLA-violation s, shutdowns."""
        E = engine
        models, _, hf, _, _, _ = self._tables
        return pd.DataFrame({
            "host": np.arange(len(models)),
            "power_model": [m.name for m in models],
            "energy_kwh": hf[:, E.H_ENERGY_J] / 3.6e6,
            "active_s": hf[:, E.H_ACTIVE_S],
            "sla_violation_s": hf[:, E.H_SLA_S],
            "shutdowns": hf[:, E.H_SHUTDOWNS].astype(np.int64),
        })

    @cached_property
    def vms(self):
        """Per VM: speed, memory, outcome, last host, end s and its CPU totals."""
        E = engine
        _, vm_ids, _, vf, vi, _ = self._tables
        outcome = np.array(["not placed", "running", "destroyed", "finished", "waiting",
                            "after the end"])[vi[:, E.V_STATUS]]
        return pd.DataFrame({
            "vm_id": vm_ids.to_numpy(),
            "speed": vf[:, E.V_MIPS],
            "memory_mib": vf[:, E.V_RAM],
            "outcome": outcome,
            "host": vi[:, E.V_HOST],
            "end_s": vf[:, E.V_END_S],
            "requested_s": vf[:, E.V_REQ_S],
            "granted_s": vf[:, E.V_ALLOC_S],
            "migration_loss_s": vf[:, E.V_MIG_LOSS],
            "migrations_completed": vf[:, E.V_MIG_N].astype(np.int64),
            "migrating_s": vf[:, E.V_MIG_S],
        })

    @cached_property
    def rounds(self):
        """Per round: time s, active hosts, power W, energy kWh so far, migrations so far,
        overloaded hosts."""
        E = engine
        series = self._tables[5]
        return pd.DataFrame({
            "time_s": series[:, E.S_TIME],
            "active_hosts": series[:, E.S_ACTIVE_HOSTS].astype(np.int64),
            "power_w": series[:, E.S_POWER_W],
            "energy_kwh": series[:, E.S_ENERGY_J] / 3.6e6,
            "migrations": series[:, E.S_MIGRATIONS].astype(np.int64),
            "overloaded_hosts": series[:, E.S_OVERLOADED].astype(np.int64),
        })

    def __repr__(self):
        s = self.summary
        return (f"<ConsolidationResults {s['policy']} ({s['rules']} rules): "
                f"{s['energy kWh']:.2f} kWh, {s['migrations']} migrations, "
                f"SLAV {s['SLAV %']:.5f} %>")

    def write(self, out, plots=True):
        """Write summary, hosts, vms and rounds as Parquet (and consolidation.png) into
        folder `out`; returns the paths written."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        tables = {"summary": self.summary.astype(str).rename("value").to_frame(),
                  "hosts": self.hosts, "vms": self.vms, "rounds": self.rounds}
        for name, frame in tables.items():
            path = out / f"consolidation_{name}.parquet"
            frame.to_parquet(path)
            written.append(path)
        if plots:
            written.append(self.plot(out / "consolidation.png"))
        return written

    def plot(self, path):
        """Active hosts, fleet power and migrations per round, one PNG."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rounds = self.rounds
        hours = rounds["time_s"] / 3600
        fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
        axes[0].plot(hours, rounds["active_hosts"], color="tab:blue")
        axes[0].set_ylabel("active hosts")
        axes[1].plot(hours, rounds["power_w"] / 1000, color="tab:red")
        axes[1].set_ylabel("fleet power, kW")
        axes[2].bar(hours, np.diff(rounds["migrations"], prepend=0), width=0.08,
                    color="tab:green")
        axes[2].set_ylabel("migrations per round")
        axes[2].set_xlabel("hours")
        s = self.summary
        fig.suptitle(f"{s['policy']} ({s['rules']} rules): {s['energy kWh']:.2f} kWh, "
                     f"{s['migrations']} migrations, SLAV {s['SLAV %']:.5f} %")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return Path(path)


__all__ = ["CLOUDSIM_EXACT", "CLOUDSIM_FIGURES", "ConsolidationPolicy", "ConsolidationResults",
           "ConsolidationSetup", "DEFAULT_PARAMETERS", "MIGRATION_MODELS", "RULES", "SETUPS", "consolidate",
           "parse_policy"]
