"""Node parameters declared from one table per node: ``ParameterSpec`` rows become rclpy
declarations with descriptors (description, read-only, range) and the generated tables of
docs/parameters.md. Each node keeps its own table beside it (``ros/refer/params.py``,
``ros/pick_place/params.py``, ...); the launch/config checker reads the same tables.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter. ``read_only``: fixed at start-up (most settings are read at
    configure time; a live change would lie); ``range``: inclusive (low, high) for numbers."""

    name: str
    default: Any
    description: str
    _: KW_ONLY
    read_only: bool = True
    range: tuple[float, float] | None = None

    @property
    def min_value(self) -> float | None:
        return None if self.range is None else self.range[0]

    @property
    def max_value(self) -> float | None:
        return None if self.range is None else self.range[1]


def declare_parameters(node: Node, specs: tuple[ParameterSpec, ...]) -> None:
    for spec in specs:
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if spec.min_value is not None and spec.max_value is not None:
            if isinstance(spec.default, float):
                descriptor.floating_point_range = [
                    FloatingPointRange(
                        from_value=float(spec.min_value), to_value=float(spec.max_value)
                    )
                ]
            elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
                descriptor.integer_range = [
                    IntegerRange(
                        from_value=int(spec.min_value), to_value=int(spec.max_value), step=1
                    )
                ]
        node.declare_parameter(spec.name, spec.default, descriptor)


def markdown_table(specs: tuple[ParameterSpec, ...]) -> str:
    """A node's parameter table for docs/parameters.md (a test keeps the page equal to it)."""

    def show(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return f'"{value}"' if isinstance(value, str) else repr(value)

    rows = ["| parameter | default | range | read-only | description |", "|---|---|---|---|---|"]
    for spec in specs:
        span = f"{spec.min_value:g} .. {spec.max_value:g}" if spec.min_value is not None else ""
        rows.append(
            f"| `{spec.name}` | `{show(spec.default)}` | {span} | "
            f"{'yes' if spec.read_only else 'no'} | {spec.description} |"
        )
    return "\n".join(rows)
