"""Requests: validation and the AUTO mode rule."""

from __future__ import annotations

import pytest

from roborefer_ros.core.request import Mode, ReferRequest, resolve_mode
from roborefer_ros.core.status import RefPointError, Status


@pytest.mark.parametrize(
    "instruction",
    [
        "place the cup in the free area between the plate and the cake",
        "Put it left of the apple",
        "point to the free space behind the mug",
        "an empty spot on the table",
        "drop it next to the bowl",
    ],
)
def test_auto_reads_placements_as_place(instruction: str) -> None:
    assert resolve_mode(Mode.AUTO, instruction) is Mode.PLACE


@pytest.mark.parametrize(
    "instruction",
    [
        "the computer mouse left of the keyboard",  # "put" inside a word
        "the apple in front of the leftmost cup",
        "the placemat",  # "place" inside a word
        "the output tray",
    ],
)
def test_auto_reads_objects_as_locate(instruction: str) -> None:
    assert resolve_mode(Mode.AUTO, instruction) is Mode.LOCATE


def test_explicit_modes_are_kept() -> None:
    assert resolve_mode(Mode.LOCATE, "place it here") is Mode.LOCATE
    assert resolve_mode(Mode.PLACE, "the apple") is Mode.PLACE


def test_mode_parse_names_and_numbers() -> None:
    assert Mode.parse("place") is Mode.PLACE
    assert Mode.parse(1) is Mode.LOCATE
    with pytest.raises(RefPointError) as err:
        Mode.parse(7)
    assert err.value.status is Status.BAD_REQUEST and "7" in err.value.message


def test_validated_strips_and_checks() -> None:
    assert ReferRequest(prompt="  the cup \n").validated(100).prompt == "the cup"
    for prompt, word in (("", "empty"), ("   ", "empty"), ("x" * 101, "101"), ("a\x00b", "NUL")):
        with pytest.raises(RefPointError) as err:
            ReferRequest(prompt=prompt).validated(100)
        assert err.value.status is Status.BAD_PROMPT and word in err.value.message
    with pytest.raises(RefPointError) as err:
        ReferRequest(prompt="x", max_points=-1).validated(100)
    assert err.value.status is Status.BAD_REQUEST
