"""Deselect `long` tests when only tests/e2e is collected too (the hook lives in tests/reliability)."""

from tests.reliability.conftest import pytest_collection_modifyitems  # noqa: F401
