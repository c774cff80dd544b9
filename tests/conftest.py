import os

from hypothesis import HealthCheck, settings

# "ci" is what .ci/run uses; "dev" is quicker for local iteration (HYPOTHESIS_PROFILE=dev).
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
# The debug build (-O0, bounds checks) is slow: its pass looks for memory errors, not coverage.
settings.register_profile("debug", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    """With pytest-xdist's workers (-n), compile the shared kernels once, before they start
    (the consolidation kernels while they start on the other tests)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if not config.getoption("numprocesses", None):
        return
    from warm_kernels import warm_all

    config.warm_kernels_s, config.warming = warm_all()


def pytest_unconfigure(config):
    for process in getattr(config, "warming", ()):
        process.wait()


def pytest_report_header(config):
    if hasattr(config, "warm_kernels_s"):
        return [f"kernels compiled or loaded before the workers started: "
                f"{config.warm_kernels_s:.1f} s (the consolidation kernels meanwhile)"]
    return []


#: Modules whose tests use the consolidation kernels (compiled while the others run).
CONSOLIDATION_MODULES = {"test_consolidation.py", "test_consolidation_differential.py",
                         "test_cli_consolidation.py", "test_jit.py"}


def pytest_collection_modifyitems(items):
    """Tests marked `long` first, the consolidation tests last, otherwise in collection order:
    on several workers the run does not end with one worker on a long test and the others
    idle, and the consolidation kernels have compiled by the time their tests run."""
    def order(item):
        if item.path.name in CONSOLIDATION_MODULES:
            return 2
        return 0 if item.get_closest_marker("long") is not None else 1

    items.sort(key=order)
