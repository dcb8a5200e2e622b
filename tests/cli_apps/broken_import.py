"""A module whose own import fails, as with a missing dependency (tests/test_cli.py)."""

import dualweb_test_missing_dependency  # noqa: F401
