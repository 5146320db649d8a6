"""A Hugging Face hub on loopback: as much of its API as huggingface_hub's downloads use, over folders on disk.

``GET /api/models/{repo}/revision/{rev}`` answers the model info (``sha``, ``siblings`` with sizes, ``gated``,
``cardData.license``); ``HEAD`` and ``GET /{repo}/resolve/{rev}/{path}`` serve a file with the headers
huggingface_hub reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``) and honour ``Range: bytes=N-`` with 206.
Errors carry the hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``, ``GatedRepo``:
401 without a token, 403 with one that has no access). Every request is logged; a test can cut the first download of
a file after some bytes (:attr:`HubServer.drop_after`), fail every download of one (:attr:`HubServer.fail`) or slow
them all down (:attr:`HubServer.bytes_per_s`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

GRANTED_TOKEN = "hf_granted"
"""The token whose account has accepted every gated repo's licence."""


@dataclass(frozen=True)
class Request:
    """One request the server answered."""

    method: str
    path: str
    """The URL path, unquoted, without the query."""
    range: str | None
    """The Range header, if any."""
    authorization: str | None


@dataclass
class HubRepo:
    """A model repo served from a folder."""

    folder: Path
    """Its files, laid out as in the repo."""
    sha: str
    """The commit ``main`` points at."""
    gated: bool = False
    """Files only for requests carrying :data:`GRANTED_TOKEN`."""
    licence: str | None = None
    """What the model card's metadata names as licence."""

    def files(self) -> dict[str, Path]:
        return {p.relative_to(self.folder).as_posix(): p for p in sorted(self.folder.rglob("*")) if p.is_file()}


@dataclass
class HubServer:
    """The hub on ``127.0.0.1``; use as a context manager."""

    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)
    """Repo path → bytes: the next GET of that file sends its headers and only that many bytes, then closes."""
    fail: set[str] = field(default_factory=set)
    """Repo paths whose GET answers 500."""
    bytes_per_s: float | None = None
    """When set, file bodies are sent at about this rate (in 64 kB pieces), so a test can act mid-download."""
    cdn_host: str | None = None
    """When set (e.g. ``localhost``: another host than the endpoint's 127.0.0.1), files are answered with a 302 to
    ``http://<cdn_host>:<port>/cdn/<repo>/<path>``, with the hub's X-Linked-Etag / X-Linked-Size, as the real hub sends
    large files to its CDN; the CDN route serves them to anybody (its requests are logged like the others)."""

    def add(self, repo_id: str, folder: Path, *, gated: bool = False, licence: str | None = None) -> HubRepo:
        digest = hashlib.sha1(repo_id.encode()).hexdigest()
        self.repos[repo_id] = HubRepo(folder, digest, gated, licence)
        return self.repos[repo_id]

    def downloads(self, path: str | None = None) -> list[Request]:
        """The GETs of repo files (of ``path`` only, if given)."""
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path and (path is None or r.path.endswith("/" + path))]

    def __enter__(self) -> "HubServer":
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: HubServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        hub = self.server_hub
        path = unquote(urlsplit(self.path).path)
        hub.requests.append(Request(self.command, path, self.headers.get("Range"), self.headers.get("Authorization")))
        parts = path.strip("/").split("/")
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "revision" and body:
            self._model_info("/".join(parts[2:4]), parts[5])
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._file("/".join(parts[:2]), parts[3], "/".join(parts[4:]), body)
        elif len(parts) >= 4 and parts[0] == "cdn" and (repo := hub.repos.get("/".join(parts[1:3]))) is not None:
            self._serve(repo, "/".join(parts[3:]), body)
        else:
            self._error(404, "NotFound", f"no route {path}")

    def _repo(self, repo_id: str, revision: str) -> HubRepo | None:
        repo = self.server_hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
        elif revision not in ("main", repo.sha):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        else:
            return repo
        return None

    def _model_info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        siblings = [{"rfilename": name, "size": p.stat().st_size} for name, p in repo.files().items()]
        info = {"id": repo_id, "modelId": repo_id, "sha": repo.sha, "private": False, "gated": "manual" if repo.gated else False,
                "siblings": siblings, "cardData": {"license": repo.licence} if repo.licence else None}  # fmt: skip
        self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body=True)

    def _file(self, repo_id: str, revision: str, name: str, body: bool) -> None:
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        token = self.headers.get("Authorization")
        if repo.gated and token != f"Bearer {GRANTED_TOKEN}":
            status = 403 if token else 401
            self._error(status, "GatedRepo", f"Access to model {repo_id} is restricted" + (" and you are not in the authorized list" if token else ""))
            return
        file = repo.files().get(name)
        if file is None:
            self._error(404, "EntryNotFound", f"{name} does not exist on main", {"X-Repo-Commit": repo.sha})
            return
        if self.server_hub.cdn_host is not None:
            data = file.read_bytes()
            location = f"http://{self.server_hub.cdn_host}:{self.server.server_address[1]}/cdn/{repo_id}/{name}"
            self._send(302, b"", {"Location": location, "X-Repo-Commit": repo.sha, "X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"',
                                  "X-Linked-Size": str(len(data))}, body)  # fmt: skip
            return
        self._serve(repo, name, body)

    def _serve(self, repo: HubRepo, name: str, body: bool) -> None:
        file = repo.files().get(name)
        if file is None:
            self._error(404, "EntryNotFound", f"{name} does not exist on main", {"X-Repo-Commit": repo.sha})
            return
        if body and name in self.server_hub.fail:
            self._error(500, "InternalError", "the test made this file fail")
            return
        data = file.read_bytes()
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{hashlib.sha256(data).hexdigest()}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}  # fmt: skip
        start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0]) if self.headers.get("Range") else 0
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        cut = self.server_hub.drop_after.pop(name, None) if body else None
        self._send(206 if start else 200, data[start:], headers, body, cut)

    def _error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
        payload = json.dumps({"error": message}).encode()
        self._send(status, payload, {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message, **(extra or {})}, self.command == "GET")

    def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool, cut: int | None = None) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            payload = data if cut is None else data[:cut]
            rate = self.server_hub.bytes_per_s if status in (200, 206) else None
            piece = len(payload) if rate is None else 65536
            for start in range(0, len(payload), max(piece, 1)):
                chunk = payload[start : start + piece]
                self.wfile.write(chunk)
                self.wfile.flush()
                if rate is not None:
                    time.sleep(len(chunk) / rate)
        if cut is not None:
            self.close_connection = True


def use(hub: HubServer, monkeypatch, tmp_path: Path) -> None:
    """Point the registry and huggingface_hub at ``hub`` and at folders under ``tmp_path``, by the environment a user sets;
    no role override, no token, nothing of the real ``~/.cache/huggingface`` or ``~/.config/distill3d`` is read or written."""
    from huggingface_hub import constants

    from backend.teachers import registry

    for role in registry.ROLES:
        monkeypatch.delenv(registry.ROLE_ENV_PREFIX + role.upper(), raising=False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv(registry.CONFIG_ENV, str(tmp_path / "models.toml"))
    # huggingface_hub reads these once, at import (perhaps under another test's environment): set them as the above would
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # no look-up of AI-agent names at the real hub


PRD_STUDENT_BYTES = 24 * 1024 * 1024
"""The stand-in PRD student file: over two of huggingface_hub's 10 MiB chunks, the steps its download progress is counted in."""


def serve_prd_paper_models(hub: HubServer, folder: Path) -> None:
    """Have ``hub`` serve what a ``prd`` job with preset ``paper`` needs: tiny Stable Diffusion 2.1 (the real layout) and a
    stand-in for PRD's published student (random bytes, :data:`PRD_STUDENT_BYTES`; the registry checks its name only)."""
    import os

    from backend.teachers import registry
    from tests.backend.teachers import tiny_models

    hub.add(registry.ROLES["stable_diffusion"].default, tiny_models.stable_diffusion(folder / "sd-repo"), licence="openrail++")
    turbo = folder / "turbo-repo"
    turbo.mkdir(parents=True)
    (turbo / "triplane_turbo_sd_v1.pth").write_bytes(os.urandom(PRD_STUDENT_BYTES))
    hub.add(registry.ROLES["prd_student"].default, turbo)
