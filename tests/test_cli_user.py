"""What a new user runs into with the `vmsched` command, run as they run it: the installed
command in a subprocess. Each test names the defect it guards against; bad input gets one
line on stderr and exit status 2 before any work, and no option is silently ignored."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = ["--vms", "200", "--days", "0.2", "--no-progress"]


def vmsched_command():
    """The installed console script (beside this Python), else `python -m vmsched`."""
    script = Path(sys.executable).parent / "vmsched"
    if script.exists():
        return [str(script)]
    found = shutil.which("vmsched")
    return [found] if found else [sys.executable, "-m", "vmsched"]


def run(*args, cwd=None):
    return subprocess.run(vmsched_command() + [str(a) for a in args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def assert_one_line_error(result, *words):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmsched: error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# ---------------------------------------------------------------- usage errors (item 12)

@pytest.mark.parametrize("args, words", [
    (["--bogus"], ["--bogus", "vmsched simulate --help"]),
    (["--vms", "-5"], ["--vms", "-5", "--help"]),
    (["--vms", "ten"], ["--vms", "ten", "--help"]),
])
def test_usage_errors_are_one_line_with_a_hint_to_help(args, words):
    """Was: click's three lines (usage, hint, error)."""
    assert_one_line_error(run("simulate", *args), *words)


# ---------------------------------------------------------------- output folder (item 2)

def test_out_an_existing_file_fails_before_any_work(tmp_path):
    """Was: a traceback after the whole run (FileExistsError)."""
    target = tmp_path / "a-file"
    target.write_text("mine")
    started = time.perf_counter()
    result = run("simulate", *SMALL, "--out", target)
    assert_one_line_error(result, str(target), "is a file")
    assert "fleet sized" not in result.stderr     # refused before sizing the fleet
    assert target.read_text() == "mine"
    assert time.perf_counter() - started < 60


def test_out_below_a_file_fails_before_any_work(tmp_path):
    """Was: a traceback after the whole run (NotADirectoryError)."""
    target = tmp_path / "a-file"
    target.write_text("mine")
    result = run("simulate", *SMALL, "--out", target / "sub")
    assert_one_line_error(result, "is a file, not a folder")
    assert "fleet sized" not in result.stderr


def test_out_where_nothing_can_be_written_fails_before_any_work(tmp_path):
    """Was: a traceback after the whole run. /proc takes no new folders, even from root; an
    unwritable folder is tried too when the tests do not run as root."""
    targets = [Path("/proc/vmsched-out")] if Path("/proc/self").exists() else []
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        targets.append(locked / "out")
    if not targets:
        pytest.skip("no folder here refuses writes (no /proc, running as root)")
    for target in targets:
        result = run("simulate", *SMALL, "--out", target)
        assert_one_line_error(result, "cannot write")
        assert "fleet sized" not in result.stderr


# ---------------------------------------------------------------- validated first (item 3)

@pytest.mark.parametrize("args, words", [
    (["--cpu-model", "bogus"], ["cpu model", "bogus"]),
    (["--memory-model", "bogus"], ["memory model", "bogus"]),
    (["--policy", "nope"], ["policy", "nope"]),
    (["--overcommit", "lots"], ["lots"]),
    (["--tick", "0"], ["--tick", "0"]),
])
def test_bad_values_are_refused_before_the_fleet_is_sized(args, words):
    """Was: cpu_model and the like were checked only after find_min_hosts had run."""
    result = run("simulate", "--vms", "20000", "--no-progress", *args)
    assert_one_line_error(result, *words)
    assert "fleet sized" not in result.stderr


def test_bad_scenario_values_are_refused_before_any_work(tmp_path):
    scenario = tmp_path / "s.toml"
    for text, words in (('[workload]\nvms = "many"\n', ["vms", "many"]),
                        ('[workload]\nvms = 2.5\n', ["vms", "2.5"]),
                        ('[run]\ntick_s = -1\n', ["tick_s", "-1"]),
                        ('[host_models]\ncpu = "nope"\n', ["cpu model", "nope"])):
        scenario.write_text(text)
        result = run("simulate", "--scenario", scenario, "--no-progress")
        assert_one_line_error(result, *words)
        assert "fleet sized" not in result.stderr


# ---------------------------------------------------------------- options that did nothing

def test_trace_without_format_is_told_from_a_table_header(tmp_path):
    """Was: --trace without --format silently ran the synthetic workload."""
    result = run("simulate", "--trace", FIXTURES / "workload.csv", "--no-plots",
                 "--no-progress", "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert "workload.csv" in result.stdout and "synthetic" not in result.stdout


def test_trace_without_format_is_refused_when_the_file_does_not_say(tmp_path):
    """Was: --trace without --format silently ran the synthetic workload."""
    result = run("simulate", "--trace", FIXTURES / "azure_vmtable.csv", "--no-progress",
                 "--out", tmp_path / "o")
    assert_one_line_error(result, "--format", "azure_vmtable.csv")
    assert not (tmp_path / "o").exists()


def test_size_refuses_hosts():
    """Was: `vmsched size --hosts 5` printed a sizing as if --hosts meant nothing."""
    assert_one_line_error(run("size", *SMALL[:4], "--hosts", "5"), "--hosts")


def test_a_setting_given_twice_in_a_scenario_file_is_an_error(tmp_path):
    """Was: [workload] days and [run] days were one setting and the last one won."""
    scenario = tmp_path / "s.toml"
    scenario.write_text("[workload]\nvms = 100\ndays = 1\n[run]\ndays = 3\n")
    assert_one_line_error(run("simulate", "--scenario", scenario), "days", "[workload]",
                          "[run]")


def test_memory_parameters_promised_by_help_are_accepted_in_host_models(tmp_path):
    """Was: --help promised memory parameters in [host_models], which were then refused
    ("known: cpu, memory")."""
    assert "sharing" in run("--help").stdout
    scenario = tmp_path / "s.toml"
    scenario.write_text('[workload]\nvms = 200\ndays = 0.2\n[host_models]\nmemory = "esxi"\n'
                        'sharing = 0.1\nidle_tax = 0.5\n')
    result = run("simulate", "--scenario", scenario, "--no-plots", "--no-progress", "--out",
                 tmp_path / "o")
    assert result.returncode == 0, result.stderr
    scenario.write_text("[host_models]\nsharing = 2\n")
    assert_one_line_error(run("simulate", "--scenario", scenario), "sharing")
    scenario.write_text("[host_models]\nsharng = 0.1\n")
    assert_one_line_error(run("simulate", "--scenario", scenario), "sharng", "sharing")
