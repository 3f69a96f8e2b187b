from __future__ import annotations

import logging
import os

import pytest

from edgerec.serve import _launch


def test_a_refused_batch_policy_keeps_the_default_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    with caplog.at_level(logging.WARNING):
        assert _launch.use_batch_scheduling() is False
    assert "keeping the default policy" in caplog.text
