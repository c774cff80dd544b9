"""Results of a Simulation: tables, a summary, Parquet files and plots.

Tables (pandas): `vms` (per VM: placement, status, exact totals of used / ready / throttled
core-seconds and ballooned / compressed / swapped / stalled MiB-seconds, seconds in contention),
`ticks` (per tick, fleet-wide: VMs, hosts in use, CPU demand and grants, memory states, ...),
`hosts` (per host totals), `snapshots` (daily: realised overcommit, stranded capacity) and
`tenants` (allocated vCPU-hours and GiB-hours, used core-hours).
"""

import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.engine.models.kernels_memory import STATE_NAMES
from vmsched.engine.simulation import STATUS_NAMES, kernels_sim

#: The files a run writes (Results.write replaces exactly these in its folder).
TABLE_NAMES = ("vms", "ticks", "hosts", "snapshots", "tenants", "summary")
CHART_NAMES = ("hosts_in_use", "cpu_utilization", "cpu_ready", "memory_state", "power")
OWN_FILES = tuple(f"{name}.parquet" for name in TABLE_NAMES) + tuple(
    f"{name}.png" for name in CHART_NAMES)

READY_THRESHOLD = 0.05  # a VM "suffers" with more than 5% of its CPU demand ready


def summary_frame(summary):
    """A summary Series as a one-row DataFrame, a column per figure, numbers kept numeric
    (integers int64, reals float64, text as strings)."""
    row = {key: (value if isinstance(value, (int, float, np.integer, np.floating))
                 and not isinstance(value, bool) else str(value))
           for key, value in summary.items()}
    return pd.DataFrame([row])


class Results:
    """A copy of a simulation's outcome up to its current tick."""

    def __init__(self, sim):
        table = sim.workload.table
        tick_s = sim.tick_s
        self.tick_s = tick_s
        self.ticks_run = sim.tick
        self.clock_s = sim.clock_s
        self.wall_s = sim.wall_s
        self.n_hosts = sim.fleet.n_hosts
        self.resources = sim.fleet.resources
        self.has_capacity = {name for r, name in enumerate(self.resources)
                             if sim.fleet.total[:, r].any()}
        self.workload_name = sim.workload.name
        self.policy = sim.placer.policy.name or "pipeline"
        self.controllers = [c.name for c in sim.controllers]
        self.models = (repr(sim.host_models) if sim.host_models is not None else "none")
        self.memory_model = (sim.host_models.memory.name if sim.host_models is not None
                             else None)
        # One DataFrame built at once (column by column costs a copy of the frame each).
        columns = {name: table[name] for name in ("vm_id", "tenant", "start_s", "end_s")}
        for r, name in enumerate(sim.fleet.resources):
            columns[name] = sim.requests[:, r]
        vm = sim.vm
        columns["status"] = pd.Categorical.from_codes(vm.status, categories=list(STATUS_NAMES))
        columns["host"] = vm.host
        names = np.array(list(sim.placer.filter_names) + [None], dtype=object)
        columns["rejected_by"] = names[np.where(vm.reason >= 0, vm.reason, -1)]
        totals, ticks = sim.vm_totals()
        for i, name in enumerate(kernels_sim.VM_TOTAL_NAMES):
            if name == "throttled_core_s":
                columns["demand_core_s"] = (columns["used_core_s"]
                                            + columns["ready_core_s"])
            columns[name] = totals[:, i]
        columns["ticks"] = ticks
        columns["migrations"] = vm.migrations
        columns["restarts"] = vm.restarts
        columns["downtime_s"] = sim.downtime_s()
        vms = pd.DataFrame(columns, index=table.index)
        self.vms = vms
        self.drains = pd.DataFrame(
            [{k: v for k, v in record.items() if not k.startswith("_")}
             for record in sim.drain_log],
            columns=["host", "start_s", "down_s", "up_s", "migrations", "unplaceable",
                     "downtime_s"])
        self.ticks = pd.DataFrame(sim.series[:sim.tick], columns=list(kernels_sim.SERIES_NAMES))
        totals = sim.host_totals
        busy = totals[kernels_sim.H_BUSY_S]
        columns = {
            "busy_ticks": busy / tick_s,
            "max_contention": totals[kernels_sim.H_MAX_CONTENTION],
            "ready_core_s": totals[kernels_sim.H_READY],
            "mean_utilization": np.where(busy > 0, totals[kernels_sim.H_UTILIZATION_S]
                                         / np.where(busy > 0, busy, 1.0), 0.0),
            "energy_kwh": totals[kernels_sim.H_ENERGY_J] / 3.6e6,
            "power_model": [model.name for model in sim.fleet.power_models()],
        }
        self.has_energy = sim.host_models is not None
        for s, state in enumerate(STATE_NAMES):
            columns[f"ticks_{state}"] = sim.host_state_s[:, s] / tick_s
        columns["state"] = pd.Categorical.from_codes(
            sim.host_state, categories=["up", "draining", "down"])
        self.hosts = pd.DataFrame(columns, index=pd.RangeIndex(self.n_hosts, name="host"))
        self.snapshots = pd.DataFrame(sim.snapshots)
        self.rejections = sim.rejections()

    @functools.cached_property
    def tenants(self):
        """Per tenant: VMs, used core-hours, allocated vCPU-hours and GiB-hours (computed when
        first asked for)."""
        vms, tick_s = self.vms, self.tick_s
        hours = vms["ticks"].to_numpy() * tick_s / 3600.0
        frame = pd.DataFrame({"tenant": vms["tenant"].astype(str), "vms": 1,
                              "used_core_hours": vms["used_core_s"] / 3600.0})
        if "VCPU" in vms:
            frame["allocated_vcpu_hours"] = vms["VCPU"] * hours
        if "MEMORY_MB" in vms:
            frame["allocated_gib_hours"] = vms["MEMORY_MB"] / 1024.0 * hours
        return frame.groupby("tenant", sort=True).sum()

    # ------------------------------------------------------------ summary

    def ready_fractions(self):
        """Per measured VM: ready core-seconds / capped demand core-seconds (0 without demand)."""
        measured = self.vms[self.vms["ticks"] > 0]
        demand = measured["demand_core_s"].to_numpy()
        ready = measured["ready_core_s"].to_numpy()
        return np.where(demand > 0, ready / np.where(demand > 0, demand, 1), 0.0)

    def summary(self):
        """The answer, as a Series of labelled figures (exact sums; percentiles over VMs)."""
        vms, ticks = self.vms, self.ticks
        status = vms["status"].value_counts()
        out = {
            "workload": self.workload_name,
            "policy": self.policy,
            "host models": self.models,
            "simulated days": self.ticks_run * self.tick_s / 86400.0,
            "hosts in fleet": self.n_hosts,
            "hosts in use, peak": int(ticks["hosts_in_use"].max()) if len(ticks) else 0,
            "hosts in use, mean": float(ticks["hosts_in_use"].mean()) if len(ticks) else 0.0,
            "VMs": len(vms),
            "VMs placed": int(len(vms) - status.get("rejected", 0) - status.get("pending", 0)),
            "VMs rejected": int(status.get("rejected", 0)),
        }
        # Every workload row has exactly one outcome.
        for name in STATUS_NAMES:
            out[f"VMs {name} at the end"] = int(status.get(name, 0))
        for name, count in sorted(self.rejections.items()):
            out[f"rejected by {name}"] = count
        out["VM-ticks measured"] = int(vms["ticks"].sum())
        if len(self.snapshots):
            for column in self.snapshots.columns:
                if column.startswith("overcommit_") and self.snapshots[column].notna().any():
                    out[f"realised overcommit {column[11:]}, mean"] = \
                        float(self.snapshots[column].mean())
                if column.startswith("stranded_fraction_") and column[18:] in self.has_capacity:
                    out[f"stranded {column[18:]}, mean fraction of free"] = \
                        float(self.snapshots[column].mean())
        fractions = self.ready_fractions()
        if len(fractions):
            for q in (50, 95, 99):
                out[f"CPU ready p{q} (fraction of demand)"] = float(np.percentile(fractions, q))
            out["CPU ready max (fraction of demand)"] = float(fractions.max())
            out[f"VMs with CPU ready > {READY_THRESHOLD:.0%}"] = int(
                (fractions > READY_THRESHOLD).sum())
        demand = vms["demand_core_s"].sum()
        out["CPU used core-hours"] = float(vms["used_core_s"].sum() / 3600.0)
        out["CPU ready core-hours"] = float(vms["ready_core_s"].sum() / 3600.0)
        out["CPU ready, fleet fraction of demand"] = float(
            vms["ready_core_s"].sum() / demand) if demand > 0 else 0.0
        for name in ("ballooned", "compressed", "swapped", "stall"):
            out[f"memory {name} GiB-hours"] = float(vms[f"{name}_mib_s"].sum() / 1024 / 3600)
        if self.memory_model not in (None, "none"):   # the states mean nothing without
            for state in STATE_NAMES[2:]:             # reclamation
                out[f"host-ticks in memory state {state}"] = round(
                    float(self.hosts[f"ticks_{state}"].sum()), 6)
        if self.has_energy:
            out["energy kWh"] = float(self.hosts["energy_kwh"].sum())
            out["power, mean W"] = float(self.ticks["power_w"].mean()) if len(self.ticks) else 0.0
        out["migrations"] = int(vms["migrations"].sum())
        if len(self.drains):
            out["drains"] = len(self.drains)
            out["drains: VMs unplaceable"] = int(self.drains["unplaceable"].map(len).sum())
        if vms["restarts"].any() or (vms["status"] == "lost").any():
            out["VMs lost in failures (at the end)"] = int((vms["status"] == "lost").sum())
            out["VM restarts after failures"] = int(vms["restarts"].sum())
            out["VM downtime after failures, hours"] = float(vms["downtime_s"].sum() / 3600)
        out["tenants"] = len(self.tenants)
        return pd.Series(out, name="value", dtype=object)

    def summary_table(self):
        """The summary as a one-row DataFrame (summary_frame)."""
        return summary_frame(self.summary())

    # ------------------------------------------------------------ files

    def write(self, folder, plots=True):
        """Write the tables (and, if plots, the charts) into folder as one set: everything is
        written into a staging folder beside it first, then vmsched's own files already in
        folder (OWN_FILES, from an earlier run) are removed and the new ones moved in, one
        rename each. So an interrupted run leaves the folder as it was, two runs never mix,
        and files that are not vmsched's stay. Returns the paths."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
        try:
            written = self.to_parquet(staging)
            if plots:
                written += self.plot(staging)
            folder.mkdir(exist_ok=True)
            for name in OWN_FILES:
                (folder / name).unlink(missing_ok=True)
            paths = []
            for path in written:
                os.replace(path, folder / path.name)
                paths.append(folder / path.name)
            return paths
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def to_parquet(self, folder):
        """Write vms, ticks, hosts, snapshots, tenants and summary as Parquet into folder;
        returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        tables = {"vms": self.vms, "ticks": self.ticks, "hosts": self.hosts,
                  "snapshots": self.snapshots, "tenants": self.tenants,
                  "summary": self.summary_table()}
        for name, frame in tables.items():
            frame = frame.copy()
            for column in frame.columns:
                if frame[column].dtype == object:
                    frame[column] = frame[column].astype(str)
            path = folder / f"{name}.parquet"
            frame.to_parquet(path)
            paths.append(path)
        return paths

    def plot(self, folder):
        """PNG charts over time, each titled with its workload, fleet and policy: hosts in use
        against the fleet's size (VMs on a second axis), CPU granted and demanded, CPU ready,
        the memory states of hosts in use, and the fleet's power; returns the paths."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        ticks = self.ticks
        days = ticks["time_s"] / 86400.0
        context = f"{self.workload_name} | {self.n_hosts:,} hosts | {self.policy}"
        paths = []

        def save(figure, axes, name, title, unit):
            axes.set_title(f"{title}\n{context}", fontsize="medium")
            axes.set(xlabel="day", ylabel=unit)
            axes.grid(alpha=0.3)
            paths.append(folder / f"{name}.png")
            figure.tight_layout()
            figure.savefig(paths[-1], dpi=100)
            plt.close(figure)

        # Hosts in use against the fleet (the headroom), VMs on their own axis.
        figure, axes = plt.subplots(figsize=(9, 4))
        axes.plot(days, ticks["hosts_in_use"], label="hosts in use", linewidth=1.5)
        axes.axhline(self.n_hosts, color="black", linestyle="--", linewidth=1,
                     label=f"hosts in fleet ({self.n_hosts:,})")
        axes.set_ylim(0, self.n_hosts * 1.08)
        vms_axes = axes.twinx()
        vms_axes.plot(days, ticks["vms"], color="tab:orange", linewidth=0.8, label="VMs")
        vms_axes.set_ylabel("VMs measured")
        vms_axes.set_ylim(bottom=0)
        axes.set_zorder(vms_axes.get_zorder() + 1)   # hosts drawn over the VMs
        axes.patch.set_visible(False)
        handles = axes.get_legend_handles_labels()
        more = vms_axes.get_legend_handles_labels()
        axes.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left",
                    bbox_to_anchor=(0.0, 0.92), fontsize="small")
        save(figure, axes, "hosts_in_use", "Hosts in use", "hosts")

        # CPU: granted as an area, demanded as a line on top (visible when they are equal).
        capacity = ticks["cpu_capacity_in_use_cores"].replace(0, np.nan)
        granted = ticks["cpu_granted_cores"] / capacity
        demanded = ticks["cpu_demand_cores"] / capacity
        figure, axes = plt.subplots(figsize=(9, 4))
        axes.fill_between(days, 0, granted.fillna(0), color="tab:blue", alpha=0.35,
                          label="granted")
        axes.plot(days, demanded, color="tab:red", linewidth=0.9, label="demanded")
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", fontsize="small")
        save(figure, axes, "cpu_utilization", "CPU utilisation of hosts in use",
             "fraction of guest pCPUs")

        # CPU ready: never below 0; an all-zero run says so.
        ready = (ticks["ready_core_s"] / (ticks["cpu_demand_cores"] * self.tick_s)
                 .replace(0, np.nan))
        figure, axes = plt.subplots(figsize=(9, 4))
        axes.plot(days, ready, linewidth=1, label="ready")
        peak = float(np.nanmax(ready)) if ready.notna().any() else 0.0
        axes.set_ylim(0, peak * 1.1 if peak > 0 else 0.01)
        if peak == 0:
            axes.text(0.5, 0.5, "no CPU ready time: every VM got its demand",
                      transform=axes.transAxes, ha="center", va="center", color="0.3")
        axes.legend(loc="upper left", fontsize="small")
        save(figure, axes, "cpu_ready", "CPU ready (wanted, not given)", "fraction of demand")

        # Memory states; below them, the hosts under pressure (hard or low) on their own
        # axis, so that thin bands are seen.
        figure, (axes, below) = plt.subplots(2, 1, figsize=(9, 5), sharex=True,
                                             gridspec_kw={"height_ratios": [3, 1]})
        states = [ticks[f"hosts_{s}"] for s in STATE_NAMES]
        axes.stackplot(days, *states, labels=list(STATE_NAMES),
                       colors=["#a5d6a7", "#43a047", "#fdd835", "#fb8c00", "#b71c1c"])
        in_use = float(sum(states).max()) if len(ticks) else 0.0
        axes.set_ylim(0, max(1.0, in_use) * 1.3)     # room for the legend above the stack
        axes.legend(loc="upper left", fontsize="small", ncol=5)
        pressure = ticks["hosts_hard"] + ticks["hosts_low"]
        below.fill_between(days, 0, pressure, color="#b71c1c", step=None, linewidth=0.8)
        below.set_ylim(0, max(1.0, float(pressure.max()) * 1.15))
        below.set_ylabel("hard + low")
        below.grid(alpha=0.3)
        below.set_xlabel("day")
        axes.set_title(f"Memory state of hosts in use\n{context}", fontsize="medium")
        axes.set_ylabel("hosts")
        axes.grid(alpha=0.3)
        paths.append(folder / "memory_state.png")
        figure.tight_layout()
        figure.savefig(paths[-1], dpi=100)
        plt.close(figure)

        # Fleet power (every host that is on; 0 W for those that are off), and the energy.
        figure, axes = plt.subplots(figsize=(9, 4))
        axes.plot(days, ticks["power_w"] / 1000.0, linewidth=1, label="fleet power")
        axes.set_ylim(bottom=0)
        energy = float(self.hosts["energy_kwh"].sum())
        axes.legend(loc="lower right", fontsize="small",
                    title=f"energy {energy:,.1f} kWh", title_fontsize="small")
        save(figure, axes, "power", "Power drawn by the fleet", "kW")
        return paths
