"""A serialized sensor_msgs/Image read in place: its fields, and its pixels as a view.

A request freezes one frame, and the refer node keeps camera messages serialized until then.
Deserializing a 1280x720 colour + depth pair with rclpy copies 4.6 MB into new Python messages
(1-3 ms); reading the CDR fields here costs microseconds and the pixel buffer stays where it is:
``data`` is a memoryview of the serialized bytes, and ``conversions.image_to_rgb`` /
``image_to_depth`` make numpy views of it.

Layout (CDR as ROS 2 writes it: a 4-byte encapsulation header whose second byte says the byte
order, then the fields, each aligned to its size from the start of the payload)::

    int32 stamp.sec, uint32 stamp.nanosec, string frame_id,
    uint32 height, uint32 width, string encoding, uint8 is_bigendian, uint32 step,
    sequence<uint8> data

A string is a uint32 length (counting its terminating NUL) and the bytes. Anything that does not
fit (a truncated buffer, a length running past the end) is BAD_FRAME.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from roborefer_ros.core.status import RefPointError, Status

ENCAPSULATION = 4  # bytes before the payload; alignment counts from after them


@dataclass(frozen=True)
class CdrTime:
    sec: int
    nanosec: int


@dataclass(frozen=True)
class CdrHeader:
    stamp: CdrTime
    frame_id: str


@dataclass(frozen=True)
class CdrImage:
    """The fields of a sensor_msgs/Image, as rclpy's message names them; ``data`` is a view of
    the serialized buffer (no copy)."""

    header: CdrHeader
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.buf = memoryview(data)
        if len(self.buf) < ENCAPSULATION:
            raise _short(len(self.buf))
        self.order = "<" if self.buf[1] & 1 else ">"
        self.pos = ENCAPSULATION

    def _align(self, size: int) -> None:
        self.pos += -(self.pos - ENCAPSULATION) % size

    def u32(self) -> int:
        self._align(4)
        end = self.pos + 4
        if end > len(self.buf):
            raise _short(len(self.buf))
        (value,) = struct.unpack_from(f"{self.order}I", self.buf, self.pos)
        self.pos = end
        return int(value)

    def i32(self) -> int:
        value = self.u32()
        return value - (1 << 32) if value >= 1 << 31 else value

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            raise _short(len(self.buf))
        value = self.buf[self.pos]
        self.pos += 1
        return int(value)

    def raw(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.buf):
            raise RefPointError(
                Status.BAD_FRAME,
                f"serialized image claims {n} bytes at offset {self.pos}, but has {len(self.buf)}",
            )
        view = self.buf[self.pos : end]
        self.pos = end
        return view

    def string(self) -> str:
        n = self.u32()
        text = bytes(self.raw(n))
        return (text[:-1] if text.endswith(b"\0") else text).decode("utf-8", "replace")


def _short(size: int) -> RefPointError:
    return RefPointError(Status.BAD_FRAME, f"serialized image of {size} bytes is truncated")


def image_from_cdr(data: bytes | memoryview) -> CdrImage:
    """The Image fields of a serialized sensor_msgs/Image; its pixels stay in ``data``."""
    reader = _Reader(data)
    stamp = CdrTime(sec=reader.i32(), nanosec=reader.u32())
    frame_id = reader.string()
    height, width = reader.u32(), reader.u32()
    encoding = reader.string()
    is_bigendian = reader.u8()
    step = reader.u32()
    pixels = reader.raw(reader.u32())
    return CdrImage(CdrHeader(stamp, frame_id), height, width, encoding, is_bigendian, step, pixels)
