"""RecordedBackend: replayed answers through the real parser, delays bounded by the timeout."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.backends.base import Backend, PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.recorded import RecordedAnswer, RecordedBackend
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status


def query(instruction: str, width: int = 640, height: int = 480) -> PointingQuery:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    return PointingQuery(rgb=rgb, instruction=instruction, mode=Mode.AUTO, stamp_ns=1)


def backend(
    answer: str = "[(0.25, 0.75)]",
    delay_s: float = 0.0,
    fmt: AnswerFormat = AnswerFormat.ROBOREFER,
) -> RecordedBackend:
    return RecordedBackend({"The Red  Cup": RecordedAnswer(answer, delay_s)}, fmt)


def status_of(b: RecordedBackend, q: PointingQuery, timeout_s: float = 1.0) -> RefPointError:
    with pytest.raises(RefPointError) as info:
        b.point(q, timeout_s)
    return info.value


def test_satisfies_the_backend_protocol() -> None:
    b: Backend = backend()
    b.load()
    assert b.name == "recorded"


def test_answers_the_recorded_text_parsed() -> None:
    answer = backend().point(query("the red cup"), 1.0)
    assert answer.points_norm == ((0.25, 0.75),)
    assert answer.raw_text == "[(0.25, 0.75)]"
    assert answer.model_image_size == (640, 480)
    assert answer.depth_source == "none"
    assert answer.latency_s >= 0.0


@pytest.mark.parametrize("prompt", ["the red cup", "THE RED CUP", "  the\tred \n cup  "])
def test_prompts_match_whitespace_and_case_insensitively(prompt: str) -> None:
    assert backend().point(query(prompt), 1.0).points_norm == ((0.25, 0.75),)


def test_unknown_prompt_is_a_backend_error() -> None:
    err = status_of(backend(), query("the blue cup"))
    assert err.status is Status.BACKEND_ERROR
    assert "'the blue cup'" in err.message


def test_absolute_pixel_formats_use_the_query_image_size() -> None:
    b = backend("[320, 120]", fmt=AnswerFormat.QWEN25)
    assert b.point(query("the red cup", 640, 480), 1.0).points_norm == ((0.5, 0.25),)


def test_garbage_is_a_parse_error_and_far_points_are_out_of_image() -> None:
    assert status_of(backend("no idea"), query("the red cup")).status is Status.PARSE_ERROR
    err = status_of(backend("[(1.5, 0.5)]"), query("the red cup"))
    assert err.status is Status.OUT_OF_IMAGE


def test_a_delay_within_the_timeout_answers_after_the_delay() -> None:
    started = time.monotonic()
    answer = backend(delay_s=0.1).point(query("the red cup"), 1.0)
    assert time.monotonic() - started >= 0.1
    assert answer.latency_s >= 0.1


def test_a_delay_beyond_the_timeout_is_a_timeout_at_the_deadline() -> None:
    started = time.monotonic()
    err = status_of(backend(delay_s=5.0), query("the red cup"), timeout_s=0.1)
    elapsed = time.monotonic() - started
    assert err.status is Status.BACKEND_TIMEOUT
    assert re.search(r"\b5(\.0*)? s\b", err.message), err.message  # the delay and the deadline
    assert re.search(r"\b0\.10* s\b", err.message), err.message
    assert 0.09 <= elapsed < 1.0


def test_close_wakes_a_delay_in_progress_and_load_reopens() -> None:
    b = backend(delay_s=5.0)
    errors: list[RefPointError] = []

    def call() -> None:
        try:
            b.point(query("the red cup"), 10.0)
        except RefPointError as err:
            errors.append(err)

    thread = threading.Thread(target=call)
    started = time.monotonic()
    thread.start()
    time.sleep(0.05)
    b.close()
    thread.join(2.0)
    assert time.monotonic() - started < 2.0
    assert [e.status for e in errors] == [Status.BACKEND_ERROR]
    assert "closed" in errors[0].message
    b.load()
    b.answers["the red cup"] = RecordedAnswer("[(0.1, 0.2)]", 0.01)
    assert b.point(query("the red cup"), 1.0).points_norm == ((0.1, 0.2),)


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(
        json.dumps(
            {
                "format": "qwen3",
                "answers": [
                    {"prompt": "the mug", "answer": "[500, 250]"},
                    {"prompt": "the bowl", "answer": "[100, 900]", "delay_s": 0.25},
                ],
            }
        )
    )
    b = RecordedBackend.from_file(path)
    assert b.format is AnswerFormat.QWEN3
    assert b.answers["the bowl"] == RecordedAnswer("[100, 900]", 0.25)
    assert b.point(query("the mug"), 1.0).points_norm == ((0.5, 0.25),)


@pytest.mark.parametrize(
    "content",
    ["not json", '{"format": "roborefer"}', '{"answers": [{"answer": "x"}]}', '{"format": "x"}'],
    ids=["not-json", "no-answers", "no-prompt", "bad-format"],
)
def test_from_file_refuses_bad_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "answers.json"
    path.write_text(content)
    with pytest.raises(RefPointError) as info:
        RecordedBackend.from_file(path)
    assert info.value.status is Status.BACKEND_ERROR
    assert str(path) in info.value.message


def test_from_file_missing(tmp_path: Path) -> None:
    with pytest.raises(RefPointError) as info:
        RecordedBackend.from_file(tmp_path / "nope.json")
    assert info.value.status is Status.BACKEND_ERROR
    assert "nope.json" in info.value.message
