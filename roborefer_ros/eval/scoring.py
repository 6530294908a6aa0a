"""RefSpatial-Bench scoring: the authors' per-sample rule, applied to every sample.

Per sample: the share of predicted points whose pixel lies in the mask (mask > 0). A normalised
point (x, y) falls on pixel (int(x * W), int(y * H)) -- truncation, as in the authors' script --
of the W x H bench image; a pixel outside the image is a miss; an answer with no point scores 0.
Split score: the mean over ALL its samples.

Where we differ from the authors on purpose: their script silently leaves an answer whose parsing
raises out of the mean, which flatters a model that often answers off-format. Here such an answer
scores 0 and is counted and listed as *unparsed*; a sample the model never answered (backend error,
or missing from an answers file) scores 0 and is counted as *failed*.

Answers are read with the strict grammars of ``backends.parsers``, before its clamp-or-drop rule
for points off the image: the benchmark counts those points as misses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from roborefer_ros.backends import parsers
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.eval.refspatial import SPLITS

Pixel = tuple[int, int]  # (u, v): u = column, v = row
_EMPTY_LIST_RE = re.compile(r"\s*(?:```(?:json)?\s*)?\[\s*\]\s*(?:```\s*)?", re.ASCII)
_SNAP = 1e-6  # an absolute coordinate this close to an integer is that integer


class SampleStatus(Enum):
    """How a sample's answer was read."""

    SCORED = "scored"  # points read (possibly none: an explicit empty list)
    UNPARSED = "unparsed"  # text without a readable point of the format: score 0
    FAILED = "failed"  # no answer at all (backend error, missing from the file): score 0


@dataclass(frozen=True)
class SampleScore:
    """The score of one sample. ``pixels``: the predicted pixels in the bench image, in answer
    order, including those off the image; ``hits``: how many lie in the mask."""

    split: str
    id: str
    step: int
    status: SampleStatus
    score: float
    pixels: tuple[Pixel, ...]
    hits: int
    text: str
    message: str = ""
    latency_s: float | None = None


@dataclass(frozen=True)
class GroupScore:
    """A mean over ``n`` samples (0.0 when n = 0), with the unparsed and failed counts."""

    n: int
    score: float
    unparsed: int
    failed: int


@dataclass(frozen=True)
class SplitResult:
    """One split: overall, per reasoning step (ascending), and every sample's score."""

    split: str
    overall: GroupScore
    by_step: Mapping[int, GroupScore]
    samples: tuple[SampleScore, ...]


def read_answer_points(
    text: str, fmt: AnswerFormat, model_image_size: tuple[int, int]
) -> tuple[tuple[float, float], ...] | None:
    """Normalised (x, y) points of an answer, NOT range-checked; () for an explicit empty list;
    None when the text holds no readable point (or exceeds the parser's size limit)."""
    if len(text) > parsers.MAX_ANSWER_CHARS:
        return None
    points = parsers.read_points(text, fmt, model_image_size)  # ValueError on a bad size
    if points:
        return points
    return () if _EMPTY_LIST_RE.fullmatch(parsers.answer_region(text)) else None


def to_pixels(
    points_norm: Iterable[tuple[float, float]],
    image_size: tuple[int, int],
    fmt: AnswerFormat = AnswerFormat.ROBOREFER,
    model_image_size: tuple[int, int] | None = None,
) -> tuple[Pixel, ...]:
    """Pixels (int(x * W), int(y * H)) of the W x H bench image.

    QWEN25 answers are absolute pixels of the image the model saw (``model_image_size``, default
    the bench image): the pixel is recovered exactly before scaling, so an integer answer on the
    bench image maps to itself (x / W * W is not always x in floating point).
    """
    width, height = image_size
    if fmt is not AnswerFormat.QWEN25:
        return tuple((int(x * width), int(y * height)) for x, y in points_norm)
    model_w, model_h = model_image_size or image_size
    out = []
    for x, y in points_norm:
        u = _snap(x * model_w) * width / model_w
        v = _snap(y * model_h) * height / model_h
        out.append((int(u), int(v)))
    return tuple(out)


def count_hits(pixels: Sequence[Pixel], mask: npt.NDArray[np.bool_]) -> int:
    """How many pixels lie inside the image and on the mask (HxW bool)."""
    height, width = mask.shape
    return sum(1 for u, v in pixels if 0 <= u < width and 0 <= v < height and bool(mask[v, u]))


def score_answer(
    text: str,
    fmt: AnswerFormat,
    mask: npt.NDArray[np.bool_],
    *,
    split: str,
    sample_id: str,
    step: int,
    model_image_size: tuple[int, int] | None = None,
    latency_s: float | None = None,
) -> SampleScore:
    """Score one raw answer against one mask (HxW bool, the bench image's size)."""
    height, width = mask.shape
    points = read_answer_points(text, fmt, model_image_size or (width, height))
    if points is None:
        return SampleScore(
            split,
            sample_id,
            step,
            SampleStatus.UNPARSED,
            0.0,
            (),
            0,
            text,
            f"no {fmt.value} point in the answer",
            latency_s,
        )
    pixels = to_pixels(points, (width, height), fmt, model_image_size)
    hits = count_hits(pixels, mask)
    score = hits / len(pixels) if pixels else 0.0
    return SampleScore(
        split, sample_id, step, SampleStatus.SCORED, score, pixels, hits, text, "", latency_s
    )


def failed_sample(
    split: str, sample_id: str, step: int, message: str, latency_s: float | None = None
) -> SampleScore:
    """A sample without an answer: score 0, status FAILED, ``message`` says why."""
    return SampleScore(
        split, sample_id, step, SampleStatus.FAILED, 0.0, (), 0, "", message, latency_s
    )


def summarise(scores: Iterable[SampleScore]) -> dict[str, SplitResult]:
    """Per split, in the order Location, Placement, Unseen (splits with no sample left out)."""
    by_split: dict[str, list[SampleScore]] = {}
    for score in scores:
        by_split.setdefault(score.split, []).append(score)
    order = [s for s in SPLITS if s in by_split] + sorted(set(by_split) - set(SPLITS))
    results = {}
    for split in order:
        samples = by_split[split]
        steps: dict[int, list[SampleScore]] = {}
        for sample in samples:
            steps.setdefault(sample.step, []).append(sample)
        results[split] = SplitResult(
            split=split,
            overall=group_score(samples),
            by_step={step: group_score(steps[step]) for step in sorted(steps)},
            samples=tuple(samples),
        )
    return results


def group_score(samples: Sequence[SampleScore]) -> GroupScore:
    """Mean score and counts of a group of samples."""
    n = len(samples)
    return GroupScore(
        n=n,
        score=sum(s.score for s in samples) / n if n else 0.0,
        unparsed=sum(1 for s in samples if s.status is SampleStatus.UNPARSED),
        failed=sum(1 for s in samples if s.status is SampleStatus.FAILED),
    )


def overall_score(results: Mapping[str, SplitResult]) -> GroupScore:
    """All samples of all splits pooled (not the mean of split means)."""
    return group_score([s for r in results.values() for s in r.samples])


def _snap(value: float) -> float:
    nearest = round(value)
    return float(nearest) if abs(value - nearest) < _SNAP else value
