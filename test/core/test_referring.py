"""referring.json: the schema round-trips and every broken field is reported precisely."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from roborefer_ros.core.referring import (
    ReferringFileError,
    ReferringQuery,
    ReferringSet,
    dump_referring,
    load_referring,
    normalise_prompt,
)
from roborefer_ros.core.request import Mode

VALID: dict[str, Any] = {
    "target_frame": "base_link",
    "queries": [
        {
            "prompt": "the red mug left of the plate",
            "stamp": {"sec": 12, "nanosec": 500000000},
            "pixel": [412.0, 233.5],
            "point": [0.512, -0.104, 0.031],
            "mode": "locate",
            "tolerance_m": 0.01,
        },
        {
            "prompt": "free space right of the plate",
            "stamp": {"sec": 0, "nanosec": 0},
            "pixel": [100, 50],
            "point": [0.4, 0.2, 0.0],
            "mode": "place",
            "tolerance_m": 0.02,
        },
    ],
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "referring.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_reads_every_field(tmp_path: Path) -> None:
    loaded = load_referring(write(tmp_path, VALID))
    assert loaded.target_frame == "base_link"
    first, second = loaded.queries
    assert first == ReferringQuery(
        prompt="the red mug left of the plate",
        stamp_ns=12_500_000_000,
        pixel=(412.0, 233.5),
        point=(0.512, -0.104, 0.031),
        mode=Mode.LOCATE,
        tolerance_m=0.01,
    )
    assert second.stamp_ns == 0 and second.mode is Mode.PLACE
    assert second.pixel == (100.0, 50.0) and isinstance(second.pixel[0], float)


def test_round_trip(tmp_path: Path) -> None:
    original = ReferringSet(
        target_frame="map",
        queries=(
            ReferringQuery(
                "a", 1_700_000_000_123_456_789, (1.25, 2.5), (1.0, -2.0, 3.5), Mode.AUTO, 0.05
            ),
            ReferringQuery("ünïcode mug", 0, (0.0, 0.0), (0.0, 0.0, 0.0), Mode.PLACE, 0.001),
        ),
    )
    path = tmp_path / "out.json"
    dump_referring(original, path)
    assert load_referring(path) == original
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["queries"][0]["stamp"] == {"sec": 1_700_000_000, "nanosec": 123_456_789}
    assert raw["queries"][0]["mode"] == "auto"
    assert set(raw) == {"target_frame", "queries"}
    assert set(raw["queries"][0]) == {"prompt", "stamp", "pixel", "point", "mode", "tolerance_m"}


def test_file_round_trips_unchanged(tmp_path: Path) -> None:
    loaded = load_referring(write(tmp_path, VALID))
    path = tmp_path / "again.json"
    dump_referring(loaded, path)
    again = json.loads(path.read_text(encoding="utf-8"))
    expected = copy.deepcopy(VALID)
    expected["queries"][1]["pixel"] = [100.0, 50.0]
    assert again == expected


def test_empty_query_list_is_allowed(tmp_path: Path) -> None:
    assert load_referring(write(tmp_path, {"target_frame": "b", "queries": []})).queries == ()


DELETE = object()


def broken(field_path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    target: Any = data
    for key in field_path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[field_path[-1]]
    else:
        target[field_path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("field_path", "value", "expected"),
    [
        (("queries", 1, "prompt"), "  ", r"query 1: field 'prompt'"),
        (("queries", 1, "prompt"), 3, r"query 1: field 'prompt'"),
        (("queries", 0, "stamp"), 12.5, r"query 0: field 'stamp'"),
        (("queries", 0, "stamp", "sec"), -1, r"query 0: field 'stamp.sec'"),
        (("queries", 0, "stamp", "sec"), 1.5, r"query 0: field 'stamp.sec'"),
        (("queries", 0, "stamp", "nanosec"), 1_000_000_000, r"query 0: field 'stamp.nanosec'"),
        (("queries", 0, "stamp", "nanosec"), True, r"query 0: field 'stamp.nanosec'"),
        (("queries", 0, "stamp", "nsec"), 1, r"query 0: field 'stamp': unknown field 'nsec'"),
        (("queries", 0, "pixel"), [1.0], r"query 0: field 'pixel'"),
        (("queries", 0, "pixel"), [1.0, "2"], r"query 0: field 'pixel'"),
        (("queries", 0, "pixel"), [1.0, True], r"query 0: field 'pixel'"),
        (("queries", 0, "pixel"), [-1.0, 2.0], r"query 0: field 'pixel' must not be negative"),
        (("queries", 1, "point"), [1.0, 2.0], r"query 1: field 'point'"),
        (("queries", 1, "point"), {"x": 1}, r"query 1: field 'point'"),
        (("queries", 1, "point"), [1.0, 2.0, 10**400], r"query 1: field 'point'"),
        (("queries", 0, "mode"), "grasp", r"query 0: field 'mode'.*'grasp'"),
        (("queries", 0, "mode"), 1, r"query 0: field 'mode'"),
        (("queries", 0, "mode"), "LOCATE", r"query 0: field 'mode'"),
        (("queries", 1, "tolerance_m"), 0, r"query 1: field 'tolerance_m'"),
        (("queries", 1, "tolerance_m"), "0.1", r"query 1: field 'tolerance_m'"),
        (("queries", 1, "tolerance_m"), 10**400, r"query 1: field 'tolerance_m'"),
        (("queries", 1, "mode"), DELETE, r"query 1: missing field 'mode'"),
        (("queries", 1, "colour"), "red", r"query 1: unknown field 'colour'"),
        (("queries", 1), "a query", r"query 1: must be an object"),
        (("target_frame",), "", r"field 'target_frame'"),
        (("target_frame",), DELETE, r"missing field 'target_frame'"),
        (("queries",), {}, r"field 'queries' must be a list"),
        (("frames",), [], r"unknown field 'frames'"),
    ],
)
def test_validation_errors_name_file_index_and_field(
    tmp_path: Path, field_path: tuple[str | int, ...], value: object, expected: str
) -> None:
    path = write(tmp_path, broken(field_path, value))
    with pytest.raises(ReferringFileError, match=expected) as info:
        load_referring(path)
    assert str(info.value).startswith(f"{path}: ")


def test_error_is_a_value_error() -> None:
    assert issubclass(ReferringFileError, ValueError)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_constants_are_refused(tmp_path: Path, constant: str) -> None:
    text = json.dumps(VALID).replace("0.031", constant)
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReferringFileError, match=rf"{constant} is not a valid number"):
        load_referring(path)


def test_overflowing_float_literal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(VALID).replace("0.031", "1e999"), encoding="utf-8")
    with pytest.raises(ReferringFileError, match=r"query 0: field 'point' must hold finite"):
        load_referring(path)


def test_duplicate_prompt_and_stamp_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    duplicate = copy.deepcopy(data["queries"][0])
    duplicate["prompt"] = "The  red mug left of the PLATE"
    data["queries"].append(duplicate)
    with pytest.raises(ReferringFileError, match="query 2: same prompt and stamp as query 0"):
        load_referring(write(tmp_path, data))


def test_same_prompt_at_other_stamp_is_fine(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    other = copy.deepcopy(data["queries"][0])
    other["stamp"] = {"sec": 13, "nanosec": 0}
    data["queries"].append(other)
    assert len(load_referring(write(tmp_path, data)).queries) == 3


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ReferringFileError, match=rf"{path}: cannot read"):
        load_referring(path)


def test_invalid_json_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"target_frame": "b",\n "queries": [}', encoding="utf-8")
    with pytest.raises(ReferringFileError, match=r"not valid JSON: .* line 2"):
        load_referring(path)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(ReferringFileError, match="top level must be an object"):
        load_referring(write(tmp_path, [VALID]))


def test_normalise_prompt() -> None:
    assert normalise_prompt("  The Red\n\tmug ") == normalise_prompt("the red mug")
    assert normalise_prompt("the red mug") != normalise_prompt("the redmug")
