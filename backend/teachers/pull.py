"""``distill3d models pull``: fetch what a role's loader reads from the Hugging Face hub, to where the registry looks.

A role that resolves to a hub id (the default) is fetched into the hub cache (``$HF_HUB_CACHE``) at the ``main``
revision, where the registry's cache look-up finds it; a role pointed at a folder (``DISTILL3D_MODEL_<ROLE>`` or the
models config) gets its default hub repo's files in that folder. Only :attr:`~.registry.ModelRole.files` are fetched,
one weight set per folder (:func:`.weight_files.choose`: fp16 where the repo has it).

Before anything is fetched, every role's files are listed and sized through the hub API, each licence is shown, and
the free space at each destination is checked against the bytes still missing. Each missing file is streamed by
huggingface_hub's ``http_get`` (10 MiB chunks; progress bars on a terminal) into a ``.distill3d-partial`` file beside its
final place (:func:`fetch_resumable`): a connection dropped mid-file is resumed within the pull with a Range request, and
a pull stopped mid-file (Ctrl-C, a cancel, a crash, a kill) leaves the partial file, which the next pull continues from
its last whole chunk. Files complete when a pull stopped are kept. ``hf_hub_download`` then links each file into the
cache as its own download would have. The endpoint is ``--endpoint``, else ``$HF_ENDPOINT``, else huggingface.co; the
token ``--token``, else huggingface_hub's (``$HF_TOKEN``, ``hf auth login``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from protocol import __version__
from protocol.sizes import human_size

from . import registry, weight_files

REVISION = "main"
"""The revision fetched, the one the registry's cache look-up reads."""
DEFAULT_ENDPOINT = "https://huggingface.co"


class PullError(Exception):
    """A pull that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Hub:
    """Where to fetch from, and as whom."""

    endpoint: str
    """Base URL of the hub (or of a mirror speaking its API)."""
    token: str | None = None
    """An access token; None: huggingface_hub's own ($HF_TOKEN, else the one `hf auth login` stored)."""

    @classmethod
    def create(cls, endpoint: str | None = None, token: str | None = None) -> "Hub":
        """``endpoint`` if given, else $HF_ENDPOINT (read now, not at import as huggingface_hub does), else huggingface.co."""
        return cls((endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"), token or None)

    def page(self, repo_id: str) -> str:
        return f"{self.endpoint}/{repo_id}"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a hub repo."""

    path: str
    """Relative to the repo, ``/``-separated."""
    size: int
    """Bytes, as the hub lists them."""


@dataclass(frozen=True)
class Plan:
    """What pulling one role fetches, from where and to where."""

    role: registry.ModelRole
    """The role pulled."""
    repo_id: str
    """The hub repo its files come from."""
    local_dir: Path | None
    """The folder the role points at (the repo's layout is recreated in it); None: the hub cache."""
    cache_dir: Path
    """The hub cache (used when ``local_dir`` is None)."""
    files: tuple[RemoteFile, ...]
    """Every file the loader reads, smallest first (configs before weights: a gated repo fails before anything large)."""
    missing: tuple[RemoteFile, ...]
    """Those of ``files`` not on disk yet."""
    licence: registry.Licence
    """The terms of the weights."""
    gated: bool
    """The hub serves the files only to a user who accepted the licence."""

    @property
    def destination(self) -> Path:
        return self.local_dir or self.cache_dir

    @property
    def missing_bytes(self) -> int:
        return sum(f.size for f in self.missing)


class Watcher(Protocol):
    """Follows a pull as it goes (``distill3d models pull --progress-json`` prints what it is told; the backend reads that)."""

    def planned(self, plans: list[Plan]) -> None:
        """Every role is listed and sized, the disk space checked; fetching starts."""

    def fetching(self, plan: Plan, file: RemoteFile) -> None:
        """A missing file of ``plan`` starts downloading."""

    def received(self, nbytes: int) -> None:
        """``nbytes`` of the file being fetched arrived since the last call (negative when a retry starts the file over)."""


def _counting_bars(watcher: Watcher) -> type:
    """A tqdm class for huggingface_hub's downloads that tells ``watcher`` every update and draws nothing."""
    from tqdm.auto import tqdm

    class CountingBar(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            watcher.received(int(n or 0))
            return super().update(n)

    return CountingBar


def _cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE).expanduser()


@contextmanager
def _hub_errors(role_name: str, repo_id: str, licence: registry.Licence, hub: Hub, destination: Path) -> Iterator[None]:
    """Around calls to the hub: its failures become :class:`PullError` saying what happened and what to do."""
    import httpx2
    from huggingface_hub.errors import (
        EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError,
        RevisionNotFoundError,
    )  # fmt: skip

    try:
        yield
    except GatedRepoError as exc:
        raise PullError(gated_explanation(repo_id, licence, hub, exc.response.status_code)) from None
    except RepositoryNotFoundError:
        raise PullError(f"{repo_id} is not on the hub at {hub.endpoint} (or it is private and no token with access was sent); "
                        f"check where {role_name} resolves with `distill3d models`") from None  # fmt: skip
    except RevisionNotFoundError:
        raise PullError(f"{repo_id} has no revision {REVISION!r} at {hub.endpoint}") from None
    except OfflineModeIsEnabled:
        raise PullError("HF_HUB_OFFLINE is set, so huggingface_hub does not go online: unset it to pull") from None
    except (LocalEntryNotFoundError, httpx2.TransportError) as exc:
        raise PullError(f"cannot reach the hub at {hub.endpoint} ({exc}); check the network, or set --endpoint / HF_ENDPOINT "
                        "to a reachable mirror; what was fetched is kept and the next pull continues") from None  # fmt: skip
    except EntryNotFoundError as exc:
        raise PullError(f"{repo_id} lacks a file its listing named ({exc}); pull again, the repo may have changed meanwhile") from None
    except HfHubHTTPError as exc:
        raise PullError(f"the hub at {hub.endpoint} refused {repo_id}: {exc}") from None
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise PullError(f"the disk under {destination} is full: free space and pull again (what was fetched is kept and the next pull continues)") from None


def gated_explanation(repo_id: str, licence: registry.Licence, hub: Hub, status: int | None = None) -> str:
    """How to get access to a gated repo (``status``: the hub's answer, 401 when no token was sent, 403 when its user has no access)."""
    why = {401: "no token was sent", 403: "the token's account has not been granted access (yet)"}.get(status or 0, "access is needed")
    return (
        f"{repo_id} is gated ({why}): the hub serves it only to a logged-in user who accepted its licence "
        f"({licence.name}, {licence.url}). To get it: 1. sign in at {hub.page(repo_id)} and accept the licence "
        f"there; 2. create a read token at {hub.endpoint}/settings/tokens; 3. pull with `--token hf_…`, or set HF_TOKEN, "
        "or run `hf auth login` once (huggingface_hub then uses the stored token)"
    )


def plan(role_name: str, hub: Hub) -> Plan:
    """List and size what pulling ``role_name`` fetches (one hub API call); :class:`PullError` when the hub says no."""
    from huggingface_hub import HfApi, try_to_load_from_cache

    role = registry.ROLES[role_name]
    resolution = registry.resolve(role_name)
    local = registry.looks_local(resolution.reference)
    repo_id = role.default if local else resolution.reference
    local_dir = Path(resolution.reference).expanduser() if local else None
    cache_dir = _cache_dir()
    api = HfApi(endpoint=hub.endpoint, token=hub.token, library_name="distill3d", library_version=__version__)
    with _hub_errors(role_name, repo_id, role.licence, hub, local_dir or cache_dir):
        info = api.model_info(repo_id, revision=REVISION, files_metadata=True)
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    wanted = weight_files.choose(path for path in sizes if any(fnmatch(path, pattern) for pattern in role.files))
    if not wanted:
        raise PullError(f"{repo_id} at {hub.endpoint} has none of the files the {role_name} loader reads ({', '.join(role.files)})")
    files = tuple(sorted((RemoteFile(path, sizes[path]) for path in wanted), key=lambda f: (f.size, f.path)))

    def on_disk(f: RemoteFile) -> bool:
        if local_dir is not None:
            target = local_dir / f.path
            return target.is_file() and target.stat().st_size == f.size
        return isinstance(try_to_load_from_cache(repo_id, f.path, cache_dir=cache_dir, revision=info.sha), str)

    default = repo_id == role.default
    card = info.card_data.license if info.card_data is not None else None
    licence = role.licence if default else registry.Licence(str(card or "not stated"), hub.page(repo_id))
    return Plan(role=role, repo_id=repo_id, local_dir=local_dir, cache_dir=cache_dir, files=files,
                missing=tuple(f for f in files if not on_disk(f)), licence=licence, gated=(role.gated and default) or bool(info.gated))  # fmt: skip


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (where its files would be written)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_space(plans: list[Plan]) -> None:
    """:class:`PullError` naming needed and free bytes when the missing files do not fit on a destination's disk."""
    needed: dict[int, tuple[Path, int]] = {}
    for p in plans:
        where = _existing(p.destination)
        device = where.stat().st_dev
        first, total = needed.get(device, (where, 0))
        needed[device] = (first, total + p.missing_bytes)
    for where, total in needed.values():
        free = shutil.disk_usage(where).free
        if total > free:
            raise PullError(f"not enough disk space under {where}: the files to fetch need {human_size(total)} ({total} bytes), "
                            f"{human_size(free)} ({free} bytes) is free; free some space, or set HF_HUB_CACHE (or the roles' "
                            "folders) to a larger disk")  # fmt: skip


def fetch(p: Plan, hub: Hub, say: Callable[[str], None] = print, watcher: Watcher | None = None) -> None:
    """Download every file of ``p`` (those on disk only refresh the cache's ``main`` ref); :class:`PullError` on failure.
    Each missing file goes through :func:`fetch_resumable` first. With a ``watcher``, it is told of each missing file and
    its bytes, and huggingface_hub draws no progress bars."""
    from huggingface_hub import hf_hub_download

    missing = {f.path for f in p.missing}
    bars = None if watcher is None else _counting_bars(watcher)
    with _hub_errors(p.role.role, p.repo_id, p.licence, hub, p.destination):
        for index, f in enumerate(p.files, 1):
            if f.path in missing:
                if watcher is not None:
                    watcher.fetching(p, f)
                kept = fetch_resumable(p, f.path, hub, bars, watcher)
                say(f"  [{index}/{len(p.files)}] {f.path} ({human_size(f.size)})" + (f", resumed after {human_size(kept)}" if kept else ""))
            hf_hub_download(p.repo_id, f.path, revision=REVISION, cache_dir=p.cache_dir, local_dir=p.local_dir, endpoint=hub.endpoint,
                            token=hub.token, library_name="distill3d", library_version=__version__, tqdm_class=bars)  # fmt: skip


PARTIAL_SUFFIX = weight_files.DOWNLOADING_SUFFIXES[0]
"""The suffix of a file being fetched (kept when a pull stops, and continued by the next one)."""


def fetch_resumable(p: Plan, path: str, hub: Hub, bars: type | None, watcher: Watcher | None) -> int:
    """Fetch ``path`` of ``p``'s repo into a partial file beside its final place, continuing from what an earlier pull
    left there (an HTTP Range request), then move it where ``hf_hub_download`` finds it whole: the hub cache's blob (named
    by the file's ETag; huggingface_hub then only links it) or, for a role's own folder, the file itself (huggingface_hub
    accepts it when its SHA-256 is the ETag, as for every large file). huggingface_hub's own downloads cannot do this: they
    write to a file named per process and delete it when interrupted. Returns the bytes an earlier pull had left (0: none).
    Files whose ETag is no SHA-256 (small text files) in a role's folder are left to ``hf_hub_download``.

    One process at a time fetches a file (a lock file beside huggingface_hub's); a resumed file whose ETag is a SHA-256 (every large
    file's) is hashed before it is moved into place, and a mismatch is discarded with a :class:`PullError`."""
    from filelock import FileLock
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get, repo_folder_name
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(p.repo_id, path, revision=REVISION, endpoint=hub.endpoint)
    meta = get_hf_file_metadata(url, token=hub.token, library_name="distill3d", library_version=__version__, endpoint=hub.endpoint,
                                retry_on_errors=True)  # fmt: skip
    etag = meta.etag or ""
    sha256 = re.fullmatch(r"[0-9a-f]{64}", etag) is not None
    repo_folder = repo_folder_name(repo_id=p.repo_id, repo_type=constants.REPO_TYPE_MODEL)
    if p.local_dir is None and etag:
        final = p.cache_dir / repo_folder / "blobs" / etag
        partial = final.with_name(etag + PARTIAL_SUFFIX)
        lock = p.cache_dir / ".locks" / repo_folder / f"{etag}.distill3d.lock"  # beside huggingface_hub's own locks
    elif p.local_dir is not None and sha256:
        final = p.local_dir / path
        partial = final.with_name(f"{final.name}.{etag[:16]}{PARTIAL_SUFFIX}")
        lock = p.local_dir / ".cache" / "huggingface" / "download" / f"{path}.distill3d.lock"  # huggingface_hub's metadata folder
    else:
        return 0
    if final.is_file() and (meta.size is None or final.stat().st_size == meta.size):
        return 0
    partial.parent.mkdir(parents=True, exist_ok=True)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        kept = partial.stat().st_size if partial.is_file() else 0
        if meta.size is not None and kept > meta.size:  # not this file's beginning: start again
            partial.unlink()
            kept = 0
        if watcher is not None and kept:
            watcher.received(kept)
        headers = build_hf_headers(token=hub.token, library_name="distill3d", library_version=__version__)
        location = meta.location or url
        if urlsplit(location).netloc != urlsplit(hub.endpoint).netloc:
            headers.pop("authorization", None)  # a redirect to a CDN's signed URL: the token stays with the hub
        try:
            with open(partial, "ab") as out:
                http_get(location, out, resume_size=kept, headers=headers, expected_size=meta.size, displayed_filename=path,
                         tqdm_class=bars)  # fmt: skip
        except OSError as exc:
            if type(exc) is not OSError or exc.errno is not None:
                raise  # the hub's answers and the disk: told by _hub_errors
            raise PullError(f"{p.repo_id}/{path}: {exc}; pull again (what arrived whole is kept)") from None  # a size mismatch
        if kept and sha256 and _sha256(partial) != etag:
            partial.unlink()
            raise PullError(f"{p.repo_id}/{path} does not match its SHA-256 after resuming (the kept part was damaged); it was "
                            "discarded: pull again")  # fmt: skip
        os.replace(partial, final)
        if p.local_dir is not None:  # a stale record of an older download would make hf_hub_download fetch it again
            (p.local_dir / ".cache" / "huggingface" / "download" / f"{path}.metadata").unlink(missing_ok=True)
    return kept


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            digest.update(block)
    return digest.hexdigest()


def pull(role_names: list[str] | tuple[str, ...], hub: Hub, say: Callable[[str], None] = print,
         watcher: Watcher | None = None) -> list[registry.Resolution]:  # fmt: skip
    """Plan every role, show the licences, check the space, fetch (telling ``watcher``); where each role resolves afterwards.

    :class:`PullError` (nothing fetched) when a role's files cannot be listed or do not fit on disk; :class:`PullError`
    during fetching keeps what was complete (the next pull fetches only the rest). ValueError for an unknown role.
    """
    for name in role_names:
        if name not in registry.ROLES:
            raise ValueError(f"unknown model role {name!r} (known: {', '.join(registry.ROLES)})")
    plans = [plan(name, hub) for name in dict.fromkeys(role_names)]
    for p in plans:
        where = p.local_dir or f"the hub cache {p.cache_dir}"
        say(f"{p.role.role}: {p.repo_id} from {hub.endpoint} into {where}")
        say(f"  licence: {p.licence.name} ({p.licence.url}); read it before using the model")
        if p.gated:
            say(f"  gated: {hub.page(p.repo_id)} serves it only to users who accepted the licence there (a token is needed)")
        say(f"  {len(p.files)} files, {human_size(sum(f.size for f in p.files))}; to fetch: {len(p.missing)} files, {human_size(p.missing_bytes)}")
    check_space(plans)
    if watcher is not None:
        watcher.planned(plans)
    results = []
    for p in plans:
        fetch(p, hub, say, watcher)
        resolution = registry.resolve(p.role.role)
        say(f"{p.role.role}: present at {resolution.path}" if resolution.present else f"{p.role.role}: {resolution.state}: {resolution.how_to_obtain()}")
        results.append(resolution)
    return results
