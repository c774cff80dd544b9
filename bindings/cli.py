"""The `vmsched` command: `vmsched simulate` and `vmsched size` (click).

Every option can also come from a TOML scenario file (`--scenario`), a table per group:

\b
    [workload]   format = "synthetic"  # or a reader: azure-vmtable, planetlab, ...
                 path = "..."          # the trace (file or folder); cpu_readings = "..."
                 vms = 10000           # synthetic only, with days and seed
    [fleet]      hosts = 120           # omit to size the fleet with find_min_hosts
                 vcpus = 64  memory_gib = 256  disk_gib = 0  overcommit = "nova"
                 cpu_ratio = 4.0  ram_ratio = 1.0
    [placement]  policy = "best_fit"
    [host_models] cpu = "fair_share"  memory = "esxi"   # plus memory parameters
    [run]        tick_s = 300  days = 7  out = "vmsched-out"

\b
Options given on the command line win over the file. Bad files or options: a one-line error
on stderr and exit status 2.
"""

import sys
import tomllib
from pathlib import Path

import click
import numpy as np

from vmsched.errors import VmschedError

FORMATS = ("synthetic", "table", "azure-vmtable", "azure-packing", "azure-flavors", "planetlab",
           "bitbrains", "alibaba-openb")
DEFAULTS = {
    "format": "synthetic", "path": None, "cpu_readings": None, "vms": 10_000, "days": None,
    "seed": 0, "hosts": None, "vcpus": 64, "memory_gib": 256.0, "disk_gib": 0,
    "overcommit": "nova", "cpu_ratio": None, "ram_ratio": None, "policy": "best_fit",
    "cpu_model": "fair_share", "memory_model": "esxi", "tick_s": 300.0, "out": "vmsched-out",
}
SCENARIO_KEYS = {
    "workload": {"format": "format", "path": "path", "cpu_readings": "cpu_readings",
                 "vms": "vms", "days": "days", "seed": "seed"},
    "fleet": {"hosts": "hosts", "vcpus": "vcpus", "memory_gib": "memory_gib",
              "disk_gib": "disk_gib", "overcommit": "overcommit", "cpu_ratio": "cpu_ratio",
              "ram_ratio": "ram_ratio"},
    "placement": {"policy": "policy"},
    "host_models": {"cpu": "cpu_model", "memory": "memory_model"},
    "run": {"tick_s": "tick_s", "days": "days", "out": "out", "seed": "seed"},
}


class Failure(click.ClickException):
    """A one-line error with exit status 2."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"vmsched: error: {self.message}", err=True)


def workload_options(function):
    options = [
        click.option("--scenario", type=click.Path(dir_okay=False), default=None,
                     help="TOML scenario file (see `vmsched --help`); options override it."),
        click.option("--format", "format_", type=click.Choice(FORMATS), default=None,
                     help="Workload source [default: synthetic]."),
        click.option("--trace", "path", default=None,
                     help="Trace file or folder for --format (not for synthetic)."),
        click.option("--cpu-readings", default=None,
                     help="azure-vmtable: the vm_cpu_readings CSV."),
        click.option("--vms", type=click.IntRange(min=1), default=None,
                     help="Synthetic: number of VMs [default: 10000]."),
        click.option("--days", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Synthetic: arrival window; all: how long to simulate "
                          "[default: 7 for synthetic, else the trace's span]."),
        click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed [default: 0]."),
        click.option("--hosts", type=click.IntRange(min=1), default=None,
                     help="Fleet size [default: the smallest that places everything]."),
        click.option("--vcpus", type=click.IntRange(min=1), default=None, help="pCPUs per host [default: 64]."),
        click.option("--memory-gib", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Memory per host, GiB [default: 256]."),
        click.option("--disk-gib", type=click.IntRange(min=0), default=None, help="Disk per host, GiB [default: 0]."),
        click.option("--overcommit", default=None,
                     help="Preset: nova, nova_pre_stein or none [default: nova]."),
        click.option("--cpu-ratio", type=float, default=None, help="CPU allocation ratio."),
        click.option("--ram-ratio", type=float, default=None, help="RAM allocation ratio."),
        click.option("--policy", default=None,
                     help="Placement policy: first_fit, best_fit, worst_fit, dot_product, "
                          "nova, kubernetes [default: best_fit]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def settings(given):
    """Merge: defaults < scenario file < command line."""
    values = dict(DEFAULTS)
    scenario = given.pop("scenario", None)
    if scenario:
        try:
            document = tomllib.loads(Path(scenario).read_text())
        except FileNotFoundError:
            raise Failure(f"scenario file {scenario} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise Failure(f"scenario file {scenario}: {error}") from None
        for table, fields in document.items():
            if table not in SCENARIO_KEYS or not isinstance(fields, dict):
                raise Failure(f"scenario file {scenario}: unknown table [{table}]; known: "
                              f"{', '.join(SCENARIO_KEYS)}")
            for key, value in fields.items():
                if key not in SCENARIO_KEYS[table]:
                    raise Failure(f"scenario file {scenario}: unknown key {key!r} in "
                                  f"[{table}]; known: {', '.join(SCENARIO_KEYS[table])}")
                values[SCENARIO_KEYS[table][key]] = value
    renamed = {"format_": "format"}
    for key, value in given.items():
        if value is not None:
            values[renamed.get(key, key)] = value
    return values


def load(values):
    """(workload, fleet from the trace or None)."""
    from vmsched.workload.readers import FLEET_FORMATS, READERS
    from vmsched.workload.synthetic import synthetic_workload

    if values["format"] == "synthetic":
        days = values["days"] or 7.0
        return synthetic_workload(values["vms"], days, seed=values["seed"]), None
    if not values["path"]:
        raise Failure(f"--format {values['format']} needs --trace PATH")
    if not Path(values["path"]).exists():
        raise Failure(f"trace {values['path']} does not exist")
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
        raise Failure(f"cannot read {values['path']} as {values['format']}: {error}") from None
    if values["format"] in FLEET_FORMATS:
        fleet, workload = loaded
        return workload, fleet
    return loaded, None


def host_shape(values, workload):
    shape = {"vcpus": values["vcpus"], "memory_mib": int(values["memory_gib"] * 1024),
             "disk_gib": values["disk_gib"], "overcommit": values["overcommit"]}
    if values["cpu_ratio"] is not None:
        shape["cpu_allocation_ratio"] = values["cpu_ratio"]
    if values["ram_ratio"] is not None:
        shape["ram_allocation_ratio"] = values["ram_ratio"]
    extra = {name: 0 for name in workload.resources if name not in ("VCPU", "MEMORY_MB",
                                                                    "DISK_GB")}
    if extra:
        raise Failure(f"the workload asks for {sorted(extra)}; give a fleet that has them "
                      f"(a trace with machines)")
    return shape


def run_guarded(function):
    """Turn vmsched errors and bad values into one-line failures with exit status 2."""
    try:
        return function()
    except Failure:
        raise
    except (VmschedError, ValueError) as error:
        raise Failure(str(error).split("\n")[0]) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__)
@click.version_option(package_name="vmsched")
def main():
    pass


@main.command()
@workload_options
@click.option("--cpu-model", default=None, help="fair_share or proportional.")
@click.option("--memory-model", default=None, help="esxi or none.")
@click.option("--tick", "tick_s", type=click.FloatRange(min=0, min_open=True), default=None, help="Tick, seconds [default: 300].")
@click.option("--out", default=None, help="Output folder for Parquet and PNG "
                                          "[default: vmsched-out].")
@click.option("--no-plots", is_flag=True, help="Do not write PNG charts.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def simulate(no_plots, no_progress, **given):
    """Simulate a workload on a fleet and print the summary.

    With no options: 10,000 synthetic Azure-like VMs over 7 days, on the smallest fleet of
    64-pCPU, 256-GiB hosts (Nova's overcommit) that best fit places without rejection.
    """
    values = settings(given)
    run_guarded(lambda: _simulate(values, plots=not no_plots, progress=not no_progress))


def _simulate(values, plots, progress):
    from vmsched import Fleet, HostModels, Placer
    from vmsched.simulation import Simulation
    from vmsched.simulation.sizing import find_min_hosts

    workload, fleet = load(values)
    if fleet is None:
        shape = host_shape(values, workload)
        hosts = values["hosts"]
        if hosts is None:
            sizing = find_min_hosts(workload, policy=values["policy"], **shape)
            hosts = sizing.n_hosts
            click.echo(f"fleet sized by find_min_hosts: {hosts} hosts (lower bound "
                       f"{sizing.lower_bound}, {len(sizing.trials)} trials)", err=True)
        fleet = Fleet.uniform(hosts, **shape)
    duration = values["days"] * 86400.0 if values["days"] else None
    sim = Simulation(fleet, Placer(fleet, values["policy"], seed=values["seed"]),
                     HostModels(cpu=values["cpu_model"], memory=values["memory_model"]),
                     workload, tick_s=values["tick_s"], duration_s=duration,
                     progress=_progress_bar if progress and sys.stderr.isatty() else None)
    results = sim.run()
    summary = results.summary()
    click.echo(_table(summary))
    click.echo(f"{'wall seconds (simulation)':<{max(len(k) for k in summary.index)}}  "
               f"{results.wall_s:.2f}")
    out = Path(values["out"])
    written = results.to_parquet(out)
    if plots:
        written += results.plot(out)
    click.echo(f"\nwrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))


@main.command()
@workload_options
def size(**given):
    """The smallest fleet of one host shape that places a workload with no rejection."""
    values = settings(given)

    def answer():
        from vmsched.simulation.sizing import find_min_hosts

        workload, fleet = load(values)
        if fleet is not None:
            raise Failure(f"{values['format']} brings its own fleet; size a host shape with "
                          f"a workload-only format")
        sizing = find_min_hosts(workload, policy=values["policy"], **host_shape(values, workload))
        click.echo(f"{sizing.n_hosts} hosts of {values['vcpus']} pCPUs, "
                   f"{values['memory_gib']:g} GiB ({values['overcommit']}) place "
                   f"{len(workload)} VMs with {values['policy']}; lower bound from peak demand "
                   f"{sizing.lower_bound}; trials {sizing.trials}")

    run_guarded(answer)


class _progress_bar:
    def __init__(self, total):
        self.bar = click.progressbar(length=total, label="simulating", file=sys.stderr)
        self.bar.__enter__()

    def update(self, n):
        self.bar.update(n)

    def close(self):
        self.bar.__exit__(None, None, None)


def _table(summary):
    width = max(len(str(k)) for k in summary.index)
    lines = []
    for key, value in summary.items():
        if isinstance(value, float):
            if np.isnan(value):
                continue
            text = f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.1f}"
        else:
            text = f"{value:,}" if isinstance(value, int) else str(value)
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
