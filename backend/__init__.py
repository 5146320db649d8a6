"""Distill3D backend: the server process and everything that needs torch."""

from protocol import __version__

__all__ = ["__version__"]
