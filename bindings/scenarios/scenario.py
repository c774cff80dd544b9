"""A scenario: one run's settings, as a TOML scenario file holds them, checked on construction.

A scenario is tables of settings (`Scenario({"fleet": {"cpu_ratio": 4.0}})`, or
`Scenario.from_toml(path)`); a setting is named `table.key` (`fleet.cpu_ratio`). It is plain
data: picklable, comparable, with a stable digest (`Scenario.digest`). Unknown tables or keys, a
value of the wrong type and one setting given twice (`days` and `seed` may sit in [workload] or
[run], not in both) raise `vmsched.errors.ScenarioError` naming the setting and the value.
`vmsched.scenarios.run_scenario` turns a scenario into results; `vmsched simulate` runs one.
The tables and keys are TABLES' (memory model parameters also go in [host_models]); `vmsched
--help` shows them with examples.
"""

import copy
import hashlib
import json
import math
import tomllib
from pathlib import Path

from vmsched.errors import ScenarioError, shown

FORMATS = ("synthetic", "table", "azure-vmtable", "azure-packing", "azure-flavors", "planetlab",
           "bitbrains", "alibaba-openb")


# ------------------------------------------------------------ value checks

def whole(minimum):
    """A whole number >= minimum (a float or a bool is refused, not truncated; a string of
    digits only where the value is text, as a command line gives it: from_text=True)."""
    def check(value, from_text=False):
        if isinstance(value, str) and from_text:
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"{value} is not a whole number") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{shown(value)} is not a whole number")
        if value < minimum:
            raise ValueError(f"{value} is below {minimum}")
        return value
    check.kind = "integer"
    return check


def positive(value, from_text=False):
    """A finite real number above 0 (a string only where the value is text)."""
    if isinstance(value, bool) or (isinstance(value, str) and not from_text):
        raise ValueError(f"{shown(value)} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{shown(value)} is not a number") from None
    if not (math.isfinite(number) and number > 0):
        text = value if isinstance(value, str) else shown(value)
        raise ValueError(f"{text} is not a finite number above 0")
    return number


positive.kind = "number"


def text(value, from_text=False):
    """A string."""
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} is not a string")
    return value


text.kind = "text"


def one_of(*choices):
    """One of the given strings."""
    def check(value, from_text=False):
        if value not in choices:
            raise ValueError(f"{shown(value)} is not one of {', '.join(choices)}")
        return value
    check.kind = "choice"
    return check


def memory_parameter(value, from_text=False):
    """A memory model parameter: a real number (its range is the model's to check)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{shown(value)} is not a number")
    return float(value)


memory_parameter.kind = "number"

# ------------------------------------------------------------ the schema

#: Every setting: its flat name (what `Scenario.settings` returns), its check and its default.
SETTINGS = {
    "format": (one_of(*FORMATS), None), "path": (text, None), "cpu_readings": (text, None),
    "vms": (whole(1), 10_000), "days": (positive, None), "seed": (whole(0), 0),
    "hosts": (whole(1), None), "vcpus": (whole(1), 64), "memory_gib": (positive, 256.0),
    "disk_gib": (whole(0), 0), "overcommit": (text, "nova"), "cpu_ratio": (positive, None),
    "ram_ratio": (positive, None), "policy": (text, "best_fit"),
    "cpu_model": (text, "fair_share"), "memory_model": (text, "esxi"),
    "tick_s": (positive, 300.0), "out": (text, "vmsched-out"),
    "memory_limit": (positive, None), "consolidation": (text, None), "preset": (text, None),
    "rules": (text, None), "migration": (text, None),
}
#: table -> key in the file -> flat name.
TABLES = {
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
#: The settings that seed a run (a replicate r adds r to each).
SEED_SETTINGS = ("seed",)


def _memory_parameters():
    from vmsched.models.host_models import MEMORY_PARAMETERS

    return MEMORY_PARAMETERS


def known_keys():
    """Every `table.key` a scenario may set (memory parameters included)."""
    keys = [f"{table}.{key}" for table, fields in TABLES.items() for key in fields]
    return keys + [f"host_models.{name}" for name in _memory_parameters()]


def check_value(table, key, value):
    """The checked value of `table.key` (ScenarioError naming both when it is bad)."""
    if table not in TABLES:
        raise ScenarioError(f"unknown table [{table}]; known: {', '.join(TABLES)}")
    if key in TABLES[table]:
        check = SETTINGS[TABLES[table][key]][0]
    elif table == "host_models" and key in _memory_parameters():
        check = memory_parameter
    else:
        known = list(TABLES[table])
        if table == "host_models":
            known += list(_memory_parameters())
        raise ScenarioError(f"unknown key {shown(key)} in [{table}]; known: {', '.join(known)}")
    try:
        return check(value)
    except ValueError as error:
        raise ScenarioError(f"[{table}] {key} = {shown(value)}: {error}") from None


def split_key(name):
    """'table.key' -> (table, key)."""
    if not isinstance(name, str) or "." not in name:
        raise ScenarioError(f"a setting is named table.key (e.g. fleet.cpu_ratio), not "
                            f"{shown(name)}")
    table, key = name.split(".", 1)
    return table, key


# ------------------------------------------------------------ the scenario

class Scenario:
    """One run's settings: {table: {key: value}} as a scenario file has them (see the module
    doc), checked on construction. Immutable: `replace` and `replicate` return new ones."""

    def __init__(self, tables=None):
        if isinstance(tables, Scenario):
            tables = tables.tables
        if tables is None:
            tables = {}
        if not isinstance(tables, dict):
            raise ScenarioError(f"a scenario is a dict of tables, not {type(tables).__name__}")
        checked, given_in = {}, {}
        for table, fields in tables.items():
            if table not in TABLES:
                raise ScenarioError(f"unknown table [{table}]; known: {', '.join(TABLES)}")
            if not isinstance(fields, dict):
                raise ScenarioError(f"[{table}] is a table of settings, not {shown(fields)}")
            for key, value in fields.items():
                value = check_value(table, key, value)
                name = flat_name(table, key)
                if name in given_in:
                    raise ScenarioError(f"{key} is given in [{given_in[name]}] and in "
                                        f"[{table}]; give it once")
                given_in[name] = table
                checked.setdefault(table, {})[key] = value
        self._tables = checked

    @classmethod
    def from_toml(cls, path):
        """The scenario in a TOML file (ScenarioError naming the file when it is bad)."""
        document = read_toml(path)
        try:
            return cls(document)
        except ScenarioError as error:
            raise ScenarioError(f"scenario file {path}: {error}") from None

    @property
    def tables(self):
        """A copy of the settings, {table: {key: value}}."""
        return copy.deepcopy(self._tables)

    def get(self, name, default=None):
        """The value of `table.key` as given, or default."""
        table, key = split_key(name)
        return self._tables.get(table, {}).get(key, default)

    def replace(self, changes):
        """A scenario with these settings ({'table.key': value}) set; a setting that may sit
        in two tables (days, seed) is changed where this scenario has it."""
        tables = self.tables
        for name, value in changes.items():
            table, key = split_key(name)
            flat = TABLES.get(table, {}).get(key)
            for other, fields in tables.items():
                if flat is not None and other != table and TABLES[other].get(key) == flat \
                        and key in fields:
                    table = other
            tables.setdefault(table, {})[key] = value
        return Scenario(tables)

    def replicate(self, r):
        """This scenario with every seed increased by r (replicate r of a sweep)."""
        try:
            r = whole(0)(r)
        except ValueError as error:
            raise ScenarioError(f"replicate: {error}") from None
        changes = {}
        for table, fields in self._tables.items():
            for key, value in fields.items():
                if TABLES[table].get(key) in SEED_SETTINGS:
                    changes[f"{table}.{key}"] = value + r
        if not changes:
            changes["workload.seed"] = SETTINGS["seed"][1] + r
        return self.replace(changes)

    def settings(self):
        """Every setting by its flat name, defaults filled in, plus `memory_parameters`
        ({name: value}) and `given` (the flat names this scenario sets)."""
        values = {name: default for name, (_, default) in SETTINGS.items()}
        values["memory_parameters"] = {}
        given = set()
        for table, fields in self._tables.items():
            for key, value in fields.items():
                if key in TABLES[table]:
                    values[TABLES[table][key]] = value
                    given.add(TABLES[table][key])
                else:
                    values["memory_parameters"][key] = value
        values["given"] = given
        return values

    def digest(self):
        """A stable hex digest of the settings (the same scenario, the same digest)."""
        text = json.dumps(self._tables, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __eq__(self, other):
        return isinstance(other, Scenario) and self._tables == other._tables

    def __hash__(self):
        return hash(self.digest())

    def __repr__(self):
        return f"Scenario({self._tables!r})"


def read_toml(path, kind="scenario file"):
    """A TOML file as a dict (ScenarioError naming the file when it is missing or bad)."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{kind} {path} does not exist") from None
    except IsADirectoryError:
        raise ScenarioError(f"{kind} {path} is a folder") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{kind} {path}: {error}") from None


def flat_name(table, key):
    """The setting `table.key` names (days and seed have two names), for telling when one
    setting is given twice."""
    return TABLES.get(table, {}).get(key, f"memory:{key}")
