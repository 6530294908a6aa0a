"""The ground-truth backend: right pixel, stamp rules, errors, simulated latency."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.backends.base import Backend, PointingQuery
from roborefer_ros.backends.ground_truth import GroundTruthBackend
from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.core.frame import stamp_to_ns
from roborefer_ros.core.referring import (
    ReferringFileError,
    ReferringQuery,
    ReferringSet,
    dump_referring,
)
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status

STAMP = stamp_to_ns(12, 500_000_000)
MUG = ReferringQuery("the red mug", STAMP, (412.0, 233.5), (0.5, -0.1, 0.03), Mode.LOCATE, 0.01)
MUG_LATER = ReferringQuery("the red mug", STAMP + 10**9, (20.0, 30.0), (0, 0, 0), Mode.LOCATE, 0.01)
BOWL_ANY = ReferringQuery("the bowl", 0, (639.0, 479.0), (0.1, 0.2, 0.0), Mode.LOCATE, 0.01)
SET = ReferringSet("base_link", (MUG, MUG_LATER, BOWL_ANY))


def query(
    instruction: str, stamp_ns: int = STAMP, width: int = 640, height: int = 480
) -> PointingQuery:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    return PointingQuery(rgb=rgb, instruction=instruction, mode=Mode.AUTO, stamp_ns=stamp_ns)


def pixel_of(
    answer_points: tuple[tuple[float, float], ...], width: int, height: int
) -> tuple[float, float]:
    ((x, y),) = answer_points
    return (x * width, y * height)


def test_it_is_labelled_as_instrumentation() -> None:
    assert GroundTruthBackend.name == "ground_truth"
    assert "NOT A MODEL" in (GroundTruthBackend.__doc__ or "")
    backend: Backend = GroundTruthBackend(SET)  # satisfies the protocol (checked by mypy)
    backend.load()


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1280, 720), (500, 500)])
def test_answers_the_stored_pixel_within_rounding(width: int, height: int) -> None:
    answer = GroundTruthBackend(SET).point(query("the red mug", width=width, height=height), 1.0)
    u, v = pixel_of(answer.points_norm, width, height)
    assert abs(u - 412.0) <= 0.0005 * width
    assert abs(v - 233.5) <= 0.0005 * height
    assert answer.model_image_size == (width, height)
    assert answer.depth_source == "none"
    assert answer.latency_s >= 0.0


def test_raw_text_is_a_roborefer_answer_that_parses_to_the_points() -> None:
    answer = GroundTruthBackend(SET).point(query("the red mug"), 1.0)
    assert answer.raw_text == "[(0.644, 0.486)]"
    assert parse_points(answer.raw_text, AnswerFormat.ROBOREFER, (640, 480)) == answer.points_norm


def test_prompt_match_ignores_whitespace_and_case() -> None:
    answer = GroundTruthBackend(SET).point(query("  The RED\n mug "), 1.0)
    assert answer.raw_text == "[(0.644, 0.486)]"


def test_picks_the_entry_for_the_frame_stamp() -> None:
    answer = GroundTruthBackend(SET).point(query("the red mug", STAMP + 10**9), 1.0)
    assert answer.raw_text == format_expected(20.0 / 640, 30.0 / 480)


def format_expected(x: float, y: float) -> str:
    return f"[({x:.3f}, {y:.3f})]"


@pytest.mark.parametrize("offset_ns", [-500_000, 499_999, 500_000])
def test_stamp_matches_within_half_a_millisecond(offset_ns: int) -> None:
    answer = GroundTruthBackend(SET).point(query("the red mug", STAMP + offset_ns), 1.0)
    assert answer.raw_text == "[(0.644, 0.486)]"


@pytest.mark.parametrize("offset_ns", [-500_001, 500_001, 10**8])
def test_prompt_at_another_stamp_names_the_known_stamps(offset_ns: int) -> None:
    with pytest.raises(RefPointError) as info:
        GroundTruthBackend(SET).point(query("the red mug", STAMP + offset_ns), 1.0)
    assert info.value.status is Status.BACKEND_ERROR
    assert "12.500000000 s" in info.value.message
    assert "13.500000000 s" in info.value.message


def test_stored_stamp_zero_matches_any_frame() -> None:
    for stamp in (0, 1, STAMP, 10**18):
        answer = GroundTruthBackend(SET).point(query("the bowl", stamp), 1.0)
        assert answer.raw_text == "[(0.998, 0.998)]"


def test_exact_stamp_wins_over_stamp_zero() -> None:
    any_frame = ReferringQuery("the red mug", 0, (0.0, 0.0), (0, 0, 0), Mode.LOCATE, 0.01)
    backend = GroundTruthBackend(ReferringSet("b", (any_frame, MUG)))
    assert backend.point(query("the red mug", STAMP), 1.0).raw_text == "[(0.644, 0.486)]"
    assert backend.point(query("the red mug", 5), 1.0).raw_text == "[(0.000, 0.000)]"


def test_unknown_prompt_is_named() -> None:
    with pytest.raises(RefPointError) as info:
        GroundTruthBackend(SET).point(query("the blue cup"), 1.0)
    assert info.value.status is Status.BACKEND_ERROR
    assert "'the blue cup'" in info.value.message


def test_pixel_outside_a_smaller_frame_is_out_of_image() -> None:
    with pytest.raises(RefPointError) as info:
        GroundTruthBackend(SET).point(query("the red mug", width=320, height=240), 1.0)
    assert info.value.status is Status.OUT_OF_IMAGE


def test_bad_image_shape_is_backend_error() -> None:
    bad = PointingQuery(np.zeros((0, 0, 3), np.uint8), "the red mug", Mode.AUTO, STAMP)
    with pytest.raises(RefPointError) as info:
        GroundTruthBackend(SET).point(bad, 1.0)
    assert info.value.status is Status.BACKEND_ERROR


def test_simulated_latency_is_waited() -> None:
    started = time.monotonic()
    answer = GroundTruthBackend(SET, latency_s=0.2).point(query("the red mug"), 1.0)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 0.9
    assert answer.latency_s >= 0.2


def test_latency_beyond_the_timeout_times_out_after_the_timeout() -> None:
    backend = GroundTruthBackend(SET, latency_s=5.0)
    started = time.monotonic()
    with pytest.raises(RefPointError) as info:
        backend.point(query("the red mug"), 0.2)
    elapsed = time.monotonic() - started
    assert info.value.status is Status.BACKEND_TIMEOUT
    assert 0.2 <= elapsed < 1.0


def test_close_wakes_a_waiting_call_and_refuses_later_ones() -> None:
    backend = GroundTruthBackend(SET, latency_s=10.0)
    errors: list[RefPointError] = []

    def call() -> None:
        try:
            backend.point(query("the red mug"), 10.0)
        except RefPointError as err:
            errors.append(err)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.1)
    backend.close()
    worker.join(timeout=2.0)
    assert not worker.is_alive()
    assert [e.status for e in errors] == [Status.BACKEND_ERROR]
    with pytest.raises(RefPointError) as info:
        backend.point(query("the red mug"), 1.0)
    assert info.value.status is Status.BACKEND_ERROR


def test_negative_latency_is_refused() -> None:
    with pytest.raises(ValueError, match="latency_s"):
        GroundTruthBackend(SET, latency_s=-1.0)


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "referring.json"
    dump_referring(SET, path)
    answer = GroundTruthBackend.from_file(path).point(query("the bowl"), 1.0)
    assert answer.raw_text == "[(0.998, 0.998)]"
    with pytest.raises(ReferringFileError):
        GroundTruthBackend.from_file(tmp_path / "absent.json")
