"""Turning a scenario into results: `run_scenario(scenario)`, what `vmsched simulate` and every
sweep task call.

`Plan(scenario)` checks everything that can be checked before any work (formats, policies,
host shapes, models, options that cannot apply together, the trace's existence, the memory the
run needs) and raises `ScenarioError` naming the setting; `Plan.run()` reads or generates the
workload, sizes the fleet when the scenario gives no host count (`find_min_hosts`), and runs a
`Simulation`, or `consolidate` for a scenario with a [consolidation] policy.
"""

import copy
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import ScenarioError, VmschedError
from vmsched.scenarios.scenario import FORMATS, Scenario

#: More ticks than this get a note: the run is long, and a tick this fine is rarely meant.
MANY_TICKS = 1_000_000
#: Host-shape settings, which a format that brings its own fleet cannot take.
SHAPE_SETTINGS = {"hosts": "--hosts", "vcpus": "--vcpus", "memory_gib": "--memory-gib",
                  "disk_gib": "--disk-gib"}
#: Settings a consolidation run does not use (it has no ticks, host models or placement
#: policy of its own: it places as the consolidation algorithm does).
NOT_FOR_CONSOLIDATION = {"tick_s": "--tick", "cpu_model": "--cpu-model",
                         "memory_model": "--memory-model", "policy": "--policy",
                         "days": "--days", "vms": "--vms", "cpu_readings": "--cpu-readings"}
#: The settings that say which workload a scenario runs (WorkloadCache's key).
WORKLOAD_SETTINGS = ("format", "path", "cpu_readings", "vms", "days", "seed")


@dataclass
class ScenarioResult:
    """A scenario's outcome: `results` (a Simulation's Results or a ConsolidationResults),
    `sizing` (find_min_hosts's answer when the scenario sized its fleet, else None) and
    `notes` (what the run has to say to its user: the sizing, a very long run, nothing
    measured)."""

    scenario: Scenario
    results: object
    sizing: object = None
    notes: list = field(default_factory=list)

    def summary(self):
        """The summary as a Series (with the sizing's lower bound when the fleet was sized)."""
        results = self.results
        summary = results.summary() if callable(results.summary) else results.summary.copy()
        if self.sizing is not None:
            summary["hosts, sizing lower bound"] = self.sizing.lower_bound
        return summary

    def tables(self):
        """{'summary': one row, 'ticks': the tick series (a consolidation's rounds),
        'tenants': per tenant} as DataFrames, numbers kept numeric."""
        from vmsched.simulation.results import summary_frame

        results = self.results
        if hasattr(results, "ticks"):
            ticks, tenants = results.ticks, results.tenants.reset_index()
        else:
            ticks, tenants = results.rounds, pd.DataFrame({"tenant": pd.Series([], str)})
        return {"summary": summary_frame(self.summary()), "ticks": ticks.reset_index(drop=True),
                "tenants": tenants}


class WorkloadCache:
    """The workloads last built, by the settings that make them (WORKLOAD_SETTINGS): a
    sweep's scenarios that share a workload build it once per process. Holds at most
    `max_items` workloads (the least recently used goes)."""

    def __init__(self, max_items=4):
        self.max_items = max_items
        self.items = OrderedDict()
        self.builds = 0

    def get(self, values, build):
        key = tuple(repr(values[name]) for name in WORKLOAD_SETTINGS) + _file_identity(values)
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        loaded = build()
        self.builds += 1
        self.items[key] = loaded
        while len(self.items) > self.max_items:
            self.items.popitem(last=False)
        return loaded


def _file_identity(values):
    """(size, modification time) of the trace files, so that an edited trace is read again."""
    identity = ()
    for name in ("path", "cpu_readings"):
        if values[name]:
            try:
                info = os.stat(values[name])
                identity += (info.st_size, info.st_mtime_ns)
            except OSError:
                identity += (None,)
    return identity


def run_scenario(scenario, *, workloads=None, progress=None, sizing_progress=None, echo=None):
    """Run a scenario (a Scenario, or its tables as a dict); returns a ScenarioResult.
    workloads: a WorkloadCache to take the workload from; progress: a progress-bar factory
    for the simulation (total= ticks, initial=); sizing_progress: one for sizing the fleet
    (total= events); echo: called with each note as it happens."""
    return Plan(scenario).run(workloads=workloads, progress=progress,
                              sizing_progress=sizing_progress, echo=echo)


class Plan:
    """A checked scenario (see the module doc): building one checks, `run` does the work."""

    def __init__(self, scenario, check_files=True):
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario(scenario)
        self.check_files = check_files     # False: the files are read elsewhere (a worker)
        values = self.values = self.scenario.settings()
        self.consolidation = values["consolidation"] is not None
        if self.consolidation:
            self._check_consolidation()
        else:
            for option in ("preset", "rules", "migration"):
                if values[option] is not None:
                    raise ScenarioError(f"--{option} is for --consolidation runs; give "
                                        f"--consolidation POLICY too")
            self._check_simulation()

    # ------------------------------------------------------------ checks

    def _check_simulation(self):
        from vmsched import HostModels
        from vmsched.placement.policy import resolve_policy

        values = self.values
        values["format"] = resolve_format(values, self.check_files)
        self.models = HostModels(cpu=values["cpu_model"], memory=values["memory_model"],
                                 **values["memory_parameters"])
        resolve_policy(values["policy"])
        self.shape = host_shape(values)
        check_fleet_options(values)
        check_memory(values)
        check_trace(values, self.check_files)

    def _check_consolidation(self):
        from vmsched.simulation.consolidation import MIGRATION_MODELS, RULES, SETUPS, parse_policy

        values = self.values
        self.policy = parse_policy(values["consolidation"])
        unused = [option for key, option in NOT_FOR_CONSOLIDATION.items()
                  if key in values["given"]]
        if unused:
            raise ScenarioError(f"{', '.join(unused)} cannot apply to a --consolidation run")
        for option, known in (("preset", SETUPS), ("rules", RULES),
                              ("migration", MIGRATION_MODELS)):
            if values[option] is not None and values[option] not in known:
                raise ScenarioError(f"--{option} {values[option]} is unknown; known: "
                                    f"{', '.join(known)}")
        values["format"] = resolve_format(values, self.check_files)
        if values["format"] == "synthetic":
            raise ScenarioError("--consolidation needs a trace of per-VM CPU series (--format "
                                "planetlab --trace DAY_FOLDER)")
        self.shape = None
        if values["preset"] is not None:
            shaped = [option for key, option in SHAPE_SETTINGS.items() if key in values["given"]]
            shaped += [option for key, option in (("overcommit", "--overcommit"),
                                                  ("cpu_ratio", "--cpu-ratio"),
                                                  ("ram_ratio", "--ram-ratio"))
                       if key in values["given"]]
            if shaped:
                raise ScenarioError(f"--preset {values['preset']} brings its own fleet: "
                                    f"{', '.join(shaped)} cannot apply")
        else:
            self.shape = host_shape(values)
            if values["hosts"] is None:
                raise ScenarioError("a --consolidation run without --preset needs --hosts N")
        check_memory(values)
        check_trace(values, self.check_files)

    # ------------------------------------------------------------ the run

    def load(self, workloads=None):
        """(workload, the trace's own fleet or None), from the cache when one is given."""
        if workloads is None:
            return load(self.values)
        return workloads.get(self.values, lambda: load(self.values))

    def run(self, workloads=None, progress=None, sizing_progress=None, echo=None):
        """Do the work; returns a ScenarioResult."""
        notes = []

        def note(message):
            notes.append(message)
            if echo is not None:
                echo(message)

        if self.consolidation:
            return self._consolidate(workloads, notes)
        from vmsched import Fleet, Placer
        from vmsched.simulation import Simulation
        from vmsched.simulation.sizing import find_min_hosts

        values = self.values
        workload, fleet = self.load(workloads)
        sizing = None
        if fleet is not None:
            fleet = copy.deepcopy(fleet)      # the cached one stays empty
            apply_overcommit(values, fleet)
        else:
            check_classes(workload)
            hosts = values["hosts"]
            if hosts is None:
                sizing = find_min_hosts(workload, policy=values["policy"],
                                        progress=sizing_progress, **self.shape)
                hosts = sizing.n_hosts
                note(f"fleet sized by find_min_hosts: {hosts} hosts (lower bound "
                     f"{sizing.lower_bound}, {len(sizing.trials)} trials)")
            fleet = Fleet.uniform(hosts, **self.shape)
        duration = values["days"] * 86400.0 if values["days"] else None
        sim = Simulation(fleet, Placer(fleet, values["policy"], seed=values["seed"]),
                         self.models, workload, tick_s=values["tick_s"], duration_s=duration,
                         progress=progress, memory_limit_bytes=memory_limit_bytes(values))
        if sim.n_ticks > MANY_TICKS:
            note(f"{sim.n_ticks:,} ticks of {sim.tick_s:g} s: a long run (give a longer "
                 f"--tick for a shorter one)")
        if sim.tick_s > sim.duration_s:
            note(f"the tick ({sim.tick_s:g} s) is longer than the run ({sim.duration_s:g} s): "
                 f"one tick covers all of it")
        results = sim.run()
        if int(results.vms["ticks"].sum()) == 0:
            note(f"nothing was measured: no VM was running at the start of any of the run's "
                 f"{sim.n_ticks:,} ticks of {sim.tick_s:g} s (give a shorter --tick or a "
                 f"longer --days)")
        return ScenarioResult(self.scenario, results, sizing, notes)

    def _consolidate(self, workloads, notes):
        from vmsched import Fleet
        from vmsched.simulation.consolidation import consolidate

        values = self.values
        workload, trace_fleet = self.load(workloads)
        if trace_fleet is not None:
            raise ScenarioError(f"--format {values['format']} brings its own fleet; "
                                f"consolidation runs on --preset or --hosts")
        fleet = Fleet.uniform(values["hosts"], **self.shape) if self.shape else None
        results = consolidate(workload, self.policy, preset=values["preset"],
                              rules=values["rules"], fleet=fleet, seed=values["seed"],
                              migration=values["migration"] or "cloudsim")
        return ScenarioResult(self.scenario, results, None, notes)


# ------------------------------------------------------------ the checks, one per concern

def resolve_format(values, check_files=True):
    """The workload format: --format, else told from the trace when it says so unambiguously
    (a CSV or Parquet table with vmsched's own columns), else synthetic without a trace."""
    if values["format"] is not None:
        return values["format"]
    path = values["path"]
    if not path:
        return "synthetic"
    if not Path(path).exists():
        if not check_files:
            raise ScenarioError(f"give workload.format for {path}: it is not readable here, "
                                f"so its format cannot be told from the file")
        raise ScenarioError(f"trace {path} does not exist")
    if Path(path).is_file() and _is_vmsched_table(Path(path)):
        return "table"
    raise ScenarioError(f"give --format for --trace {path}: its format cannot be told from "
                        f"the file "
                        f"({', '.join(f for f in FORMATS if f != 'synthetic')})")


def _is_vmsched_table(path):
    """A CSV whose header, or a Parquet file whose schema, has vmsched's table columns."""
    needed = {"vm_id", "start_s", "end_s"}
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return needed <= set(pq.read_schema(path).names)
        with open(path, newline="") as file:
            header = file.readline()
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return needed <= {name.strip() for name in header.split(",")}


def check_trace(values, check_files=True):
    """The workload settings go together and (check_files) the trace exists here."""
    if values["cpu_readings"] and values["format"] != "azure-vmtable":
        raise ScenarioError(f"--cpu-readings is for --format azure-vmtable, not "
                            f"{values['format']}")
    if values["format"] == "synthetic":
        if values["path"]:
            raise ScenarioError("--trace is for trace formats; the synthetic workload has none "
                                "(give --format)")
        return
    if not values["path"]:
        raise ScenarioError(f"--format {values['format']} needs --trace PATH")
    if not check_files:
        return
    if not Path(values["path"]).exists():
        raise ScenarioError(f"trace {values['path']} does not exist")
    if values["cpu_readings"] and not Path(values["cpu_readings"]).is_file():
        raise ScenarioError(f"--cpu-readings {values['cpu_readings']} does not exist")


def load(values):
    """(workload, fleet from the trace or None)."""
    from vmsched.workload.readers import FLEET_FORMATS, READERS
    from vmsched.workload.synthetic import synthetic_workload

    check_trace(values)
    if values["format"] == "synthetic":
        days = values["days"] or 7.0
        return synthetic_workload(values["vms"], days, seed=values["seed"]), None
    reader = READERS[values["format"]]
    try:
        if values["format"] == "azure-vmtable":
            loaded = reader(values["path"], values["cpu_readings"])
        elif values["format"] == "azure-flavors":
            folder = Path(values["path"])
            loaded = reader(folder / "v1.dev.txt", folder / "v1.dev.c2100000.txt",
                            folder / "flav_map.txt", folder / "v1.interval_map.txt",
                            seed=values["seed"])
        else:
            loaded = reader(values["path"])
    except (OSError, ValueError, KeyError) as error:
        if isinstance(error, VmschedError):
            raise
        raise ScenarioError(f"cannot read {values['path']} as {values['format']}: "
                            f"{error}") from None
    if values["format"] in FLEET_FORMATS:
        fleet, workload = loaded
        return workload, fleet
    return loaded, None


def host_shape(values):
    """Fleet.uniform's host arguments from the settings (checked by building one host)."""
    from vmsched import Fleet

    shape = {"vcpus": values["vcpus"], "memory_mib": int(values["memory_gib"] * 1024),
             "disk_gib": values["disk_gib"], "overcommit": values["overcommit"]}
    if values["cpu_ratio"] is not None:
        shape["cpu_allocation_ratio"] = values["cpu_ratio"]
    if values["ram_ratio"] is not None:
        shape["ram_allocation_ratio"] = values["ram_ratio"]
    Fleet.uniform(1, **shape)
    return shape


def check_fleet_options(values):
    """A format that brings its own fleet takes overcommit settings (applied to its hosts)
    but refuses host-shape settings, which cannot apply."""
    from vmsched.workload.readers import FLEET_FORMATS

    if values["format"] not in FLEET_FORMATS:
        return
    shaped = [option for key, option in SHAPE_SETTINGS.items() if key in values["given"]]
    if shaped:
        raise ScenarioError(f"--format {values['format']} brings its own fleet (its machines): "
                            f"{', '.join(shaped)} cannot apply; --overcommit, --cpu-ratio and "
                            f"--ram-ratio do")


def apply_overcommit(values, fleet):
    """The overcommit settings the user gave, on a trace's own fleet (its hosts keep the
    trace's inventory otherwise)."""
    if "overcommit" in values["given"]:
        fleet.set_overcommit(values["overcommit"])
    ratios = {name: values[key] for key, name in (("cpu_ratio", "VCPU"),
                                                  ("ram_ratio", "MEMORY_MB"))
              if values[key] is not None and name in fleet.resources}
    if ratios:
        fleet.set_overcommit(**ratios)


def memory_limit_bytes(values):
    """The run's memory limit in bytes (run.memory_limit_gib), or None for vmsched.limits'
    default (the process's environment is never changed)."""
    limit = values["memory_limit"]
    return None if limit is None else int(limit * 2**30)


def check_memory(values):
    """Refuse a synthetic run that cannot fit before generating it (a trace's run is checked
    by Simulation once the trace is read)."""
    from vmsched import limits

    if values["format"] != "synthetic":
        return
    days = values["days"] or 7.0
    n_ticks = int(np.ceil(days * 86400.0 / values["tick_s"]))
    limits.check_fits(limits.simulation_bytes(values["vms"], n_ticks, values["hosts"] or 0,
                                              synthetic=True),
                      f"--vms {values['vms']:,} over {days:g} days ({n_ticks:,} ticks of "
                      f"{values['tick_s']:g} s)", memory_limit_bytes(values))


def check_classes(workload):
    """The workload asks only for classes a uniform fleet has."""
    extra = {name: 0 for name in workload.resources if name not in ("VCPU", "MEMORY_MB",
                                                                    "DISK_GB")}
    if extra:
        raise ScenarioError(f"the workload asks for {sorted(extra)}; give a fleet that has "
                            f"them (a trace with machines)")
