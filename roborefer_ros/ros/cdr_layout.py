"""Where each primitive field of a message lies in its CDR serialization, so a stream of
same-shaped messages is written into one serialized buffer in place and published raw.

Filling a ``unitree_hg/LowState`` (35 nested motor states) through its Python class and
publishing it costs ~1.4 ms on a loaded 2-core machine, too much at the robot's 500 Hz; writing
the changed numbers into a serialized template with numpy and publishing the bytes costs tens of
microseconds. The layout is computed from a message *instance* (its sequences' lengths are
part of the shape) by the rules of classic little-endian CDR as ROS 2 serializes it: a 4-byte
encapsulation header, then each primitive aligned to its size relative to the end of the
header, a sequence prefixed by its uint32 length. Strings are not supported (their length is
the content). ``FixedLayoutWriter`` checks the computed size against ``serialize_message`` of the
template, and the tests read patched buffers back with ``deserialize_message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from rclpy.serialization import serialize_message

HEADER_BYTES = 4
_SIZES = {
    "boolean": 1,
    "octet": 1,
    "char": 1,
    "uint8": 1,
    "int8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "float": 4,
    "int64": 8,
    "uint64": 8,
    "double": 8,
}
_DTYPES = {
    "boolean": "u1",
    "octet": "u1",
    "char": "u1",
    "uint8": "u1",
    "int8": "i1",
    "int16": "<i2",
    "uint16": "<u2",
    "int32": "<i4",
    "uint32": "<u4",
    "float": "<f4",
    "int64": "<i8",
    "uint64": "<u8",
    "double": "<f8",
}


class CdrLayoutError(ValueError):
    """A message this layout cannot describe (a string field), or a template whose serialized
    size is not the computed one."""


def _parse(field_type: str) -> tuple[str, str]:
    """(element type, "one" | "array" | "sequence") of a rosidl field type string."""
    if field_type.startswith("sequence<"):
        return field_type[len("sequence<") : -1].split(",")[0].strip(), "sequence"
    if field_type.endswith("]"):
        return field_type[: field_type.index("[")], "array"
    return field_type, "one"


class CdrLayout:
    """``fields``: path (``motor_state[3].q``, ``imu_state.rpy[2]``, ``tick``) -> (byte offset
    in the serialized message, header included; primitive type name). ``size``: its bytes."""

    def __init__(self, message: Any) -> None:
        self.fields: dict[str, tuple[int, str]] = {}
        self.size = HEADER_BYTES + self._walk(message, "", 0)

    def _walk(self, message: Any, prefix: str, position: int) -> int:
        for name, field_type in message.get_fields_and_field_types().items():
            base, kind = _parse(field_type)
            if base in ("string", "wstring") or base.startswith(("string<", "wstring<")):
                raise CdrLayoutError(f"{prefix}{name}: strings have no fixed layout")
            value = getattr(message, name)
            items: Sequence[Any] = [value] if kind == "one" else list(value)
            if kind == "sequence":
                position = -(-position // 4) * 4 + 4  # the uint32 length
            for index, item in enumerate(items):
                path = prefix + name + ("" if kind == "one" else f"[{index}]")
                if base in _SIZES:
                    size = _SIZES[base]
                    position = -(-position // size) * size
                    self.fields[path] = (HEADER_BYTES + position, base)
                    position += size
                else:
                    position = self._walk(item, path + ".", position)
        return position

    def offsets(self, paths: Sequence[str]) -> tuple[npt.NDArray[np.int64], str]:
        """Byte offsets of ``paths`` (all of one primitive type) and that type."""
        found = [self.fields[p] for p in paths]
        kinds = {kind for _, kind in found}
        if len(kinds) != 1:
            raise CdrLayoutError(f"paths of mixed types {sorted(kinds)}")
        return np.array([offset for offset, _ in found], dtype=np.int64), kinds.pop()


class FixedLayoutWriter:
    """A serialized template of one message and in-place writes of its primitive fields:
    ``set(paths, values)`` then ``data()`` (the bytes to publish raw)."""

    def __init__(self, template: Any) -> None:
        self.layout = CdrLayout(template)
        self._buffer = bytearray(serialize_message(template))
        if len(self._buffer) != self.layout.size:
            raise CdrLayoutError(
                f"{type(template).__name__}: serialized {len(self._buffer)} bytes, the layout "
                f"says {self.layout.size}"
            )
        self._views: dict[str, npt.NDArray[Any]] = {}
        self._prepared: dict[tuple[str, ...], tuple[npt.NDArray[np.int64], npt.NDArray[Any]]] = {}

    def _view(self, kind: str) -> npt.NDArray[Any]:
        view = self._views.get(kind)
        if view is None:
            dtype = np.dtype(_DTYPES[kind])
            view = np.frombuffer(
                self._buffer, dtype=dtype, count=len(self._buffer) // dtype.itemsize
            )
            self._views[kind] = view
        return view

    def set(self, paths: tuple[str, ...], values: npt.ArrayLike) -> None:
        """Write ``values`` into the fields ``paths`` (one primitive type, naturally aligned)."""
        prepared = self._prepared.get(paths)
        if prepared is None:
            offsets, kind = self.layout.offsets(paths)
            view = self._view(kind)
            if np.any(offsets % view.itemsize):
                raise CdrLayoutError(f"{paths[0]}...: not aligned to {view.itemsize} bytes")
            prepared = (offsets // view.itemsize, view)
            self._prepared[paths] = prepared
        index, view = prepared
        view[index] = values

    def data(self) -> bytes:
        return bytes(self._buffer)
