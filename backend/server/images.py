"""Input images: refused early and clearly when they are not safe, decodable images."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from protocol.errors import ErrorCode, ProtocolError

FORMAT_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp"}
"""Accepted formats (as Pillow names them; MPO is a multi-picture JPEG) and the extension their stored copy gets."""
_OPENERS = ["PNG", "JPEG", "WEBP"]

DEFAULT_MAX_PIXELS = 4096 * 4096
BROKER_DECODE_PIXELS = 1024 * 1024
"""Images up to this many pixels are decoded in full at submit (a few ms, with :data:`MAX_JPEG_SCANS`), so a damaged one is
refused there; larger ones are only checked from their headers there and decoded by the worker that runs the job, so
the broker, which serves every client, never spends seconds on one upload."""
MAX_JPEG_SCANS = 16
"""Scans a JPEG may have: encoders write 1 (baseline) to ~12 (progressive); decoding cost grows with each, and a 154 KiB
4096² JPEG whose last scan was repeated 300 times once held the broker for 12 s."""
_SOS = b"\xff\xda"
@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int
    extension: str


def jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers in a JPEG's bytes (entropy-coded data stuffs every 0xFF with 0x00, so the pair 0xFF 0xDA is
    always a marker); O(len(data)), no decoding."""
    return data.count(_SOS)


def validate_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Check that ``data`` is a PNG/JPEG/WebP of at most ``max_pixels`` (and a JPEG of at most :data:`MAX_JPEG_SCANS`
    scans), from its header, before any pixel is decoded; images of at most :data:`BROKER_DECODE_PIXELS` are decoded in
    full too. Bounded in time and memory whatever the bytes. Raises :class:`ProtocolError` ``invalid_image``."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=_OPENERS)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ProtocolError(ErrorCode.INVALID_IMAGE, "the input is not a PNG, JPEG or WebP image") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise ProtocolError(ErrorCode.INVALID_IMAGE, f"the input image is damaged: {exc}") from None
        with image:
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                raise ProtocolError(
                    ErrorCode.INVALID_IMAGE,
                    f"the input image is {width}×{height} pixels; at most {max_pixels} pixels are accepted",
                )
            extension = FORMAT_EXTENSIONS.get(image.format or "")
            if extension is None:
                raise ProtocolError(ErrorCode.INVALID_IMAGE, f"{image.format} images are not accepted; send PNG, JPEG or WebP")
            if extension == "jpg" and (scans := jpeg_scans(data)) > MAX_JPEG_SCANS:
                raise ProtocolError(ErrorCode.INVALID_IMAGE, f"the input JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are accepted "
                                    "(save it again as a baseline or ordinary progressive JPEG, or as PNG)")
            if width * height <= BROKER_DECODE_PIXELS:
                _decode(image)
            return ImageFacts(image.format, width, height, extension)


def _decode(image: Image.Image) -> None:
    """Decode every pixel; ``invalid_image`` when that fails."""
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise ProtocolError(ErrorCode.INVALID_IMAGE, f"the input image does not decode: {exc}") from None


def load_rgba(path: str) -> Image.Image:
    """An input image stored by the server (its header validated at submit), as RGBA; ``invalid_image`` when it does
    not decode (images over :data:`BROKER_DECODE_PIXELS` are decoded here first)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path, formats=_OPENERS) as image:
            _decode(image)
            return image.convert("RGBA")
