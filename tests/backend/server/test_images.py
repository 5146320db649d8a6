import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from backend.server.images import BROKER_DECODE_PIXELS, MAX_JPEG_SCANS, jpeg_scans, load_rgba, validate_image
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


def progressive_jpeg(side: int, repeat_last_scan: int = 0) -> bytes:
    """A progressive JPEG of seeded noise (``side``²), its last scan written ``repeat_last_scan`` more times (the attack:
    a few KiB of data, a decode cost that grows with every scan)."""
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    last = data.rindex(b"\xff\xda")
    return data[:-2] + data[last:-2] * repeat_last_scan + data[-2:]


def test_a_jpeg_with_too_many_scans_is_refused_from_its_bytes_alone():
    ordinary = progressive_jpeg(64)
    assert 1 < jpeg_scans(ordinary) <= MAX_JPEG_SCANS and validate_image(ordinary).extension == "jpg"
    bomb = progressive_jpeg(64, repeat_last_scan=300)
    with pytest.raises(ProtocolError, match=r"has 3\d\d scans; at most 16") as info:
        validate_image(bomb)
    assert info.value.code is ErrorCode.INVALID_IMAGE


def test_a_large_image_is_decoded_by_the_worker_not_at_submit(tmp_path):
    side = 2048  # over BROKER_DECODE_PIXELS
    assert side * side > BROKER_DECODE_PIXELS
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(buffer, format="PNG")
    truncated = buffer.getvalue()[:-200]
    start = time.perf_counter()
    assert validate_image(truncated).width == side, "its header is sound: accepted at submit"
    assert time.perf_counter() - start < 0.5, "and without decoding it"
    with pytest.raises(ProtocolError, match="does not decode") as info:
        validate_image(encoded("PNG", size=(512, 512))[:-40])
    assert info.value.code is ErrorCode.INVALID_IMAGE, "a small one is decoded, and refused, at submit"
    path = tmp_path / "input.png"
    path.write_bytes(truncated)
    with pytest.raises(ProtocolError, match="does not decode") as info:
        load_rgba(str(path))
    assert info.value.code is ErrorCode.INVALID_IMAGE, "the worker fails the job invalid_image"
