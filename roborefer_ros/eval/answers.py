"""Raw model answers of a benchmark run, one JSON object per line.

The same schema serves recorded answers (``roborefer-bench --answers``) and the log a backend run
keeps to resume (``--out``), so a backend run's log can be re-scored later::

    {"split": "Location", "id": "3", "text": "[(0.41, 0.52)]",
     "model_image_size": [640, 480], "latency_s": 0.81, "error": ""}

Only ``split``, ``id`` and ``text`` are required. ``model_image_size`` ([width, height] of the
image the model saw) matters for answers in absolute pixels (Qwen2.5-VL); missing = the bench
image. ``error`` non-empty: the model gave no answer (the text is then ignored).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from roborefer_ros.eval.refspatial import BenchError, canonical_split


@dataclass(frozen=True)
class AnswerRecord:
    """One sample's raw answer (or why there is none)."""

    split: str
    id: str
    text: str
    model_image_size: tuple[int, int] | None = None
    latency_s: float | None = None
    error: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.split, self.id)

    def to_json(self) -> str:
        data: dict[str, object] = {"split": self.split, "id": self.id, "text": self.text}
        if self.model_image_size is not None:
            data["model_image_size"] = list(self.model_image_size)
        if self.latency_s is not None:
            data["latency_s"] = round(self.latency_s, 6)
        if self.error:
            data["error"] = self.error
        return json.dumps(data, ensure_ascii=False)


def read_answers(path: str | Path) -> dict[tuple[str, str], AnswerRecord]:
    """Records by (split, id); a later line for the same sample replaces an earlier one.

    A truncated last line (an interrupted run) is ignored; any other bad line is a BenchError
    naming the file and line number.
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as err:
        raise BenchError(f"cannot read answers file {path}: {err}") from None
    lines = content.splitlines()
    records: dict[tuple[str, str], AnswerRecord] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _parse_record(line)
        except BenchError as err:
            if number == len(lines) and not content.endswith("\n"):
                break  # the half-written last line of an interrupted run
            raise BenchError(f"{path} line {number}: {err}") from None
        records[record.key] = record
    return records


def _parse_record(line: str) -> AnswerRecord:
    try:
        data = json.loads(line)
    except ValueError as err:
        raise BenchError(f"not JSON ({err})") from None
    if not isinstance(data, dict):
        raise BenchError("expected a JSON object")
    for name in ("split", "id", "text"):
        if name not in data:
            raise BenchError(f"missing field {name!r}")
    split = canonical_split(str(data["split"]))
    if split is None:
        raise BenchError(f"unknown split {data['split']!r}")
    if not isinstance(data["text"], str):
        raise BenchError(f"text must be a string, got {data['text']!r}")
    size = data.get("model_image_size")
    model_image_size = None
    if size is not None:
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise BenchError(f"model_image_size must be [width, height] > 0, got {size!r}")
        model_image_size = (size[0], size[1])
    latency = data.get("latency_s")
    return AnswerRecord(
        split=split,
        id=str(data["id"]),
        text=data["text"],
        model_image_size=model_image_size,
        latency_s=float(latency) if isinstance(latency, (int, float)) else None,
        error=str(data.get("error") or ""),
    )


class AnswerLog:
    """Append-only JSONL log, safe to write from several threads; each line is flushed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: TextIO | None = None

    def existing(self) -> dict[tuple[str, str], AnswerRecord]:
        """What an earlier run wrote (empty when the file does not exist)."""
        return read_answers(self.path) if self.path.exists() else {}

    def append(self, record: AnswerRecord) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _drop_partial_last_line(self.path)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(record.to_json() + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> AnswerLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_partial_last_line(path: Path) -> None:
    """Cut a half-written last line (no newline) so the next record starts on its own line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
