"""RefSpatial-Bench scoring: hand-checked scores in every answer format, and agreement with the
authors' published rule (re-implemented here independently for RoboRefer tuples)."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.eval.scoring import (
    SampleScore,
    SampleStatus,
    count_hits,
    failed_sample,
    group_score,
    read_answer_points,
    score_answer,
    summarise,
    to_pixels,
)
from test.eval._bench_data import (
    CASES,
    EXPECTED,
    EXPECTED_STEPS,
    FORMATS,
    Case,
    answer_text,
    mask_of,
)


def _score(
    case: Case,
    fmt: str,
    text: str | None = None,
    model_image_size: tuple[int, int] | None = None,
) -> SampleScore:
    return score_answer(
        answer_text(fmt, case.points) if text is None else text,
        AnswerFormat.parse(fmt),
        mask_of(case) > 0,
        split=case.split,
        sample_id=case.id,
        step=case.step,
        model_image_size=model_image_size,
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.split}-{c.id}")
def test_hand_checked_score_in_every_format(case: Case, fmt: str) -> None:
    result = _score(case, fmt)
    assert result.score == pytest.approx(case.expected, abs=1e-12)
    expected_status = SampleStatus.UNPARSED if case.points is None else SampleStatus.SCORED
    assert result.status is expected_status


@pytest.mark.parametrize("fmt", FORMATS)
def test_split_and_step_means_in_every_format(fmt: str) -> None:
    results = summarise(_score(c, fmt) for c in CASES)
    assert list(results) == ["Location", "Placement", "Unseen"]
    for split, expected in EXPECTED.items():
        overall = results[split].overall
        assert overall.n == expected["n"]
        assert overall.score == pytest.approx(expected["score"], abs=1e-12)
        assert overall.unparsed == expected["unparsed"]
        assert overall.failed == 0
        steps = {str(k): (g.n, g.score, g.unparsed) for k, g in results[split].by_step.items()}
        assert steps.keys() == EXPECTED_STEPS[split].keys()
        for step, (n, score, unparsed) in EXPECTED_STEPS[split].items():
            assert steps[step][0] == n
            assert steps[step][1] == pytest.approx(score, abs=1e-12)
            assert steps[step][2] == unparsed
    assert results["Location"].overall.score == pytest.approx(0.388888888888889)


def test_pixels_of_a_hand_case_with_a_point_off_the_image() -> None:
    case = CASES[2]  # (95, 25) in the edge strip, x = 1.0 -> u = 100, off the image
    result = _score(case, "roborefer")
    assert result.pixels == ((95, 25), (100, 25))
    assert result.hits == 1


def test_gemini_is_read_as_y_then_x() -> None:
    case = CASES[0]  # the box spans rows 10..19 and columns 10..29
    text = answer_text("gemini", case.points)
    assert '"point": [250.0, 155.0]' in text  # y first
    assert _score(case, "gemini", text).score == pytest.approx(2 / 3)
    # The same numbers read as (x, y) land elsewhere: the case really tells the orders apart.
    swapped = _score(case, "qwen3", text)
    assert swapped.pixels[0] == (25, 7)
    assert swapped.score == 0.0


def test_qwen25_absolute_pixels_of_a_resized_model_image() -> None:
    case = CASES[0]
    # the model saw the image at 200 x 100: its pixel (31, 25) is (15.5, 12.5) here -> (15, 12)
    result = _score(case, "qwen2.5", '[{"point_2d": [31, 25]}]', model_image_size=(200, 100))
    assert result.pixels == ((15, 12),)
    assert result.score == 1.0
    # read on the bench image instead, (31, 25) is outside the box
    assert _score(case, "qwen2.5", '[{"point_2d": [31, 25]}]').score == 0.0


def test_qwen25_integer_pixel_maps_to_itself_despite_float_rounding() -> None:
    assert (1 / 49) * 49 < 1.0  # why a naive x / W * W round trip is wrong
    points = read_answer_points("[1, 0]", AnswerFormat.QWEN25, (49, 7))
    assert points is not None
    assert to_pixels(points, (49, 7), AnswerFormat.QWEN25) == ((1, 0),)


def test_molmo_percent_single_point_tag() -> None:
    case = CASES[3]  # box rows 0..9, columns 40..59
    text = '<point x="45.5" y="11.0" alt="free space">free space</point>'
    result = _score(case, "molmo", text)
    assert result.pixels == ((45, 5),)
    assert result.score == 1.0


def test_points_slightly_off_the_image_are_misses_not_clamped() -> None:
    case = CASES[4]  # box rows 20..29, columns 0..9: touches the left border
    # the node's parser would clamp x = -0.015 to 0 (a hit); the benchmark counts a miss
    result = _score(case, "roborefer", "[(-0.015, 0.5), (0.05, 0.5)]")
    assert result.pixels == ((-1, 25), (5, 25))
    assert result.score == 0.5


def test_unparseable_answer_scores_zero_and_is_counted() -> None:
    result = _score(CASES[0], "roborefer", "The cup is on the left.")
    assert result.status is SampleStatus.UNPARSED
    assert result.score == 0.0
    assert result.text == "The cup is on the left."
    assert group_score([result]).unparsed == 1


def test_explicit_empty_list_is_no_points_not_unparsed() -> None:
    result = _score(CASES[0], "roborefer", "[]")
    assert result.status is SampleStatus.SCORED
    assert result.score == 0.0
    assert result.pixels == ()


def test_think_tags_are_skipped() -> None:
    text = "<think>maybe (0.9, 0.9)?</think><answer>[(0.155, 0.25)]</answer>"
    assert _score(CASES[0], "roborefer", text).score == 1.0


def test_failed_sample_counts_as_zero_and_failed() -> None:
    failed = failed_sample("Unseen", "7", 4, "BACKEND_TIMEOUT: 60 s")
    scored = _score(CASES[5], "roborefer")
    group = group_score([failed, scored])
    assert (group.n, group.score, group.failed, group.unparsed) == (2, 0.25, 1, 0)
    assert group_score([]).score == 0.0


def test_count_hits_ignores_pixels_off_the_image() -> None:
    mask = np.ones((2, 3), dtype=np.bool_)
    assert count_hits([(0, 0), (2, 1), (3, 0), (0, 2), (-1, 0)], mask) == 2


# ---- agreement with the authors' published rule --------------------------------------------

_AUTHORS_TUPLE = re.compile(r"\(\s*([-+]?[\d.]+)\s*,\s*([-+]?[\d.]+)\s*\)")


def authors_rule(text: str, mask: npt.NDArray[np.bool_]) -> float:
    """The published rule, written independently: int(x * W), int(y * H), mask > 0, share."""
    height, width = mask.shape
    points = [(float(a), float(b)) for a, b in _AUTHORS_TUPLE.findall(text)]
    if not points:
        return 0.0
    hits = 0
    for x, y in points:
        u, v = int(x * width), int(y * height)
        if 0 <= u < width and 0 <= v < height and mask[v, u] > 0:
            hits += 1
    return hits / len(points)


def test_agrees_with_the_authors_rule_on_random_roborefer_answers() -> None:
    rng = np.random.default_rng(20250604)
    ours, theirs = [], []
    for index in range(400):
        height, width = (int(v) for v in rng.integers(8, 120, size=2))
        mask = rng.random((height, width)) < rng.uniform(0.05, 0.9)
        n = int(rng.integers(1, 6))
        # 3 decimals like the model; some points off the image on every side
        points = np.round(rng.uniform(-0.08, 1.08, size=(n, 2)), 3)
        text = "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in points) + "]"
        result = score_answer(
            text, AnswerFormat.ROBOREFER, mask, split="Location", sample_id=str(index), step=1
        )
        ours.append(result.score)
        theirs.append(authors_rule(text, mask))
    assert ours == theirs  # the same arithmetic: exactly equal, sample by sample
    assert np.mean(ours) == np.mean(theirs)
    assert 0.1 < np.mean(ours) < 0.9  # the draw exercises hits and misses
