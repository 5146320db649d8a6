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


@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int
    extension: str


def validate_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Check that ``data`` is a PNG/JPEG/WebP of at most ``max_pixels`` that decodes completely.

    The size is checked from the header before any pixel is decoded, so a
    decompression bomb costs nothing. Raises :class:`ProtocolError` ``invalid_image``.
    """
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
            try:
                image.load()
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
                raise ProtocolError(ErrorCode.INVALID_IMAGE, f"the input image does not decode: {exc}") from None
            extension = FORMAT_EXTENSIONS.get(image.format or "")
            if extension is None:
                raise ProtocolError(ErrorCode.INVALID_IMAGE, f"{image.format} images are not accepted; send PNG, JPEG or WebP")
            return ImageFacts(image.format, width, height, extension)


def load_rgba(path: str) -> Image.Image:
    """An input image stored by the server (already validated), as RGBA."""
    with Image.open(path, formats=_OPENERS) as image:
        return image.convert("RGBA")
