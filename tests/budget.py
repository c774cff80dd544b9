"""How many examples a property test runs: its own count under the "ci" profile (the default),
at most the profile's max_examples under the quicker "dev" and "debug" profiles (the debug
pass, -O0 with bounds checks, looks for memory errors, not for coverage)."""

from hypothesis import settings

#: The loaded profile asks for full coverage (the "ci" profile).
FULL = settings.default.max_examples >= 200


def examples(count):
    """`count` examples under the "ci" profile, at most the profile's otherwise."""
    return count if FULL else min(count, settings.default.max_examples)
