"""Images as HTTP model servers take them: PNG or JPEG file bytes, base64, data URIs.

Each request encodes its frame once, in memory (no temporary files). The default, ``png``, is
lossless and as cheap as an image file can be: a PNG whose deflate stream is stored, not
compressed (the pixels plus 5 bytes per 64 kB and the checksums), written here with numpy and
zlib; any PNG decoder reads it, and the server decodes exactly the frame's pixels. On a 1280x720
camera frame it costs ~10 ms against ~100 ms for zlib level 1 and ~450 ms for Pillow's default
(the authors' client), for 2.8 MB instead of 1.3-1.5 MB (docs/benchmarks.md). ``png_deflate``
compresses (the Up filter, zlib level 1 run-length strategy: about half the bytes, ~8x the
time) for slow links; ``jpeg`` is lossy. The encoded size is what the model saw, so it travels
with the bytes.

Base64 text goes into a request body as an ``http_client.JsonAscii`` (``EncodedImage.base64_json``,
``data_uri_json``): spliced in verbatim instead of scanned by ``json.dumps``, which takes ~20 ms
for the 3.7 MB of a 1280x720 frame.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt
from PIL import Image

from roborefer_ros.backends.http_client import JsonAscii
from roborefer_ros.core.status import RefPointError, Status

DEFAULT_JPEG_QUALITY = 90
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageEncoding(Enum):
    """How colour images travel to an HTTP backend."""

    PNG = "png"  # lossless, deflate stored (not compressed): the cheapest to make
    PNG_DEFLATE = "png_deflate"  # lossless, compressed: about half the bytes, ~8x the time
    JPEG = "jpeg"  # lossy (jpeg_quality)

    @classmethod
    def parse(cls, name: str) -> ImageEncoding:
        """Encoding from its option name (case-insensitive; "jpg" = "jpeg"), else BACKEND_ERROR."""
        key = name.strip().lower().replace("-", "_")
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

    def base64_json(self) -> JsonAscii:
        """``base64()`` for a request body, spliced in without a JSON scan."""
        return JsonAscii(base64.b64encode(self.data))

    def data_uri_json(self) -> JsonAscii:
        """``data_uri()`` for a request body, spliced in without a JSON scan."""
        return JsonAscii(f"data:{self.mime};base64,".encode("ascii") + base64.b64encode(self.data))


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
    if max_side is not None:
        image = _fit(Image.fromarray(np.ascontiguousarray(rgb)), max_side)
        rgb = np.asarray(image)
    height, width = rgb.shape[:2]
    if encoding is ImageEncoding.JPEG:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="JPEG", quality=jpeg_quality)
        return EncodedImage(buffer.getvalue(), "image/jpeg", width, height)
    data = encode_png(rgb, compress=encoding is ImageEncoding.PNG_DEFLATE)
    return EncodedImage(data, "image/png", width, height)


def encode_depth_png(
    depth_for_model: npt.NDArray[np.uint8], compress: bool = False
) -> EncodedImage:
    """The model depth image (HxWx3 uint8, near = bright) as PNG: lossless, as it was trained.

    JPEG is never used for depth: its block artefacts would be read as depth edges.
    """
    _check_image(depth_for_model, "depth_for_model")
    height, width = depth_for_model.shape[:2]
    return EncodedImage(encode_png(depth_for_model, compress), "image/png", width, height)


def encode_png(rgb: npt.NDArray[np.uint8], compress: bool = False) -> bytes:
    """An 8-bit RGB PNG file of an HxWx3 uint8 array (any strides), lossless.

    ``compress`` False: every row unfiltered, the deflate stream stored (zlib level 0), so the
    cost is a few copies and the checksums. True: every row Up-filtered (the difference to the
    row above, modulo 256), then zlib level 1 with the run-length strategy, which suits noisy
    camera images and keeps the long runs of clean ones.
    """
    _check_image(rgb, "rgb")
    height, width = rgb.shape[:2]
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    pixels = rgb.reshape(height, 3 * width) if rgb.flags["C_CONTIGUOUS"] else None
    if pixels is None:
        pixels = np.ascontiguousarray(rgb).reshape(height, 3 * width)
    if compress:
        rows[:, 0] = 2  # filter type Up
        rows[0, 1:] = pixels[0]
        np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])  # uint8: wraps modulo 256
        packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        stream = packer.compress(rows.data) + packer.flush()
    else:
        rows[:, 0] = 0  # filter type None
        rows[:, 1:] = pixels
        stream = zlib.compress(rows.data, 0)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"".join(
        (PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", stream), _chunk(b"IEND", b""))
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


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
