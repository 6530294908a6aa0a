"""Node parameters declared from one table per node: ``ParameterSpec`` rows become rclpy
declarations with descriptors (description, read-only, range) and the generated tables of
docs/parameters.md. Each node keeps its own table beside it (``ros/refer/params.py``,
``ros/pick_place/params.py``, ...); the launch/config checker reads the same tables.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter


class ParameterError(ValueError):
    """A parameter value a node refuses at start-up: one line naming the parameter, what was
    given and what it takes (the node executables print it and exit 2)."""


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


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return f"list of {_type_word(value[0])}" if value else "list"
    return type(value).__name__


def _span(spec: ParameterSpec) -> str:
    def show(value: float | None) -> str:
        assert value is not None
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    return f"{show(spec.min_value)} .. {show(spec.max_value)}"


def _as_declared(spec: ParameterSpec, parameter: Parameter[Any]) -> Parameter[Any] | None:
    """An integer given for a double parameter as that double (``-p max_frame_age_s:=3`` or
    ``max_frame_age_s: 3`` in a YAML file); None when nothing needs coercing. Lists too."""
    default, value = spec.default, parameter.value
    if isinstance(default, float) and parameter.type_ == Parameter.Type.INTEGER:
        return Parameter(spec.name, Parameter.Type.DOUBLE, float(value))
    if (
        isinstance(default, list | tuple)
        and default
        and isinstance(default[0], float)
        and parameter.type_ == Parameter.Type.INTEGER_ARRAY
    ):
        return Parameter(spec.name, Parameter.Type.DOUBLE_ARRAY, [float(v) for v in value])
    return None


def declare_parameters(node: Node, specs: tuple[ParameterSpec, ...]) -> None:
    """Declare ``specs`` on ``node`` with descriptors. Integers given for double parameters are
    coerced (at start-up and on later sets); a value of the wrong type or out of range raises
    ParameterError (one line naming the parameter and its type or range)."""
    by_name = {spec.name: spec for spec in specs}
    # Overrides from the command line and parameter files, before they are applied. rclpy keeps
    # them in this dict; it has no public setter, and a pre-set callback does not see them.
    overrides: dict[str, Parameter[Any]] = getattr(node, "_parameter_overrides", {})
    for name, given in list(overrides.items()):
        if name in by_name and (coerced := _as_declared(by_name[name], given)) is not None:
            overrides[name] = coerced
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
        try:
            node.declare_parameter(spec.name, spec.default, descriptor)
        except InvalidParameterTypeException:
            value = overrides[spec.name].value if spec.name in overrides else None
            raise ParameterError(
                f"parameter {spec.name}: expected {_type_word(spec.default)}, got "
                f"{_type_word(value)} {value!r}"
            ) from None
        except InvalidParameterValueException:
            value = overrides[spec.name].value if spec.name in overrides else spec.default
            raise ParameterError(
                f"parameter {spec.name}={value!r} is out of range {_span(spec)}"
            ) from None

    def coerce(parameters: list[Parameter[Any]]) -> list[Parameter[Any]]:
        out = []
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            coerced = _as_declared(spec, parameter) if spec is not None else None
            out.append(parameter if coerced is None else coerced)
        return out

    # Live sets (``ros2 param set NODE max_frame_age_s 3``) are coerced the same way.
    if hasattr(node, "add_pre_set_parameters_callback"):  # rclpy of Iron and later
        node.add_pre_set_parameters_callback(coerce)


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
