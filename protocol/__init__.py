"""Distill3D's wire protocol: shared by the backend and the Blender add-on.

Stdlib + msgpack (+ pyzmq for :mod:`protocol.client` and :mod:`protocol.transport`);
never imports torch or bpy, numpy only where arrays are converted.
"""

__version__ = "0.1.0"

from .errors import ErrorCode, FrameRejected, ProtocolError, RemoteError  # noqa: E402
from .limits import DEFAULT_LIMITS, Limits  # noqa: E402
from .messages import PROTOCOL_VERSION  # noqa: E402

__all__ = [
    "DEFAULT_LIMITS",
    "ErrorCode",
    "FrameRejected",
    "Limits",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "RemoteError",
    "__version__",
]
