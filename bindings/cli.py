"""The `vmsched` command: `vmsched simulate` (also dynamic consolidation, `--consolidation`)
and `vmsched size` (click).

Every option can also come from a TOML scenario file (`--scenario`), a table per group:

\b
    [workload]   format = "synthetic"  # or a reader: azure-vmtable, planetlab, ...
                 path = "..."          # the trace (file or folder); cpu_readings = "..."
                 vms = 10000           # synthetic only, with days and seed
    [fleet]      hosts = 120           # omit to size the fleet with find_min_hosts
                 vcpus = 64  memory_gib = 256  disk_gib = 0  overcommit = "nova"
                 cpu_ratio = 4.0  ram_ratio = 1.0
    [placement]  policy = "best_fit"
    [host_models] cpu = "fair_share"  memory = "esxi"   # plus memory parameters:
                 sharing, idle_tax, max_balloon, compression_cache, ...
    [run]        tick_s = 300  days = 7  out = "vmsched-out"  memory_limit_gib = 16
    [consolidation] policy = "lr-mmt-1.2"  preset = "cloudsim-planetlab"  rules = "cloudsim"
                 migration = "cloudsim"   # or "precopy"

\b
`days` and `seed` may sit in [workload] or in [run], not in both.

\b
Options given on the command line win over the file. Bad files or options: a one-line error
on stderr and exit status 2.
"""

import os
import sys
import tempfile
import tomllib
import warnings
from pathlib import Path

import click
import numpy as np

from vmsched.errors import VmschedError, shown

FORMATS = ("synthetic", "table", "azure-vmtable", "azure-packing", "azure-flavors", "planetlab",
           "bitbrains", "alibaba-openb")
DEFAULTS = {
    "format": None, "path": None, "cpu_readings": None, "vms": 10_000, "days": None,
    "seed": 0, "hosts": None, "vcpus": 64, "memory_gib": 256.0, "disk_gib": 0,
    "overcommit": "nova", "cpu_ratio": None, "ram_ratio": None, "policy": "best_fit",
    "cpu_model": "fair_share", "memory_model": "esxi", "tick_s": 300.0, "out": "vmsched-out",
    "memory_limit": None, "consolidation": None, "preset": None, "rules": None,
    "migration": None,
}
SCENARIO_KEYS = {
    "workload": {"format": "format", "path": "path", "cpu_readings": "cpu_readings",
                 "vms": "vms", "days": "days", "seed": "seed"},
    "fleet": {"hosts": "hosts", "vcpus": "vcpus", "memory_gib": "memory_gib",
              "disk_gib": "disk_gib", "overcommit": "overcommit", "cpu_ratio": "cpu_ratio",
              "ram_ratio": "ram_ratio"},
    "placement": {"policy": "policy"},
    "host_models": {"cpu": "cpu_model", "memory": "memory_model"},
    "run": {"tick_s": "tick_s", "days": "days", "out": "out", "seed": "seed",
            "memory_limit_gib": "memory_limit"},
    "consolidation": {"policy": "consolidation", "preset": "preset", "rules": "rules",
                      "migration": "migration"},
}


class _Whole(click.ParamType):
    """A whole number at least `minimum` (a float or a bool in a scenario file is refused,
    not truncated)."""

    name = "integer"

    def __init__(self, minimum):
        self.minimum = minimum

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                self.fail(f"{value} is not a whole number", param, ctx)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{shown(value)} is not a whole number", param, ctx)
        if value < self.minimum:
            self.fail(f"{value} is below {self.minimum}", param, ctx)
        return value


class _Positive(click.ParamType):
    """A finite real number above 0."""

    name = "number"

    def convert(self, value, param, ctx):
        if isinstance(value, bool):
            self.fail(f"{shown(value)} is not a number", param, ctx)
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{shown(value)} is not a number", param, ctx)
        if not (np.isfinite(number) and number > 0):
            text = value if isinstance(value, str) else shown(value)
            self.fail(f"{text} is not a finite number above 0", param, ctx)
        return number


#: Every setting's type: the command line's options and the scenario file's values are
#: checked alike, before any work.
TYPES = {
    "format": click.Choice(FORMATS), "path": click.STRING, "cpu_readings": click.STRING,
    "vms": _Whole(1), "days": _Positive(), "seed": _Whole(0), "hosts": _Whole(1),
    "vcpus": _Whole(1), "memory_gib": _Positive(), "disk_gib": _Whole(0),
    "overcommit": click.STRING, "cpu_ratio": _Positive(), "ram_ratio": _Positive(),
    "policy": click.STRING, "cpu_model": click.STRING, "memory_model": click.STRING,
    "tick_s": _Positive(), "out": click.STRING, "memory_limit": _Positive(),
    "consolidation": click.STRING, "preset": click.STRING, "rules": click.STRING,
    "migration": click.STRING,
}


class OneLineErrors(click.Group):
    """Usage errors (an unknown option, a bad value) as one line on stderr with a hint to
    --help, exit status 2, like every other bad input."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else "vmsched"
            click.echo(f"vmsched: error: {error.format_message()} (see '{command} --help')",
                       err=True)
            sys.exit(2)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("vmsched: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """vmsched's warnings (about the input) as one line; others as Python shows them."""
    from vmsched.errors import DataWarning

    if issubclass(category, DataWarning):
        click.echo(f"vmsched: warning: {message}", err=True)
    else:
        click.echo(warnings.formatwarning(message, category, filename, lineno, line).rstrip(),
                   err=True)


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
                     help="Workload source [default: synthetic; with --trace, told from the file when it can be]."),
        click.option("--trace", "path", default=None,
                     help="Trace file or folder for --format (not for synthetic)."),
        click.option("--cpu-readings", default=None,
                     help="azure-vmtable: the vm_cpu_readings CSV."),
        click.option("--vms", type=TYPES["vms"], default=None,
                     help="Synthetic: number of VMs [default: 10000]."),
        click.option("--days", type=TYPES["days"], default=None,
                     help="Synthetic: arrival window; all: how long to simulate "
                          "[default: 7 for synthetic, else the trace's span]."),
        click.option("--seed", type=TYPES["seed"], default=None, help="Seed [default: 0]."),
        click.option("--hosts", type=TYPES["hosts"], default=None,
                     help="Fleet size [default: the smallest that places everything]."),
        click.option("--vcpus", type=TYPES["vcpus"], default=None, help="pCPUs per host [default: 64]."),
        click.option("--memory-gib", type=TYPES["memory_gib"], default=None,
                     help="Memory per host, GiB [default: 256]."),
        click.option("--disk-gib", type=TYPES["disk_gib"], default=None, help="Disk per host, GiB [default: 0]."),
        click.option("--overcommit", default=None,
                     help="Preset: nova, nova_pre_stein or none [default: nova]."),
        click.option("--cpu-ratio", type=TYPES["cpu_ratio"], default=None, help="CPU allocation ratio."),
        click.option("--ram-ratio", type=TYPES["ram_ratio"], default=None, help="RAM allocation ratio."),
        click.option("--memory-limit", type=TYPES["memory_limit"], default=None,
                     help="GiB this run may use [default: the smallest of the machine's "
                          "memory, the cgroup's limit and RLIMIT_AS]; runs estimated to "
                          "need more are refused before they start."),
        click.option("--policy", default=None,
                     help="Placement policy: first_fit, best_fit, worst_fit, dot_product, "
                          "nova, kubernetes [default: best_fit]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def settings(given):
    """Merge: defaults < scenario file < command line."""
    values = dict(DEFAULTS, memory_parameters={})
    scenario = given.pop("scenario", None)
    given_in = {}
    if scenario:
        try:
            document = tomllib.loads(Path(scenario).read_text())
        except FileNotFoundError:
            raise Failure(f"scenario file {scenario} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise Failure(f"scenario file {scenario}: {error}") from None
        from vmsched.models.host_models import MEMORY_PARAMETERS

        for table, fields in document.items():
            if table not in SCENARIO_KEYS or not isinstance(fields, dict):
                raise Failure(f"scenario file {scenario}: unknown table [{table}]; known: "
                              f"{', '.join(SCENARIO_KEYS)}")
            for key, value in fields.items():
                if table == "host_models" and key in MEMORY_PARAMETERS:
                    values["memory_parameters"][key] = value
                    continue
                if key not in SCENARIO_KEYS[table]:
                    known = list(SCENARIO_KEYS[table])
                    if table == "host_models":
                        known += list(MEMORY_PARAMETERS)
                    raise Failure(f"scenario file {scenario}: unknown key {shown(key)} in "
                                  f"[{table}]; known: {', '.join(known)}")
                name = SCENARIO_KEYS[table][key]
                if name in given_in:
                    raise Failure(f"scenario file {scenario}: {key} is given in "
                                  f"[{given_in[name]}] and in [{table}]; give it once")
                given_in[name] = table
                try:
                    values[name] = TYPES[name].convert(value, None, None)
                except click.BadParameter as error:
                    raise Failure(f"scenario file {scenario}: [{table}] {key} = {shown(value)}: "
                                  f"{error.format_message()}") from None
    renamed = {"format_": "format"}
    for key, value in given.items():
        if value is not None:
            values[renamed.get(key, key)] = value
            given_in[renamed.get(key, key)] = "command line"
    values["given"] = set(given_in)      # the settings not left at their defaults
    return values


def load(values):
    """(workload, fleet from the trace or None)."""
    from vmsched.workload.readers import FLEET_FORMATS, READERS
    from vmsched.workload.synthetic import synthetic_workload

    if values["cpu_readings"] and values["format"] != "azure-vmtable":
        raise Failure(f"--cpu-readings is for --format azure-vmtable, not {values['format']}")
    if values["format"] == "synthetic":
        if values["path"]:
            raise Failure("--trace is for trace formats; the synthetic workload has none "
                          "(give --format)")
        days = values["days"] or 7.0
        return synthetic_workload(values["vms"], days, seed=values["seed"]), None
    if not values["path"]:
        raise Failure(f"--format {values['format']} needs --trace PATH")
    if not Path(values["path"]).exists():
        raise Failure(f"trace {values['path']} does not exist")
    if values["cpu_readings"] and not Path(values["cpu_readings"]).is_file():
        raise Failure(f"--cpu-readings {values['cpu_readings']} does not exist")
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


def resolve_format(values):
    """The workload format: --format, else told from the trace when it says so unambiguously
    (a CSV or Parquet table with vmsched's own columns), else synthetic without a trace."""
    if values["format"] is not None:
        return values["format"]
    path = values["path"]
    if not path:
        return "synthetic"
    if not Path(path).exists():
        raise Failure(f"trace {path} does not exist")
    if Path(path).is_file() and _is_vmsched_table(Path(path)):
        return "table"
    raise Failure(f"give --format for --trace {path}: its format cannot be told from the "
                  f"file ({', '.join(f for f in FORMATS if f != 'synthetic')})")


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


def check_out_folder(out):
    """Refuse an output folder that cannot be written, before any work: it must be a folder
    or not exist yet, below a folder where files can be created (tried, nothing is left)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise Failure(f"--out {out} is a file, not a folder")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise Failure(f"--out {out}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise Failure(f"--out {out}: cannot write in {existing} ({error.strerror})") from None
    return path


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


#: Host-shape settings, which a format that brings its own fleet cannot take.
SHAPE_SETTINGS = {"hosts": "--hosts", "vcpus": "--vcpus", "memory_gib": "--memory-gib",
                  "disk_gib": "--disk-gib"}


def check_fleet_options(values):
    """A format that brings its own fleet takes overcommit settings (applied to its hosts)
    but refuses host-shape settings, which cannot apply."""
    from vmsched.workload.readers import FLEET_FORMATS

    if values["format"] not in FLEET_FORMATS:
        return
    shaped = [option for key, option in SHAPE_SETTINGS.items() if key in values["given"]]
    if shaped:
        raise Failure(f"--format {values['format']} brings its own fleet (its machines): "
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


def check_memory(values):
    """Apply --memory-limit, and refuse a synthetic run that cannot fit before generating it
    (a trace's run is checked by Simulation once the trace is read)."""
    from vmsched import limits

    if values["memory_limit"] is not None:
        os.environ["VMSCHED_MEMORY_LIMIT"] = str(int(values["memory_limit"] * 2**30))
    if values["format"] != "synthetic":
        return
    days = values["days"] or 7.0
    n_ticks = int(np.ceil(days * 86400.0 / values["tick_s"]))
    limits.check_fits(limits.simulation_bytes(values["vms"], n_ticks, values["hosts"] or 0,
                                              synthetic=True),
                      f"--vms {values['vms']:,} over {days:g} days ({n_ticks:,} ticks of "
                      f"{values['tick_s']:g} s)")


#: More ticks than this get a warning: the run is long, and a tick this fine is rarely meant.
MANY_TICKS = 1_000_000


def check_classes(workload):
    """The workload asks only for classes a uniform fleet has."""
    extra = {name: 0 for name in workload.resources if name not in ("VCPU", "MEMORY_MB",
                                                                    "DISK_GB")}
    if extra:
        raise Failure(f"the workload asks for {sorted(extra)}; give a fleet that has them "
                      f"(a trace with machines)")


def run_guarded(function):
    """Turn vmsched errors and bad values into one-line failures with exit status 2."""
    try:
        return function()
    except Failure:
        raise
    except (VmschedError, ValueError) as error:
        raise Failure(str(error).split("\n")[0]) from None
    except MemoryError as error:     # an estimate that fell short: still one line, status 2
        raise Failure(f"out of memory ({error}); make the run smaller, or see "
                      f"--memory-limit") from None


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__)
@click.version_option(package_name="vmsched")
def main():
    pass


@main.command()
@workload_options
@click.option("--cpu-model", default=None, help="fair_share or proportional.")
@click.option("--memory-model", default=None, help="esxi or none.")
@click.option("--tick", "tick_s", type=TYPES["tick_s"], default=None, help="Tick, seconds [default: 300].")
@click.option("--out", default=None, help="Output folder for Parquet and PNG "
                                          "[default: vmsched-out].")
@click.option("--no-plots", is_flag=True, help="Do not write PNG charts.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--consolidation", default=None,
              help="Run dynamic consolidation with this policy instead: npa, dvfs or "
                   "DETECTOR-SELECTOR[-PARAMETER], e.g. lr-mmt-1.2, thr-mmt-0.8, mad-mc "
                   "(detectors thr iqr mad lr lrr, selectors mmt mu mc rs).")
@click.option("--preset", default=None,
              help="Consolidation set-up: cloudsim-planetlab (CloudSim's 800 G4/G5 hosts and "
                   "VM types) [default: a uniform fleet from --hosts, --vcpus, --memory-gib].")
@click.option("--rules", default=None,
              help="Consolidation rules: cloudsim (CloudSim 3.0.3's, quirks included) or "
                   "vmsched (memory counts, VMs stay to the end) [default: cloudsim with "
                   "--preset cloudsim-planetlab, else vmsched].")
@click.option("--migration", default=None,
              help="Consolidation's migration model: cloudsim (memory over half the link) or "
                   "precopy (rounds of dirtied pages, shared links) [default: cloudsim].")
def simulate(no_plots, no_progress, **given):
    """Simulate a workload on a fleet and print the summary.

    With no options: 10,000 synthetic Azure-like VMs over 7 days, on the smallest fleet of
    64-pCPU, 256-GiB hosts (Nova's overcommit) that best fit places without rejection.

    With --consolidation: a day of PlanetLab-like traces (every VM from start to end) under
    dynamic consolidation, e.g. `vmsched simulate --format planetlab --trace 20110303
    --preset cloudsim-planetlab --consolidation lr-mmt-1.2`.
    """
    values = settings(given)
    if values["consolidation"] is not None:
        run_guarded(lambda: _consolidate(values, plots=not no_plots))
        return
    for option in ("preset", "rules", "migration"):
        if values[option] is not None:
            raise Failure(f"--{option} is for --consolidation runs; give --consolidation "
                          f"POLICY too")
    run_guarded(lambda: _simulate(values, plots=not no_plots, progress=not no_progress))


#: Settings a consolidation run does not use (it has no ticks, host models or placement
#: policy of its own: it places as the consolidation algorithm does).
NOT_FOR_CONSOLIDATION = {"tick_s": "--tick", "cpu_model": "--cpu-model",
                         "memory_model": "--memory-model", "policy": "--policy",
                         "days": "--days", "vms": "--vms", "cpu_readings": "--cpu-readings"}


def _consolidate(values, plots):
    from vmsched import Fleet
    from vmsched.simulation.consolidation import (MIGRATION_MODELS, RULES, SETUPS,
                                                  consolidate, parse_policy)

    policy = parse_policy(values["consolidation"])
    unused = [option for key, option in NOT_FOR_CONSOLIDATION.items() if key in values["given"]]
    if unused:
        raise Failure(f"{', '.join(unused)} cannot apply to a --consolidation run")
    if values["preset"] is not None and values["preset"] not in SETUPS:
        raise Failure(f"--preset {values['preset']} is unknown; known: {', '.join(SETUPS)}")
    if values["rules"] is not None and values["rules"] not in RULES:
        raise Failure(f"--rules {values['rules']} is unknown; known: {', '.join(RULES)}")
    if values["migration"] is not None and values["migration"] not in MIGRATION_MODELS:
        raise Failure(f"--migration {values['migration']} is unknown; known: "
                      f"{', '.join(MIGRATION_MODELS)}")
    values["format"] = resolve_format(values)
    if values["format"] == "synthetic":
        raise Failure("--consolidation needs a trace of per-VM CPU series (--format planetlab "
                      "--trace DAY_FOLDER)")
    fleet = None
    if values["preset"] is not None:
        shaped = [option for key, option in SHAPE_SETTINGS.items() if key in values["given"]]
        shaped += [option for key, option in (("overcommit", "--overcommit"),
                                              ("cpu_ratio", "--cpu-ratio"),
                                              ("ram_ratio", "--ram-ratio"))
                   if key in values["given"]]
        if shaped:
            raise Failure(f"--preset {values['preset']} brings its own fleet: "
                          f"{', '.join(shaped)} cannot apply")
    else:
        shape = host_shape(values)
        if values["hosts"] is None:
            raise Failure("a --consolidation run without --preset needs --hosts N")
    out = check_out_folder(values["out"])
    check_memory(values)
    workload, trace_fleet = load(values)
    if trace_fleet is not None:
        raise Failure(f"--format {values['format']} brings its own fleet; consolidation runs "
                      f"on --preset or --hosts")
    if values["preset"] is None:
        fleet = Fleet.uniform(values["hosts"], **shape)
    results = consolidate(workload, policy, preset=values["preset"], rules=values["rules"],
                          fleet=fleet, seed=values["seed"],
                          migration=values["migration"] or "cloudsim")
    summary = results.summary
    width = max(len(k) for k in summary.index)
    for key, value in summary.items():
        shown_value = (f"{value:,.5f}" if key in ("SLAV %", "ESV") else
                       f"{value:,.2f}" if isinstance(value, float) else f"{value}")
        click.echo(f"{key:<{width}}  {shown_value}")
    written = results.write(out, plots=plots)
    click.echo(f"\nwrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))


def _simulate(values, plots, progress):
    from vmsched import Fleet, HostModels, Placer
    from vmsched.placement.policy import resolve_policy
    from vmsched.simulation import Simulation
    from vmsched.simulation.sizing import find_min_hosts

    # Everything that can be checked is checked before any work.
    values["format"] = resolve_format(values)
    models = HostModels(cpu=values["cpu_model"], memory=values["memory_model"],
                        **values["memory_parameters"])
    resolve_policy(values["policy"])
    shape = host_shape(values)
    check_fleet_options(values)
    out = check_out_folder(values["out"])
    check_memory(values)
    workload, fleet = load(values)
    if fleet is not None:
        apply_overcommit(values, fleet)
    else:
        check_classes(workload)
        hosts = values["hosts"]
        if hosts is None:
            sizing = find_min_hosts(workload, policy=values["policy"], **shape)
            hosts = sizing.n_hosts
            click.echo(f"fleet sized by find_min_hosts: {hosts} hosts (lower bound "
                       f"{sizing.lower_bound}, {len(sizing.trials)} trials)", err=True)
        fleet = Fleet.uniform(hosts, **shape)
    duration = values["days"] * 86400.0 if values["days"] else None
    sim = Simulation(fleet, Placer(fleet, values["policy"], seed=values["seed"]), models,
                     workload, tick_s=values["tick_s"], duration_s=duration,
                     progress=_progress_bar if progress and sys.stderr.isatty() else None)
    if sim.n_ticks > MANY_TICKS:
        click.echo(f"vmsched: warning: {sim.n_ticks:,} ticks of {sim.tick_s:g} s: a long run "
                   f"(give a longer --tick for a shorter one)", err=True)
    if sim.tick_s > sim.duration_s:
        click.echo(f"vmsched: warning: the tick ({sim.tick_s:g} s) is longer than the run "
                   f"({sim.duration_s:g} s): one tick covers all of it", err=True)
    results = sim.run()
    summary = results.summary()
    click.echo(_table(summary))
    if summary["VM-ticks measured"] == 0:
        click.echo(f"vmsched: warning: nothing was measured: no VM was running at the start "
                   f"of any of the run's {sim.n_ticks:,} ticks of {sim.tick_s:g} s (give a "
                   f"shorter --tick or a longer --days)", err=True)
    click.echo(f"{'wall seconds (simulation)':<{max(len(k) for k in summary.index)}}  "
               f"{results.wall_s:.2f}")
    written = results.write(out, plots=plots)
    click.echo(f"\nwrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))


@main.command()
@workload_options
def size(**given):
    """The smallest fleet of one host shape that places a workload with no rejection."""
    values = settings(given)

    def answer():
        from vmsched.placement.policy import resolve_policy
        from vmsched.simulation.sizing import find_min_hosts

        if values["hosts"] is not None:
            raise Failure("vmsched size finds the number of hosts: --hosts does not apply "
                          "(give the host shape: --vcpus, --memory-gib, ...)")
        values["format"] = resolve_format(values)
        resolve_policy(values["policy"])
        shape = host_shape(values)
        check_memory(values)
        workload, fleet = load(values)
        if fleet is not None:
            raise Failure(f"{values['format']} brings its own fleet; size a host shape with "
                          f"a workload-only format")
        check_classes(workload)
        sizing = find_min_hosts(workload, policy=values["policy"], **shape)
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
