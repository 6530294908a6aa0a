"""Fuzzing the message conversions: arbitrary Image / CameraInfo contents and serialized bytes.

Only the documented errors may come out (RefPointError with BAD_FRAME or UNSUPPORTED_ENCODING),
never another exception; well-formed messages round-trip exactly, big-endian depth included.
"""

from __future__ import annotations

import array
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.ros.conversions import (
    cdr_header_stamp_ns,
    depth_to_image,
    frame_from_messages,
    image_to_depth,
    image_to_rgb,
    rgb_to_image,
    time_msg,
)

FUZZ = settings(max_examples=200, deadline=None)
DOCUMENTED = {Status.BAD_FRAME, Status.UNSUPPORTED_ENCODING}
ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "16UC1", "mono16", "32FC1", "8UC1", "mono8", ""]
UINT32 = 2**32 - 1

sizes = st.one_of(st.integers(0, 12), st.sampled_from([UINT32, 2**31, 1 << 20]))
encodings = st.one_of(st.sampled_from(ENCODINGS), st.text(max_size=12))


@st.composite
def images(draw: st.DrawFn) -> Image:
    """An Image whose fields disagree in every way: sizes, step, data length, encoding."""
    msg = Image()
    msg.header = Header(frame_id=draw(st.text(max_size=8)))
    msg.height, msg.width = draw(sizes), draw(sizes)
    msg.encoding = draw(encodings)
    msg.is_bigendian = draw(st.integers(0, 1))
    msg.step = draw(st.one_of(st.integers(0, 64), st.sampled_from([UINT32, 2**31])))
    msg.data = array.array("B", draw(st.binary(max_size=512)))
    return msg


def camera_info(width: int, height: int, fx: float) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    cx, cy = (width - 1) / 2, (height - 1) / 2
    info.k = [fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    return info


@st.composite
def camera_infos(draw: st.DrawFn) -> CameraInfo:
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    info = camera_info(draw(sizes), draw(sizes), draw(floats))
    if draw(st.booleans()):
        info.k = [draw(floats) for _ in range(9)]
        info.p = [draw(floats) for _ in range(12)]
    info.distortion_model = draw(st.sampled_from(["plumb_bob", "", "equidistant", "weird"]))
    info.d = [draw(floats) for _ in range(draw(st.integers(0, 8)))]
    return info


def only_documented(err: RefPointError) -> None:
    assert err.status in DOCUMENTED, (err.status, err.message)
    assert err.message


@FUZZ
@given(images())
def test_image_to_rgb_raises_only_documented_errors(msg: Image) -> None:
    try:
        rgb = image_to_rgb(msg)
    except RefPointError as err:
        only_documented(err)
    else:
        assert rgb.shape == (msg.height, msg.width, 3) and rgb.dtype == np.uint8


@FUZZ
@given(images())
def test_image_to_depth_raises_only_documented_errors(msg: Image) -> None:
    try:
        depth = image_to_depth(msg)
    except RefPointError as err:
        only_documented(err)
    else:
        assert depth.shape == (msg.height, msg.width)
        assert depth.dtype.isnative


@FUZZ
@given(images(), images(), camera_infos())
def test_frame_from_messages_raises_only_documented_errors(
    color: Image, depth: Image, info: CameraInfo
) -> None:
    try:
        frame = frame_from_messages(color, depth, info)
        frame.validate()
    except RefPointError as err:
        only_documented(err)


@FUZZ
@given(st.binary(max_size=64))
def test_cdr_header_stamp_raises_only_documented_errors(data: bytes) -> None:
    try:
        stamp = cdr_header_stamp_ns(data)
    except RefPointError as err:
        assert err.status == Status.BAD_FRAME and "no header" in err.message
        assert len(data) < 12
    else:
        assert len(data) >= 12
        order = "<" if data[1] & 1 else ">"
        sec, nanosec = struct.unpack_from(f"{order}iI", data, 4)
        assert stamp == sec * 1_000_000_000 + nanosec


@FUZZ
@given(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 999_999_999),
    st.binary(max_size=32),
    st.sampled_from([0, 1]),
)
def test_cdr_header_stamp_reads_both_byte_orders(
    sec: int, nanosec: int, tail: bytes, little: int
) -> None:
    order = "<" if little else ">"
    data = bytes([0, little, 0, 0]) + struct.pack(f"{order}iI", sec, nanosec) + tail
    assert cdr_header_stamp_ns(data) == sec * 1_000_000_000 + nanosec


@st.composite
def rgb_arrays(draw: st.DrawFn) -> np.ndarray:
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    raw = draw(st.binary(min_size=h * w * 3, max_size=h * w * 3))
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)


@FUZZ
@given(rgb_arrays(), st.sampled_from(["rgb8", "bgr8", "rgba8", "bgra8"]), st.integers(0, 9))
def test_colour_round_trips_with_padding(rgb: np.ndarray, encoding: str, pad: int) -> None:
    """Any supported layout, any row padding: the RGB view equals the original pixels."""
    h, w = rgb.shape[:2]
    pixels = rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb
    if encoding.endswith("a8"):
        pixels = np.concatenate([pixels, np.full((h, w, 1), 7, np.uint8)], axis=2)
    row_bytes = pixels.shape[1] * pixels.shape[2]
    rows = np.zeros((h, row_bytes + pad), np.uint8)
    rows[:, :row_bytes] = pixels.reshape(h, row_bytes)
    msg = Image(height=h, width=w, encoding=encoding, step=row_bytes + pad)
    msg.data = array.array("B", rows.tobytes() + b"\xff" * pad)  # longer data is ignored
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    np.testing.assert_array_equal(image_to_rgb(rgb_to_image(rgb, Header())), rgb)


@st.composite
def depth_arrays(draw: st.DrawFn) -> tuple[np.ndarray, str]:
    encoding = draw(st.sampled_from(["16UC1", "mono16", "32FC1"]))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    if encoding == "32FC1":
        values = st.floats(width=32, allow_nan=False)
        dtype: type = np.float32
    else:
        values = st.integers(0, 65535)
        dtype = np.uint16
    flat = draw(st.lists(values, min_size=h * w, max_size=h * w))
    return np.array(flat, dtype=dtype).reshape(h, w), encoding


@FUZZ
@given(depth_arrays(), st.integers(0, 1), st.integers(0, 3))
def test_depth_round_trips_in_both_byte_orders(
    depth_enc: tuple[np.ndarray, str], big_endian: int, pad_items: int
) -> None:
    depth, encoding = depth_enc
    h, w = depth.shape
    wire = depth.dtype.newbyteorder(">" if big_endian else "<")
    padded = np.zeros((h, w + pad_items), dtype=wire)
    padded[:, :w] = depth
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=big_endian)
    msg.step = (w + pad_items) * depth.dtype.itemsize
    msg.data = array.array("B", padded.tobytes())
    out = image_to_depth(msg)
    assert out.dtype == depth.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, depth)
    if encoding != "mono16":
        again = image_to_depth(depth_to_image(depth, Header(), encoding))
        np.testing.assert_array_equal(again, depth)


@FUZZ
@given(rgb_arrays(), st.integers(0, 2**31 - 1), st.floats(1.0, 2000.0))
def test_valid_frame_round_trips(rgb: np.ndarray, stamp: int, fx: float) -> None:
    h, w = rgb.shape[:2]
    header = Header(frame_id="cam", stamp=time_msg(stamp))
    depth = (np.arange(h * w, dtype=np.uint16) + 300).reshape(h, w)
    info = camera_info(w, h, fx)
    info.header = header
    frame = frame_from_messages(
        rgb_to_image(rgb, header), depth_to_image(depth, header, "16UC1"), info
    )
    frame.validate()
    assert frame.stamp_ns == stamp and frame.frame_id == "cam" and frame.depth_encoding == "16UC1"
    np.testing.assert_array_equal(frame.rgb, rgb)
    np.testing.assert_array_equal(frame.depth, depth)
