"""Workers' torch threads: one core is left to the broker, the client and Blender, and the worker really runs that many."""

import pytest
import torch

from backend.server.threads import default_threads
from backend.server.worker_main import resolve_device


@pytest.mark.parametrize("cores, workers, threads", [(1, 1, 1), (2, 1, 1), (4, 1, 3), (16, 1, 15), (16, 4, 3), (2, 3, 1), (8, 0, 7)])
def test_workers_leave_a_core_free_and_share_the_rest(cores, workers, threads):
    assert default_threads(cores, workers) == threads


def test_resolving_the_device_sets_the_workers_threads_and_says_so():
    before = torch.get_num_threads()
    try:
        device, info = resolve_device("cpu", 0, threads=1)
        assert device == "cpu" and torch.get_num_threads() == 1 and info["detail"] == "1 thread per worker"
        _, info = resolve_device("cpu", 0, threads=2)
        assert torch.get_num_threads() == 2 and info["detail"] == "2 threads per worker"
    finally:
        torch.set_num_threads(before)
