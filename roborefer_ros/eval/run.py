"""Asking a model every benchmark question: threads, a resumable log, a plain-text progress line.

The model call itself is a function (``Ask``), so this module needs no backend and tests can
count calls. A sample is asked again on a rerun only when the log has no answer for it or the
logged attempt failed (``error`` set: a timeout or a server error may not happen twice).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TextIO

from roborefer_ros.eval.answers import AnswerLog, AnswerRecord
from roborefer_ros.eval.refspatial import BenchSample

Ask = Callable[[BenchSample], AnswerRecord]
Key = tuple[str, str]


class Progress:
    """``[  12/ 277]   4% Location/12  0.81 s/sample  eta 3m41s`` on ``stream``.

    On a terminal the line is redrawn in place; otherwise (CI logs) a line is written about every
    10 % and at the end, so logs stay short.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._started = time.monotonic()
        self._last_decile = -1
        self._lock = threading.Lock()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, label: str) -> None:
        with self._lock:
            self.done += 1
            elapsed = time.monotonic() - self._started
            per = elapsed / self.done
            eta = per * (self.total - self.done)
            width = len(str(self.total))
            line = (
                f"[{self.done:>{width}}/{self.total}] {100 * self.done / max(self.total, 1):3.0f}%"
                f" {label}  {per:.2f} s/sample  eta {_duration(eta)}"
            )
            if self._tty:
                end = "\n" if self.done == self.total else ""
                self.stream.write(f"\r{line:<79}{end}")
            else:
                decile = 10 * self.done // max(self.total, 1)
                if decile == self._last_decile and self.done != self.total:
                    return
                self._last_decile = decile
                self.stream.write(line + "\n")
            self.stream.flush()


def pending_samples(
    samples: Sequence[BenchSample], done: Mapping[Key, AnswerRecord]
) -> list[BenchSample]:
    """The samples without a logged answer, or whose logged attempt failed."""
    return [s for s in samples if s.key not in done or done[s.key].error]


def answer_all(
    samples: Sequence[BenchSample],
    ask: Ask,
    *,
    log: AnswerLog | None = None,
    concurrency: int = 1,
    progress_stream: TextIO | None = None,
) -> dict[Key, AnswerRecord]:
    """Ask every pending sample (see ``pending_samples``) with ``concurrency`` threads, with a
    ``Progress`` line over the pending samples on ``progress_stream`` when one is given.

    Returns the logged records updated with the new ones. Each new record is appended to the log
    as soon as it arrives, so an interrupted run loses at most the calls in flight. An exception
    raised by ``ask`` cancels the calls not yet started and propagates.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    records = dict(log.existing()) if log is not None else {}
    todo = pending_samples(samples, records)
    if not todo:
        return records
    progress = Progress(len(todo), progress_stream) if progress_stream is not None else None
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench")
    try:
        futures: list[Future[AnswerRecord]] = [pool.submit(ask, s) for s in todo]
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in finished:
                record = future.result()  # re-raises the first failure
                records[record.key] = record
                if log is not None:
                    log.append(record)
                if progress is not None:
                    progress.update(f"{record.split}/{record.id}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return records


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
