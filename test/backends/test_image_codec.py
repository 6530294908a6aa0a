"""image_codec: PNG/JPEG bytes that decode back to the frame, base64 and data URIs."""

from __future__ import annotations

import io
import json

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from roborefer_ros.backends.http_client import JsonAscii, json_body
from roborefer_ros.backends.image_codec import (
    EncodedImage,
    ImageEncoding,
    b64decode,
    b64encode,
    data_uri,
    encode_depth_png,
    encode_png,
    encode_rgb,
)
from roborefer_ros.core.status import RefPointError, Status


def gradient(height: int = 48, width: int = 64) -> npt.NDArray[np.uint8]:
    """Distinct values per pixel and channel, so a channel swap or transpose shows."""
    rows, cols = np.mgrid[0:height, 0:width]
    rgb = np.stack([cols * 3 % 256, rows * 5 % 256, (rows + cols) % 256], axis=-1)
    return rgb.astype(np.uint8)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_png_round_trip_is_lossless_rgb() -> None:
    rgb = gradient()
    encoded = encode_rgb(rgb)
    assert encoded.mime == "image/png" and encoded.size == (64, 48)
    assert encoded.data.startswith(b"\x89PNG\r\n\x1a\n")
    image = decode(encoded.data)
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), rgb)


def test_png_accepts_a_non_contiguous_view() -> None:
    rgb = gradient(48, 128)[:, ::2]  # strided view, as a cropped message buffer might be
    assert not rgb.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(np.asarray(decode(encode_rgb(rgb).data)), rgb)


def test_jpeg_quality_changes_size_and_stays_close() -> None:
    rgb = gradient(96, 128)
    low = encode_rgb(rgb, ImageEncoding.JPEG, jpeg_quality=10)
    high = encode_rgb(rgb, ImageEncoding.JPEG, jpeg_quality=95)
    assert low.mime == high.mime == "image/jpeg"
    assert low.data.startswith(b"\xff\xd8") and len(low.data) < len(high.data)
    decoded = np.asarray(decode(high.data)).astype(int)
    assert decoded.shape == rgb.shape
    assert np.abs(decoded - rgb.astype(int)).mean() < 4.0


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_bad_jpeg_quality_is_a_backend_error(quality: int) -> None:
    with pytest.raises(RefPointError, match=f"jpeg_quality.*{quality}") as info:
        encode_rgb(gradient(), ImageEncoding.JPEG, jpeg_quality=quality)
    assert info.value.status is Status.BACKEND_ERROR


def test_max_side_shrinks_keeping_the_aspect_ratio() -> None:
    encoded = encode_rgb(np.zeros((720, 1280, 3), np.uint8), max_side=640)
    assert encoded.size == (640, 360)
    assert decode(encoded.data).size == (640, 360)


def test_max_side_never_enlarges() -> None:
    assert encode_rgb(gradient(), max_side=1000).size == (64, 48)


def test_max_side_must_be_positive() -> None:
    with pytest.raises(RefPointError, match=r"max_image_side.*got 0"):
        encode_rgb(gradient(), max_side=0)


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)],
    ids=["2d", "rgba", "float"],
)
def test_wrong_arrays_are_refused_naming_the_shape(array: npt.NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError, match=r"HxWx3 uint8.*\(4, 4"):
        encode_rgb(array)


def test_depth_png_is_lossless() -> None:
    depth = np.repeat(gradient()[..., :1], 3, axis=-1)
    encoded = encode_depth_png(depth)
    assert encoded.mime == "image/png"
    np.testing.assert_array_equal(np.asarray(decode(encoded.data)), depth)


def test_base64_and_data_uri() -> None:
    encoded = EncodedImage(b"\x00\xffabc", "image/png", 1, 1)
    assert encoded.base64() == b64encode(b"\x00\xffabc") == "AP9hYmM="
    assert b64decode(encoded.base64()) == b"\x00\xffabc"
    assert encoded.data_uri() == "data:image/png;base64,AP9hYmM="
    assert data_uri(b"\x00", "image/jpeg") == "data:image/jpeg;base64,AA=="


def test_b64decode_is_strict() -> None:
    with pytest.raises(ValueError):
        b64decode("AP9h*YmM=")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("PNG", "png"), (" jpg ", "jpeg"), ("jpeg", "jpeg"), ("png-deflate", "png_deflate")],
)
def test_encoding_names(name: str, expected: str) -> None:
    assert ImageEncoding.parse(name).value == expected


def test_unknown_encoding_names_the_value() -> None:
    with pytest.raises(RefPointError, match=r"'webp'.*png\|png_deflate\|jpeg") as info:
        ImageEncoding.parse("webp")
    assert info.value.status is Status.BACKEND_ERROR


# -- the lossless default: a stored PNG written with numpy and zlib -----------------------------


def camera_frame(height: int = 720, width: int = 1280) -> npt.NDArray[np.uint8]:
    """A camera-like frame: a smooth scene with sensor noise (std 2), every value in play."""
    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[0:height, 0:width]
    scene = np.stack([cols * 0.2, rows * 0.3, (rows + cols) * 0.1], axis=-1) % 256
    return np.clip(scene + rng.normal(0.0, 2.0, scene.shape), 0, 255).astype(np.uint8)


def test_the_default_is_a_lossless_uncompressed_png() -> None:
    rgb = camera_frame()
    encoded = encode_rgb(rgb)
    assert ImageEncoding.parse("png") is ImageEncoding.PNG
    assert encoded.mime == "image/png" and encoded.size == (1280, 720)
    # stored deflate: the pixels, a filter byte per row, and a few bytes per 64 kB block
    raw = 720 * (1 + 1280 * 3)
    assert raw < len(encoded.data) < raw * 1.001 + 100
    image = decode(encoded.data)
    assert (image.format, image.mode) == ("PNG", "RGB")
    np.testing.assert_array_equal(np.asarray(image), rgb)


def test_png_deflate_is_lossless_and_smaller() -> None:
    rgb = camera_frame(240, 320)
    stored = encode_rgb(rgb, ImageEncoding.PNG)
    deflated = encode_rgb(rgb, ImageEncoding.PNG_DEFLATE)
    assert len(deflated.data) < 0.75 * len(stored.data)
    np.testing.assert_array_equal(np.asarray(decode(deflated.data)), rgb)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 7), (5, 1), (3, 5), (48, 64)])
def test_png_writer_round_trips_any_size(height: int, width: int, compress: bool) -> None:
    rng = np.random.default_rng(height * 100 + width)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(decode(encode_png(rgb, compress))), rgb)
    view = np.asarray(rng.integers(0, 256, (height, 2 * width, 3), dtype=np.uint8))[:, ::2]
    np.testing.assert_array_equal(np.asarray(decode(encode_png(view, compress))), view)


def test_max_side_with_the_png_writer() -> None:
    encoded = encode_rgb(gradient(96, 128), max_side=64)
    assert encoded.size == (64, 48) and decode(encoded.data).size == (64, 48)


def test_depth_png_compressed_is_lossless() -> None:
    depth = np.repeat(camera_frame(48, 64)[..., :1], 3, axis=-1)
    np.testing.assert_array_equal(
        np.asarray(decode(encode_depth_png(depth, compress=True).data)), depth
    )


# -- base64 spliced into a JSON body ------------------------------------------------------------


def test_json_body_splices_base64_as_json_strings() -> None:
    encoded = encode_rgb(gradient())
    payload = {
        "image_url": [encoded.base64_json()],
        "openai": {"url": encoded.data_uri_json()},
        "text": 'a "quoted" prompt \\ with a backslash',
        "n": 1,
    }
    body = json_body(payload)
    decoded = json.loads(body)
    assert decoded == {
        "image_url": [encoded.base64()],
        "openai": {"url": encoded.data_uri()},
        "text": 'a "quoted" prompt \\ with a backslash',
        "n": 1,
    }
    assert body == json.dumps(decoded, separators=(",", ":")).encode()


@pytest.mark.parametrize("text", [b'ab"c', b"ab\\c", "é".encode()])
def test_json_ascii_refuses_what_json_would_escape(text: bytes) -> None:
    with pytest.raises(ValueError):
        JsonAscii(text)


def test_json_body_still_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        json_body({"x": {1, 2}})
