"""Errors a job reports to the artist as a readable message, not a traceback."""

from __future__ import annotations

from protocol.errors import ErrorCode


class MethodError(Exception):
    """A failure the artist should read (missing weights, unusable input, a diverged optimisation)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.JOB_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Diverged(MethodError):
    """A loss or reported value stopped being finite; the last checkpoint stays as it was."""
