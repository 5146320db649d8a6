"""What the headless scenarios share (run as scripts beside this file): waiting on the add-on's pump, reporting steps."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(pump: Callable[[float], Any], condition: Callable[[], Any], what: str, state: Callable[[], str], timeout: float) -> Any:
    """Pump until ``condition()`` is truthy and return it; AssertionError naming ``what`` and ``state()`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump(0.05)
        value = condition()
        if value:
            return value
    raise AssertionError(f"timed out waiting for {what}; {state()}")


def step(name: str) -> None:
    """One "step ..." line: the test shows the steps done when a scenario fails."""
    print("step", name, flush=True)
