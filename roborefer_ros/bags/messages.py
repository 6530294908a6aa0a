"""CDR messages of the bag layer, built and decoded with rosbags' typestore (no ROS install).

The typestore is ROS 2 Kilted's; Image, CameraInfo and TFMessage have the same definitions (and
type hashes) in Humble, Jazzy and Kilted, so the bytes are what a real driver would have recorded.
Decoded images follow the encoding conventions of ``roborefer_ros.core.depth``: 16UC1 / mono16
are uint16 millimetres, 32FC1 float32 metres; colour comes back as HxWx3 uint8 RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

from roborefer_ros.bags.errors import BagError
from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.frame import ns_to_stamp, stamp_to_ns
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.core.transforms import Transform

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"

# encoding -> (channels, dtype, channel order giving RGB; None for depth)
_LAYOUTS: dict[str, tuple[int, np.dtype[Any], slice | None]] = {
    "rgb8": (3, np.dtype(np.uint8), slice(0, 3, 1)),
    "bgr8": (3, np.dtype(np.uint8), slice(2, None, -1)),
    "rgba8": (4, np.dtype(np.uint8), slice(0, 3, 1)),
    "bgra8": (4, np.dtype(np.uint8), slice(2, None, -1)),
    "16UC1": (1, np.dtype(np.uint16), None),
    "mono16": (1, np.dtype(np.uint16), None),
    "32FC1": (1, np.dtype(np.float32), None),
}
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def _cls(name: str) -> Any:
    """The typestore's dataclass for ``name`` (typed Any: its fields are generated)."""
    return TYPESTORE.types[name]


def _header(stamp_ns: int, frame_id: str) -> Any:
    sec, nanosec = ns_to_stamp(stamp_ns)
    time = _cls("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)
    return _cls("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def serialize(message: object, msgtype: str) -> bytes:
    return bytes(TYPESTORE.serialize_cdr(message, msgtype, little_endian=True))


def image_cdr(pixels: npt.NDArray[Any], encoding: str, stamp_ns: int, frame_id: str) -> bytes:
    """CDR of an Image holding ``pixels`` (HxW or HxWxC in the encoding's dtype), little endian."""
    channels, dtype, _ = _LAYOUTS[encoding]
    wire = np.ascontiguousarray(pixels, dtype=dtype.newbyteorder("<"))
    if wire.shape[2:] not in ((), (channels,)) or (channels > 1 and wire.ndim != 3):
        raise BagError(f"an {encoding} image needs {channels} channel(s), got shape {wire.shape}")
    height, width = wire.shape[:2]
    msg = _cls(IMAGE)(
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=wire.view(np.uint8).reshape(-1),
    )
    return serialize(msg, IMAGE)


def camera_info_cdr(camera: CameraModel, stamp_ns: int, frame_id: str) -> bytes:
    roi = _cls("sensor_msgs/msg/RegionOfInterest")(
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    msg = _cls(CAMERA_INFO)(
        header=_header(stamp_ns, frame_id),
        height=camera.height,
        width=camera.width,
        distortion_model=camera.distortion_model,
        d=np.asarray(camera.d, dtype=np.float64),
        k=np.asarray(camera.k, dtype=np.float64).reshape(9),
        r=np.eye(3, dtype=np.float64).reshape(9),
        p=np.asarray(camera.p, dtype=np.float64).reshape(12),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )
    return serialize(msg, CAMERA_INFO)


def tf_cdr(transforms: Sequence[StampedTransform]) -> bytes:
    """CDR of one TFMessage holding all ``transforms`` (T_parent_from_child each)."""
    vector3, quaternion = _cls("geometry_msgs/msg/Vector3"), _cls("geometry_msgs/msg/Quaternion")
    items = []
    for st in transforms:
        x, y, z = st.transform.translation
        qx, qy, qz, qw = st.transform.quat_xyzw
        items.append(
            _cls("geometry_msgs/msg/TransformStamped")(
                header=_header(st.stamp_ns, st.parent_frame),
                child_frame_id=st.child_frame,
                transform=_cls("geometry_msgs/msg/Transform")(
                    translation=vector3(x=x, y=y, z=z),
                    rotation=quaternion(x=qx, y=qy, z=qz, w=qw),
                ),
            )
        )
    return serialize(_cls(TF_MESSAGE)(transforms=items), TF_MESSAGE)


def deserialize(data: bytes | memoryview, msgtype: str, topic: str) -> Any:
    """The message object of CDR ``data``; BagError naming the topic when it does not decode."""
    try:
        return TYPESTORE.deserialize_cdr(data, msgtype)
    except (SerdeError, KeyError) as err:
        raise BagError(f"cannot decode a {msgtype} message on {topic}: {err}") from err


def header_stamp_ns(msg: Any) -> int:
    return stamp_to_ns(int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))


def image_pixels(msg: Any) -> npt.NDArray[Any]:
    """HxW (depth) or HxWx3 RGB uint8 (colour) array of a decoded Image, honouring step."""
    layout = _LAYOUTS.get(str(msg.encoding))
    if layout is None:
        raise BagError(
            f"image encoding {msg.encoding!r} is not supported (use one of {', '.join(_LAYOUTS)})"
        )
    channels, dtype, order = layout
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    buf = np.asarray(msg.data, dtype=np.uint8)
    if height <= 0 or width <= 0 or step < row_bytes or buf.size < step * height:
        raise BagError(
            f"{msg.encoding} image {width}x{height} with step {step} has {buf.size} data bytes"
        )
    rows = np.ascontiguousarray(buf[: step * height].reshape(height, step)[:, :row_bytes])
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = rows.view(wire).astype(dtype).reshape(height, width, channels)
    if order is None:
        return pixels[:, :, 0]
    return np.ascontiguousarray(pixels[:, :, order])


def camera_model(msg: Any) -> CameraModel:
    return CameraModel.from_camera_info(msg)


def stamped_transforms(msg: Any) -> list[StampedTransform]:
    """The transforms of a decoded TFMessage (frame names without a leading '/', as tf2)."""
    result = []
    for item in msg.transforms:
        t, q = item.transform.translation, item.transform.rotation
        result.append(
            StampedTransform(
                parent_frame=str(item.header.frame_id).lstrip("/"),
                child_frame=str(item.child_frame_id).lstrip("/"),
                stamp_ns=header_stamp_ns(item),
                transform=Transform((t.x, t.y, t.z), (q.x, q.y, q.z, q.w)),
            )
        )
    return result
