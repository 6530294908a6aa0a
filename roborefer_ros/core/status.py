"""The one status enum of the project and the typed error that carries it.

The integer values are part of the public interface: ``srv/RefPoint.srv`` and
``action/Refer.action`` declare the same constants, and a test compares them.
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """Outcome of a RefPoint request; what each means for a planner is in docs/reliability.md."""

    OK = 0
    NO_FRAME = 1  # no synchronised RGB-D frame (yet, or none at/after min_stamp within the wait)
    STALE_FRAME = 2  # the newest usable frame is older than the configured maximum age
    BAD_PROMPT = 3  # empty, whitespace-only or oversized instruction
    BACKEND_ERROR = (
        4  # the model backend failed or refused (connection, HTTP error, unknown prompt)
    )
    BACKEND_TIMEOUT = 5  # the model backend did not answer within its deadline
    PARSE_ERROR = 6  # the model answered, but no valid point could be read from the text
    NO_VALID_DEPTH = 7  # no trustworthy depth around the pointed pixel
    OUT_OF_IMAGE = 8  # the pointed pixel lies outside the image
    TF_ERROR = 9  # the camera -> target_frame transform at the frame's stamp is unavailable
    UNSUPPORTED_ENCODING = 10  # an image encoding the node cannot interpret
    BAD_FRAME = 11  # inconsistent frame: RGB/depth size or frame mismatch, zero intrinsics
    BAD_REQUEST = 12  # malformed request field (unknown mode, negative max_points, bad frame name)
    BUSY = 13  # the request queue is full; retry later
    CANCELED = 14  # the caller cancelled (action) or the node is shutting down
    INTERNAL_ERROR = 15  # a bug: an unexpected exception, caught at the adapter boundary


class RefPointError(Exception):
    """Raised by core and backend code; the ROS adapter turns it into a response.

    The message must name the offending value so that a caller can act on it. ``raw_answer``
    keeps the model's text when the failure came after the model answered (parse errors,
    points off the image), so the caller can see what the model said.
    """

    def __init__(self, status: Status, message: str, raw_answer: str = "") -> None:
        super().__init__(f"{status.name}: {message}")
        self.status = status
        self.message = message
        self.raw_answer = raw_answer
