"""Log lines (structured, one JSON object a line) survive several worker processes on one stdout."""

from __future__ import annotations

import json
import sys

import pytest
import structlog

from server import logging as logmod


class Recorder:
    """A stdout that keeps each write() apart, as an unbuffered file descriptor would."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_log_line_and_its_newline_go_out_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    before = structlog.get_config()
    try:
        logmod.configure("INFO", json=True)
        structlog.get_logger("doorstep.test").info("request", request_id="r1", ms=1.5)
    finally:
        structlog.configure(**before)
    assert len(out.writes) == 1 and out.writes[0].endswith("\n"), out.writes
    assert json.loads(out.writes[0])["request_id"] == "r1"
