"""The wire-format modules the add-on uses: vendored inside the built extension, the repository's when run from a checkout."""

try:  # inside the extension zip, where build_addon.py copies the protocol package next to this module
    from .protocol import buffers, cameras, client, connection, download, errors, messages, sizes
except ImportError:  # the source tree (tests, development)
    from protocol import buffers, cameras, client, connection, download, errors, messages, sizes  # type: ignore[no-redef]

__all__ = ["buffers", "cameras", "client", "connection", "download", "errors", "messages", "sizes"]
