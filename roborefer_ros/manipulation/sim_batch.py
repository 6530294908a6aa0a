"""``python -m roborefer_ros.manipulation.sim_batch --robot ur5e --seeds 0-49 [--json]``.

Runs one pick-and-place episode per seed (``sim_episode.run_episode``, ground-truth targets)
and reports the success rate with every failure classified. A seed's scene is redrawn while
it offers the robot no task (``sim_episode.build_episode_scene``); a seed for which no draw
does (``MAX_SCENE_DRAWS``) is reported as ``no_task`` and left out of the rate (it measures the
scene generator, not the manipulation). With ``--json`` the last line is one JSON object:
``episodes``, ``successes``, ``success_rate``, ``failures`` (class -> seeds), ``no_task``,
``place_error_m`` and ``timings`` summaries, and ``results`` (one object per episode).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from roborefer_ros.manipulation.sim_episode import (
    DEFAULT_TOLERANCE_M,
    EpisodeError,
    EpisodeResult,
    run_episode,
)
from roborefer_ros.sim.errors import SimError

_SEED_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seeds(text: str) -> list[int]:
    """``"0-49"``, ``"3,5,8-10"`` -> sorted distinct seeds; SimError naming a bad part."""
    seeds: set[int] = set()
    for part in text.split(","):
        match = _SEED_PART.match(part.strip())
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise SimError(f"bad seed range {part!r} in {text!r}; e.g. 0-49 or 1,4,7-9")
        first = int(match[1])
        seeds.update(range(first, int(match[2] or first) + 1))
    return sorted(seeds)


@dataclass(frozen=True)
class BatchReport:
    """Episodes of a batch; ``no_task``: seed -> why no episode could be set up."""

    robot: str
    seeds: tuple[int, ...]
    tolerance_m: float
    results: tuple[EpisodeResult, ...]
    no_task: dict[int, str]
    wall_s: float
    jobs: int

    @property
    def successes(self) -> int:
        return sum(r.success for r in self.results)

    @property
    def success_rate(self) -> float:
        return self.successes / len(self.results) if self.results else 0.0

    @property
    def failures(self) -> dict[str, list[int]]:
        """Failure class value -> seeds, in seed order."""
        found: dict[str, list[int]] = {}
        for r in self.results:
            if r.failure_class is not None:
                found.setdefault(r.failure_class.value, []).append(r.seed)
        return found

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary plus one object per episode."""
        ok = [r for r in self.results if r.success and r.place_error_m is not None]
        return {
            "robot": self.robot,
            "seeds": list(self.seeds),
            "tolerance_m": self.tolerance_m,
            "episodes": len(self.results),
            "successes": self.successes,
            "success_rate": self.success_rate,
            "failures": self.failures,
            "no_task": {str(k): v for k, v in self.no_task.items()},
            "place_error_m": _stats([r.place_error_m for r in ok if r.place_error_m is not None]),
            "timings": {
                "episode_wall_s": _stats([r.timings.total_s for r in self.results]),
                "execute_wall_s": _stats([r.timings.execute_s for r in self.results]),
                "robot_sim_s": _stats([r.timings.robot_sim_s for r in self.results]),
                "batch_wall_s": self.wall_s,
                "jobs": self.jobs,
            },
            "results": [r.as_dict() for r in self.results],
        }


def _one(seed: int, robot: str, tolerance_m: float) -> EpisodeResult | str:
    """An episode, or the reason no episode could be set up (picklable for worker processes)."""
    try:
        return run_episode(seed, robot=robot, tolerance_m=tolerance_m)
    except EpisodeError as err:
        return str(err)


def run_batch(
    seeds: Iterable[int],
    robot: str = "ur5e",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    jobs: int = 1,
) -> BatchReport:
    """One episode per seed, in ``jobs`` worker processes (1: in this process)."""
    ordered = tuple(seeds)
    start = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            n = len(ordered)
            outcomes = list(pool.map(_one, ordered, [robot] * n, [tolerance_m] * n))
    else:
        outcomes = [_one(seed, robot, tolerance_m) for seed in ordered]
    return BatchReport(
        robot=robot,
        seeds=ordered,
        tolerance_m=tolerance_m,
        results=tuple(o for o in outcomes if isinstance(o, EpisodeResult)),
        no_task={seed: o for seed, o in zip(ordered, outcomes, strict=True) if isinstance(o, str)},
        wall_s=time.perf_counter() - start,
        jobs=jobs,
    )


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m roborefer_ros.manipulation.sim_batch", description=__doc__.splitlines()[0]
    )
    p.add_argument("--robot", default="ur5e", choices=["ur5e", "g1"])
    p.add_argument("--seeds", default="0-49", help="e.g. 0-49 or 1,4,7-9")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_M, help="metres, xy")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except SimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = run_batch(seeds, args.robot, args.tolerance, max(1, args.jobs))
    for r in report.results:
        verdict = "ok" if r.failure_class is None else f"FAIL {r.failure_class.value}"
        print(f"seed {r.seed:3d} {verdict:24s} {r.object:12s} {r.message}")
    for seed, why in report.no_task.items():
        print(f"seed {seed:3d} {'no_task':24s} {why}")
    print(
        f"{report.successes}/{len(report.results)} succeeded ({report.success_rate:.0%}); "
        f"failures: {report.failures or 'none'}; no task: {sorted(report.no_task) or 'none'}; "
        f"{report.wall_s:.0f} s"
    )
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
