"""What a caller asks for, independent of how it arrived (service, action, CLI, test)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from roborefer_ros.core.status import RefPointError, Status


class Mode(Enum):
    """How the pointed pixel becomes a 3D target.

    LOCATE: a point on an object (pose z axis = viewing ray, the approach axis).
    PLACE: a point in free space on a support surface (pose z axis = surface normal).
    AUTO: PLACE when the instruction reads like a placement, LOCATE otherwise.
    """

    AUTO = 0
    LOCATE = 1
    PLACE = 2

    @classmethod
    def parse(cls, value: int | str) -> Mode:
        """Mode from a service constant or a name ('locate', 'PLACE', ...)."""
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise RefPointError(Status.BAD_REQUEST, f"unknown mode {value!r}") from None
        try:
            return cls(int(value))
        except ValueError:
            raise RefPointError(Status.BAD_REQUEST, f"unknown mode {value!r}") from None


# Whole words or phrases that make an AUTO request a placement ("put" must not match "computer").
_PLACE_PATTERN = re.compile(
    r"\b(place|put|drop|set down|free (area|space|spot)|empty (area|space|spot)|vacant|"
    r"space (for|to)|somewhere to)\b",
    re.IGNORECASE,
)


def resolve_mode(mode: Mode, instruction: str) -> Mode:
    """AUTO -> PLACE when the instruction reads like a placement, else LOCATE (a keyword rule)."""
    if mode is not Mode.AUTO:
        return mode
    return Mode.PLACE if _PLACE_PATTERN.search(instruction) else Mode.LOCATE


@dataclass(frozen=True)
class ReferRequest:
    """One RefPoint / Refer goal."""

    prompt: str
    target_frame: str = ""  # empty: the node's default target frame
    mode: Mode = Mode.AUTO
    min_stamp_ns: int = 0  # 0: the latest frame; else the earliest frame stamped >= this
    max_points: int = 0  # 0: every point the model gave

    def validated(self, max_prompt_chars: int) -> ReferRequest:
        """The request with its prompt stripped, or BAD_PROMPT / BAD_REQUEST."""
        prompt = self.prompt.strip()
        if not prompt:
            raise RefPointError(Status.BAD_PROMPT, "the prompt is empty")
        if len(prompt) > max_prompt_chars:
            raise RefPointError(
                Status.BAD_PROMPT,
                f"the prompt has {len(prompt)} characters; the limit is {max_prompt_chars}",
            )
        if "\x00" in prompt:
            raise RefPointError(Status.BAD_PROMPT, "the prompt contains a NUL character")
        if self.max_points < 0:
            raise RefPointError(Status.BAD_REQUEST, f"max_points is negative: {self.max_points}")
        if self.min_stamp_ns < 0:
            raise RefPointError(Status.BAD_REQUEST, f"min_stamp is negative: {self.min_stamp_ns}")
        return ReferRequest(
            prompt=prompt,
            target_frame=self.target_frame.strip(),
            mode=self.mode,
            min_stamp_ns=self.min_stamp_ns,
            max_points=self.max_points,
        )
