import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models and small renders gain nothing from intra-op threads, and spinning OpenMP threads crawl on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
