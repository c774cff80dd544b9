"""What a new user runs into with the `vmsched` command, run as they run it: the installed
command in a subprocess. Each test names the defect it guards against; bad input gets one
line on stderr and exit status 2 before any work, and no option is silently ignored."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli
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


@pytest.mark.skipif(not Path("/proc/self").exists() and not (hasattr(os, "geteuid")
                                                            and os.geteuid() != 0),
                    reason="no folder here refuses writes (no /proc, running as root)")
def test_out_where_nothing_can_be_written_fails_before_any_work(tmp_path):
    """Was: a traceback after the whole run. /proc takes no new folders, even from root; an
    unwritable folder is tried too when the tests do not run as root."""
    targets = [Path("/proc/vmsched-out")] if Path("/proc/self").exists() else []
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        targets.append(locked / "out")
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
    (["--memory-limit", "abc"], ["--memory-limit", "abc"]),
    (["--cpu-ratio", "nan"], ["--cpu-ratio", "nan"]),
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
                        ('[run]\ntick_s = "x"\n', ["tick_s", "'x'", "not a number"]),
                        ('[run]\nmemory_limit_gib = "x"\n', ["memory_limit_gib"]),
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


# ---------------------------------------------------------------- outcomes and output

def _summary_lines(stdout):
    lines = {}
    for line in stdout.splitlines():
        parts = line.rsplit("  ", 1)
        if len(parts) == 2:
            lines[parts[0].strip()] = parts[1].strip()
    return lines


def test_every_vm_has_an_outcome_line(tmp_path):
    """Was: VMs arriving after the last tick stayed "pending" without a line of their own
    (100,000 VMs, 99,823 placed, 0 rejected)."""
    result = run("simulate", "--vms", "3000", "--days", "2", "--tick", "3600", "--no-plots",
                 "--no-progress", "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    lines = _summary_lines(result.stdout)
    outcomes = [f"VMs {name} at the end" for name in
                ("pending", "running", "done", "rejected", "migrating", "lost")]
    assert all(name in lines for name in outcomes)
    number = lambda text: int(text.replace(",", ""))  # noqa: E731
    assert sum(number(lines[name]) for name in outcomes) == number(lines["VMs"]) == 3000


@pytest.mark.parametrize("args", [["--vms", "50", "--days", "0.001"],
                                  ["--vms", "50", "--tick", "1e9"]])
def test_a_run_that_measures_nothing_says_so(tmp_path, args):
    """Was: runs that measure nothing exited 0 without a word."""
    result = run("simulate", *args, "--no-plots", "--no-progress", "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert "vmsched: warning: nothing was measured" in result.stderr
    assert _summary_lines(result.stdout)["VM-ticks measured"] == "0"


def test_memory_states_are_not_reported_without_reclamation(tmp_path):
    """Was: with --memory-model none the summary still reported host-ticks in "low"."""
    result = run("simulate", "--vms", "2000", "--days", "1", "--hosts", "3", "--memory-model",
                 "none", "--no-plots", "--no-progress", "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert "memory state" not in result.stdout
    with_esxi = run("simulate", "--vms", "2000", "--days", "1", "--hosts", "3", "--no-plots",
                    "--no-progress", "--out", tmp_path / "e")
    assert "host-ticks in memory state low" in with_esxi.stdout


def test_every_real_figure_in_the_summary_names_its_unit(tmp_path):
    """Was: figures such as "CPU ready max" printed without a unit."""
    result = run("simulate", *SMALL, "--no-plots", "--out", tmp_path / "o")
    units = ("hours", "days", "fraction", "seconds", ", mean", "overcommit", "GiB", "MiB", "kWh",
             "ticks")
    for label, value in _summary_lines(result.stdout).items():
        if "." in value and not label.startswith(("workload", "host models")):
            assert any(unit in label for unit in units), label


def test_summary_parquet_keeps_numbers_numeric(tmp_path):
    """Was: summary.parquet stored every value as a string."""
    import pandas as pd

    result = run("simulate", *SMALL, "--no-plots", "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    summary = pd.read_parquet(tmp_path / "o" / "summary.parquet")
    assert len(summary) == 1
    assert summary["VMs"].dtype.kind == "i" and summary["VMs"].iloc[0] == 200
    assert summary["hosts in use, mean"].dtype.kind == "f"
    assert summary["CPU used core-hours"].dtype.kind == "f"
    assert summary["policy"].iloc[0] == "best_fit"


def test_a_rerun_replaces_vmscheds_own_files_and_leaves_others(tmp_path):
    """Was: a rerun with --no-plots into an old folder left the old PNGs beside the new
    tables."""
    from vmsched.simulation.results import OWN_FILES

    out = tmp_path / "o"
    assert run("simulate", *SMALL, "--out", out).returncode == 0
    assert (out / "memory_state.png").exists()
    (out / "my-notes.txt").write_text("mine")
    result = run("simulate", *SMALL, "--seed", "3", "--no-plots", "--out", out)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert not any(name.endswith(".png") for name in names)
    assert names == {name for name in OWN_FILES if name.endswith(".parquet")} | {"my-notes.txt"}
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def interrupt(process, tries=12):
    """Send SIGINT until the process ends (again if it came while a library swallowed it);
    its stderr. Killed after `tries` tries of 10 s."""
    for _ in range(tries):
        process.send_signal(signal.SIGINT)
        try:
            return process.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    return process.communicate()[1]


def test_an_interrupted_run_leaves_the_folder_as_it_was(tmp_path):
    """Was: Ctrl-C or a crash could leave an empty folder, or Parquet without PNGs."""
    new, old = tmp_path / "new", tmp_path / "old"
    assert run("simulate", *SMALL, "--no-plots", "--out", old).returncode == 0
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    for out in (new, old):
        process = subprocess.Popen(
            vmsched_command() + ["simulate", "--vms", "3000000", "--days", "90", "--hosts",
                                 "6000", "--no-progress", "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)                     # well inside the run (it takes half a minute)
        stderr = interrupt(process)
        assert process.returncode != 0, stderr
        assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
    assert not new.exists()
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before


def test_own_files_name_what_a_run_writes(tmp_path):
    from vmsched.simulation.results import OWN_FILES

    out = tmp_path / "o"
    assert run("simulate", *SMALL, "--out", out).returncode == 0
    assert {p.name for p in out.iterdir()} == set(OWN_FILES)


# ---------------------------------------------------------------- traces (items 4, 6, 13)

def test_a_missing_cpu_readings_file_is_named_as_such(tmp_path):
    """Was: reported as an unreadable vmtable."""
    result = run("simulate", "--format", "azure-vmtable", "--trace",
                 FIXTURES / "azure_vmtable.csv", "--cpu-readings", tmp_path / "nope.csv",
                 "--out", tmp_path / "o")
    assert_one_line_error(result, "--cpu-readings", "nope.csv", "does not exist")


def test_cpu_readings_for_another_format_are_refused(tmp_path):
    """Was: --cpu-readings with a format that has no readings was silently ignored."""
    result = run("simulate", *SMALL, "--cpu-readings", FIXTURES / "azure_cpu_readings.csv",
                 "--out", tmp_path / "o")
    assert_one_line_error(result, "--cpu-readings", "azure-vmtable")


def test_cpu_readings_that_miss_vms_warn_in_one_line(tmp_path):
    """Was: readings that match only some VMs were silently partial."""
    result = run("simulate", "--format", "azure-vmtable", "--trace",
                 FIXTURES / "azure_vmtable.csv", "--cpu-readings",
                 FIXTURES / "azure_cpu_readings.csv", "--no-plots", "--no-progress", "--out",
                 tmp_path / "o")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning == ["vmsched: warning: cpu_readings " + str(FIXTURES / "azure_cpu_readings.csv")
                       + ": 1 of the vmtable's 3 VMs have no readings (they use their avgcpu); "
                         "0 of its 2 VMs are not in the vmtable"]


def test_cpu_readings_that_match_nothing_are_refused(tmp_path):
    """Was: ignored (the sample vmtable and readings share no ids)."""
    readings = tmp_path / "r.csv"
    readings.write_text("0,someone-else,1,2,3\n")
    result = run("simulate", "--format", "azure-vmtable", "--trace",
                 FIXTURES / "azure_vmtable.csv", "--cpu-readings", readings, "--out",
                 tmp_path / "o")
    assert_one_line_error(result, "share no vmid")


@pytest.mark.parametrize("option", [["--hosts", "5"], ["--vcpus", "8"], ["--memory-gib", "64"]])
def test_a_trace_with_its_own_fleet_refuses_host_shape_options(tmp_path, option):
    """Was: --format alibaba-openb silently ignored --hosts and --vcpus."""
    result = run("simulate", "--format", "alibaba-openb", "--trace", FIXTURES / "alibaba_openb",
                 *option, "--out", tmp_path / "o")
    assert_one_line_error(result, option[0], "brings its own fleet")


def test_a_trace_with_its_own_fleet_takes_the_overcommit_options(tmp_path):
    """Was: --format alibaba-openb silently ignored --cpu-ratio and --overcommit. A CPU
    allocation ratio of 0.1 on the trace's own machines leaves room for a tenth of the vCPUs:
    VMs are rejected that fit without it."""
    def rejected(*options):
        result = run("simulate", "--format", "alibaba-openb", "--trace",
                     FIXTURES / "alibaba_openb", *options, "--no-plots", "--no-progress",
                     "--out", tmp_path / "o")
        assert result.returncode == 0, result.stderr
        return int(_summary_lines(result.stdout)["VMs rejected"].replace(",", ""))

    plain = rejected()
    assert rejected("--cpu-ratio", "0.1") > plain
    assert rejected("--overcommit", "none", "--cpu-ratio", "0.1") > plain
    result = run("simulate", "--format", "alibaba-openb", "--trace",
                 FIXTURES / "alibaba_openb", "--overcommit", "lots", "--out", tmp_path / "o")
    assert_one_line_error(result, "lots")


# ---------------------------------------------------------------- limits (item 1)

def run_limited(*args, address_space_gib=4):
    """The command under an address-space limit (RLIMIT_AS), as a shared machine imposes."""
    import resource

    def limit():
        size = int(address_space_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return subprocess.run(vmsched_command() + [str(a) for a in args], capture_output=True,
                          text=True, timeout=600, preexec_fn=limit)


@pytest.mark.parametrize("args", [
    ["--vms", "1000000000"],                      # was: grew to 24 GB, killed after 108 s
    ["--vms", "10", "--days", "10000000"],        # was: killed after 23 s
    ["--vms", "1000", "--days", "1", "--tick", "0.001"],   # was: ran on with no word
])
def test_runs_that_cannot_fit_are_refused_before_they_start(tmp_path, args):
    started = time.perf_counter()
    result = run_limited("simulate", *args, "--no-progress", "--out", tmp_path / "o")
    line = assert_one_line_error(result, "needs about", "RLIMIT_AS", "--memory-limit")
    assert "estimate" in line
    assert time.perf_counter() - started < 60 and not (tmp_path / "o").exists()


def test_a_trace_row_far_in_the_future_is_refused_in_one_line(tmp_path):
    """Was: a traceback ("Unable to allocate 970. TiB")."""
    trace = tmp_path / "far.csv"
    trace.write_text("vm_id,tenant,start_s,end_s,VCPU,MEMORY_MB\na,t,1e15,,1,512\n")
    result = run_limited("simulate", "--format", "table", "--trace", trace, "--hosts", "2",
                         "--no-progress", "--out", tmp_path / "o")
    assert_one_line_error(result, "ticks", "needs about", "PiB")


def test_the_memory_limit_can_be_given_and_lifted(tmp_path):
    result = run("simulate", *SMALL, "--memory-limit", "0.01", "--out", tmp_path / "o")
    assert_one_line_error(result, "needs about", "more than the 10 MiB", "--memory-limit")
    lifted = subprocess.run(vmsched_command() + ["simulate", *SMALL, "--no-plots", "--out",
                                                 str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "VMSCHED_MEMORY_LIMIT": "inf"})
    assert lifted.returncode == 0, lifted.stderr


def test_size_refuses_what_it_cannot_size(tmp_path):
    scenario = tmp_path / "c.toml"
    scenario.write_text('[consolidation]\npolicy = "lr-mmt-1.2"\npreset = "cloudsim-planetlab"\n'
                        f'[workload]\nformat = "planetlab"\npath = "{FIXTURES / "planetlab" / "20110303"}"\n')
    assert_one_line_error(run("size", "--scenario", scenario), "--consolidation", "size")
    assert_one_line_error(run("size", "--format", "table", "--trace", FIXTURES / "workload.csv",
                              "--replicates", "3"), "--replicates 3", "same for every seed")


def test_progress_bars_show_on_a_terminal(tmp_path):
    """Was: on a terminal the simulation's progress bar crashed the run (TypeError: initial=),
    and sizing a fleet showed nothing."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    try:
        process = subprocess.Popen(vmsched_command() + ["simulate", "--vms", "3000", "--days",
                                                        "1", "--no-plots", "--out",
                                                        str(tmp_path / "o")],
                                   stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:              # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=300)
    finally:
        os.close(master)
    assert process.returncode == 0, shown.decode(errors="replace")[-2000:]
    text = shown.decode(errors="replace")
    assert "sizing the fleet" in text and "simulating" in text and "100%" in text
    assert "VMs placed" in stdout


def test_size_over_seeds_reports_the_distribution():
    result = run("size", "--vms", "400", "--days", "1", "--replicates", "4")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == ["seed 0", "seed 1", "seed 2", "seed 3"]
    hosts = sorted(int(line.split(": ")[1].split()[0]) for line in lines[:4])
    assert lines[-1].endswith(f"p50 {hosts[1]}, p95 {hosts[3]}, max {hosts[3]} hosts")
