"""Images as HTTP model servers take them: PNG or JPEG file bytes, base64, data URIs.

Each request encodes its frame once, in memory (no temporary files). PNG uses a fast compression
level: on loopback or a LAN the bytes saved by harder compression cost more encoder time than they
save in transfer. The encoded size is what the model saw, so it travels with the bytes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt
from PIL import Image

from roborefer_ros.core.status import RefPointError, Status

# zlib level 1: on a noisy 1280x720 camera-like frame ~4x faster than Pillow's default 6 for
# ~17 % more bytes (docs/benchmarks.md).
PNG_COMPRESS_LEVEL = 1
DEFAULT_JPEG_QUALITY = 90


class ImageEncoding(Enum):
    """How colour images travel to an HTTP backend."""

    PNG = "png"
    JPEG = "jpeg"

    @classmethod
    def parse(cls, name: str) -> ImageEncoding:
        """Encoding from its option name (case-insensitive; "jpg" = "jpeg"), else BACKEND_ERROR."""
        key = name.strip().lower()
        key = "jpeg" if key == "jpg" else key
        try:
            return cls(key)
        except ValueError:
            known = "|".join(e.value for e in cls)
            raise RefPointError(
                Status.BACKEND_ERROR, f"unknown image_encoding {name!r}; known: {known}"
            ) from None


@dataclass(frozen=True)
class EncodedImage:
    """An image file in memory; ``width`` x ``height`` is the size of the encoded image."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as ``Answer.model_image_size`` wants it."""
        return (self.width, self.height)

    def base64(self) -> str:
        """The file bytes as raw base64 text (the RoboRefer server's ``image_url`` items)."""
        return b64encode(self.data)

    def data_uri(self) -> str:
        """``data:<mime>;base64,...`` (the OpenAI ``image_url.url`` form)."""
        return data_uri(self.data, self.mime)


def encode_rgb(
    rgb: npt.NDArray[np.uint8],
    encoding: ImageEncoding = ImageEncoding.PNG,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    max_side: int | None = None,
) -> EncodedImage:
    """Encode an HxWx3 uint8 RGB array; with ``max_side``, first shrink it to fit.

    Shrinking keeps the aspect ratio (a side is at least 1 px) and never enlarges.
    """
    _check_image(rgb, "rgb")
    check_jpeg_quality(jpeg_quality)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if max_side is not None:
        image = _fit(image, max_side)
    buffer = io.BytesIO()
    if encoding is ImageEncoding.PNG:
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        mime = "image/png"
    else:
        image.save(buffer, format="JPEG", quality=jpeg_quality)
        mime = "image/jpeg"
    return EncodedImage(buffer.getvalue(), mime, image.width, image.height)


def encode_depth_png(depth_for_model: npt.NDArray[np.uint8]) -> EncodedImage:
    """The model depth image (HxWx3 uint8, near = bright) as PNG: lossless, as it was trained.

    JPEG is never used for depth: its block artefacts would be read as depth edges.
    """
    _check_image(depth_for_model, "depth_for_model")
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(depth_for_model))
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return EncodedImage(buffer.getvalue(), "image/png", image.width, image.height)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as ASCII text."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict inverse of ``b64encode``: characters outside the alphabet raise ValueError."""
    return base64.b64decode(text, validate=True)


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,<data>``."""
    return f"data:{mime};base64,{b64encode(data)}"


def check_jpeg_quality(quality: int) -> int:
    """``quality`` if it lies in 1..100, else BACKEND_ERROR naming it."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise RefPointError(
            Status.BACKEND_ERROR, f"jpeg_quality must be an integer in 1..100, got {quality!r}"
        )
    return quality


def check_max_side(max_side: int | None) -> int | None:
    """``max_side`` if it is None or a positive integer, else BACKEND_ERROR naming it."""
    if max_side is not None and (
        isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1
    ):
        raise RefPointError(
            Status.BACKEND_ERROR, f"max_image_side must be a positive integer, got {max_side!r}"
        )
    return max_side


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` shrunk so that its longer side is ``max_side`` (unchanged if it already fits)."""
    check_max_side(max_side)
    longest = max(image.width, image.height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _check_image(array: npt.NDArray[np.uint8], what: str) -> None:
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{what} must be HxWx3 uint8, got {array.shape} {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{what} is empty: {array.shape}")
