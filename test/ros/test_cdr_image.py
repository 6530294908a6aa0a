"""A serialized sensor_msgs/Image read in place (ros.cdr_image) gives exactly what rclpy's
deserialization gives, for any header, size, encoding, byte order flag and data; a broken buffer
is BAD_FRAME and nothing else; the frame built from it is the frame built from the messages."""

from __future__ import annotations

import array

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.ros.cdr_image import image_from_cdr
from roborefer_ros.ros.conversions import (
    depth_to_image,
    frame_from_messages,
    frame_from_serialized,
    rgb_to_image,
    time_msg,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def images(draw: st.DrawFn) -> Image:
    msg = Image()
    msg.header = Header(
        frame_id=draw(st.text(max_size=12)),
        stamp=time_msg(draw(st.integers(0, 2**62))),
    )
    msg.height = draw(st.integers(0, 2**32 - 1))
    msg.width = draw(st.integers(0, 2**32 - 1))
    msg.encoding = draw(st.text(max_size=9))
    msg.is_bigendian = draw(st.integers(0, 1))
    msg.step = draw(st.integers(0, 2**32 - 1))
    msg.data = array.array("B", draw(st.binary(max_size=40)))
    return msg


@FUZZ
@given(images())
def test_fields_and_data_equal_rclpy_deserialization(msg: Image) -> None:
    data = serialize_message(msg)
    got = image_from_cdr(data)
    ref = deserialize_message(data, Image)
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == (
        ref.header.stamp.sec,
        ref.header.stamp.nanosec,
    )
    assert got.header.frame_id == ref.header.frame_id
    assert (got.height, got.width, got.encoding) == (ref.height, ref.width, ref.encoding)
    assert (got.is_bigendian, got.step) == (ref.is_bigendian, ref.step)
    assert bytes(got.data) == bytes(ref.data)


@FUZZ
@given(images(), st.data())
def test_a_truncated_buffer_is_a_bad_frame(msg: Image, data: st.DataObject) -> None:
    full = serialize_message(msg)
    cut = data.draw(st.integers(0, len(full) - 1))
    try:
        got = image_from_cdr(full[:cut])
    except RefPointError as err:
        assert err.status is Status.BAD_FRAME
    else:  # only the trailing padding was cut
        assert bytes(got.data) == bytes(msg.data)


@FUZZ
@given(st.binary(max_size=80))
def test_any_bytes_raise_only_bad_frame(data: bytes) -> None:
    try:
        image_from_cdr(data)
    except RefPointError as err:
        assert err.status is Status.BAD_FRAME


def test_pixels_are_a_view_of_the_serialized_buffer() -> None:
    rgb = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    header = Header(frame_id="cam", stamp=time_msg(1_700_000_000_123_456_789))
    depth = np.arange(48, dtype=np.uint16).reshape(6, 8) + 300
    color_bytes = serialize_message(rgb_to_image(rgb, header))
    depth_bytes = serialize_message(depth_to_image(depth, header, "16UC1"))
    info = CameraInfo(width=8, height=6)
    info.header = header
    info.k = [5.0, 0.0, 4.0, 0.0, 5.0, 3.0, 0.0, 0.0, 1.0]
    frame = frame_from_serialized(color_bytes, depth_bytes, serialize_message(info))
    reference = frame_from_messages(
        deserialize_message(color_bytes, Image), deserialize_message(depth_bytes, Image), info
    )
    np.testing.assert_array_equal(frame.rgb, rgb)
    np.testing.assert_array_equal(frame.depth, depth)
    assert (frame.stamp_ns, frame.frame_id, frame.depth_encoding) == (
        reference.stamp_ns,
        reference.frame_id,
        reference.depth_encoding,
    )
    assert not frame.rgb.flags.writeable  # a view of the immutable message bytes, no copy
    assert np.shares_memory(frame.rgb, np.frombuffer(color_bytes, np.uint8))
    frame.validate()


def test_a_big_endian_encapsulation_is_read_too() -> None:
    little = serialize_message(rgb_to_image(np.zeros((2, 3, 3), np.uint8), Header(frame_id="c")))
    assert little[1] == 1  # rclpy writes little-endian CDR
    # the same message written big-endian: the header flag, then every field byte-swapped
    big = bytearray(b"\x00\x00\x00\x00")
    big += (0).to_bytes(4, "big") + (0).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"c\0"
    big += b"\0\0" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    big += (5).to_bytes(4, "big") + b"rgb8\0" + b"\0" + b"\0\0"  # is_bigendian 0, pad to 4
    big += (9).to_bytes(4, "big") + (18).to_bytes(4, "big") + bytes(range(18))
    got = image_from_cdr(bytes(big))
    assert (got.height, got.width, got.encoding, got.step) == (2, 3, "rgb8", 9)
    assert got.header.frame_id == "c" and bytes(got.data) == bytes(range(18))


def test_a_length_past_the_end_names_it() -> None:
    data = bytearray(serialize_message(rgb_to_image(np.zeros((2, 2, 3), np.uint8), Header())))
    data[-12 - 4 : -12] = (10**6).to_bytes(4, "little")  # the data sequence's length
    with pytest.raises(RefPointError, match="claims 1000000 bytes") as err:
        image_from_cdr(bytes(data))
    assert err.value.status is Status.BAD_FRAME
