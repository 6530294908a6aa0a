"""Prompts exactly as each model family was trained or benchmarked with.

Wording matters: the RoboRefer suffix is copied byte for byte from the authors' code (its double
space included), because a paraphrase is an untested input to the model.
"""

from __future__ import annotations

from types import MappingProxyType

from roborefer_ros.backends.parsers import AnswerFormat

# Note the two spaces after "[(x1, y1)],": they are in the authors' string.
ROBOREFER_POINTING_SUFFIX = (
    "Your answer should be formatted as a list of tuples, i.e. [(x1, y1)],  "
    "where each tuple contains the x and y coordinates of a point satisfying the conditions "
    "above. The coordinates should be between 0 and 1, indicating the normalized pixel "
    "locations of the points in the image."
)

# Templates of the authors' benchmark code for other families; ``{object}`` is the placeholder.
MOLMO_TEMPLATE = "Locate several points of {object}."
GEMINI_TEMPLATE = "Locate one point of {object}."
QWEN25_TEMPLATE = "Locate {object} in this image and output the point coordinates in JSON format."
# The benchmark code has no Qwen3-VL prompt. Qwen3-VL grounds on a 0..1000 grid whatever the
# input size, so the prompt names that scale and the JSON "point_2d" items it answers with.
QWEN3_TEMPLATE = (
    "Point to {object} in this image. Report the point coordinates in JSON format as "
    '[{"point_2d": [x, y], "label": "target"}], with x and y on a 0 to 1000 scale.'
)
# The same text as build_roborefer_prompt: the instruction, one space, the suffix.
ROBOREFER_TEMPLATE = "{object} " + ROBOREFER_POINTING_SUFFIX

# The default prompt of each answer format's model family: prompt and grammar come in pairs.
FAMILY_DEFAULTS: MappingProxyType[AnswerFormat, str] = MappingProxyType(
    {
        AnswerFormat.ROBOREFER: ROBOREFER_TEMPLATE,
        AnswerFormat.ROBOPOINT: ROBOREFER_TEMPLATE,
        AnswerFormat.QWEN25: QWEN25_TEMPLATE,
        AnswerFormat.QWEN3: QWEN3_TEMPLATE,
        AnswerFormat.GEMINI: GEMINI_TEMPLATE,
        AnswerFormat.MOLMO: MOLMO_TEMPLATE,
    }
)

_PLACEHOLDER = "{object}"


def build_roborefer_prompt(instruction: str) -> str:
    """The instruction, stripped, then one space, then the suffix (as the authors' client does).

    No punctuation is added: the authors append the suffix to the instruction as written.
    """
    text = instruction.strip()
    if not text:
        raise ValueError("the instruction is empty")
    return f"{text} {ROBOREFER_POINTING_SUFFIX}"


def fill_template(template: str, object_text: str) -> str:
    """``template`` with ``{object}`` replaced by the stripped ``object_text``.

    Plain replacement, not ``str.format``: braces in user text must not be interpreted.
    """
    if _PLACEHOLDER not in template:
        raise ValueError(f"template {template!r} has no {_PLACEHOLDER} placeholder")
    text = object_text.strip()
    if not text:
        raise ValueError("the object text is empty")
    return template.replace(_PLACEHOLDER, text)
