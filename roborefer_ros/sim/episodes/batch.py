"""A batch of in-process pick-and-place episodes, one per seed, with every failure classified.

``python -m roborefer_ros.tools.sim_batch --robot ur5e --seeds 0-49 [--json]`` runs one episode
per seed (``episodes.episode.run_episode``, ground-truth targets) and reports the success rate.
A seed's scene is redrawn while it offers the robot no task
(``episodes.episode.build_episode_scene``); a seed for which no draw does (``MAX_SCENE_DRAWS``)
is reported as ``no_task`` and left out of the rate (it measures the scene generator, not the
manipulation). With ``--json`` the last line is one JSON object: ``episodes``, ``successes``,
``success_rate``, ``failures`` (class -> seeds), ``no_task``, ``place_error_m`` and ``timings``
summaries, and ``results`` (one object per episode).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from roborefer_ros.sim.episodes.episode import (
    DEFAULT_TOLERANCE_M,
    EpisodeError,
    EpisodeResult,
    run_episode,
)


@dataclass(frozen=True)
class BatchReport:
    """Episodes of a batch; ``no_task``: seed -> why no episode could be set up."""

    robot: str
    seeds: tuple[int, ...]
    tolerance_m: float
    geometry: str  # "perceived" or "truth": what the plans used for the object's size and yaw
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
            "object_geometry": self.geometry,
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


def _one(seed: int, robot: str, tolerance_m: float, geometry: str) -> EpisodeResult | str:
    """An episode, or the reason no episode could be set up (picklable for worker processes)."""
    try:
        return run_episode(seed, robot=robot, tolerance_m=tolerance_m, geometry=geometry)
    except EpisodeError as err:
        return str(err)


def run_batch(
    seeds: Iterable[int],
    robot: str = "ur5e",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    jobs: int = 1,
    geometry: str = "perceived",
) -> BatchReport:
    """One episode per seed, in ``jobs`` worker processes (1: in this process); ``geometry``:
    plan with the perceived object extents or (comparison runs) the simulator's truth."""
    ordered = tuple(seeds)
    start = time.perf_counter()
    n = len(ordered)
    args = (ordered, [robot] * n, [tolerance_m] * n, [geometry] * n)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(_one, *args))
    else:
        outcomes = list(map(_one, *args))
    return BatchReport(
        robot=robot,
        seeds=ordered,
        tolerance_m=tolerance_m,
        geometry=geometry,
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
