"""Fetching a job's result in chunks with a bounded window of requests in flight.

:class:`ResultDownload` is a plain state machine, so a GUI can drive it from its
own timer (``next_requests`` → send → ``accept`` each reply); :func:`download`
drives it with blocking futures for scripts and the CLI. Memory: one buffer per
item of the item's size, and at most ``window`` chunks in flight.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Callable, Iterable

from .buffers import WireArray
from .errors import ErrorCode, ProtocolError
from .messages import FetchResult, ResultChunk, ResultItem, ResultManifest


class ResultDownload:
    def __init__(self, job_id: str, manifest: ResultManifest, items: Iterable[str] | None = None, window: int = 4) -> None:
        self.job_id = job_id
        self.manifest = manifest
        wanted = list(items) if items is not None else [i.name for i in manifest.items]
        self.items: dict[str, ResultItem] = {name: manifest.item(name) for name in wanted}
        self.window = window
        self._buffers = {name: bytearray(item.nbytes) for name, item in self.items.items()}
        self._todo = [(name, c) for name, item in self.items.items() for c in range(item.nchunks)]
        self._todo.reverse()  # pop() from the end = first chunk first
        self._in_flight: set[tuple[str, int]] = set()
        self.received_bytes = 0
        self.total_bytes = sum(item.nbytes for item in self.items.values())

    @property
    def done(self) -> bool:
        return not self._todo and not self._in_flight

    def next_requests(self) -> list[FetchResult]:
        """Requests to send now so that ``window`` are in flight."""
        requests = []
        while self._todo and len(self._in_flight) < self.window:
            name, chunk = self._todo.pop()
            self._in_flight.add((name, chunk))
            requests.append(FetchResult(job_id=self.job_id, item=name, chunk=chunk))
        return requests

    def accept(self, reply: ResultChunk) -> None:
        """Place a received chunk; raises :class:`ProtocolError` when it is not one we asked for or has the wrong size."""
        key = (reply.item, reply.chunk)
        if reply.job_id != self.job_id or key not in self._in_flight:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"unexpected chunk {reply.item}[{reply.chunk}]")
        item = self.items[reply.item]
        start = reply.chunk * self.manifest.chunk_bytes
        expected = min(self.manifest.chunk_bytes, item.nbytes - start)
        if reply.offset != start or len(reply.data) != expected:
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE,
                f"chunk {reply.item}[{reply.chunk}] has offset {reply.offset} and {len(reply.data)} bytes; "
                f"expected {start} and {expected}",
            )
        self._buffers[reply.item][start : start + expected] = reply.data.view
        self._in_flight.discard(key)
        self.received_bytes += expected

    def retry(self, item: str, chunk: int) -> None:
        """Put a chunk whose request failed (e.g. timed out) back in the queue."""
        if (item, chunk) in self._in_flight:
            self._in_flight.discard((item, chunk))
            self._todo.append((item, chunk))

    def result(self) -> dict[str, bytes | WireArray]:
        """Item name → file bytes, or a :class:`WireArray` for array items (checked against dtype × shape)."""
        if not self.done:
            raise RuntimeError("download is not finished")
        out: dict[str, bytes | WireArray] = {}
        for name, item in self.items.items():
            data = self._buffers[name]
            if item.kind == "array":
                out[name] = WireArray(item.dtype or "", item.shape or (), data)
            else:
                out[name] = bytes(data)
        return out


def download(
    request_async: Callable[[FetchResult], Future],
    job_id: str,
    manifest: ResultManifest,
    *,
    items: Iterable[str] | None = None,
    window: int = 4,
    timeout: float = 60.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, bytes | WireArray]:
    """Fetch a whole result with ``window`` requests in flight (``request_async`` is ``Client.request_async``)."""
    state = ResultDownload(job_id, manifest, items, window)
    pending: list[Future] = []
    while not state.done:
        pending += [request_async(r) for r in state.next_requests()]
        future = pending.pop(0)
        state.accept(future.result(timeout))
        if on_progress is not None:
            on_progress(state.received_bytes, state.total_bytes)
    return state.result()
