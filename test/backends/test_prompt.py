"""Prompts: the RoboRefer suffix is byte-exact, templates fill safely."""

from __future__ import annotations

import hashlib

import pytest

from roborefer_ros.backends.prompt import (
    GEMINI_TEMPLATE,
    MOLMO_TEMPLATE,
    QWEN25_TEMPLATE,
    ROBOREFER_POINTING_SUFFIX,
    build_roborefer_prompt,
    fill_template,
)

EXPECTED_SUFFIX = (
    "Your answer should be formatted as a list of tuples, i.e. [(x1, y1)],  where each tuple "
    "contains the x and y coordinates of a point satisfying the conditions above. The coordinates "
    "should be between 0 and 1, indicating the normalized pixel locations of the points in the "
    "image."
)
# sha256 of the suffix as quoted in the project's RoboRefer facts notes (taken from the authors).
SUFFIX_SHA256 = "5e0935c99eb40cb501a734862ecaf48d5faf45e7a38efee5c3b39843aad3b2dc"


def test_suffix_is_exact() -> None:
    assert ROBOREFER_POINTING_SUFFIX == EXPECTED_SUFFIX
    # Independent of both literals' line splits: the digest of the authors' string.
    digest = hashlib.sha256(ROBOREFER_POINTING_SUFFIX.encode()).hexdigest()
    assert digest == SUFFIX_SHA256


def test_suffix_has_the_double_space_once() -> None:
    assert "[(x1, y1)],  where" in ROBOREFER_POINTING_SUFFIX
    assert ROBOREFER_POINTING_SUFFIX.count("  ") == 1


def test_build_prompt_strips_and_joins_with_one_space() -> None:
    prompt = build_roborefer_prompt("  the red mug left of the plate \n")
    assert prompt == "the red mug left of the plate " + EXPECTED_SUFFIX


def test_build_prompt_keeps_the_instruction_as_written() -> None:
    assert build_roborefer_prompt("Point to the cup.").startswith("Point to the cup. Your answer")


@pytest.mark.parametrize("instruction", ["", "   \n\t"])
def test_build_prompt_refuses_empty(instruction: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        build_roborefer_prompt(instruction)


def test_templates_are_the_benchmark_wording() -> None:
    assert fill_template(MOLMO_TEMPLATE, "the mug") == "Locate several points of the mug."
    assert fill_template(GEMINI_TEMPLATE, "the mug") == "Locate one point of the mug."
    assert fill_template(QWEN25_TEMPLATE, " the mug ") == (
        "Locate the mug in this image and output the point coordinates in JSON format."
    )


def test_braces_in_user_text_are_not_interpreted() -> None:
    assert fill_template(MOLMO_TEMPLATE, "{0} {object}") == "Locate several points of {0} {object}."


def test_fill_template_refuses_templates_without_placeholder_and_empty_text() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        fill_template("Locate it.", "mug")
    with pytest.raises(ValueError, match="empty"):
        fill_template(MOLMO_TEMPLATE, " ")
