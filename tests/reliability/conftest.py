"""`long` tests (minutes each) run only when asked for (`-m long`, or any -m naming it):
otherwise they are deselected, as `-m 'not long'` would (not skipped: CI fails unexpected skips)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "long" in (config.getoption("markexpr") or ""):
        return
    keep = [i for i in items if i.get_closest_marker("long") is None]
    drop = [i for i in items if i.get_closest_marker("long") is not None]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
