"""The `vmsched` command (click): `vmsched simulate` (also dynamic consolidation,
`--consolidation`), `vmsched size` and `vmsched sweep` (many scenarios on Dask).

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

import sys
import tempfile
import warnings
from pathlib import Path

import click
import numpy as np

from vmsched.errors import VmschedError
from vmsched.scenarios.scenario import FORMATS, SETTINGS, TABLES, Scenario

#: A flat setting's name in a scenario file (where a command-line option puts it).
FILE_KEY = {}
for _table, _fields in TABLES.items():
    for _key, _name in _fields.items():
        FILE_KEY.setdefault(_name, f"{_table}.{_key}")


class _Setting(click.ParamType):
    """An option checked as the scenario file's value for the same setting is."""

    def __init__(self, name):
        self.check = SETTINGS[name][0]
        self.name = self.check.kind

    def convert(self, value, param, ctx):
        try:
            return self.check(value, from_text=isinstance(value, str))
        except ValueError as error:
            self.fail(str(error), param, ctx)


TYPES = {name: _Setting(name) for name in SETTINGS}


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
    """The run's scenario: the scenario file's settings, then the command line's (which win)."""
    path = given.pop("scenario", None)
    scenario = Scenario.from_toml(path) if path else Scenario()
    renamed = {"format_": "format"}
    changes = {FILE_KEY[renamed.get(key, key)]: value for key, value in given.items()
               if value is not None}
    return scenario.replace(changes)


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


def run_guarded(function):
    """Turn vmsched errors and bad values into one-line failures with exit status 2."""
    try:
        return function()
    except Failure:
        raise
    except (VmschedError, ValueError) as error:    # ScenarioError among them
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
    run_guarded(lambda: _simulate(settings(given), plots=not no_plots,
                                  progress=not no_progress))


def _simulate(scenario, plots, progress):
    from vmsched.scenarios import Plan

    plan = Plan(scenario)         # everything that can be checked is checked before any work
    out = check_out_folder(plan.values["out"])
    shown = progress and sys.stderr.isatty()
    outcome = plan.run(progress=_progress_bar if shown else None,
                       sizing_progress=_sizing_bar if shown else None, echo=_note)
    if plan.consolidation:
        summary = outcome.summary()
        width = max(len(k) for k in summary.index)
        for key, value in summary.items():
            shown_value = (f"{value:,.5f}" if key in ("SLAV %", "ESV") else
                           f"{value:,.2f}" if isinstance(value, float) else f"{value}")
            click.echo(f"{key:<{width}}  {shown_value}")
    else:
        summary = outcome.results.summary()
        click.echo(_table(summary))
        click.echo(f"{'wall seconds (simulation)':<{max(len(k) for k in summary.index)}}  "
                   f"{outcome.results.wall_s:.2f}")
    written = outcome.results.write(out, plots=plots)
    click.echo(f"\nwrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))


def _note(message):
    """A run's note, on stderr (the sizing's answer is information, the rest warnings)."""
    prefix = "" if message.startswith("fleet sized") else "vmsched: warning: "
    click.echo(prefix + message, err=True)


@main.command()
@workload_options
@click.option("--replicates", type=TYPES["vms"], default=1,
              help="Size the workload of this many seeds (seed, seed + 1, ...) and report "
                   "p50, p95 and max hosts [default: 1].")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def size(replicates, no_progress, **given):
    """The smallest fleet of one host shape that places a workload with no rejection.

    One replay for first_fit and best_fit (on identical hosts a bigger fleet never changes
    their decisions); a doubling and bisecting search for the other policies. With
    --replicates N, the answer over N seeds: p50, p95 (the fewest hosts that suffice for 95 %
    of the seeds) and max.
    """
    def answer():
        from vmsched.scenarios import Plan
        from vmsched.scenarios.run import check_classes
        from vmsched.simulation.sizing import find_min_hosts

        scenario = settings(given)
        if scenario.get("fleet.hosts") is not None:
            raise Failure("vmsched size finds the number of hosts: --hosts does not apply "
                          "(give the host shape: --vcpus, --memory-gib, ...)")
        plans = [Plan(scenario.replicate(r)) for r in range(replicates)]
        if plans[0].consolidation:
            raise Failure("vmsched size sizes a fleet for placement; a --consolidation run "
                          "(a [consolidation] table) does not apply")
        if replicates > 1 and plans[0].values["format"] not in ("synthetic", "azure-flavors"):
            raise Failure(f"--replicates {replicates}: a {plans[0].values['format']} trace is "
                          f"the same for every seed (it applies to seeded workloads: "
                          f"synthetic, azure-flavors)")
        shown = not no_progress and sys.stderr.isatty()
        sizings = []
        for plan in plans:
            values = plan.values
            workload, fleet = plan.load()
            if fleet is not None:
                raise Failure(f"{values['format']} brings its own fleet; size a host shape "
                              f"with a workload-only format")
            check_classes(workload)
            label = (f"sizing seed {values['seed']}" if replicates > 1 else "sizing the fleet")
            bar = (lambda total, label=label: _progress_bar(total, label=label)) if shown \
                else None
            sizing = find_min_hosts(workload, policy=values["policy"], progress=bar,
                                    **plan.shape)
            sizings.append((values["seed"], sizing))
            if replicates > 1:
                click.echo(f"seed {values['seed']}: {sizing.n_hosts} hosts (lower bound "
                           f"{sizing.lower_bound})")
        values = plans[0].values
        shape = (f"hosts of {values['vcpus']} pCPUs, {values['memory_gib']:g} GiB "
                 f"({values['overcommit']})")
        if replicates == 1:
            sizing = sizings[0][1]
            click.echo(f"{sizing.n_hosts} {shape} place {len(workload)} VMs with "
                       f"{values['policy']}; lower bound from peak demand "
                       f"{sizing.lower_bound}; "
                       + (f"one replay on {max(sizing.trials)} hosts" if sizing.method ==
                          "one replay" else f"trials {sizing.trials}"))
            return
        hosts = np.array([s.n_hosts for _, s in sizings])
        p50, p95 = (int(np.percentile(hosts, q, method="inverted_cdf")) for q in (50, 95))
        click.echo(f"{shape} with {values['policy']}, over {replicates} seeds "
                   f"({sizings[0][0]}-{sizings[-1][0]}): p50 {p50}, p95 {p95}, max "
                   f"{hosts.max()} hosts")

    run_guarded(answer)


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, help="Sweep folder: per-scenario results (a rerun "
              "resumes), the merged tables summary/ticks/tenants/errors.parquet and plots.")
@click.option("--scheduler", default=None,
              help="A Dask scheduler's address (tcp://HOST:PORT) [default: a LocalCluster on "
                   "this machine].")
@click.option("--workers", type=TYPES["vms"], default=None,
              help="LocalCluster worker processes [default: one per core].")
@click.option("--no-plots", is_flag=True, help="Do not write PNG plots.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def sweep(sweep_file, out, scheduler, workers, no_plots, no_progress):
    """Run a sweep: a scenario file's tables plus [sweep] (replicates, plots, against) and
    [sweep.axes] ("table.key" = [values], e.g. "fleet.cpu_ratio" = [1, 2, 4, 8]), every
    combination of the axes times each replicate (seed + r), on Dask.

    The whole file is checked before anything runs. A failed scenario is recorded (exit
    status 1) while the others go on; rerunning into the same --out runs only what is not
    finished.
    """
    def answer():
        from vmsched.scenarios import Sweep

        if scheduler is not None and workers is not None:
            raise Failure("--workers sizes the LocalCluster; a --scheduler's cluster has its own")
        plan = Sweep.from_toml(sweep_file)
        check_out_folder(out)
        results = plan.run(scheduler, out=out, workers=workers, plots=not no_plots,
                           progress=not no_progress and sys.stderr.isatty())
        click.echo(_sweep_table(results))
        timing = results.timing
        click.echo(f"\n{len(plan.points)} scenarios: {timing['scenarios run']} run"
                   + (f", {timing['scenarios already finished']} already finished"
                      if timing.get("scenarios already finished") else "")
                   + f", {len(results.errors)} failed; {timing['wall s']:.1f} s"
                   + (f" (cluster start {timing['cluster start s']:.1f} s)"
                      if "cluster start s" in timing else ""))
        plots = sorted(path.name for path in Path(out).glob("*.png")) if not no_plots else []
        click.echo(f"wrote {out}/: summary, ticks, tenants, errors (.parquet)"
                   + (f", {', '.join(plots)}" if plots else ""))
        for _, row in results.errors.iterrows():
            first = row["error"].splitlines()[0]
            click.echo(f"vmsched: scenario {row['scenario']} failed: {first}", err=True)
        if len(results.errors):
            sys.exit(1)

    run_guarded(answer)


def _sweep_table(results):
    """p50, p95 and max over replicates of the plotted figures (those with numbers), per
    swept combination."""
    import pandas as pd

    summary = results.summary
    axes = list(results.sweep.axes)
    metrics = [m for m in results.sweep.plots if m in summary
               and pd.api.types.is_numeric_dtype(summary[m])]
    if not len(summary) or not metrics:
        return "no scenario finished"
    if not axes:
        grouped = [((), summary)]
    else:
        grouped = summary.groupby(axes, sort=False)
    lines = []
    header = [*(a.split(".")[-1] for a in axes), "runs",
              *(f"{m}: p50 / p95 / max" for m in metrics)]
    rows = []
    for key, group in grouped:
        key = key if isinstance(key, tuple) else (key,)
        cells = [str(k) for k in key] + [str(len(group))]
        for m in metrics:
            v = group[m].to_numpy(dtype=float)
            cells.append(" / ".join(_short(x) for x in (np.percentile(v, 50),
                                                         np.percentile(v, 95), v.max())))
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _short(value):
    return f"{value:g}" if abs(value) >= 1 or value == 0 else f"{value:.4f}"


class _progress_bar:
    """A bar on stderr: progress(total=, initial=) as Simulation and find_min_hosts call it."""

    def __init__(self, total, initial=0, label="simulating"):
        self.bar = click.progressbar(length=total, label=label, file=sys.stderr)
        self.bar.__enter__()
        if initial:
            self.bar.update(initial)

    def update(self, n):
        self.bar.update(n)

    def close(self):
        self.bar.__exit__(None, None, None)


def _sizing_bar(total):
    return _progress_bar(total, label="sizing the fleet")


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
