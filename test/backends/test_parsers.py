"""Answer parsers: every format, the answer region rules, the range rule, and fuzzing."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roborefer_ros.backends.parsers import (
    MAX_ANSWER_CHARS,
    AnswerFormat,
    format_roborefer_answer,
    parse_points,
    validate_points,
)
from roborefer_ros.core.status import RefPointError, Status

SIZE = (640, 480)
F = AnswerFormat


def approx_points(points: tuple[tuple[float, float], ...]) -> object:
    return pytest.approx([pytest.approx(p) for p in points])


# --- AnswerFormat names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("roborefer", F.ROBOREFER),
        ("robopoint", F.ROBOPOINT),
        ("qwen2.5", F.QWEN25),
        ("qwen3", F.QWEN3),
        ("gemini", F.GEMINI),
        (" Molmo ", F.MOLMO),
    ],
)
def test_format_names(name: str, fmt: AnswerFormat) -> None:
    assert AnswerFormat.parse(name) is fmt


def test_unknown_format_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"'qwen2'.*roborefer\|robopoint\|qwen2.5\|qwen3"):
        AnswerFormat.parse("qwen2")


# --- RoboRefer / RoboPoint ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [F.ROBOREFER, F.ROBOPOINT])
def test_roborefer_single_and_multi(fmt: AnswerFormat) -> None:
    assert parse_points("[(0.341, 0.510)]", fmt, SIZE) == ((0.341, 0.51),)
    assert parse_points("[(0.341, 0.510), (0.352, 0.498)]", fmt, SIZE) == (
        (0.341, 0.51),
        (0.352, 0.498),
    )


def test_roborefer_whitespace_newlines_and_ints() -> None:
    text = "[ (\n0.25 ,\t0.75 ) ,\n\n( 0 , 1 ) ]"
    assert parse_points(text, F.ROBOREFER, SIZE) == ((0.25, 0.75), (0.0, 1.0))


def test_roborefer_is_normalised_whatever_the_image_size() -> None:
    assert parse_points("[(0.5, 0.25)]", F.ROBOREFER, (10, 2000)) == ((0.5, 0.25),)


def test_roborefer_answer_tag_wins_over_think() -> None:
    text = "<think>first (0.9, 0.9), then</think>\n<answer>[(0.1, 0.2)]</answer>"
    assert parse_points(text, F.ROBOREFER, SIZE) == ((0.1, 0.2),)


def test_roborefer_think_only_is_skipped() -> None:
    text = "<think>maybe (0.9, 0.9)</think> [(0.3, 0.4)]"
    assert parse_points(text, F.ROBOREFER, SIZE) == ((0.3, 0.4),)


def test_roborefer_text_outside_answer_tag_is_ignored() -> None:
    text = "(0.9, 0.9) <answer>[(0.1, 0.2)]</answer> (0.8, 0.8)"
    assert parse_points(text, F.ROBOREFER, SIZE) == ((0.1, 0.2),)


def test_unclosed_answer_tag_reads_to_the_end() -> None:
    assert parse_points("<answer>[(0.1, 0.2)", F.ROBOREFER, SIZE) == ((0.1, 0.2),)


def test_unclosed_think_hides_the_rest() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points("<think>I guess (0.1, 0.2)", F.ROBOREFER, SIZE)
    assert info.value.status is Status.PARSE_ERROR


def test_roborefer_ignores_three_element_tuples_and_words() -> None:
    text = "[(0.1, 0.2, 0.3), (nan, 0.5), (x, y), (0.4, 0.6)]"
    assert parse_points(text, F.ROBOREFER, SIZE) == ((0.4, 0.6),)


def test_roborefer_does_not_read_lists() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points("[0.1, 0.2]", F.ROBOREFER, SIZE)
    assert info.value.status is Status.PARSE_ERROR


def test_roborefer_exponent_and_sign() -> None:
    assert parse_points("[(5e-1, +2.5E-1)]", F.ROBOREFER, SIZE) == ((0.5, 0.25),)


# --- Qwen2.5-VL (absolute pixels) and Qwen3-VL (0..1000) -----------------------------------------


def test_qwen25_point_2d_objects_fenced() -> None:
    text = (
        '```json\n[\n  {"point_2d": [320, 120], "label": "mug"},\n'
        '  {"point_2d": [64, 48], "label": "plate (left)"}\n]\n```'
    )
    assert parse_points(text, F.QWEN25, SIZE) == ((0.5, 0.25), (0.1, 0.1))


def test_qwen25_bare_list_and_tuple() -> None:
    assert parse_points("[320, 240]", F.QWEN25, SIZE) == ((0.5, 0.5),)
    assert parse_points("The mug is at (160, 360).", F.QWEN25, SIZE) == ((0.25, 0.75),)


def test_qwen25_ignores_bboxes() -> None:
    text = '{"bbox_2d": [10, 20, 30, 40], "point_2d": [64, 240]}'
    assert parse_points(text, F.QWEN25, SIZE) == ((0.1, 0.5),)


@pytest.mark.parametrize("size", [(640, 480), (1280, 960), (448, 336)])
def test_qwen25_pixels_map_through_the_model_image_size(size: tuple[int, int]) -> None:
    # The same place in the image, answered in pixels of whatever size the model saw.
    text = f"[{size[0] * 0.3}, {size[1] * 0.6}]"
    assert parse_points(text, F.QWEN25, size) == approx_points(((0.3, 0.6),))


def test_qwen25_uses_width_for_x_and_height_for_y() -> None:
    assert parse_points("[100, 100]", F.QWEN25, (200, 400)) == ((0.5, 0.25),)


def test_qwen3_is_on_a_1000_scale_whatever_the_size() -> None:
    text = '[{"point_2d": [500, 250]}, [1000, 0]]'
    assert parse_points(text, F.QWEN3, (33, 77)) == ((0.5, 0.25), (1.0, 0.0))


def test_qwen3_skips_think_block() -> None:
    text = "<think>[900, 900]</think>\n[100, 200]"
    assert parse_points(text, F.QWEN3, SIZE) == ((0.1, 0.2),)


# --- Gemini -------------------------------------------------------------------------------------


def test_gemini_fenced_is_y_then_x() -> None:
    text = '```json\n[{"point": [250, 750], "label": "mug"}]\n```'
    assert parse_points(text, F.GEMINI, SIZE) == ((0.75, 0.25),)


def test_gemini_bare_multi() -> None:
    text = '[{"point": [0, 1000], "label": "a"}, {"point":[500,100],"label":"b"}]'
    assert parse_points(text, F.GEMINI, SIZE) == ((1.0, 0.0), (0.1, 0.5))


def test_gemini_needs_the_point_key() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points('[{"box_2d": [1, 2]}, [500, 500]]', F.GEMINI, SIZE)
    assert info.value.status is Status.PARSE_ERROR


# --- Molmo --------------------------------------------------------------------------------------


def test_molmo_single_point() -> None:
    text = '<point x="12.5" y="45.0" alt="mug">mug</point>'
    assert parse_points(text, F.MOLMO, SIZE) == approx_points(((0.125, 0.45),))


def test_molmo_points_pairs_by_index() -> None:
    text = '<points x1="10" y1="20" x2="30.5" y2="40" alt="mugs">mugs</points>'
    assert parse_points(text, F.MOLMO, SIZE) == approx_points(((0.1, 0.2), (0.305, 0.4)))


def test_molmo_unpaired_and_bad_values_are_not_points() -> None:
    text = '<points x1="10" y1="20" x2="30" x3="nan" y3="5" y4="9" x5="1e999" y5="1">m</points>'
    assert parse_points(text, F.MOLMO, SIZE) == approx_points(((0.1, 0.2),))


def test_molmo_several_tags_and_prose() -> None:
    text = 'Here: <point x="50" y="50" alt="a">a</point> and <point x="25" y="75">b</point>.'
    assert parse_points(text, F.MOLMO, SIZE) == approx_points(((0.5, 0.5), (0.25, 0.75)))


def test_molmo_other_tags_are_ignored() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points('<pointer x="50" y="50">', F.MOLMO, SIZE)
    assert info.value.status is Status.PARSE_ERROR


# --- errors -------------------------------------------------------------------------------------


def test_parse_error_quotes_the_start_of_the_answer_repr_escaped() -> None:
    text = "I cannot see\na mug here." + "x" * 200
    with pytest.raises(RefPointError) as info:
        parse_points(text, F.ROBOREFER, SIZE)
    assert info.value.status is Status.PARSE_ERROR
    assert repr(text[:80]) in info.value.message
    assert "\\n" in info.value.message and "\n" not in info.value.message
    assert "x" * 81 not in info.value.message


def test_empty_answer_is_parse_error() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points("", F.QWEN25, SIZE)
    assert info.value.status is Status.PARSE_ERROR
    assert "''" in info.value.message


def test_oversized_answer_is_refused_before_parsing() -> None:
    text = "[(0.5, 0.5)]" + " " * MAX_ANSWER_CHARS
    with pytest.raises(RefPointError) as info:
        parse_points(text, F.ROBOREFER, SIZE)
    assert info.value.status is Status.PARSE_ERROR
    assert str(MAX_ANSWER_CHARS) in info.value.message


def test_answer_at_the_size_limit_is_parsed() -> None:
    text = "[(0.5, 0.5)]".ljust(MAX_ANSWER_CHARS)
    assert parse_points(text, F.ROBOREFER, SIZE) == ((0.5, 0.5),)


@pytest.mark.parametrize("text", ["[(1e999, 0.5)]", "[(inf, 0.5)]", "[(0.5, NaN)]"])
def test_non_finite_numbers_are_not_points(text: str) -> None:
    with pytest.raises(RefPointError) as info:
        parse_points(text, F.ROBOREFER, SIZE)
    assert info.value.status is Status.PARSE_ERROR


def test_all_points_out_of_image_names_the_first() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points("[(1.5, 0.5), (0.5, -0.3)]", F.ROBOREFER, SIZE)
    assert info.value.status is Status.OUT_OF_IMAGE
    assert "(1.5, 0.5)" in info.value.message


def test_qwen25_pixels_beyond_the_image_are_out_of_image() -> None:
    with pytest.raises(RefPointError) as info:
        parse_points("[700, 100]", F.QWEN25, SIZE)
    assert info.value.status is Status.OUT_OF_IMAGE


def test_bad_model_image_size_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        parse_points("[(0.5, 0.5)]", F.ROBOREFER, (0, 480))


# --- validate_points: the range rule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(-0.02, 0.0), (-0.01, 0.0), (0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (1.01, 1.0), (1.02, 1.0)],
)
def test_values_inside_the_band_are_clamped(value: float, expected: float) -> None:
    assert validate_points([(value, 0.5)]) == ((expected, 0.5),)
    assert validate_points([(0.5, value)]) == ((0.5, expected),)


@pytest.mark.parametrize("value", [-0.0201, 1.0201, -1.0, 2.0, math.nan, math.inf, -math.inf])
def test_values_outside_the_band_drop_the_point(value: float) -> None:
    assert validate_points([(value, 0.5), (0.2, 0.3)]) == ((0.2, 0.3),)
    assert validate_points([(0.5, value), (0.2, 0.3)]) == ((0.2, 0.3),)


def test_tolerance_is_a_parameter() -> None:
    assert validate_points([(1.05, 0.5)], tolerance=0.1) == ((1.0, 0.5),)
    with pytest.raises(RefPointError) as info:
        validate_points([(1.05, 0.5)], tolerance=0.0)
    assert info.value.status is Status.OUT_OF_IMAGE


def test_validate_keeps_order_and_empty_input() -> None:
    assert validate_points([(0.9, 0.1), (5.0, 5.0), (0.1, 0.9)]) == ((0.9, 0.1), (0.1, 0.9))
    assert validate_points([]) == ()


@pytest.mark.parametrize("tolerance", [-0.1, math.nan, math.inf])
def test_bad_tolerance_is_refused(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        validate_points([(0.5, 0.5)], tolerance=tolerance)


def test_parse_clamps_a_near_miss() -> None:
    assert parse_points("[(1.015, -0.01)]", F.ROBOREFER, SIZE) == ((1.0, 0.0),)


# --- format_roborefer_answer --------------------------------------------------------------------


def test_format_roborefer_answer() -> None:
    assert format_roborefer_answer([(0.341, 0.51)]) == "[(0.341, 0.510)]"
    assert format_roborefer_answer([(0.1, 0.2), (1.0, 0.0)]) == "[(0.100, 0.200), (1.000, 0.000)]"
    assert format_roborefer_answer([]) == "[]"


def test_format_refuses_non_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        format_roborefer_answer([(math.nan, 0.5)])


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8))
def test_format_then_parse_round_trips_within_rounding(points: list[tuple[float, float]]) -> None:
    parsed = parse_points(format_roborefer_answer(points), F.ROBOREFER, SIZE)
    assert len(parsed) == len(points)
    for (x, y), (px, py) in zip(points, parsed, strict=True):
        assert abs(x - px) <= 0.0005 + 1e-12 and abs(y - py) <= 0.0005 + 1e-12


# --- robustness ---------------------------------------------------------------------------------

_TOKENS = [
    " ",
    "\n",
    "1" * 400,
    *[
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        "-",
        "+",
        "e",
        "E",
        "0",
        "1",
        "9",
        "0.5",
        "1e999",
        "-1e999",
        "nan",
        "NaN",
        "inf",
        "999",
        "1000",
    ],
    *[
        '"',
        ":",
        '"point"',
        '"point_2d"',
        "<point",
        "<points",
        "x=",
        "y=",
        "x1=",
        "y1=",
        '"50"',
        "/>",
        ">",
        "<",
    ],
    *[
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "```json",
        "((((((",
        "))))))",
        "[[[[",
        "]]]]",
    ],
]
_grammar_text = st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join)


def _check_outcome(text: str, fmt: AnswerFormat) -> None:
    try:
        points = parse_points(text, fmt, SIZE)
    except RefPointError as err:
        assert err.status in (Status.PARSE_ERROR, Status.OUT_OF_IMAGE)
        return
    assert isinstance(points, tuple) and points
    for x, y in points:
        assert math.isfinite(x) and math.isfinite(y)
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), fmt=st.sampled_from(list(AnswerFormat)))
def test_fuzz_arbitrary_text(text: str, fmt: AnswerFormat) -> None:
    _check_outcome(text, fmt)


@settings(max_examples=500, deadline=None)
@given(text=_grammar_text, fmt=st.sampled_from(list(AnswerFormat)))
def test_fuzz_grammar_tokens(text: str, fmt: AnswerFormat) -> None:
    _check_outcome(text, fmt)


_ADVERSARIAL = {
    "parens": "(" * (MAX_ANSWER_CHARS - 1),
    "paren-one": "(1" * (MAX_ANSWER_CHARS // 2),
    "spaces": "(" + " " * (MAX_ANSWER_CHARS - 10) + "1",
    "lists": "[1, " * (MAX_ANSWER_CHARS // 4),
    "gemini": '"point": [' * (MAX_ANSWER_CHARS // 10),
    "tag-word": "<point " + "a" * (MAX_ANSWER_CHARS - 8),
    "attrs": "<point" + " a=" * (MAX_ANSWER_CHARS // 4),
    "answers": "<answer>" * (MAX_ANSWER_CHARS // 8),
    "digits": "1" * MAX_ANSWER_CHARS,
}


@pytest.mark.parametrize("fmt", list(AnswerFormat))
@pytest.mark.parametrize("text", list(_ADVERSARIAL.values()), ids=list(_ADVERSARIAL))
def test_adversarial_answers_are_fast(text: str, fmt: AnswerFormat) -> None:
    started = time.perf_counter()
    _check_outcome(text, fmt)
    assert time.perf_counter() - started < 1.0


def test_read_points_keeps_points_off_the_image_for_scorers() -> None:
    from roborefer_ros.backends.parsers import parse_points, read_points

    text = "<think>left</think><answer>[(0.5, 0.5), (1.5, 0.2), (1.01, 0.3)]</answer>"
    assert read_points(text, AnswerFormat.ROBOREFER, (640, 480)) == (
        (0.5, 0.5),
        (1.5, 0.2),
        (1.01, 0.3),
    )
    # parse_points applies the clamp-or-drop rule to the same tokens
    assert parse_points(text, AnswerFormat.ROBOREFER, (640, 480)) == ((0.5, 0.5), (1.0, 0.3))
    assert read_points("no point here", AnswerFormat.ROBOREFER, (640, 480)) == ()
