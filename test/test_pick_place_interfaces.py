"""PickPlace.action constants equal the Python enums (one source of truth each)."""

from __future__ import annotations

from roborefer_ros.action import PickPlace

from roborefer_ros.core.status import Status
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.manipulation.steps import Stage
from test.test_status_interfaces import constants


def test_pick_place_status_equals_the_result_constants() -> None:
    declared = constants(PickPlace.Result)
    assert declared == {s.name: int(s.value) for s in PickPlaceStatus}


def test_refer_statuses_keep_their_values() -> None:
    for status in Status:
        assert PickPlaceStatus[status.name] == int(status)


def test_stage_equals_the_feedback_constants() -> None:
    declared = constants(PickPlace.Feedback, "STAGE_")
    assert declared == {s.name: int(s.value) for s in Stage}


def test_result_has_a_duration_per_stage() -> None:
    result = PickPlace.Result()
    assert len(result.stage_durations_s) == len(Stage)
    assert result.failed_step == 0 and result.pick_target.header.frame_id == ""
