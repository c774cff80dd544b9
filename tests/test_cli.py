"""The `vmsched` command: help, the synthetic default, scenario files, readers, bad input."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from vmsched.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_is_complete():
    top = invoke("--help")
    assert top.exit_code == 0 and "simulate" in top.output and "size" in top.output
    assert "[workload]" in top.output and "[host_models]" in top.output
    for command in ("simulate", "size"):
        text = invoke(command, "--help").output
        for option in ("--scenario", "--format", "--trace", "--vms", "--days", "--seed",
                       "--hosts", "--vcpus", "--memory-gib", "--overcommit", "--policy"):
            assert option in text, (command, option)
    assert "--cpu-model" in invoke("simulate", "--help").output


def test_simulate_synthetic_writes_tables_and_plots(tmp_path):
    out = tmp_path / "out"
    result = invoke("simulate", "--vms", "800", "--days", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "hosts in use, peak" in result.output and "VMs placed" in result.output
    assert (out / "vms.parquet").exists() and (out / "memory_state.png").exists()
    assert len(pd.read_parquet(out / "vms.parquet")) == 800


def test_scenario_file_and_overrides(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('[workload]\nvms = 300\ndays = 0.5\nseed = 4\n'
                        '[fleet]\nhosts = 40\nvcpus = 16\nmemory_gib = 64\n'
                        '[placement]\npolicy = "first_fit"\n[run]\ntick_s = 600\n')
    result = invoke("simulate", "--scenario", str(scenario), "--policy", "worst_fit",
                    "--out", str(tmp_path / "o"), "--no-plots")
    assert result.exit_code == 0, result.output
    assert "worst_fit" in result.output and "hosts in fleet" in result.output
    assert " 40" in result.output.split("hosts in fleet")[1].split("\n")[0]


def test_trace_formats(tmp_path):
    for fmt, path in (("planetlab", FIXTURES / "planetlab" / "20110303"),
                      ("table", FIXTURES / "workload.csv"),
                      ("azure-vmtable", FIXTURES / "azure_vmtable.csv"),
                      ("alibaba-openb", FIXTURES / "alibaba_openb")):
        result = invoke("simulate", "--format", fmt, "--trace", str(path), "--out",
                        str(tmp_path / fmt), "--no-plots")
        assert result.exit_code == 0, (fmt, result.output)
    sized = invoke("size", "--format", "table", "--trace", str(FIXTURES / "workload.csv"),
                   "--vcpus", "4", "--memory-gib", "10")
    assert sized.exit_code == 0 and sized.output.startswith("2 hosts")


@pytest.mark.parametrize("args, text", [
    (("simulate", "--format", "planetlab"), "needs --trace"),
    (("simulate", "--format", "planetlab", "--trace", "/no/such/dir"), "does not exist"),
    (("simulate", "--format", "bitbrains", "--trace", str(FIXTURES / "workload.csv")),
     "bitbrains"),
    (("simulate", "--policy", "fastest"), "policy 'fastest' is unknown"),
    (("simulate", "--vms", "-5"), "--vms"),
    (("simulate", "--scenario", "/no/such.toml"), "does not exist"),
    (("size", "--vcpus", "0"), "--vcpus"),
    (("size", "--vcpus", "2", "--memory-gib", "1"), "fit on no empty host"),
    (("simulate", "--overcommit", "lots"), "overcommit preset"),
])
def test_bad_input_is_one_line_and_status_2(args, text):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().split("\n") if line]
    assert text in result.output
    assert "Traceback" not in result.output and len(lines) <= 3


def test_bad_scenario_table(tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text("[nonsense]\nx = 1\n")
    result = CliRunner().invoke(main, ["simulate", "--scenario", str(scenario)])
    assert result.exit_code == 2 and "unknown table [nonsense]" in result.output
    scenario.write_text("not toml [[[")
    result = CliRunner().invoke(main, ["simulate", "--scenario", str(scenario)])
    assert result.exit_code == 2 and "scenario file" in result.output
