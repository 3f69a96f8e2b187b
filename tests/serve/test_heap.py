"""The allocator tuning applies on glibc and yields to an operator's own MALLOC_* settings."""

from __future__ import annotations

import platform

import pytest

from edgerec.serve._heap import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_applies_on_glibc() -> None:
    assert keep_freed_memory()


def test_an_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert not keep_freed_memory()
