import io
import struct
import zlib

import pytest
from PIL import Image

from backend.server.images import validate_image
from protocol.errors import ErrorCode, ProtocolError


def encoded(fmt: str, size=(32, 24), mode="RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (255, 0, 0, 128)[: len(mode)]).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, mode, ext", [("PNG", "RGBA", "png"), ("JPEG", "RGB", "jpg"), ("WEBP", "RGBA", "webp")])
def test_accepts_common_formats(fmt, mode, ext):
    facts = validate_image(encoded(fmt, mode=mode))
    assert (facts.width, facts.height, facts.extension) == (32, 24, ext)


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "not a PNG"),
        (b"GIF89a" + b"\0" * 100, "not a PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "not a PNG|damaged"),
        (encoded("PNG")[:-40], "does not decode"),
        (png_header_only(100_000, 100_000), "not a PNG|pixels"),
        (png_header_only(5000, 5000), "pixels"),
        (png_header_only(64, 64), "does not decode"),
    ],
)
def test_refuses_broken_images_and_bombs(data, words):
    with pytest.raises(ProtocolError, match=words) as info:
        validate_image(data)
    assert info.value.code is ErrorCode.INVALID_IMAGE


def test_pixel_limit_is_configurable():
    with pytest.raises(ProtocolError, match="at most 100 pixels"):
        validate_image(encoded("PNG"), max_pixels=100)


def test_multi_picture_jpeg_is_accepted_as_jpeg():
    buffer = io.BytesIO()
    first, second = Image.new("RGB", (16, 16), "red"), Image.new("RGB", (16, 16), "blue")
    first.save(buffer, format="MPO", save_all=True, append_images=[second])
    facts = validate_image(buffer.getvalue())
    assert (facts.format, facts.extension) == ("MPO", "jpg")
