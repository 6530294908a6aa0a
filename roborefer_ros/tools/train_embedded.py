"""``python -m roborefer_ros.tools.train_embedded`` (``make model``): train the embedded pointing
network from scratch and write ``data/models/embedded_pointer.safetensors``.

Two phases, both printing progress: render the training and validation scenes into samples
(``roborefer_ros.eval.embedded_data``; cached as shards under ``--data``, so a rerun renders
only what is missing), then train (``roborefer_ros.eval.embedded_train``) with a fixed seed and
validate on scenes never trained on. The weights file records the command, the seed ranges, the
steps, the wall times and the validation figures in its metadata. Training seeds must lie in
10000-19999 (``TRAIN_SEEDS``): every evaluation in this repository uses seeds outside it.

Exit codes: 0 written, 1 training failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from roborefer_ros.tools.cli import output_file, parse_seeds, positive_int

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "data" / "models" / "embedded_pointer.safetensors"
DEFAULT_DATA = ROOT / "build" / "embedded"
DEFAULT_TRAIN_SEEDS = "10000-10774"
DEFAULT_VALIDATION_SEEDS = "20000-20049"
_SINGLE_THREADED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.train_embedded",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=output_file, default=DEFAULT_OUT, help="weights file to write")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="sample cache folder")
    p.add_argument(
        "--train-seeds", type=parse_seeds, default=DEFAULT_TRAIN_SEEDS, help="within 10000-19999"
    )
    p.add_argument(
        "--validation-seeds",
        type=parse_seeds,
        default=DEFAULT_VALIDATION_SEEDS,
        help="within 20000-20099",
    )
    p.add_argument("--steps", type=positive_int, default=4000, help="training steps")
    p.add_argument("--batch", type=positive_int, default=16, help="frames per step")
    p.add_argument("--seed", type=int, default=0, help="torch / numpy seed of the training")
    p.add_argument("--workers", type=positive_int, default=2, help="rendering processes")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (1: robust on a busy machine)",
    )
    p.add_argument("--data-only", action="store_true", help="render the samples, do not train")
    return p


def _contiguous(seeds: Sequence[int], allowed: range, name: str) -> range:
    found = range(seeds[0], seeds[-1] + 1)
    if len(found) != len(seeds):
        raise ValueError(f"{name} must be one contiguous range, got {len(seeds)} seeds")
    if seeds[0] < allowed.start or seeds[-1] >= allowed.stop:
        raise ValueError(
            f"{name} {seeds[0]}-{seeds[-1]} leave the documented range "
            f"{allowed.start}-{allowed.stop - 1}"
        )
    return found


def _shard_job(job: tuple[str, int, int]) -> tuple[str, float]:
    from roborefer_ros.eval.embedded_data import make_shard

    started = time.monotonic()
    path = make_shard(Path(job[0]), job[1], job[2])
    return str(path), time.monotonic() - started


def render(folder: Path, seeds: range, workers: int) -> list[Path]:
    """Make every missing shard of ``seeds`` under ``folder``; the shard paths."""
    from roborefer_ros.eval.embedded_data import shard_path, shard_starts

    folder.mkdir(parents=True, exist_ok=True)
    starts = shard_starts(seeds)
    missing = [s for s in starts if not shard_path(folder, s).exists()]
    print(
        f"samples of seeds {seeds.start}-{seeds.stop - 1}: {len(starts) - len(missing)} of "
        f"{len(starts)} shards cached in {folder}",
        flush=True,
    )
    if missing:
        started = time.monotonic()
        jobs = [(str(folder), s, seeds.stop) for s in missing]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for done, (path, took) in enumerate(pool.map(_shard_job, jobs), start=1):
                print(
                    f"  rendered {Path(path).name} ({took:.0f} s); {done}/{len(jobs)} in "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
    return [shard_path(folder, s) for s in starts]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from roborefer_ros.eval.embedded_data import TRAIN_SEEDS, VALIDATION_SEEDS

    try:
        train_seeds = _contiguous(args.train_seeds, TRAIN_SEEDS, "--train-seeds")
        validation_seeds = _contiguous(
            args.validation_seeds, VALIDATION_SEEDS, "--validation-seeds"
        )
    except ValueError as err:
        parser.error(str(err))
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering, before mujoco is imported
    for name in _SINGLE_THREADED:  # the renderers' numpy: threads only fight on a busy machine
        os.environ.setdefault(name, "1")
    started = time.monotonic()
    try:
        train_shards = render(args.data / "train", train_seeds, args.workers)
        validation_shards = render(args.data / "validation", validation_seeds, args.workers)
    except (OSError, ValueError) as err:
        print(f"train_embedded: rendering failed: {err}", file=sys.stderr)
        return 1
    render_s = time.monotonic() - started
    print(f"samples ready in {render_s:.0f} s", flush=True)
    if args.data_only:
        return 0
    return _train(args, train_seeds, validation_seeds, train_shards, validation_shards, render_s)


def _train(
    args: argparse.Namespace,
    train_seeds: range,
    validation_seeds: range,
    train_shards: list[Path],
    validation_shards: list[Path],
    render_s: float,
) -> int:
    import torch

    from roborefer_ros.backends.embedded.backend import vocabulary
    from roborefer_ros.backends.embedded.network import NetworkConfig, PointingNetwork
    from roborefer_ros.backends.embedded.weights import save_network
    from roborefer_ros.eval.embedded_train import SampleSet, TrainConfig, train, validate

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = SampleSet(train_shards)
    validation = SampleSet(validation_shards)
    print(
        f"training on {data.size} frames of seeds {train_seeds.start}-{train_seeds.stop - 1}; "
        f"validating on {validation.size} frames ({len(validation.queries)} instructions) of "
        f"seeds {validation_seeds.start}-{validation_seeds.stop - 1}",
        flush=True,
    )
    network = PointingNetwork(NetworkConfig())
    config = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
    started = time.monotonic()

    def metadata(steps_done: int) -> dict[str, str]:
        return {
            "vocabulary": json.dumps(vocabulary()),
            "command": "python -m roborefer_ros.tools.train_embedded " + " ".join(sys.argv[1:]),
            "train_seeds": f"{train_seeds.start}-{train_seeds.stop - 1}",
            "validation_seeds": f"{validation_seeds.start}-{validation_seeds.stop - 1}",
            "train_frames": str(data.size),
            "steps": str(steps_done),
            "batch": str(config.batch),
            "seed": str(config.seed),
            "render_s": f"{render_s:.0f}",
            "train_s": f"{time.monotonic() - started:.0f}",
        }

    def checkpoint(step: int) -> None:  # an unfinished run still leaves weights behind
        partial = args.out.with_name(args.out.stem + ".partial" + args.out.suffix)
        save_network(partial, network, metadata(step) | {"complete": "false"})
        print(f"checkpoint at step {step}: {partial}", flush=True)

    train(
        network,
        data,
        config,
        log=lambda line: print(line, flush=True),
        validation=validation,
        checkpoint=checkpoint,
    )
    train_s = time.monotonic() - started
    result = validate(network, validation)
    save_network(args.out, network.eval(), metadata(config.steps) | {"validation": result.line()})
    size_mb = args.out.stat().st_size / 1e6
    print(f"validation: {result.line()}")
    print(
        f"wrote {args.out} ({size_mb:.1f} MB); rendering {render_s:.0f} s, training {train_s:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
