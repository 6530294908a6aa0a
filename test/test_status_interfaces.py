"""The Python enums and the generated interface constants are one source of truth: compare them."""

from __future__ import annotations

import pytest
from roborefer_ros.action import Refer
from roborefer_ros.srv import RefPoint

from roborefer_ros.core.request import Mode
from roborefer_ros.core.result import Stage
from roborefer_ros.core.status import Status


def constants(msg_class: type, prefix: str = "") -> dict[str, int]:
    """The constants a generated message class declares (rosidl puts them on its metaclass)."""
    names = [
        name
        for name, value in vars(type(msg_class)).items()
        if isinstance(value, property) and name.isupper() and name.startswith(prefix)
    ]
    return {name[len(prefix) :]: int(getattr(msg_class, name)) for name in names}


def members(enum: type[Status] | type[Mode] | type[Stage]) -> dict[str, int]:
    return {member.name: int(member.value) for member in enum}


@pytest.mark.parametrize(
    "msg_class", [RefPoint.Response, Refer.Result], ids=["RefPoint.Response", "Refer.Result"]
)
def test_status_equals_the_result_constants(msg_class: type) -> None:
    declared = constants(msg_class)
    assert declared, f"no constants found on {msg_class.__name__}"
    assert set(members(Status)) - set(declared) == set(), "Status members missing in the .srv"
    assert set(declared) - set(members(Status)) == set(), "constants missing in Status"
    assert declared == members(Status)


@pytest.mark.parametrize(
    "msg_class", [RefPoint.Request, Refer.Goal], ids=["RefPoint.Request", "Refer.Goal"]
)
def test_mode_equals_the_request_mode_constants(msg_class: type) -> None:
    declared = constants(msg_class, "MODE_")
    assert declared == members(Mode)


def test_stage_equals_the_feedback_stage_constants() -> None:
    declared = constants(Refer.Feedback, "STAGE_")
    assert declared == members(Stage)


def test_status_values_fit_the_uint8_field() -> None:
    assert all(0 <= s.value <= 255 for s in Status)
    assert len({s.value for s in Status}) == len(Status)


def test_the_helper_sees_every_constant() -> None:
    """Guard the helper itself: it must not silently find nothing or pick up slot names."""
    assert constants(RefPoint.Response)["INTERNAL_ERROR"] == RefPoint.Response.INTERNAL_ERROR
    assert "SLOT_TYPES" not in constants(RefPoint.Response)
    assert len(constants(Refer.Feedback)) == 4
