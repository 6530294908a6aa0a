"""The refer node's parameters: one table, a validating reader, and what a real node declares.

Most checks need no node at all (``read_config`` takes a plain dict). The last group declares the
table on a real ``rclpy.node.Node`` in a private context; it talks to no other process.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator
from dataclasses import MISSING, fields
from typing import Any

import pytest
import rclpy
import rclpy.node
from rclpy.context import Context
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, ReliabilityPolicy

from roborefer_ros.backends.registry import BackendOptions
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.ros.params import ParameterError, ParameterSpec, declare_parameters
from roborefer_ros.ros.refer.params import (
    REFER_NODE_PARAMETERS,
    ReferNodeConfig,
    read_config,
    read_node_config,
)

SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in REFER_NODE_PARAMETERS}
# Parameters that do not map one-to-one onto a config field: the camera QoS is built from the
# qos_* pair, and the node reads autostart itself (before configure, to drive its lifecycle).
NOT_CONFIG_FIELDS = {"qos_reliability", "qos_depth", "autostart"}


def defaults(**changes: Any) -> dict[str, Any]:
    values = {spec.name: spec.default for spec in REFER_NODE_PARAMETERS}
    unknown = set(changes) - set(values)
    assert not unknown, f"not parameters: {unknown}"
    values.update(changes)
    return values


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- the table itself ------------------------------------------------------------------------


def test_parameter_names_are_unique() -> None:
    names = [spec.name for spec in REFER_NODE_PARAMETERS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("spec", REFER_NODE_PARAMETERS, ids=lambda s: s.name)
def test_parameter_has_a_description(spec: ParameterSpec) -> None:
    assert isinstance(spec.description, str)
    assert spec.description.strip(), f"{spec.name} has no description"


@pytest.mark.parametrize("spec", REFER_NODE_PARAMETERS, ids=lambda s: s.name)
def test_parameter_range_is_complete_and_holds_the_default(spec: ParameterSpec) -> None:
    bounds = (spec.min_value, spec.max_value)
    if bounds == (None, None):
        return
    # declare_parameters only applies a range when both ends are given
    assert None not in bounds, f"{spec.name}: half a range {bounds} would be silently ignored"
    assert is_number(spec.default), f"{spec.name}: a range on a {type(spec.default).__name__}"
    assert spec.min_value is not None and spec.max_value is not None
    assert spec.min_value < spec.max_value, f"{spec.name}: empty range {bounds}"
    assert spec.min_value <= spec.default <= spec.max_value, (
        f"{spec.name}: default {spec.default} outside {bounds}"
    )
    if isinstance(spec.default, int):
        assert float(spec.min_value).is_integer() and float(spec.max_value).is_integer(), (
            f"{spec.name}: integer parameter with a fractional range {bounds}"
        )


@pytest.mark.parametrize("field", fields(ReferConfig), ids=lambda f: f.name)
def test_every_refer_config_field_is_a_parameter(field: Any) -> None:
    assert field.name in SPECS, f"ReferConfig.{field.name} has no ParameterSpec"
    spec = SPECS[field.name]
    hint = typing.get_type_hints(ReferConfig)[field.name]
    # The default's Python type becomes the ROS parameter type: an int default on a float field
    # would declare an INTEGER parameter that rejects 0.5.
    assert type(spec.default) is hint, (
        f"{field.name}: ReferConfig says {hint.__name__}, "
        f"the parameter default {spec.default!r} is {type(spec.default).__name__}"
    )
    assert field.default is not MISSING
    assert spec.default == field.default, (
        f"{field.name}: parameter default {spec.default!r} != ReferConfig default {field.default!r}"
    )


def test_every_parameter_is_read_into_the_config() -> None:
    """No dead parameters: each one reaches a config field (or one of NOT_CONFIG_FIELDS)."""
    node_fields = {f.name for f in fields(ReferNodeConfig)} - {
        "refer",
        "camera_qos",
        "backend_options",
    }
    refer_fields = {f.name for f in fields(ReferConfig)}
    backend_fields = {f.name for f in fields(BackendOptions)}
    unread = set(SPECS) - node_fields - refer_fields - backend_fields - NOT_CONFIG_FIELDS
    assert not unread, f"parameters no config field reads: {sorted(unread)}"
    undeclared = node_fields - set(SPECS)
    assert not undeclared, f"ReferNodeConfig fields without a parameter: {sorted(undeclared)}"


@pytest.mark.parametrize("spec", REFER_NODE_PARAMETERS, ids=lambda s: s.name)
def test_node_config_field_types_match_the_parameters(spec: ParameterSpec) -> None:
    hints = typing.get_type_hints(ReferNodeConfig)
    if spec.name in hints:
        assert type(spec.default) is hints[spec.name], spec.name


# --- read_config -----------------------------------------------------------------------------


def test_read_config_accepts_the_defaults() -> None:
    cfg = read_config(defaults())
    assert cfg.refer == ReferConfig()
    assert cfg.camera_qos.reliability == ReliabilityPolicy.BEST_EFFORT
    assert cfg.camera_qos.history == HistoryPolicy.KEEP_LAST
    assert cfg.camera_qos.depth == SPECS["qos_depth"].default
    for f in fields(ReferNodeConfig):
        if f.name in SPECS:
            assert getattr(cfg, f.name) == SPECS[f.name].default, f.name


def test_read_config_passes_values_through() -> None:
    cfg = read_config(
        defaults(
            target_frame="map",
            tf_timeout_s=0.25,
            depth_window_px=5,
            qos_reliability="RELIABLE",  # case-insensitive
            qos_depth=3,
            tf_implementation="own",
            backend="recorded",
            answers_file="/tmp/answers.json",
            max_pending_requests=4,
            publish_markers=False,
        )
    )
    assert cfg.refer.target_frame == "map"
    assert cfg.refer.tf_timeout_s == 0.25
    assert cfg.refer.depth_window_px == 5
    assert cfg.camera_qos.reliability == ReliabilityPolicy.RELIABLE
    assert cfg.camera_qos.depth == 3
    assert cfg.tf_implementation == "own"
    assert (cfg.backend, cfg.backend_options.answers_file) == ("recorded", "/tmp/answers.json")
    assert cfg.max_pending_requests == 4
    assert cfg.publish_markers is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("qos_reliability", "sometimes"),
        ("qos_reliability", ""),
        ("tf_implementation", "x"),
        ("tf_implementation", "AUTO"),
    ],
)
def test_read_config_rejects_unknown_choices(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name) as err:
        read_config(defaults(**{name: value}))
    assert repr(value) in str(err.value), "the message should show the rejected value"


@pytest.mark.parametrize("value", [8, 2, 0, -3])
def test_read_config_rejects_a_bad_depth_window(value: int) -> None:
    with pytest.raises(RefPointError, match="depth_window_px") as err:
        read_config(defaults(depth_window_px=value))
    assert err.value.status == Status.BAD_REQUEST


@pytest.mark.parametrize(
    "name", ["max_frame_age_s", "frame_wait_timeout_s", "model_timeout_s", "tf_timeout_s"]
)
def test_read_config_rejects_negative_timeouts(name: str) -> None:
    with pytest.raises(RefPointError, match=name) as err:
        read_config(defaults(**{name: -0.5}))
    assert err.value.status == Status.BAD_REQUEST
    assert "-0.5" in str(err.value)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"min_valid_ratio": 0.0}, "min_valid_ratio"),
        ({"min_valid_ratio": 1.5}, "min_valid_ratio"),
        ({"min_range_m": 2.0, "max_range_m": 1.0}, "max_range_m"),
        ({"target_frame": "  "}, "target_frame"),
        ({"max_prompt_chars": -1}, "max_prompt_chars"),
    ],
)
def test_read_config_rejects_other_bad_refer_values(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(RefPointError, match=named):
        read_config(defaults(**changes))


def test_read_config_needs_every_parameter() -> None:
    values = defaults()
    del values["qos_depth"]
    with pytest.raises(KeyError, match="qos_depth"):
        read_config(values)


# --- a real node -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(args=[], context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def make_node(context: Context, name: str, **kwargs: Any) -> rclpy.node.Node:
    return rclpy.node.Node(name, context=context, start_parameter_services=False, **kwargs)


def parameter_names(node: rclpy.node.Node) -> set[str]:
    return set(node.list_parameters([], 0).names)


@pytest.fixture
def node(context: Context) -> Iterator[rclpy.node.Node]:
    node = make_node(context, "params_test")
    declare_parameters(node, REFER_NODE_PARAMETERS)
    yield node
    node.destroy_node()


def test_node_declares_exactly_the_table(context: Context) -> None:
    node = make_node(context, "params_baseline_test")
    try:
        baseline = parameter_names(node)  # what rclpy declares by itself (use_sim_time, ...)
        assert not baseline & set(SPECS), "a parameter collides with one rclpy declares itself"
        declare_parameters(node, REFER_NODE_PARAMETERS)
        assert parameter_names(node) - baseline == set(SPECS)
    finally:
        node.destroy_node()


@pytest.mark.parametrize("spec", REFER_NODE_PARAMETERS, ids=lambda s: s.name)
def test_node_parameter_type_value_and_descriptor(
    node: rclpy.node.Node, spec: ParameterSpec
) -> None:
    parameter = node.get_parameter(spec.name)
    assert parameter.type_ == Parameter.Type.from_parameter_value(spec.default)
    assert parameter.value == spec.default

    descriptor = node.describe_parameter(spec.name)
    assert descriptor.name == spec.name
    assert descriptor.type == parameter.type_.value
    assert descriptor.description == spec.description
    assert descriptor.read_only is spec.read_only
    ranged = spec.min_value is not None and spec.max_value is not None
    if ranged and isinstance(spec.default, float):
        assert not descriptor.integer_range
        (fp,) = descriptor.floating_point_range
        assert math.isclose(fp.from_value, spec.min_value)
        assert math.isclose(fp.to_value, spec.max_value)
    elif ranged and isinstance(spec.default, int) and not isinstance(spec.default, bool):
        assert not descriptor.floating_point_range
        (ir,) = descriptor.integer_range
        assert (ir.from_value, ir.to_value, ir.step) == (spec.min_value, spec.max_value, 1)
    else:
        assert not descriptor.floating_point_range
        assert not descriptor.integer_range


def test_read_node_config_reads_the_declared_defaults(node: rclpy.node.Node) -> None:
    assert read_node_config(node) == read_config(defaults())


def test_read_only_parameters_refuse_a_live_change(node: rclpy.node.Node) -> None:
    (result,) = node.set_parameters([Parameter("sync_slop_s", value=0.5)])
    assert not result.successful
    assert node.get_parameter("sync_slop_s").value == SPECS["sync_slop_s"].default


def test_writable_parameters_accept_in_range_and_refuse_out_of_range(
    node: rclpy.node.Node,
) -> None:
    ok, too_big = node.set_parameters(
        [Parameter("tf_timeout_s", value=0.25), Parameter("depth_window_px", value=1001)]
    )
    assert ok.successful, ok.reason
    assert node.get_parameter("tf_timeout_s").value == 0.25
    assert not too_big.successful
    assert node.get_parameter("depth_window_px").value == SPECS["depth_window_px"].default


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            Parameter("tf_timeout_s", value=-1.0),
            "parameter tf_timeout_s=-1.0 is out of range 0 .. 60",
        ),
        (
            Parameter("max_pending_requests", value=0),
            "parameter max_pending_requests=0 is out of range 1 .. 1000",
        ),
        (
            Parameter("qos_depth", value="five"),
            "parameter qos_depth: expected integer, got string 'five'",
        ),
        (
            Parameter("max_frame_age_s", value=5000),  # an integer, coerced, then out of range
            "parameter max_frame_age_s=5000.0 is out of range 0 .. 3600",
        ),
        (Parameter("depth_window_px", value=2.5), "expected integer, got double 2.5"),
    ],
    ids=lambda p: p.name if isinstance(p, Parameter) else "",
)
def test_bad_overrides_fail_at_declaration_in_one_line(
    context: Context, override: Parameter[Any], message: str
) -> None:
    """What ``-p NAME:=VALUE`` or a parameter file can get wrong: one line naming the parameter
    and its type or range (rclpy's own exceptions read "Trying to set parameter ... of type
    'INTEGER', expecting type 'DOUBLE'" or "Invalid parameter value (...) for parameter")."""
    node = make_node(context, "params_override_test", parameter_overrides=[override])
    try:
        with pytest.raises(ParameterError) as info:
            declare_parameters(node, REFER_NODE_PARAMETERS)
        assert message in str(info.value)
        assert "\n" not in str(info.value)
    finally:
        node.destroy_node()


def test_an_integer_for_a_double_parameter_is_taken_as_that_double(context: Context) -> None:
    """``-p max_frame_age_s:=3`` and ``max_frame_age_s: 3`` in a YAML file (rclpy: an INTEGER)
    used to raise InvalidParameterTypeException; it is coerced at declaration and on live sets."""
    overrides = [Parameter("max_frame_age_s", value=3), Parameter("min_range_m", value=0)]
    node = make_node(context, "params_coerce_test", parameter_overrides=overrides)
    try:
        declare_parameters(node, REFER_NODE_PARAMETERS)
        value = node.get_parameter("max_frame_age_s").value
        assert value == 3.0 and isinstance(value, float)
        assert node.get_parameter("min_range_m").value == 0.0
        (result,) = node.set_parameters([Parameter("tf_timeout_s", value=2)])
        assert result.successful, result.reason
        value = node.get_parameter("tf_timeout_s").value
        assert value == 2.0 and isinstance(value, float)
        (result,) = node.set_parameters([Parameter("tf_timeout_s", value=100)])
        assert not result.successful  # still refused out of range after the coercion
    finally:
        node.destroy_node()


def test_good_overrides_reach_the_config(context: Context) -> None:
    overrides = [
        Parameter("target_frame", value="odom"),
        Parameter("qos_reliability", value="reliable"),
        Parameter("frame_ring_size", value=3),
    ]
    node = make_node(context, "params_override_ok_test", parameter_overrides=overrides)
    try:
        declare_parameters(node, REFER_NODE_PARAMETERS)
        cfg = read_node_config(node)
    finally:
        node.destroy_node()
    assert cfg.refer.target_frame == "odom"
    assert cfg.camera_qos.reliability == ReliabilityPolicy.RELIABLE
    assert cfg.frame_ring_size == 3


def test_backend_options_come_from_parameters_of_the_same_name() -> None:
    values = defaults()
    values.update(server_url="http://gpu-box:25547", max_retries=3, depth_source="sensor")
    options = read_config(values).backend_options
    assert options.server_url == "http://gpu-box:25547"
    assert options.max_retries == 3
    assert options.depth_source == "sensor"
    for f in fields(BackendOptions):
        assert f.name in SPECS, f"BackendOptions.{f.name} has no parameter"
        assert SPECS[f.name].default == f.default, f.name
