import pytest

from backend.methods import get
from backend.methods.configs import resolve


@pytest.fixture
def tiny_config():
    """The tiny CAD config on the synthetic prior (snowman family)."""
    return resolve(get("cad"), "tiny", {"prior": "synthetic", "family": "snowman"})[1]
