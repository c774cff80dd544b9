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
    """With pytest-xdist's workers (-n), compile the shared kernels once, before they start."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if not config.getoption("numprocesses", None):
        return
    from warm_kernels import warm_all

    config.warm_kernels_s = warm_all()


def pytest_report_header(config):
    if hasattr(config, "warm_kernels_s"):
        return [f"kernels compiled or loaded before the workers started: "
                f"{config.warm_kernels_s:.1f} s"]
    return []


def pytest_collection_modifyitems(items):
    """Tests marked `long` first (otherwise in collection order), so that on several workers
    the run does not end with one worker on a long test and the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
