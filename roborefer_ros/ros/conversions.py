"""Message <-> numpy conversions: zero-copy views of message buffers, encodings decide dtypes.

Only the frozen frame of a request is converted (the sync ring keeps messages as they came), so
"conversion" is a few ``numpy.frombuffer`` views, microseconds even at 1280x720.
"""

from __future__ import annotations

import array
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import StampedTransform, checked_transform
from roborefer_ros.ros.cdr_image import CdrImage, image_from_cdr

# encoding -> (channels, channel order as a slice giving RGB)
_COLOUR_LAYOUTS: dict[str, tuple[int, slice]] = {
    "rgb8": (3, slice(0, 3, 1)),
    "bgr8": (3, slice(2, None, -1)),
    "rgba8": (4, slice(0, 3, 1)),
    "bgra8": (4, slice(2, None, -1)),
}
_DEPTH_DTYPES: dict[str, np.dtype[Any]] = {
    "16UC1": np.dtype(np.uint16),
    "mono16": np.dtype(np.uint16),
    "32FC1": np.dtype(np.float32),
}


def stamp_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def time_msg(stamp_ns_: int) -> Time:
    return Time(sec=int(stamp_ns_ // 1_000_000_000), nanosec=int(stamp_ns_ % 1_000_000_000))


def _rows(msg: Image | CdrImage, bytes_per_pixel: int, what: str) -> npt.NDArray[np.uint8]:
    """(height, width * bytes_per_pixel) uint8 view of an image buffer, honouring ``step``."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise RefPointError(Status.BAD_FRAME, f"{what} image has a zero size: {w}x{h}")
    row_bytes = w * bytes_per_pixel
    if step < row_bytes:
        raise RefPointError(
            Status.BAD_FRAME, f"{what} image step {step} < width {w} x {bytes_per_pixel} bytes"
        )
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size < step * h:
        raise RefPointError(
            Status.BAD_FRAME,
            f"{what} image data has {buf.size} bytes; step {step} x height {h} needs {step * h}",
        )
    return buf[: step * h].reshape(h, step)[:, :row_bytes]


def image_to_rgb(msg: Image | CdrImage) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 RGB view (no copy) of a colour Image; UNSUPPORTED_ENCODING otherwise."""
    layout = _COLOUR_LAYOUTS.get(msg.encoding)
    if layout is None:
        raise RefPointError(
            Status.UNSUPPORTED_ENCODING,
            f"colour encoding {msg.encoding!r} is not supported (use one of "
            f"{', '.join(sorted(_COLOUR_LAYOUTS))})",
        )
    channels, order = layout
    rows = _rows(msg, channels, "colour")
    return rows.reshape(int(msg.height), int(msg.width), channels)[:, :, order]


def image_to_depth(msg: Image | CdrImage) -> npt.NDArray[Any]:
    """HxW depth view in the encoding's dtype (uint16 mm or float32 m), native byte order."""
    dtype = _DEPTH_DTYPES.get(msg.encoding)
    if dtype is None:
        raise RefPointError(
            Status.UNSUPPORTED_ENCODING,
            f"depth encoding {msg.encoding!r} is not supported (use 16UC1 in mm or 32FC1 in m)",
        )
    rows = _rows(msg, dtype.itemsize, "depth")
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    depth = rows.view(wire).reshape(int(msg.height), int(msg.width))
    return depth if wire.isnative else depth.astype(dtype)


def camera_info_to_model(msg: CameraInfo) -> CameraModel:
    return CameraModel.from_camera_info(msg)


def frame_from_messages(
    color: Image | CdrImage, depth: Image | CdrImage, info: CameraInfo
) -> Frame:
    """The frozen Frame of one synchronised set (views, no copies)."""
    return Frame(
        stamp_ns=stamp_ns(color.header.stamp),
        frame_id=str(color.header.frame_id),
        rgb=image_to_rgb(color),
        depth=image_to_depth(depth),
        depth_encoding=str(depth.encoding),
        camera=camera_info_to_model(info),
        depth_frame_id=str(depth.header.frame_id),
    )


def cdr_header_stamp_ns(data: bytes) -> int:
    """Stamp of a serialized message whose first field is a std_msgs/Header (Image, CameraInfo).

    CDR: a 4-byte encapsulation header (byte 1: 1 = little endian), then ``int32 sec``,
    ``uint32 nanosec``. Reading it costs nothing, so camera callbacks never deserialize.
    """
    if len(data) < 12:
        raise RefPointError(
            Status.BAD_FRAME, f"serialized message of {len(data)} bytes has no header"
        )
    order = "<" if data[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(f"{order}iI", data, 4)
    return int(sec) * 1_000_000_000 + int(nanosec)


def frame_from_serialized(color: bytes, depth: bytes, info: bytes) -> Frame:
    """The frozen Frame of one synchronised set of serialized messages: the images are read in
    place (``ros.cdr_image``: their pixels stay views of ``color`` and ``depth``, read-only), the
    small camera_info is deserialized."""
    return frame_from_messages(
        image_from_cdr(color),
        image_from_cdr(depth),
        deserialize_message(info, CameraInfo),
    )


def rgb_to_image(rgb: npt.NDArray[np.uint8], header: Header) -> Image:
    """An rgb8 Image of an HxWx3 array (fast path: array.array, not bytes)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg = Image(header=header, height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8")
    msg.step = rgb.shape[1] * 3
    msg.data = array.array("B", rgb.tobytes())
    return msg


def depth_to_image(depth: npt.NDArray[Any], header: Header, encoding: str) -> Image:
    """A 16UC1 (uint16 mm) or 32FC1 (float32 m) Image of an HxW array."""
    dtype = _DEPTH_DTYPES[encoding]
    depth = np.ascontiguousarray(depth, dtype=dtype)
    msg = Image(header=header, height=depth.shape[0], width=depth.shape[1], encoding=encoding)
    msg.is_bigendian = 0
    msg.step = depth.shape[1] * dtype.itemsize
    msg.data = array.array("B", depth.tobytes())
    return msg


def transform_from_msg(msg: TransformStamped) -> StampedTransform:
    """Checked as tf2 checks a transform on insert (``core.tf_buffer.checked_transform``): a
    leading ``/`` stripped; BadTransformError for an empty or self-parented frame, a non-finite
    translation or a quaternion off unit length."""
    t, q = msg.transform.translation, msg.transform.rotation
    return checked_transform(
        str(msg.header.frame_id),
        str(msg.child_frame_id),
        stamp_ns(msg.header.stamp),
        (float(t.x), float(t.y), float(t.z)),
        (float(q.x), float(q.y), float(q.z), float(q.w)),
    )


def transform_to_msg(st: StampedTransform) -> TransformStamped:
    msg = TransformStamped()
    msg.header.frame_id = st.parent_frame
    msg.header.stamp = time_msg(st.stamp_ns)
    msg.child_frame_id = st.child_frame
    tr, q = st.transform.translation, st.transform.quat_xyzw
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = tr
    (
        msg.transform.rotation.x,
        msg.transform.rotation.y,
        msg.transform.rotation.z,
        msg.transform.rotation.w,
    ) = q
    return msg
