"""``recorded`` backend: replays model answers recorded earlier, by prompt.

TEST AND REPLAY INSTRUMENTATION, NOT A MODEL. It answers each prompt with a stored raw answer
text and runs the real parser on it, so the answer-format, parse-error and timeout paths of the
node can be exercised on a live graph without a model. File schema (JSON)::

    {"format": "roborefer",
     "answers": [{"prompt": "the red cup", "answer": "[(0.341, 0.510)]", "delay_s": 0.0}]}

``format`` is an ``AnswerFormat`` name; ``delay_s`` (optional) simulates model latency and is
bounded by the caller's timeout (BACKEND_TIMEOUT beyond it).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.core.status import RefPointError, Status


@dataclass(frozen=True)
class RecordedAnswer:
    answer: str
    delay_s: float = 0.0


def _key(prompt: str) -> str:
    return " ".join(prompt.split()).lower()


class RecordedBackend:
    name = "recorded"

    def __init__(self, answers: dict[str, RecordedAnswer], fmt: AnswerFormat) -> None:
        self.answers = {_key(k): v for k, v in answers.items()}
        self.format = fmt
        self._closed = threading.Event()

    @classmethod
    def from_file(cls, path: str | Path) -> RecordedBackend:
        try:
            data = json.loads(Path(path).read_text())
            fmt = AnswerFormat.parse(str(data.get("format", "roborefer")))
            answers = {
                str(entry["prompt"]): RecordedAnswer(
                    str(entry["answer"]), float(entry.get("delay_s", 0.0))
                )
                for entry in data["answers"]
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise RefPointError(
                Status.BACKEND_ERROR, f"cannot read answers file {path}: {err}"
            ) from None
        return cls(answers, fmt)

    def load(self) -> None:
        self._closed.clear()

    def close(self) -> None:
        self._closed.set()  # wakes a simulated delay in progress

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        started = time.monotonic()
        recorded = self.answers.get(_key(query.instruction))
        if recorded is None:
            raise RefPointError(
                Status.BACKEND_ERROR, f"no recorded answer for prompt {query.instruction!r}"
            )
        if recorded.delay_s > 0:
            if self._closed.wait(min(recorded.delay_s, timeout_s)):
                raise RefPointError(Status.BACKEND_ERROR, "backend closed during the request")
            if recorded.delay_s > timeout_s:
                raise RefPointError(
                    Status.BACKEND_TIMEOUT,
                    f"recorded answer takes {recorded.delay_s:.2f} s; "
                    f"the timeout is {timeout_s:.2f} s",
                )
        height, width = query.rgb.shape[:2]
        points = parse_points(recorded.answer, self.format, (width, height))
        return Answer(
            raw_text=recorded.answer,
            points_norm=points,
            model_image_size=(width, height),
            latency_s=time.monotonic() - started,
            depth_source=query.depth_source,
        )
