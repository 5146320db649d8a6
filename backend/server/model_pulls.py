"""Model pulls a client asks the backend for: ``distill3d models pull --progress-json`` in a child process, one at a time.

The child does what the command does for a person at a terminal (lists and sizes the files, checks the disk, fetches
into where the registry looks, keeps what it fetched when stopped, mid-file too); a reader thread turns its JSON lines
(:mod:`backend.teachers.pull_progress`) into :class:`PullInfo` for ``list_models``. Cancelling interrupts the child.
A child process rather than a thread: a transfer can be stopped at any byte, and nothing it does can take the broker
down. Its stderr goes to ``logs/pull.log``.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import ErrorInfo, PullInfo

from ..teachers import registry
from ..teachers.pull_progress import PullProgress

log = logging.getLogger(__name__)

PULL_COMMAND = (sys.executable, "-m", "backend.cli", "models", "pull", "--progress-json")
"""The child's command line, before the roles."""
TERMINATE_GRACE_S = 5.0
"""Seconds a cancelled child has to exit after SIGINT before it is killed (what it fetched is kept either way)."""
STDERR_TAIL = 20
"""Lines of the child's stderr kept to explain a failure it did not describe itself."""


@dataclass
class _Run:
    """One pull: its process and what its lines told so far (guarded by :attr:`ModelPulls._lock`)."""

    pull_id: str
    roles: tuple[str, ...]
    process: subprocess.Popen[str]
    started_at: float
    progress: PullProgress = field(default_factory=PullProgress)
    stderr_tail: list[str] = field(default_factory=list)
    cancelled: bool = False
    finished_at: float | None = None
    returncode: int | None = None

    def info(self) -> PullInfo:
        p = self.progress
        if self.returncode is None:
            state, error = "running", None
        elif self.cancelled and self.returncode != 0:
            state, error = "cancelled", None
        elif self.returncode == 0:
            state, error = "succeeded", None
        else:
            state, error = "failed", ErrorInfo(ErrorCode.MISSING_MODEL, self._why())
        return PullInfo(pull_id=self.pull_id, roles=self.roles, state=state, started_at=self.started_at, finished_at=self.finished_at,
                        files_total=p.files_total, files_started=p.files_started, bytes_total=p.bytes_total,
                        bytes_done=min(p.bytes_done, p.bytes_total) if p.bytes_total else p.bytes_done, current=p.current,
                        message=p.message, error=error, cancel_requested=self.cancelled)  # fmt: skip

    def _why(self) -> str:
        if self.progress.failure:
            return self.progress.failure
        if self.progress.finished and self.progress.missing:
            return f"fetched, but still not usable: {', '.join(self.progress.missing)} (run `distill3d models` on the backend)"
        tail = " | ".join(self.stderr_tail[-3:]) or "no output"
        return f"the pull exited with status {self.returncode}: {tail} (the backend's logs/pull.log has the rest)"


class ModelPulls:
    """At most one running pull; the last one's outcome is kept for clients that ask later."""

    def __init__(self, log_file: Path, command: Sequence[str] = PULL_COMMAND, clock: Callable[[], float] = time.time) -> None:
        self.log_file = log_file
        self.command = tuple(command)
        self.clock = clock
        self._lock = threading.Lock()
        self._run: _Run | None = None

    def current(self) -> PullInfo | None:
        """The running pull, else the last one (None before the first)."""
        with self._lock:
            return None if self._run is None else self._run.info()

    def start(self, roles: Sequence[str], token: str | None = None) -> PullInfo:
        """Start pulling ``roles``. ``invalid_params`` for an unknown role; ``busy`` while another pull runs (the same
        roles again answer that pull's state)."""
        roles = tuple(dict.fromkeys(roles))
        unknown = [role for role in roles if role not in registry.ROLES]
        if unknown:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, f"unknown model roles {', '.join(unknown)} (known: {', '.join(registry.ROLES)})",
                                parameter="roles")  # fmt: skip
        with self._lock:
            run = self._run
            if run is not None and run.returncode is None:
                if set(roles) <= set(run.roles):
                    return run.info()
                raise ProtocolError(ErrorCode.BUSY, f"the backend is already pulling {', '.join(run.roles)}: wait for it to finish, or "
                                    "cancel it, then ask again")  # fmt: skip
            self._run = self._spawn(roles, token)
            return self._run.info()

    def _spawn(self, roles: tuple[str, ...], token: str | None) -> _Run:
        env = dict(os.environ)
        if token:
            env["HF_TOKEN"] = token  # in the environment, not on the command line other users can read
        root = Path(__file__).resolve().parents[2]
        if (root / "pyproject.toml").is_file():  # a checkout: make `backend` importable (an install already is)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
        env["PYTHONUNBUFFERED"] = "1"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            process = subprocess.Popen([*self.command, *roles], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")  # fmt: skip
        except OSError as exc:
            raise ProtocolError(ErrorCode.INTERNAL, f"cannot start the pull ({exc})") from None
        run = _Run(pull_id=secrets.token_hex(6), roles=roles, process=process, started_at=self.clock())
        log.info("pull %s of %s started (pid %d)", run.pull_id, ", ".join(roles), process.pid)
        stderr = threading.Thread(target=self._read_stderr, args=(run,), name=f"pull-{run.pull_id}-stderr", daemon=True)
        stderr.start()
        threading.Thread(target=self._read_stdout, args=(run, stderr), name=f"pull-{run.pull_id}", daemon=True).start()
        return run

    def _read_stdout(self, run: _Run, stderr: threading.Thread) -> None:
        """Read the child's progress; once it has exited (and its stderr is read: a failure may be told there), its outcome."""
        assert run.process.stdout is not None
        for line in run.process.stdout:
            with self._lock:
                run.progress.read(line)
        returncode = run.process.wait()
        stderr.join()
        with self._lock:
            run.returncode, run.finished_at = returncode, self.clock()
            outcome = run.info()
        log.info("pull %s of %s %s%s", run.pull_id, ", ".join(run.roles), outcome.state, f": {outcome.error.message}" if outcome.error else "")

    def _read_stderr(self, run: _Run) -> None:
        """Keep the child's stderr in the log (while the disk takes it) and its last lines; the pipe is always drained, so
        the child never blocks on it."""
        assert run.process.stderr is not None
        try:
            out = open(self.log_file, "a", encoding="utf-8")
            out.write(f"--- pull {run.pull_id} of {', '.join(run.roles)}\n")
        except OSError:
            out = None
        for line in run.process.stderr:
            if out is not None:
                try:
                    out.write(line)
                    out.flush()
                except OSError:  # a full disk: the tail below still explains a failure
                    out.close()
                    out = None
            if text := line.strip():
                with self._lock:
                    run.stderr_tail = [*run.stderr_tail[-(STDERR_TAIL - 1):], text]
        if out is not None:
            out.close()

    def cancel(self) -> PullInfo:
        """Ask the running pull to stop (``unknown_job`` when none runs) and answer at once, without waiting for it (the
        broker answers everybody from one thread): ``cancel_requested`` now, ``cancelled`` once the child has exited (it is
        killed when it has not after :data:`TERMINATE_GRACE_S`). A pull that succeeded meanwhile stays ``succeeded``."""
        with self._lock:
            run = self._run
            if run is None or run.returncode is not None or run.process.poll() is not None:
                raise ProtocolError(ErrorCode.UNKNOWN_JOB, "no model pull is running")
            run.cancelled = True
        _interrupt(run.process)
        timer = threading.Timer(TERMINATE_GRACE_S, lambda: run.process.poll() is None and run.process.kill())
        timer.daemon = True
        timer.start()
        with self._lock:
            return run.info()

    def close(self) -> None:
        """Stop a running pull and wait for it (the server is stopping)."""
        with self._lock:
            run = self._run
        if run is not None and run.process.poll() is None:
            run.cancelled = True
            _interrupt(run.process)
            try:
                run.process.wait(TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()


def _interrupt(process: subprocess.Popen[str]) -> None:
    """Interrupt the child as Ctrl-C would: it closes its partial file after its last whole chunk, for the next pull."""
    if os.name == "posix":
        process.send_signal(signal.SIGINT)
    else:
        process.terminate()
