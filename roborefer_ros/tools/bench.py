"""``roborefer-bench BENCH_DIR``: score a backend, or recorded answers, on RefSpatial-Bench.

Either a backend answers every question (``--backend`` and the same flags as roborefer-query;
the sample's ``prompt`` is the instruction, the backend adds its family's suffix or template), or
``--answers FILE`` gives the raw answers (JSON lines ``{"split", "id", "text"}``, parsed with
``--format``). Scores per split and per reasoning step (rule: ``roborefer_ros.eval.scoring``).

``--out DIR`` keeps ``answers.jsonl`` (a rerun asks only the samples not yet answered, and
retries failed calls) and ``results.json``. ``--report DIR`` writes a Markdown report with plots
and a gallery of the worst cases. With ``--json`` the last line printed is one JSON object keyed
by split (``Location``, ``Placement``, ``Unseen``: those evaluated), each with ``n``, ``score``
(0..1), ``unparsed``, ``failed`` and ``by_step``; plus ``_overall`` (all samples pooled).
Exit codes: 0 ran and measured, 1 the backend could not be created or loaded, or the run failed
as a job (a sample got no answer at all: backend error, timeout, missing from the file; or no
sample scored above 0), the first cause on stderr; 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from roborefer_ros.backends.base import Backend, PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.registry import BackendOptions, make_backend
from roborefer_ros.core.request import Mode, resolve_mode
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.eval.answers import AnswerLog, AnswerRecord, read_answers
from roborefer_ros.eval.refspatial import BenchError, BenchSample, load_bench
from roborefer_ros.eval.run import Ask, answer_all, pending_samples
from roborefer_ros.eval.scoring import (
    GroupScore,
    SampleScore,
    SampleStatus,
    SplitResult,
    failed_sample,
    overall_score,
    score_answer,
    summarise,
)
from roborefer_ros.tools.backend_flags import add_backend_arguments, backend_options_from_args
from roborefer_ros.tools.cli import non_negative_int, output_dir, positive_int

ANSWERS_LOG = "answers.jsonl"
RESULTS_FILE = "results.json"
# A backend that raises these has answered: its text is scored (0, unparsed or all misses).
_ANSWERED = (Status.PARSE_ERROR, Status.OUT_OF_IMAGE)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="roborefer-bench",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("bench_dir", type=Path, help="local RefSpatial-Bench copy (folders or parquet)")
    p.add_argument(
        "--answers", type=Path, help="JSON lines of raw answers to score (no backend runs)"
    )
    add_backend_arguments(p)
    p.add_argument("--splits", default="", help="comma-separated, e.g. Location,Unseen")
    p.add_argument(
        "--limit", type=non_negative_int, default=0, help="first N samples of each split; 0 = all"
    )
    p.add_argument(
        "--concurrency", type=positive_int, default=1, help="backend calls in flight (threads)"
    )
    p.add_argument("--out", type=output_dir, help=f"folder for {ANSWERS_LOG} (resume) and results")
    p.add_argument("--report", type=output_dir, help="folder for report.md, plots and gallery")
    p.add_argument(
        "--gallery", type=non_negative_int, default=12, help="worst cases drawn in the report"
    )
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    return p


def select_samples(samples: Sequence[BenchSample], limit: int) -> list[BenchSample]:
    """The first ``limit`` samples of each split (all when ``limit`` is 0)."""
    if limit <= 0:
        return list(samples)
    taken: dict[str, int] = {}
    out = []
    for sample in samples:
        if taken.get(sample.split, 0) < limit:
            taken[sample.split] = taken.get(sample.split, 0) + 1
            out.append(sample)
    return out


def sample_mode(sample: BenchSample) -> Mode:
    """PLACE for placement questions (by category, else by wording), LOCATE otherwise."""
    category = sample.category.lower()
    if "place" in category:
        return Mode.PLACE
    if "locat" in category:
        return Mode.LOCATE
    return resolve_mode(Mode.AUTO, sample.prompt)


def backend_format(backend: Backend) -> AnswerFormat:
    """The format a backend answers in, as it declares it (a ``format`` or ``answer_format``
    attribute; the Backend protocol has none), else RoboRefer's."""
    for attribute in ("format", "answer_format"):
        value = getattr(backend, attribute, None)
        if isinstance(value, AnswerFormat):
            return value
    return AnswerFormat.ROBOREFER


def backend_asker(backend: Backend, options: BackendOptions, timeout_s: float) -> Ask:
    """One blocking backend call per sample, timed; failures become records, not exceptions."""
    depth_source = None
    if options.depth_source == "sensor":
        raise BenchError("the bench has no depth images: use --depth-source none or estimated")
    if options.depth_source == "estimated":
        from roborefer_ros.backends.model_depth import make_model_depth_for_options

        depth_source = make_model_depth_for_options(options)

    def ask(sample: BenchSample) -> AnswerRecord:
        rgb = sample.load_rgb()
        depth = depth_source.from_arrays(rgb, None) if depth_source is not None else None
        query = PointingQuery(
            rgb=rgb,
            instruction=sample.prompt,
            mode=sample_mode(sample),
            stamp_ns=0,
            depth_for_model=depth,
            depth_source=depth_source.name if depth_source is not None else "none",
        )
        started = time.monotonic()
        try:
            answer = backend.point(query, timeout_s)
        except RefPointError as err:
            latency_s = time.monotonic() - started
            error = "" if err.status in _ANSWERED else f"{err.status.name}: {err.message}"
            return AnswerRecord(
                sample.split, sample.id, err.raw_answer, latency_s=latency_s, error=error
            )
        return AnswerRecord(
            sample.split,
            sample.id,
            answer.raw_text,
            model_image_size=answer.model_image_size,
            latency_s=time.monotonic() - started,
        )

    return ask


def score_samples(
    samples: Sequence[BenchSample],
    records: Mapping[tuple[str, str], AnswerRecord],
    fmt: AnswerFormat,
) -> list[SampleScore]:
    """Every sample's score; a sample without a record, or whose call failed, is FAILED."""
    scores = []
    for sample in samples:
        record = records.get(sample.key)
        if record is None:
            scores.append(failed_sample(sample.split, sample.id, sample.step, "no answer"))
        elif record.error:
            scores.append(
                failed_sample(sample.split, sample.id, sample.step, record.error, record.latency_s)
            )
        else:
            scores.append(
                score_answer(
                    record.text,
                    fmt,
                    sample.load_mask(),
                    split=sample.split,
                    sample_id=sample.id,
                    step=sample.step,
                    model_image_size=record.model_image_size,
                    latency_s=record.latency_s,
                )
            )
    return scores


def results_json(results: Mapping[str, SplitResult]) -> dict[str, object]:
    """The ``--json`` object: split keys exactly as in SPLITS, extras prefixed with ``_``."""
    out: dict[str, object] = {}
    for split, result in results.items():
        entry = _group_json(result.overall)
        entry["by_step"] = {str(k): _group_json(g) for k, g in result.by_step.items()}
        out[split] = entry
    out["_overall"] = _group_json(overall_score(results))
    return out


def _group_json(group: GroupScore) -> dict[str, object]:
    return {"n": group.n, "score": group.score, "unparsed": group.unparsed, "failed": group.failed}


def _print_table(results: Mapping[str, SplitResult]) -> None:
    print(f"{'split':<12}{'step':>5}{'n':>6}{'score':>10}{'unparsed':>10}{'failed':>8}")
    for split, result in results.items():
        rows = [("all", result.overall), *((str(k), g) for k, g in result.by_step.items())]
        for step, g in rows:
            print(
                f"{split:<12}{step:>5}{g.n:>6}{100 * g.score:>9.2f}%{g.unparsed:>10}{g.failed:>8}"
            )


def _answer_format(name: str) -> AnswerFormat | None:
    """``--format`` parsed; None when not given."""
    try:
        return AnswerFormat.parse(name) if name else None
    except ValueError as err:
        raise BenchError(str(err)) from None


def _run_backend(
    args: argparse.Namespace, samples: Sequence[BenchSample], options: BackendOptions
) -> tuple[dict[tuple[str, str], AnswerRecord], AnswerFormat]:
    """Ask the backend the samples its log lacks; load it only when there are some."""
    if args.concurrency < 1:
        raise BenchError(f"--concurrency must be >= 1, got {args.concurrency}")
    backend = make_backend(args.backend, options)
    fmt = _answer_format(options.answer_format) or backend_format(backend)
    ask = backend_asker(backend, options, args.timeout)
    log = AnswerLog(args.out / ANSWERS_LOG) if args.out is not None else None
    if log is not None and not pending_samples(samples, log.existing()):
        return log.existing(), fmt
    backend.load()
    try:
        records = answer_all(
            samples, ask, log=log, concurrency=args.concurrency, progress_stream=sys.stderr
        )
    finally:
        backend.close()
        if log is not None:
            log.close()
    return records, fmt


def _run(args: argparse.Namespace) -> dict[str, SplitResult]:
    splits = [s for s in args.splits.split(",") if s.strip()] or None
    samples = select_samples(load_bench(args.bench_dir, splits), args.limit)
    options = backend_options_from_args(args)
    if args.answers is not None:
        fmt = _answer_format(options.answer_format) or AnswerFormat.ROBOREFER
        records = read_answers(args.answers)
        source = f"answers file {args.answers}"
    else:
        records, fmt = _run_backend(args, samples, options)
        source = f"backend {args.backend}"
    results = summarise(score_samples(samples, records, fmt))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / RESULTS_FILE).write_text(json.dumps(results_json(results), indent=2) + "\n")
    if args.report is not None:
        from roborefer_ros.eval.report import write_report

        path = write_report(
            results,
            {s.key: s for s in samples},
            args.report,
            source=source,
            answer_format=fmt,
            gallery_size=args.gallery,
        )
        print(f"report: {path}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        results = _run(args)
    except BenchError as err:
        print(f"roborefer-bench: {err}", file=sys.stderr)
        return 2
    except RefPointError as err:
        print(f"roborefer-bench: backend {args.backend}: {err}", file=sys.stderr)
        return 1
    _print_table(results)
    if args.json:
        print(json.dumps(results_json(results)))
    failure = job_failure(results)
    if failure is not None:
        print(f"roborefer-bench: {failure}", file=sys.stderr)
        return 1
    return 0


def job_failure(results: Mapping[str, SplitResult]) -> str | None:
    """Why the run failed as a job (one line), or None: a sample without any answer (the
    backend failed or timed out on it), or nothing scored at all."""
    samples = [s for result in results.values() for s in result.samples]
    if not samples:
        return "no sample was evaluated"
    failed = [s for s in samples if s.status is SampleStatus.FAILED]
    if failed:
        first = failed[0]
        return (
            f"{len(failed)} of {len(samples)} samples got no answer; first "
            f"({first.split} {first.id}): {first.message or 'no answer'}"
        )
    if not any(s.score > 0 for s in samples):
        return f"no sample of {len(samples)} scored above 0"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
