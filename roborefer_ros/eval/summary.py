"""Scores of a set of referring results against their ground truth, live or offline alike.

A query succeeds when its status is OK and the 3D error is within its own ``tolerance_m``; errors
are summarised over the queries that returned a point (median, p95), latencies per stage. The
evaluation as a job fails (``job_failure``) when no query succeeded, or when any query could not be
asked of the model at all (BACKEND_ERROR, BACKEND_TIMEOUT, or no response): a score over a model
that was not there measures nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# processing_s = total_s - wait_frame_s: the node's own work once the frame is there
STAGES = ("wait_frame_s", "model_s", "lift_s", "tf_s", "total_s", "processing_s")


@dataclass(frozen=True)
class QueryOutcome:
    """The result of one ground-truth query: status name, 3D error if a point came back."""

    prompt: str
    stamp_ns: int
    status: str
    error_m: float | None
    tolerance_m: float
    timings_s: Mapping[str, float] = field(default_factory=dict)
    message: str = ""  # the node's own message (why it failed)

    @property
    def succeeded(self) -> bool:
        return self.status == "OK" and self.error_m is not None and self.error_m <= self.tolerance_m


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float


@dataclass(frozen=True)
class EvalSummary:
    n: int
    succeeded: int
    success_rate: float
    median_error_m: float | None
    p95_error_m: float | None
    status_counts: dict[str, int]
    latency_s: dict[str, Percentiles]

    def to_json_dict(self) -> dict[str, object]:
        """The keys ``n, succeeded, success_rate, median_error_m, p95_error_m, status_counts``
        (what scripts parse), then ``latency_s`` per stage."""
        return {
            "n": self.n,
            "succeeded": self.succeeded,
            "success_rate": self.success_rate,
            "median_error_m": self.median_error_m,
            "p95_error_m": self.p95_error_m,
            "status_counts": dict(self.status_counts),
            "latency_s": {k: {"p50": v.p50, "p95": v.p95} for k, v in self.latency_s.items()},
        }


def percentiles(values: Sequence[float]) -> Percentiles | None:
    if not values:
        return None
    p50, p95 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95])
    return Percentiles(float(p50), float(p95))


def summarize(outcomes: Iterable[QueryOutcome]) -> EvalSummary:
    items = list(outcomes)
    errors = [o.error_m for o in items if o.error_m is not None and math.isfinite(o.error_m)]
    error_pct = percentiles(errors)
    succeeded = sum(o.succeeded for o in items)
    latency = {}
    for stage in STAGES:
        pct = percentiles([o.timings_s[stage] for o in items if stage in o.timings_s])
        if pct is not None:
            latency[stage] = pct
    return EvalSummary(
        n=len(items),
        succeeded=succeeded,
        success_rate=succeeded / len(items) if items else 0.0,
        median_error_m=error_pct.p50 if error_pct else None,
        p95_error_m=error_pct.p95 if error_pct else None,
        status_counts=dict(sorted(Counter(o.status for o in items).items())),
        latency_s=latency,
    )


#: statuses that mean the model (or the node) did not answer: any of them fails the job
JOB_FAILURES = ("BACKEND_ERROR", "BACKEND_TIMEOUT", "NO_RESPONSE")


def job_failure(outcomes: Iterable[QueryOutcome]) -> str | None:
    """Why the evaluation as a whole failed, in one line naming the first cause in the node's
    own words; None when it is a valid measurement (module docstring)."""
    items = list(outcomes)
    if not items:
        return "no query was asked"
    broken = [o for o in items if o.status in JOB_FAILURES]
    first = broken[0] if broken else None
    if first is None and not any(o.succeeded for o in items):
        first = next((o for o in items if o.status != "OK"), items[0])
        counts = Counter(o.status for o in items)
        head = "no query succeeded (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return f"{head}); first: {first.status}" + (f": {first.message}" if first.message else "")
    if first is None:
        return None
    counts = Counter(o.status for o in broken)
    head = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    why = f": {first.message}" if first.message else ""
    return f"{head} of {len(items)} queries; first: {first.status}{why}"


def format_summary(summary: EvalSummary, title: str) -> str:
    """A few human-readable lines (errors in mm, latencies in ms)."""

    def mm(value: float | None) -> str:
        return "-" if value is None else f"{value * 1e3:.1f} mm"

    lines = [
        f"{title}: {summary.succeeded}/{summary.n} within tolerance "
        f"({summary.success_rate:.1%}); 3D error median {mm(summary.median_error_m)}, "
        f"p95 {mm(summary.p95_error_m)}",
        "  statuses: " + ", ".join(f"{k} {v}" for k, v in summary.status_counts.items()),
    ]
    if summary.latency_s:
        lines.append(
            "  latency p50/p95 ms: "
            + ", ".join(
                f"{stage.removesuffix('_s')} {p.p50 * 1e3:.1f}/{p.p95 * 1e3:.1f}"
                for stage, p in summary.latency_s.items()
            )
        )
    return "\n".join(lines)
