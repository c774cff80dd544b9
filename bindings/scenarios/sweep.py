"""A sweep: one scenario, axes of values for any of its settings and replicates, run on Dask.

`Sweep(scenario, axes={"fleet.cpu_ratio": [1, 2, 4, 8], "placement.policy": ["first_fit",
"best_fit"]}, replicates=4)` is the cartesian product of the axes (in the order given, the
last varying fastest), each point run `replicates` times: replicate r adds r to every seed of
the scenario. Every point is checked (`Plan`) before anything runs: unknown settings, bad
values, a setting both set in the scenario and swept are errors (ScenarioError).

`Sweep.run(client=None, out=None)` runs the points on a Dask cluster: a LocalCluster sized to
this machine by default (`vmsched.scenarios.cluster`), or the given `distributed.Client` or
scheduler address. Before anything is submitted, every worker must run this vmsched version
(else SweepError) and read the sweep's trace files (else ScenarioError naming the worker).
Short scenarios are batched into one task. Results come back as one table per kind
(`summary`, `ticks`, `tenants`), keyed by `scenario` (the point's number), the swept settings
(columns named `table.key`) and `replicate`, in point order whatever the order of completion:
the same sweep gives the same tables, bit for bit, as the same scenarios run in this process
(`Sweep.run_in_process`). A failed scenario is recorded in `errors` while the others go on.
With `out`, every finished scenario's tables are written there as it finishes
(`scenarios/NNNNN-DIGEST/`), so a rerun into the same folder runs only what is not finished;
the merged tables and the plots are written at the end.
"""

import errno
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vmsched.errors import ScenarioError, SweepError, VmschedError
from vmsched.scenarios.run import Plan, WorkloadCache
from vmsched.scenarios.scenario import (Scenario, check_value, flat_name, read_toml,
                                        split_key, whole)

#: The summary figures plotted by default, when a sweep's summary has them.
DEFAULT_PLOTS = ("hosts in fleet", "CPU ready p99 (fraction of demand)")
#: Scenarios estimated below this many VM-days are batched, up to this many per task.
SHORT_VM_DAYS = 20_000
TASKS_PER_WORKER = 4
KINDS = ("summary", "ticks", "tenants")
#: Settings a sweep cannot take (it writes its own folder).
NOT_FOR_SWEEPS = {"run.out": "the sweep writes into its own folder (give out= or --out DIR)"}


@dataclass(frozen=True)
class Point:
    """One scenario of a sweep: its number, the swept values, the replicate, the scenario."""

    index: int
    values: dict
    replicate: int
    scenario: Scenario

    @property
    def name(self):
        """Its folder's name in a sweep folder: number and the scenario's digest."""
        return f"{self.index:05d}-{self.scenario.digest()}"


class Sweep:
    """scenario: a Scenario (or its tables); axes: {'table.key': [values]}; replicates: runs
    of each point, seeds + 0, 1, ...; plots: summary figures to plot against `against` (a
    swept setting; default: the first with numbers)."""

    def __init__(self, scenario, axes=None, replicates=1, *, plots=None, against=None):
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario(scenario)
        try:
            self.replicates = whole(1)(replicates)
        except ValueError as error:
            raise ScenarioError(f"replicates: {error}") from None
        self.axes = _checked_axes(axes or {}, self.scenario)
        seeds = [name for name in self.axes if split_key(name)[1] == "seed"]
        if seeds and self.replicates > 1:
            raise ScenarioError(f"{seeds[0]} is swept and replicates = {self.replicates} also "
                                f"sets the seed: use one of them")
        for name, reason in NOT_FOR_SWEEPS.items():
            if self.scenario.get(name) is not None or name in self.axes:
                raise ScenarioError(f"{name} does not apply to a sweep: {reason}")
        self.points = self._expand()
        self.plots = tuple(DEFAULT_PLOTS if plots is None else plots)
        if isinstance(plots, str) or not all(isinstance(p, str) for p in self.plots):
            raise ScenarioError(f"plots: a list of summary figures' names, not {plots!r}")
        numeric = [name for name, values in self.axes.items()
                   if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v in values)]
        self.against = against if against is not None else (
            numeric[0] if numeric else next(iter(self.axes), None))
        if self.against is not None and self.against not in self.axes:
            raise ScenarioError(f"plots against {self.against}, which is not swept (axes: "
                                f"{', '.join(self.axes) or 'none'})")

    @classmethod
    def from_toml(cls, path):
        """A sweep file: a scenario file's tables plus [sweep] (replicates, plots, against)
        and [sweep.axes] ("table.key" = [values], or [sweep.axes.table] key = [values])."""
        document = read_toml(path, "sweep file")
        try:
            return cls.from_dict(document)
        except ScenarioError as error:
            raise ScenarioError(f"sweep file {path}: {error}") from None

    @classmethod
    def from_dict(cls, document):
        """A sweep from a sweep file's tables (see from_toml)."""
        document = dict(document)
        spec = document.pop("sweep", None)
        if not isinstance(spec, dict):
            raise ScenarioError("a sweep needs a [sweep] table with its [sweep.axes] and "
                                "replicates")
        spec = dict(spec)
        axes = _flatten(spec.pop("axes", {}))
        options = {key: spec.pop(key) for key in ("replicates", "plots", "against")
                   if key in spec}
        if spec:
            raise ScenarioError(f"unknown key {sorted(spec)[0]!r} in [sweep]; known: axes, "
                                f"replicates, plots, against")
        return cls(Scenario(document), axes, **options)

    def _expand(self):
        names = list(self.axes)
        points = []
        combos = list(itertools.product(*(self.axes[name] for name in names)))
        for replicate in range(self.replicates):
            for combo in combos:
                values = dict(zip(names, combo))
                scenario = self.scenario.replace(values).replicate(replicate)
                try:
                    Plan(scenario, check_files=False)
                except (VmschedError, ValueError) as error:    # ScenarioError among them
                    where = ", ".join(f"{k} = {v!r}" for k, v in values.items()) or "the scenario"
                    raise ScenarioError(f"{where}: {error}") from None
                points.append(Point(len(points), values, replicate, scenario))
        return points

    def description(self):
        """The sweep as plain data (written as sweep.json into its folder), with the vmsched
        version that runs it."""
        from vmsched.scenarios import worker

        return {"scenario": self.scenario.tables, "axes": self.axes,
                "replicates": self.replicates, "vmsched": worker.version()}

    # ------------------------------------------------------------ running

    def run(self, client=None, *, out=None, workers=None, progress=None, plots=True,
            connect_timeout_s=10.0):
        """Run every point not already finished in `out`; returns SweepResults. client: a
        distributed.Client, a scheduler address ('tcp://host:port'), or None for a
        LocalCluster of `workers` processes (default: one per core). progress: a bar over
        scenarios (default: when stderr is a terminal); plots: write the plots into out;
        connect_timeout_s: how long to try reaching a scheduler address."""
        if workers is not None and client is not None:
            raise ScenarioError("workers= sizes a LocalCluster; a given cluster has its own")
        if workers is not None:
            try:
                workers = whole(1)(workers)
            except ValueError as error:
                raise ScenarioError(f"workers: {error}") from None
        from vmsched.scenarios import worker

        started = time.perf_counter()
        store = _Store(out, self, plots)
        todo = [p for p in self.points if not store.finished(p)]
        timing = {"scenarios run": len(todo), "scenarios already finished":
                  len(self.points) - len(todo)}
        try:
            if todo:
                with _connected(client, workers, connect_timeout_s) as (dask_client, kernel_threads, local):
                    timing["cluster start s"] = time.perf_counter() - started
                    self._check_workers(dask_client)
                    if not local:  # a LocalCluster's workers forked with their kernels loaded
                        dask_client.run(worker.warm)
                    store.open()
                    compute = self._submit(dask_client, todo, kernel_threads, store, progress)
                timing["compute s"] = compute
            store.open()
            timing["wall s"] = time.perf_counter() - started
            return store.results(timing)
        finally:
            store.close()

    def run_in_process(self, *, out=None, kernel_threads=None, progress=None, plots=True):
        """The same points one after another in this process (kernel_threads: Numba threads
        per scenario, default as they are); the same tables as `run`."""
        from vmsched.engine.jit import using_threads
        from vmsched.scenarios import worker

        started = time.perf_counter()
        store = _Store(out, self, plots)
        todo = [p for p in self.points if not store.finished(p)]
        bar = _bar(len(todo), progress)
        compute = 0.0
        workloads = WorkloadCache()          # as a fresh worker's: each workload built once
        try:
            store.open()
            with using_threads(kernel_threads):
                for point in todo:
                    (outcome,) = worker.run_batch([(point.index, point.scenario.tables)],
                                                  worker.version(), kernel_threads, workloads)
                    compute += outcome[3]
                    store.record(point, outcome)
                    bar.update(1)
            bar.close()
            return store.results({"scenarios run": len(todo), "compute s": compute,
                                  "wall s": time.perf_counter() - started})
        finally:
            store.close()

    def _check_workers(self, client):
        from vmsched.scenarios import worker

        mine = worker.version()
        try:
            versions = client.run(worker.version)
        except Exception as error:       # e.g. a worker whose vmsched has no vmsched.scenarios
            raise SweepError(f"cannot ask the workers for their vmsched version ({error}); "
                             f"install vmsched {mine} on every worker") from None
        other = {address: v for address, v in versions.items() if v != mine}
        if other:
            raise SweepError(f"workers with another vmsched version than this one ({mine}): "
                             + ", ".join(f"{a} ({v})" for a, v in sorted(other.items()))
                             + "; install the same version on every worker")
        paths = sorted({p for point in self.points for p in _files(point.scenario)})
        if paths:
            for address, missing in client.run(worker.missing_paths, paths).items():
                if missing:
                    raise ScenarioError(f"worker {address} cannot read {missing[0]}: trace "
                                        f"files must be readable where the workers run")

    def _submit(self, client, todo, kernel_threads, store, progress):
        from distributed import as_completed

        from vmsched.scenarios import worker

        tasks = batches(todo, max(1, len(client.scheduler_info()["workers"])))
        by_index = {p.index: p for p in todo}
        futures = {client.submit(worker.run_batch, [(p.index, p.scenario.tables)
                                                    for p in batch],
                                 worker.version(), kernel_threads, pure=False): batch
                   for batch in tasks}
        bar = _bar(len(todo), progress)
        compute = 0.0
        try:
            for future in as_completed(futures):
                batch = futures[future]
                try:
                    outcomes = future.result()
                except SweepError:
                    raise
                except Exception as error:   # the task itself failed (e.g. a worker died)
                    outcomes = [(p.index, None, f"{type(error).__name__}: {error}", 0.0)
                                for p in batch]
                for outcome in outcomes:
                    compute += outcome[3]
                    store.record(by_index[outcome[0]], outcome)
                del futures[future]       # its tables leave the worker's memory
                future.release()
                bar.update(len(batch))
        finally:
            bar.close()
            for future in futures:
                future.cancel()
        return compute


# ------------------------------------------------------------ results

class SweepResults:
    """A sweep's tables: `summary`, `ticks`, `tenants` (keyed by scenario, the swept settings
    and replicate) and `errors` (scenario, the swept settings, replicate, error); `timing`
    ({'wall s', 'compute s', 'cluster start s', ...}); `plot` and `write`."""

    def __init__(self, sweep, tables, errors, timing):
        self.sweep = sweep
        self.summary = tables["summary"]
        self.ticks = tables["ticks"]
        self.tenants = tables["tenants"]
        self.errors = errors
        self.timing = timing

    def tables(self):
        return {"summary": self.summary, "ticks": self.ticks, "tenants": self.tenants,
                "errors": self.errors}

    def write(self, folder, plots=True):
        """The merged tables as Parquet (and the plots as PNG) into folder; returns paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in self.tables().items():
            path = folder / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            paths.append(path)
        if plots:
            paths += self.plot(folder)
        return paths

    def plot(self, folder, metrics=None, against=None):
        """For each summary figure in metrics (default: the sweep's plots that its summary
        has), a PNG of it against a swept setting: the median over replicates as a line per
        combination of the other swept settings, the p5-p95 band shaded. Returns the paths."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        against = against or self.sweep.against
        metrics = [m for m in (metrics or self.sweep.plots) if m in self.summary
                   and pd.api.types.is_numeric_dtype(self.summary[m])]
        if against is None or not len(self.summary):
            return []
        others = [name for name in self.sweep.axes if name != against]
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for metric in metrics:
            figure, axes = plt.subplots(figsize=(7, 4.2))
            groups = self.summary.groupby(others, sort=False) if others else [((), self.summary)]
            for key, group in groups:
                stats = group.groupby(against)[metric].agg(
                    p5=lambda v: np.percentile(v, 5), p50="median",
                    p95=lambda v: np.percentile(v, 95)).sort_index()
                label = ", ".join(f"{n.split('.')[-1]} {v}" for n, v in
                                  zip(others, key if isinstance(key, tuple) else (key,)))
                line, = axes.plot(stats.index, stats["p50"], marker="o", label=label or None)
                axes.fill_between(stats.index, stats["p5"], stats["p95"], alpha=0.2,
                                  color=line.get_color())
            axes.set_xlabel(against)
            axes.set_ylabel(metric)
            replicates = self.sweep.replicates
            axes.set_title(f"{metric} against {against}\nmedian and p5-p95 over {replicates} "
                           f"replicate{'s' if replicates > 1 else ''}", fontsize=10)
            if isinstance(self.summary[against].iloc[0], (int, float, np.number)) and \
                    len(set(self.summary[against])) > 2 and min(self.summary[against]) > 0 and \
                    max(self.summary[against]) / min(self.summary[against]) >= 8:
                axes.set_xscale("log", base=2)
            if others:
                axes.legend(fontsize=8)
            axes.grid(alpha=0.3)
            figure.tight_layout()
            path = folder / f"{_slug(metric)}_vs_{_slug(against)}.png"
            figure.savefig(path, dpi=110)
            plt.close(figure)
            paths.append(path)
        return paths


class _Store:
    """Where a sweep's outcomes go: memory, and with a folder, `scenarios/NAME/KIND.parquet`
    per finished scenario (written into a staging folder, then renamed: a folder there is a
    finished scenario) and `errors/NAME.txt` per failed one."""

    def __init__(self, out, sweep, plots=True):
        self.sweep = sweep
        self.plots = plots
        self.folder = Path(out) if out is not None else None
        self.done = {}
        self.failed = {}
        self.lock = None
        if self.folder is None:
            return
        if self.folder.exists() and not self.folder.is_dir():
            raise ScenarioError(f"--out {self.folder} is a file, not a folder")
        self.description = json.loads(json.dumps(sweep.description()))
        marker = self.folder / "sweep.json"
        if marker.exists():
            held = json.loads(marker.read_text())
            if held.get("vmsched") != self.description["vmsched"] and \
                    {k: v for k, v in held.items() if k != "vmsched"} == \
                    {k: v for k, v in self.description.items() if k != "vmsched"}:
                raise ScenarioError(f"{self.folder} holds this sweep's results from vmsched "
                                    f"{held.get('vmsched')}, not {self.description['vmsched']}; "
                                    f"give another folder")
            if held != self.description:
                raise ScenarioError(f"{self.folder} holds another sweep's results (its "
                                    f"sweep.json differs); give another folder")

    def open(self):
        """Create the folder, its sweep.json (atomically) and take its lock: one sweep at a
        time writes a folder (SweepError when another holds it)."""
        if self.folder is None or self.lock is not None:
            return
        for sub in ("scenarios", "errors"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        marker = self.folder / "sweep.json"
        if not marker.exists():
            staging = self.folder / ".sweep.json.partial"
            staging.write_text(json.dumps(self.description, indent=1))
            os.replace(staging, marker)
        self.lock = open(self.folder / ".lock", "w")
        try:
            import fcntl

            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:            # no advisory locks here: nothing to take
            pass
        except OSError:
            self.lock.close()
            self.lock = None
            raise SweepError(f"another sweep is writing {self.folder}; wait for it or give "
                             f"another folder") from None

    def close(self):
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def finished(self, point):
        return self.folder is not None and (self.folder / "scenarios" / point.name).is_dir()

    def record(self, point, outcome):
        _, tables, error, seconds = outcome
        if tables is None:
            self.failed[point.index] = error
            if self.folder is not None:
                (self.folder / "errors" / f"{point.name}.txt").write_text(error)
            return
        self.failed.pop(point.index, None)
        if self.folder is None:
            self.done[point.index] = tables
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{point.name}.", dir=self.folder / "scenarios"))
        try:
            for kind, frame in tables.items():
                frame.to_parquet(staging / f"{kind}.parquet", index=False)
            try:
                os.replace(staging, self.folder / "scenarios" / point.name)
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise             # else: already finished (the same scenario, the same tables)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (self.folder / "errors" / f"{point.name}.txt").unlink(missing_ok=True)

    def _tables_of(self, point):
        if point.index in self.done:
            return self.done[point.index]
        if self.finished(point):
            folder = self.folder / "scenarios" / point.name
            return {kind: pd.read_parquet(folder / f"{kind}.parquet") for kind in KINDS}
        return None

    def results(self, timing):
        sweep = self.sweep
        merged = {kind: [] for kind in KINDS}
        errors = []
        for point in sweep.points:
            tables = self._tables_of(point)
            if tables is None:
                error = self.failed.get(point.index)
                if error is None and self.folder is not None:
                    path = self.folder / "errors" / f"{point.name}.txt"
                    error = path.read_text() if path.exists() else None
                if error is not None:
                    errors.append({"scenario": point.index, **point.values,
                                   "replicate": point.replicate, "error": error})
                continue
            for kind in KINDS:
                merged[kind].append(_keyed(point, tables[kind], kind))
        keys = ["scenario", *sweep.axes, "replicate"]
        frames = {kind: (pd.concat(parts, ignore_index=True) if parts else
                         pd.DataFrame(columns=keys))
                  for kind, parts in merged.items()}
        results = SweepResults(sweep, frames, pd.DataFrame(errors, columns=[*keys, "error"]),
                               timing)
        if self.folder is not None:
            results.write(self.folder, plots=self.plots)
        return results


# ------------------------------------------------------------ helpers

def _checked_axes(axes, scenario):
    if not isinstance(axes, dict):
        raise ScenarioError(f"axes are a dict of 'table.key': [values], not "
                            f"{type(axes).__name__}")
    checked, swept = {}, {}
    given = {flat_name(t, k): f"{t}.{k}" for t, fields in scenario.tables.items() for k in fields}
    for name, values in axes.items():
        table, key = split_key(name)
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise ScenarioError(f"axis {name}: a list of values, not {values!r}")
        values = [check_value(table, key, value) for value in values]
        if not values:
            raise ScenarioError(f"axis {name} has no values")
        if len({repr(v) for v in values}) < len(values):
            raise ScenarioError(f"axis {name} repeats a value: {values!r}")
        flat = flat_name(table, key)
        if flat in given:
            raise ScenarioError(f"{name} is set in the scenario ({given[flat]} = "
                                f"{scenario.get(given[flat])!r}) and swept; give it once")
        if flat in swept:
            raise ScenarioError(f"{swept[flat]} and {name} are one setting; sweep it once")
        swept[flat] = name
        checked[name] = values
    return checked


def _flatten(axes, prefix=""):
    if not isinstance(axes, dict):
        raise ScenarioError(f"[sweep.axes] is a table of 'table.key' = [values], not {axes!r}")
    flat = {}
    for key, value in axes.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _files(scenario):
    values = scenario.settings()
    return [values[name] for name in ("path", "cpu_readings") if values[name]]


def _estimated_vm_days(scenario):
    values = scenario.settings()
    if values["format"] in (None, "synthetic") and not values["path"]:
        return values["vms"] * (values["days"] or 7.0)
    return math.inf          # a trace: not batched


def batches(points, workers=1):
    """Long scenarios one per task; short ones (estimated below SHORT_VM_DAYS VM-days)
    together, up to SHORT_VM_DAYS per task, and at most so many that every worker still
    gets about TASKS_PER_WORKER tasks."""
    most = max(1, math.ceil(len(points) / (TASKS_PER_WORKER * workers)))
    found, current, budget = [], [], 0.0
    for point in points:
        cost = _estimated_vm_days(point.scenario)
        if cost >= SHORT_VM_DAYS:
            found.append([point])
            continue
        if current and (budget + cost > SHORT_VM_DAYS or len(current) == most):
            found.append(current)
            current, budget = [], 0.0
        current.append(point)
        budget += cost
    if current:
        found.append(current)
    return found


def _keyed(point, frame, kind):
    frame = frame.copy()
    keys = {"scenario": point.index, **point.values, "replicate": point.replicate}
    for position, (name, value) in enumerate(keys.items()):
        frame.insert(position, name, [value] * len(frame))
    if kind == "ticks" and "tick" not in frame:
        frame.insert(len(keys), "tick", np.arange(len(frame), dtype=np.int64))
    return frame


def _slug(text):
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _bar(total, progress):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="scenario", desc="sweep", file=sys.stderr)


class _connected:
    """(client, kernel threads, whether it is our LocalCluster) for a run: a new LocalCluster's,
    a client of the given scheduler address, or the given client."""

    def __init__(self, client, workers, timeout_s=10.0):
        self.client, self.workers, self.timeout_s = client, workers, timeout_s
        self.stack = None

    def __enter__(self):
        import contextlib

        from vmsched.scenarios.cluster import local_cluster

        self.stack = contextlib.ExitStack()
        if self.client is None:
            return (*self.stack.enter_context(local_cluster(self.workers)), True)
        if isinstance(self.client, str):
            from distributed import Client

            try:
                client = self.stack.enter_context(Client(self.client, timeout=self.timeout_s))
            except (OSError, TimeoutError) as error:
                raise SweepError(f"cannot reach the Dask scheduler at {self.client}: "
                                 f"{error}") from None
            return client, 1, False
        return self.client, 1, False

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)
