"""The add-on's live state — one session, an optional local backend — and ``pump``, the main-thread drain.

``pump`` is the only code that applies backend traffic to ``bpy`` data: a timer calls
it several times a second with a small time budget (under ``bpy`` as a Python module
timers do not fire, so tests call ``blender_addon.pump`` themselves).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bpy
from bpy.app.handlers import persistent

from .local_backend import LocalBackend
from .session import Session
from .wire import connection

PUMP_INTERVAL_S = 0.1
"""How often the timer drains the session."""
PUMP_BUDGET_S = 0.02
"""Work per timer tick before yielding to the UI (an import in progress always finishes)."""

_session: Session | None = None
_backend: LocalBackend | None = None
_problem = "not connected: press Connect"
"""Why there is no session, for the panel."""
_needs_reattach = False
"""The new session has not yet re-attached the jobs recorded in the .blend (done once it connects)."""


def session() -> Session | None:
    return _session


def preferences() -> Any:
    addon = bpy.context.preferences.addons.get(__package__)
    if addon is None:
        raise RuntimeError(f"the add-on {__package__!r} is not enabled (enable it in Preferences › Add-ons, or with addon_utils.enable)")
    return addon.preferences


def is_local(url: str) -> bool:
    """True for endpoints on this machine (loopback TCP, ipc)."""
    if url.startswith(("ipc://", "inproc://")):
        return True
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_state() -> tuple[str, str]:
    """``(state, reason)``: ``connected``, ``connecting``, ``starting`` or ``offline``, with a readable reason."""
    if _backend is not None:
        state, reason = _backend.state()
        if state == "exited" and _session is None:
            return "offline", reason
        if state == "starting":
            return "starting", reason
    if _session is None:
        return "offline", _problem
    status = _session.status
    return status.state.value, status.reason


def connect() -> None:
    """(Re)connect with the preferences' settings; never raises — the reason shows as the connection state."""
    global _problem, _backend
    disconnect(stop_backend=False)
    prefs = preferences()
    path = Path(bpy.path.abspath(prefs.connection_file)).expanduser()
    if prefs.start_local and (_backend is None or _backend.state()[0] == "exited"):
        try:
            _backend = LocalBackend(prefs.serve_command, path)
            _backend.start()
        except (OSError, ValueError) as exc:
            _backend, _problem = None, str(exc)
            return
    if _backend is not None and _backend.state()[0] == "starting":
        _problem = "the local backend is starting"
        return  # pump connects once the backend has written its connection file
    _open(path, prefs.address.strip())


def _open(path: Path, address: str) -> None:
    global _session, _problem, _needs_reattach
    try:
        info = connection.read_connection_file(path)
    except connection.ConnectionFileError as exc:
        _problem = f"{exc} (or set the connection file in the add-on preferences)"
        return
    if address:
        info = dataclasses.replace(info, url=address)
    if not bpy.app.online_access and not is_local(info.url):
        _problem = f"Blender's online access is off (Preferences › System › Network): {info.url} is not on this machine"
        return
    _session = Session(info)
    _needs_reattach = True


def disconnect(stop_backend: bool = True) -> None:
    global _session, _problem, _backend
    if _session is not None:
        _session.close()
        _session = None
    _problem = "not connected: press Connect"
    if stop_backend and _backend is not None:
        _backend.stop()
        _backend = None


def submit(scene: bpy.types.Scene, spec: Any, purpose: str, **context: Any) -> None:
    """Submit and record the job in ``scene`` (its id arrives with the reply; see :func:`apply.record_submitted`)."""
    if _session is None or not _session.connected:
        raise RuntimeError(f"the backend is not connected: {connection_state()[1]}")
    _session.submit(spec, purpose, scene=scene.name, **context)


def request_interpolation(settings: Any) -> None:
    """Called when ``interp_t`` changes: ask for the preview mesh there (debounced by the session)."""
    from .apply import conditions_of, latent_of  # bpy-side helpers

    if _session is None:
        return
    a, b = latent_of(settings.interp_a), latent_of(settings.interp_b)
    if a is None or b is None:
        settings.message = "interpolation: pick two variants (objects with a Distill3D latent) as From and To"
        return
    generator = settings.interp_a.get("distill3d_generator", settings.generator)
    _session.interpolate(generator, a, b, settings.interp_t, conditions_of(settings.interp_a, settings.interp_b))


def reattach_jobs(scenes: Any = None) -> int:
    """Follow again every job recorded in the .blend whose result is not in the scene yet; returns how many."""
    if _session is None or not _session.connected:
        return 0
    count = 0
    for scene in scenes if scenes is not None else bpy.data.scenes:
        for job in scene.distill3d.jobs:
            if not job.imported and job.state not in ("failed", "cancelled") and job.job_id not in _session.jobs:
                context = json.loads(job.context_json or "{}")
                _session.attach(job.job_id, job.purpose, scene=scene.name, **context)
                count += 1
    return count


@persistent
def reattach_after_load(*_args: object) -> None:
    """``load_post`` handler: a freshly opened .blend's jobs are followed again."""
    global _needs_reattach
    _needs_reattach = True


def pump(timeout_s: float = 0.0, budget_s: float | None = None) -> int:
    """Apply what the backend sent; waits up to ``timeout_s`` for the first item. Returns the number applied."""
    from . import apply

    global _needs_reattach
    if _session is None and _backend is not None and _backend.state()[0] == "running":
        _open(_backend.connection_file, preferences().address.strip())
    if _session is None:
        return 0
    deadline = time.monotonic() + timeout_s
    budget_end = time.monotonic() + budget_s if budget_s is not None else None
    applied = 0
    while True:
        if _needs_reattach and _session.connected:
            _needs_reattach = False
            reattach_jobs()
        outcomes = _session.poll(limit=8)
        for outcome in outcomes:
            apply.apply(outcome)
            applied += 1
            if budget_end is not None and time.monotonic() > budget_end:
                return applied
        if not outcomes:
            if applied or time.monotonic() >= deadline:
                return applied
            time.sleep(0.005)


def timer() -> float:
    """The ``bpy.app.timers`` callback."""
    try:
        pump(0.0, PUMP_BUDGET_S)
    except Exception as exc:  # never let the timer die: it is the add-on's only pulse
        import logging

        logging.getLogger(__name__).exception("Distill3D: applying backend messages failed")
        for scene in bpy.data.scenes:
            scene.distill3d.message = f"internal error: {exc}"
    return PUMP_INTERVAL_S


def shutdown() -> None:
    """On unregister and quit: close the session, stop a backend we started."""
    disconnect(stop_backend=True)
