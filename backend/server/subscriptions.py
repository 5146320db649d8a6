"""Which client follows which job, and how far each has been sent.

A subscription is a cursor: the sequence number of the last event sent to that
peer for that job. New events only mark subscriptions dirty; the broker's pump
sends each dirty one the events after its cursor in batches, when that peer is
not backlogged. A slow peer therefore costs one cursor, not a queue, and gets
everything it missed (and only the latest preview) when it catches up.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_JOBS_PER_PEER = 256


@dataclass
class Cursor:
    seq: int
    """Last event sequence number sent."""
    follow: bool
    """Keep following after catching up (False: send what was missed, then end)."""
    preview_seq: int = 0
    """Sequence number of the last preview image sent."""


class Subscriptions:
    def __init__(self) -> None:
        self._by_peer: dict[bytes, dict[str, Cursor]] = {}
        self._by_job: dict[str, set[bytes]] = {}
        self.dirty: set[tuple[bytes, str]] = set()

    def subscribe(self, peer: bytes, job_id: str, since_seq: int, follow: bool) -> bool:
        """Start (or restart) sending ``job_id``'s events after ``since_seq`` to ``peer``; False when the peer follows too many jobs."""
        jobs = self._by_peer.setdefault(peer, {})
        if job_id not in jobs and len(jobs) >= MAX_JOBS_PER_PEER:
            return False
        jobs[job_id] = Cursor(since_seq, follow)
        self._by_job.setdefault(job_id, set()).add(peer)
        self.dirty.add((peer, job_id))
        return True

    @property
    def followed_jobs(self) -> set[str]:
        """Jobs some client follows now."""
        return set(self._by_job)

    def can_follow(self, peer: bytes) -> bool:
        """Whether ``peer`` may follow one more job."""
        return len(self._by_peer.get(peer, {})) < MAX_JOBS_PER_PEER

    def unsubscribe(self, peer: bytes, job_id: str) -> None:
        jobs = self._by_peer.get(peer)
        if jobs is not None:
            jobs.pop(job_id, None)
            if not jobs:
                del self._by_peer[peer]
        peers = self._by_job.get(job_id)
        if peers is not None:
            peers.discard(peer)
            if not peers:
                del self._by_job[job_id]
        self.dirty.discard((peer, job_id))

    def drop_peer(self, peer: bytes) -> None:
        for job_id in list(self._by_peer.get(peer, {})):
            self.unsubscribe(peer, job_id)

    def cursor(self, peer: bytes, job_id: str) -> Cursor | None:
        return self._by_peer.get(peer, {}).get(job_id)

    def job_changed(self, job_id: str) -> None:
        for peer in self._by_job.get(job_id, ()):
            self.dirty.add((peer, job_id))

    @property
    def peers(self) -> int:
        return len(self._by_peer)

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._by_peer.values())
