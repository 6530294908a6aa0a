"""roborefer-bench: exact scores per split and step from answer files in every format, backend
runs (a counting fake and the real ``recorded`` backend), resuming, limits and the report."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.registry import BackendOptions
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.tools import bench
from test.eval._bench_data import (
    CASES,
    EXPECTED,
    EXPECTED_STEPS,
    FORMATS,
    Case,
    answer_text,
    image_of,
    write_answers,
    write_folder_bench,
    write_parquet_bench,
)

SPLIT_KEYS = {"Location", "Placement", "Unseen", "_overall"}
BY_PROMPT = {c.prompt: c for c in CASES}


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, dict[str, Any], str]:
    code = bench.main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return code, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}, captured.err


def _assert_expected(result: dict[str, Any], splits: tuple[str, ...] = tuple(EXPECTED)) -> None:
    for split in splits:
        expected = EXPECTED[split]
        got = result[split]
        assert (got["n"], got["unparsed"], got["failed"]) == (
            expected["n"],
            expected["unparsed"],
            expected["failed"],
        ), split
        assert got["score"] == pytest.approx(expected["score"], abs=1e-12), split
        steps = {k: (v["n"], v["score"], v["unparsed"]) for k, v in got["by_step"].items()}
        assert steps.keys() == EXPECTED_STEPS[split].keys()
        for step, (n, score, unparsed) in EXPECTED_STEPS[split].items():
            assert steps[step][0] == n and steps[step][2] == unparsed
            assert steps[step][1] == pytest.approx(score, abs=1e-12)


@pytest.fixture(scope="module")
def folder_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_folder_bench(tmp_path_factory.mktemp("folder"))


@pytest.fixture(scope="module")
def parquet_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet_bench(tmp_path_factory.mktemp("parquet"))


@pytest.mark.parametrize("layout", ["folder", "parquet"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_answers_file_in_every_format_gives_the_hand_computed_scores(
    fmt: str,
    layout: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = request.getfixturevalue(f"{layout}_bench")
    answers = write_answers(tmp_path / "answers.jsonl", fmt)
    code, result, _ = _run(capsys, root, "--answers", answers, "--format", fmt, "--json")
    assert code == 0
    assert set(result) == SPLIT_KEYS
    _assert_expected(result)
    overall = result["_overall"]
    assert overall["n"] == 6
    assert overall["score"] == pytest.approx((2 / 3 + 0.5 + 1.0 + 0.5 + 0.5) / 6)


def test_wrong_format_reads_nothing_and_says_so(
    folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = write_answers(tmp_path / "answers.jsonl", "molmo")
    code, result, err = _run(capsys, folder_bench, "--answers", answers, "--json")  # roborefer
    assert [result[s]["unparsed"] for s in EXPECTED] == [3, 2, 1]
    assert result["_overall"]["score"] == 0.0
    assert code == 1  # nothing scored: the run measured nothing, a failed job (it was 0)
    assert err.strip() == "roborefer-bench: no sample of 6 scored above 0"


def test_sample_missing_from_the_answers_file_is_failed_not_skipped(
    folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = write_answers(tmp_path / "a.jsonl", "roborefer", CASES[1:])
    code, result, err = _run(capsys, folder_bench, "--answers", answers, "--json")
    assert code == 1  # a sample without an answer fails the job, named (it was 0)
    assert "1 of 6 samples got no answer; first (Location" in err
    assert (result["Location"]["n"], result["Location"]["failed"]) == (3, 1)
    assert result["Location"]["score"] == pytest.approx(0.5 / 3)
    assert (result["Placement"]["n"], result["Placement"]["score"]) == (2, 0.75)
    assert result["Unseen"]["failed"] == 0


def test_model_image_size_in_the_answers_file_maps_qwen25_pixels(
    folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the model saw Location/0 at 200 x 100: its (31, 25) and (51, 37) are (15, 12) and (25, 18)
    line = {"split": "location", "id": 0, "text": "[31, 25] [51, 37] [101, 25]"}
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({**line, "model_image_size": [200, 100]}) + "\n")
    argv = (folder_bench, "--answers", answers, "--format", "qwen2.5", "--limit", "1", "--json")
    code, result, _ = _run(capsys, *argv, "--splits", "Location")
    assert code == 0
    assert result["Location"]["score"] == pytest.approx(2 / 3)
    answers.write_text(json.dumps({**line, "model_image_size": [200]}) + "\n")
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert "model_image_size must be [width, height]" in err


def test_limit_and_splits_select_samples(
    folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = write_answers(tmp_path / "a.jsonl", "roborefer")
    argv = (folder_bench, "--answers", answers, "--splits", "unseen,LOCATION", "--limit", "1")
    code, result, _ = _run(capsys, *argv, "--json")
    assert code == 0
    assert set(result) == {"Location", "Unseen", "_overall"}
    assert (result["Location"]["n"], result["Location"]["score"]) == (1, pytest.approx(2 / 3))
    assert (result["Unseen"]["n"], result["Unseen"]["score"]) == (1, 0.5)


def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, tmp_path, "--answers", tmp_path / "none.jsonl")
    assert code == 2
    assert "no RefSpatial-Bench split" in err
    write_folder_bench(tmp_path / "b")
    (tmp_path / "bad.jsonl").write_text('{"split": "Location", "id": 0}\n{"split": 1}\n')
    code, _, err = _run(capsys, tmp_path / "b", "--answers", tmp_path / "bad.jsonl")
    assert code == 2
    assert "bad.jsonl line 1: missing field 'text'" in err


# ---- backend runs --------------------------------------------------------------------------


class CountingBackend:
    """Answers each bench prompt in RoboRefer format; fails the prompts in ``fail_once`` once."""

    name = "counting"
    format = AnswerFormat.ROBOREFER

    def __init__(self, fail_once: set[str] | None = None, delay_s: float = 0.0) -> None:
        self.calls: list[str] = []
        self.fail_once = set(fail_once or ())
        self.delay_s = delay_s
        self.in_flight = 0
        self.max_in_flight = 0
        self.loads = 0
        self._lock = threading.Lock()

    def load(self) -> None:
        self.loads += 1

    def close(self) -> None:
        pass

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        case: Case = BY_PROMPT[query.instruction]
        assert np.array_equal(query.rgb, image_of(case)), "the sample's own image"
        assert query.mode is (Mode.PLACE if case.split == "Placement" else Mode.LOCATE)
        with self._lock:
            self.calls.append(query.instruction)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fail = query.instruction in self.fail_once
            self.fail_once.discard(query.instruction)
        try:
            time.sleep(self.delay_s)
            if fail:
                raise RefPointError(Status.BACKEND_TIMEOUT, "no answer within 60 s")
            text = answer_text("roborefer", case.points)
            if case.points is None:
                raise RefPointError(Status.PARSE_ERROR, "no roborefer point", text)
            height, width = query.rgb.shape[:2]
            return Answer(text, ((0.5, 0.5),), (width, height), 0.0, "none")
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> CountingBackend:
    backend = CountingBackend(fail_once={"the second cup from the left"})

    def make(name: str, options: BackendOptions) -> CountingBackend:
        assert name == "counting"
        return backend

    monkeypatch.setattr(bench, "make_backend", make)
    return backend


def test_backend_run_resumes_from_its_log_and_retries_only_failed_calls(
    fake: CountingBackend, folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = (folder_bench, "--backend", "counting", "--out", out, "--json")
    code, first, err = _run(capsys, *argv)
    assert code == 1  # a sample the backend timed out on: the job failed, and says why
    assert "1 of 6 samples got no answer; first (Unseen 0): BACKEND_TIMEOUT" in err
    assert len(fake.calls) == 6
    assert "[6/6]" in err  # plain-text progress on stderr
    assert (first["Unseen"]["failed"], first["Unseen"]["score"]) == (1, 0.0)
    _assert_expected(first, ("Location", "Placement"))  # the parse error is unparsed, kept
    assert json.loads((out / "results.json").read_text()) == first

    fake.calls.clear()
    code, second, err = _run(capsys, *argv)
    assert code == 0
    assert fake.calls == ["the second cup from the left"]  # only the timed-out call again
    assert "[1/1]" in err
    _assert_expected(second)

    fake.calls.clear()
    code, third, _ = _run(capsys, *argv)
    assert (code, fake.calls, third) == (0, [], second)
    assert fake.loads == 2  # nothing left to ask: the model is not even loaded
    log = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(log) == 7
    assert log[-1]["split"] == "Unseen" and not log[-1].get("error")
    assert any(r.get("error", "").startswith("BACKEND_TIMEOUT") for r in log)


def test_interrupted_log_line_is_dropped_and_that_sample_asked_again(
    fake: CountingBackend, folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_once.clear()
    out = tmp_path / "run"
    argv = (folder_bench, "--backend", "counting", "--out", out, "--json")
    assert _run(capsys, *argv)[0] == 0
    log = out / "answers.jsonl"
    lines = log.read_text().splitlines()
    cut = lines[-1][: len(lines[-1]) // 2]  # the run died while writing its last record
    log.write_text("\n".join(lines[:-1]) + "\n" + cut)
    lost = json.loads(lines[-1])
    fake.calls.clear()
    code, result, _ = _run(capsys, *argv)
    assert code == 0
    lost_case = next(c for c in CASES if (c.split, c.id) == (lost["split"], lost["id"]))
    assert fake.calls == [lost_case.prompt]
    _assert_expected(result)
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_concurrency_runs_calls_in_parallel_with_the_same_scores(
    monkeypatch: pytest.MonkeyPatch, folder_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = CountingBackend(delay_s=0.05)
    monkeypatch.setattr(bench, "make_backend", lambda name, options: backend)
    code, result, _ = _run(
        capsys, folder_bench, "--backend", "counting", "--concurrency", "3", "--json"
    )
    assert code == 0
    assert backend.max_in_flight > 1
    assert sorted(backend.calls) == sorted(c.prompt for c in CASES)
    _assert_expected(result)


def test_recorded_backend_end_to_end_uses_its_declared_format(
    folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers_file = tmp_path / "recorded.json"
    answers = [{"prompt": c.prompt, "answer": answer_text("qwen2.5", c.points)} for c in CASES]
    answers_file.write_text(json.dumps({"format": "qwen2.5", "answers": answers}))
    code, result, _ = _run(
        capsys, folder_bench, "--backend", "recorded", "--answers-file", answers_file, "--json"
    )
    assert code == 0
    _assert_expected(result)


def test_unknown_format_exits_2(
    fake: CountingBackend, folder_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, folder_bench, "--backend", "counting", "--format", "llava")
    assert code == 2
    assert "unknown answer format 'llava'" in err
    assert fake.calls == []


def test_backend_that_cannot_be_created_exits_1(
    folder_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, folder_bench, "--backend", "no_such_backend")
    assert code == 1
    assert "unknown backend 'no_such_backend'" in err


# ---- report --------------------------------------------------------------------------------


def test_report_has_tables_plots_unparsed_list_latency_and_gallery(
    fake: CountingBackend, folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report"
    code, _, _ = _run(
        capsys, folder_bench, "--backend", "counting", "--report", report, "--gallery", "4"
    )
    assert code == 1  # the timed-out call (the report is still written)
    text = (report / "report.md").read_text()
    assert "silently leaves out of the mean" in text  # the authors' behaviour, and ours
    assert "| Location | 3 | 38.89 % | 1 | 0 |" in text
    assert "| Placement | 3 | 1 | 50.00 % | 0 | 0 |" in text
    assert "| Unseen | 1 | 0.00 % | 0 | 1 |" in text  # the timed-out call: failed
    assert "## Unparsed answers (1)" in text
    assert "| Location | 1 | I cannot see such an object in the image. |" in text
    assert "BACKEND_TIMEOUT: no answer within 60 s" in text
    assert "## Latency (wall time of one backend call)" in text
    pngs = ["accuracy_per_split.png", "accuracy_per_step.png", "latency_hist.png"]
    gallery = sorted(p.name for p in (report / "gallery").iterdir())
    # worst first: the three zeros in split order, then the lowest non-zero (Location 2: 0.5)
    assert gallery == [
        "01_Location_1.png",
        "02_Unseen_0.png",
        "03_Location_2.png",
        "04_Placement_1.png",
    ]
    for name in [*pngs, *(f"gallery/{g}" for g in gallery)]:
        assert f"({name})" in text
        with Image.open(report / name) as image:
            assert image.format == "PNG" and image.size[0] > 300


def test_report_from_an_answers_file_has_no_latency_section(
    folder_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = write_answers(tmp_path / "a.jsonl", "gemini")
    argv = (folder_bench, "--answers", answers, "--format", "gemini", "--report", tmp_path / "r")
    code, _, _ = _run(capsys, *argv)
    assert code == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "Answer format: `gemini`" in text
    assert "Latency" not in text
    assert not (tmp_path / "r" / "latency_hist.png").exists()
    assert len(list((tmp_path / "r" / "gallery").iterdir())) == 6  # fewer samples than 12
