"""`vmsched simulate --consolidation`: the installed command in a subprocess, on the PlanetLab
fixture; its summary, files and one-line refusals."""

import pytest

from test_cli_user import FIXTURES, assert_one_line_error, run

pytestmark = pytest.mark.cli
DAY = FIXTURES / "planetlab" / "20110303"


def test_cloudsims_experiment_from_the_command_line(tmp_path):
    out = tmp_path / "out"
    result = run("simulate", "--format", "planetlab", "--trace", DAY, "--preset",
                 "cloudsim-planetlab", "--consolidation", "lr-mmt-1.2", "--out", out)
    assert result.returncode == 0, result.stderr
    lines = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "cloudsim" in lines["rules"] and "energy kWh" in lines
    assert sorted(p.name for p in out.iterdir()) == [
        "consolidation.png", "consolidation_hosts.parquet", "consolidation_rounds.parquet",
        "consolidation_summary.parquet", "consolidation_vms.parquet"]


def test_vmscheds_rules_precopy_and_a_scenario_file(tmp_path):
    scenario = tmp_path / "run.toml"
    scenario.write_text(f'[workload]\nformat = "planetlab"\npath = "{DAY}"\n'
                        '[consolidation]\npolicy = "thr-mmt-0.5"\npreset = "cloudsim-planetlab"\n'
                        'rules = "vmsched"\nmigration = "precopy"\n')
    result = run("simulate", "--scenario", scenario, "--out", tmp_path / "o", "--no-plots")
    assert result.returncode == 0, result.stderr
    assert "precopy" in result.stdout and "vmsched" in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--consolidation", "lr-nope"], ["consolidation policy", "unknown"]),
    (["--consolidation", "lr-mmt", "--preset", "cloudsim-planetlab", "--hosts", "3"],
     ["brings its own fleet", "--hosts"]),
    (["--consolidation", "lr-mmt", "--preset", "cloudsim-planetlab", "--migration", "warp"],
     ["--migration warp"]),
    (["--consolidation", "lr-mmt", "--preset", "cloudsim-planetlab", "--tick", "60"],
     ["--tick"]),
    (["--consolidation", "lr-mmt"], ["--hosts"]),
    (["--migration", "precopy"], ["--consolidation"]),
])
def test_consolidation_options_that_cannot_apply_are_refused(tmp_path, args, words):
    result = run("simulate", "--format", "planetlab", "--trace", DAY, "--out", tmp_path / "o",
                 *args)
    assert_one_line_error(result, *words)
