"""A Markdown report of a RefSpatial-Bench run, with plots and a gallery of the worst cases.

Figures are drawn with matplotlib's object API (``Figure`` + Agg), never ``pyplot``: no global
backend switch, no display needed, safe next to other threads. matplotlib is imported only when a
report is written, so scoring works without it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.eval.refspatial import SPLITS, BenchError, BenchSample
from roborefer_ros.eval.scoring import (
    GroupScore,
    SampleScore,
    SampleStatus,
    SplitResult,
    overall_score,
)

Key = tuple[str, str]

SCORING_RULE = (
    "Per sample, the score is the share of predicted points whose pixel lies in the mask "
    "(mask > 0); a normalised point (x, y) falls on pixel (int(x * W), int(y * H)) "
    "(truncation, as in the authors' script); a point outside the image is a miss; an answer "
    "with no point scores 0. A split's score is the mean over all its samples.\n\n"
    "**Difference from the authors' script:** it silently leaves out of the mean any answer "
    "whose parsing raises an exception, which flatters a model that often answers off-format. "
    "Here every sample is scored: an answer without a readable point scores 0 and is counted "
    "as *unparsed* (listed below); a sample with no answer at all (backend error, missing from "
    "the answers file) scores 0 and is counted as *failed*."
)


@dataclass(frozen=True)
class LatencyStats:
    """Wall time of the backend calls, seconds."""

    n: int
    mean_s: float
    p50_s: float
    p95_s: float
    max_s: float


def latency_stats(scores: Sequence[SampleScore]) -> LatencyStats | None:
    """Statistics of the samples' latencies; None when no sample was timed."""
    values = np.array([s.latency_s for s in scores if s.latency_s is not None], dtype=np.float64)
    if values.size == 0:
        return None
    return LatencyStats(
        n=int(values.size),
        mean_s=float(values.mean()),
        p50_s=float(np.percentile(values, 50)),
        p95_s=float(np.percentile(values, 95)),
        max_s=float(values.max()),
    )


def worst_cases(results: Mapping[str, SplitResult], count: int) -> list[SampleScore]:
    """The ``count`` lowest-scoring samples, split order and file order breaking ties."""
    ranked = [
        (s.score, split_index, index, s)
        for split_index, result in enumerate(results.values())
        for index, s in enumerate(result.samples)
    ]
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked[: max(count, 0)]]


def write_report(
    results: Mapping[str, SplitResult],
    samples: Mapping[Key, BenchSample],
    out_dir: str | Path,
    *,
    source: str,
    answer_format: AnswerFormat,
    gallery_size: int = 12,
) -> Path:
    """Write ``report.md``, the plots and ``gallery/*.png`` into ``out_dir``; return the .md path.

    ``samples`` gives the images of the gallery; ``source`` says what was evaluated (backend and
    its settings, or the answers file).
    """
    out = Path(out_dir)
    (out / "gallery").mkdir(parents=True, exist_ok=True)
    all_scores = [s for r in results.values() for s in r.samples]
    latency = latency_stats(all_scores)
    lines = [
        "# RefSpatial-Bench report",
        "",
        f"Evaluated: {_md(source)}. Answer format: `{answer_format.value}`. "
        f"Samples: {len(all_scores)}.",
        "",
        "## Scoring rule",
        "",
        SCORING_RULE,
        "",
        *_split_table(results),
        "",
        "![accuracy per split](accuracy_per_split.png)",
        "",
        *_step_table(results),
        "",
        "![accuracy per reasoning step](accuracy_per_step.png)",
        "",
    ]
    plot_accuracy_per_split(results, out / "accuracy_per_split.png")
    plot_accuracy_per_step(results, out / "accuracy_per_step.png")
    if latency is not None:
        plot_latency_histogram(all_scores, out / "latency_hist.png")
        lines += _latency_section(latency)
    lines += _listing("Unparsed answers", all_scores, SampleStatus.UNPARSED)
    lines += _listing("Failed samples", all_scores, SampleStatus.FAILED)
    lines += ["## Worst cases", ""]
    lines.append(
        "Yellow outline: the mask. Green circles: predicted points in the mask; red crosses: "
        "points outside it (points off the image are counted in the title, not drawn)."
    )
    lines.append("")
    for rank, score in enumerate(worst_cases(results, gallery_size), start=1):
        sample = samples.get((score.split, score.id))
        if sample is None:
            raise BenchError(f"no bench sample for {score.split}/{score.id}")
        name = f"gallery/{rank:02d}_{_file_stem(score)}.png"
        draw_case(sample, score, out / name)
        lines.append(f"![{score.split} {_md(score.id)}: score {score.score:.2f}]({name})")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _split_table(results: Mapping[str, SplitResult]) -> list[str]:
    rows = [
        "## Per split",
        "",
        "| split | n | score | unparsed | failed |",
        "|---|---|---|---|---|",
    ]
    for split, result in results.items():
        rows.append(_row(split, result.overall))
    if len(results) > 1:
        rows.append(_row("all (pooled)", overall_score(results)))
    return rows


def _step_table(results: Mapping[str, SplitResult]) -> list[str]:
    rows = [
        "## Per reasoning step",
        "",
        "| split | step | n | score | unparsed | failed |",
        "|---|---|---|---|---|---|",
    ]
    for split, result in results.items():
        for step, group in result.by_step.items():
            rows.append(_row(f"{split} | {step}", group))
    return rows


def _row(label: str, group: GroupScore) -> str:
    return (
        f"| {label} | {group.n} | {100 * group.score:.2f} % | {group.unparsed} | {group.failed} |"
    )


def _latency_section(latency: LatencyStats) -> list[str]:
    return [
        "## Latency (wall time of one backend call)",
        "",
        "| calls | mean s | p50 s | p95 s | max s |",
        "|---|---|---|---|---|",
        f"| {latency.n} | {latency.mean_s:.3f} | {latency.p50_s:.3f} | {latency.p95_s:.3f} "
        f"| {latency.max_s:.3f} |",
        "",
        "![latency histogram](latency_hist.png)",
        "",
    ]


def _listing(title: str, scores: Sequence[SampleScore], status: SampleStatus) -> list[str]:
    chosen = [s for s in scores if s.status is status]
    lines = [f"## {title} ({len(chosen)})", ""]
    if chosen:
        lines += ["| split | id | answer / reason |", "|---|---|---|"]
        for s in chosen:
            detail = s.text if status is SampleStatus.UNPARSED else s.message
            lines.append(f"| {s.split} | {_md(s.id)} | {_md(_excerpt(detail))} |")
    else:
        lines.append("None.")
    lines.append("")
    return lines


def plot_accuracy_per_split(results: Mapping[str, SplitResult], path: Path) -> None:
    """Bar chart of the split scores (percent) with n on each bar."""
    fig, ax = _figure(6.0, 4.0)
    names = list(results)
    values = [100 * results[n].overall.score for n in names]
    bars = ax.bar(names, values, color=[_split_colour(n) for n in names])
    for bar, name in zip(bars, names, strict=True):
        group = results[name].overall
        ax.annotate(
            f"{bar.get_height():.1f} %\nn={group.n}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("score (%)")
    ax.set_title("RefSpatial-Bench score per split")
    _save(fig, path)


def plot_accuracy_per_step(results: Mapping[str, SplitResult], path: Path) -> None:
    """Grouped bars: score (percent) per reasoning step, one colour per split."""
    fig, ax = _figure(7.0, 4.0)
    steps = sorted({step for r in results.values() for step in r.by_step})
    width = 0.8 / max(len(results), 1)
    for i, (split, result) in enumerate(results.items()):
        xs = [steps.index(step) + (i - (len(results) - 1) / 2) * width for step in result.by_step]
        ys = [100 * g.score for g in result.by_step.values()]
        bars = ax.bar(xs, ys, width=width, label=split, color=_split_colour(split))
        for bar, group in zip(bars, result.by_step.values(), strict=True):
            ax.annotate(
                f"n={group.n}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(steps)), [str(s) for s in steps])
    ax.set_xlabel("reasoning steps")
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.set_title("Score per reasoning step")
    ax.legend(loc="upper center", ncol=max(len(results), 1), fontsize=8, frameon=False)
    _save(fig, path)


def plot_latency_histogram(scores: Sequence[SampleScore], path: Path) -> None:
    """Histogram of the backend call latencies with p50 and p95 marked."""
    values = np.array([s.latency_s for s in scores if s.latency_s is not None], dtype=np.float64)
    fig, ax = _figure(6.0, 4.0)
    ax.hist(values, bins=min(30, max(5, int(math.sqrt(values.size)))), color="#4878a8")
    for q, style in ((50, "-"), (95, "--")):
        x = float(np.percentile(values, q))
        ax.axvline(x, color="black", linestyle=style, label=f"p{q} {x:.3f} s")
    ax.set_xlabel("backend call (s)")
    ax.set_ylabel("samples")
    ax.set_title(f"Latency of {values.size} backend calls")
    ax.legend(fontsize=8)
    _save(fig, path)


def draw_case(sample: BenchSample, score: SampleScore, path: Path) -> None:
    """The sample's image with the mask outlined and the predicted points marked."""
    rgb = sample.load_rgb()
    mask = sample.load_mask()
    height, width = mask.shape
    fig_w = 8.0
    fig, ax = _figure(fig_w, fig_w * height / width + 0.8)
    ax.imshow(rgb)
    if mask.any():
        ax.contour(mask.astype(np.float32), levels=[0.5], colors="yellow", linewidths=1.5)
    inside = [(u, v) for u, v in score.pixels if 0 <= u < width and 0 <= v < height]
    off_image = len(score.pixels) - len(inside)
    hits = [(u, v) for u, v in inside if mask[v, u]]
    misses = [(u, v) for u, v in inside if not mask[v, u]]
    if hits:
        ax.scatter(*zip(*hits, strict=True), s=160, facecolors="none", edgecolors="lime", lw=2)
    if misses:
        ax.scatter(*zip(*misses, strict=True), s=120, marker="x", c="red", lw=2.5)
    status = "" if score.status is SampleStatus.SCORED else f" [{score.status.value}]"
    head = (
        f"{score.split} {score.id} (step {score.step}): score {score.score:.2f}, "
        f"{score.hits}/{len(score.pixels)} points in mask"
        + (f", {off_image} off the image" if off_image else "")
        + status
    )
    prompt = textwrap.shorten(sample.prompt, width=300, placeholder=" ...")
    ax.set_title(head + "\n" + "\n".join(textwrap.wrap(prompt, 90)), fontsize=8, loc="left")
    ax.set_axis_off()
    _save(fig, path)


def _figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise BenchError("reports need matplotlib (pip install matplotlib)") from None
    fig = Figure(figsize=(width_in, height_in), dpi=100)
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight", pad_inches=0.1)


def _split_colour(split: str) -> str:
    colours = {"Location": "#4878a8", "Placement": "#e0883a", "Unseen": "#5aa05a"}
    return colours.get(split, "#888888") if split in SPLITS else "#888888"


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`") or "(empty)"


def _file_stem(score: SampleScore) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in score.id)
    return f"{score.split}_{safe}"
