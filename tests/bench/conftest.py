"""Fixtures of the benchmark tests: the client tests' replay server and recorder of sleeps,
and short texts."""

from __future__ import annotations

from tests.client.conftest import Sleeps, replay, sleeps

__all__ = ["SHORT", "Sleeps", "replay", "sleeps"]

SHORT = ["Hello there.", "Yes, of course."]
