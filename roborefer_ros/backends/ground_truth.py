"""TEST INSTRUMENTATION, NOT A MODEL: answers prompts from a referring file's known pixels.

It lets the whole pipeline (node, depth lifting, TF, clients) be checked end to end against known
3D points without a GPU. It still writes a RoboRefer-format answer and parses it with the real
parser, so the parse and validation path is exercised on every call.
"""

from __future__ import annotations

import os
import threading
import time

from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat, format_roborefer_answer, parse_points
from roborefer_ros.core.referring import (
    ReferringQuery,
    ReferringSet,
    load_referring,
    normalise_prompt,
)
from roborefer_ros.core.status import RefPointError, Status

STAMP_TOLERANCE_NS = 500_000  # 0.5 ms: a stamp round-tripped through float seconds still matches


class GroundTruthBackend:
    """TEST INSTRUMENTATION — NOT A MODEL. Never use its answers as model results.

    Looks up the query whose prompt equals the instruction (whitespace-normalised,
    case-insensitive) and whose stamp is within 0.5 ms of the frame's (a stored stamp of 0
    matches any frame; an exact stamp wins over 0). ``latency_s`` simulates a slow model: the call
    waits that long, or raises BACKEND_TIMEOUT after ``timeout_s`` when that is shorter.
    """

    name: str = "ground_truth"

    def __init__(self, referring: ReferringSet, latency_s: float = 0.0) -> None:
        if not latency_s >= 0.0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self._by_prompt: dict[str, list[ReferringQuery]] = {}
        for query in referring.queries:
            self._by_prompt.setdefault(normalise_prompt(query.prompt), []).append(query)
        self._latency_s = latency_s
        self._closed = threading.Event()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], latency_s: float = 0.0) -> GroundTruthBackend:
        """Backend over a referring file; ReferringFileError when the file is invalid."""
        return cls(load_referring(path), latency_s=latency_s)

    def load(self) -> None:
        """Nothing heavy to do: the file was read on construction."""

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        """The stored pixel for this prompt and stamp, as a parsed RoboRefer answer."""
        started = time.monotonic()
        if self._closed.is_set():
            raise RefPointError(Status.BACKEND_ERROR, "the ground_truth backend is closed")
        if query.rgb.ndim != 3 or query.rgb.shape[0] == 0 or query.rgb.shape[1] == 0:
            raise RefPointError(
                Status.BACKEND_ERROR, f"the query image has shape {query.rgb.shape}"
            )
        truth = self._lookup(query.instruction, query.stamp_ns)
        self._simulate_latency(timeout_s)
        size = (int(query.rgb.shape[1]), int(query.rgb.shape[0]))
        u, v = truth.pixel
        text = format_roborefer_answer([(u / size[0], v / size[1])])
        points = parse_points(text, AnswerFormat.ROBOREFER, size)
        return Answer(
            raw_text=text,
            points_norm=points,
            model_image_size=size,
            latency_s=time.monotonic() - started,
            depth_source=query.depth_source,  # echoed, so the depth path is testable
        )

    def close(self) -> None:
        """Wake any simulated wait; later calls fail with BACKEND_ERROR."""
        self._closed.set()

    def _lookup(self, instruction: str, stamp_ns: int) -> ReferringQuery:
        candidates = self._by_prompt.get(normalise_prompt(instruction))
        if not candidates:
            raise RefPointError(
                Status.BACKEND_ERROR, f"no ground truth for the prompt {instruction!r}"
            )
        at_stamp = [
            q for q in candidates if q.stamp_ns and abs(q.stamp_ns - stamp_ns) <= STAMP_TOLERANCE_NS
        ]
        if at_stamp:
            return min(at_stamp, key=lambda q: abs(q.stamp_ns - stamp_ns))
        for query in candidates:
            if query.stamp_ns == 0:
                return query
        known = ", ".join(_seconds(q.stamp_ns) for q in candidates)
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"the prompt {instruction!r} has ground truth only at stamps {known}, "
            f"not at the frame's stamp {_seconds(stamp_ns)}",
        )

    def _simulate_latency(self, timeout_s: float) -> None:
        if self._latency_s <= 0.0:
            return
        wait_s = min(self._latency_s, max(timeout_s, 0.0))
        if self._closed.wait(wait_s):
            raise RefPointError(Status.BACKEND_ERROR, "the ground_truth backend was closed")
        if self._latency_s > timeout_s:
            raise RefPointError(
                Status.BACKEND_TIMEOUT,
                f"no answer within {timeout_s:g} s (simulated latency {self._latency_s:g} s)",
            )


def _seconds(stamp_ns: int) -> str:
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return f"{sec}.{nanosec:09d} s"
