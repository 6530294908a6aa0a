"""train_embedded's command line: usage, one-line refusals of seeds outside the documented ranges,
and the sample cache (rendered once, reused). CI never trains: the shipped weights are tested in
test/backends/embedded/test_accuracy.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from roborefer_ros.tools.train_embedded import main


def test_help_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert "make model" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--train-seeds", "0-49"], "leave the documented range 10000-19999"),
        (["--train-seeds", "10000,10005"], "one contiguous range"),
        (["--validation-seeds", "10000-10010"], "leave the documented range 20000-20099"),
        (["--steps", "0"], "must be >= 1"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)


def test_samples_are_rendered_once_then_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--data",
        str(tmp_path),
        "--train-seeds",
        "10000",
        "--validation-seeds",
        "20000",
        "--workers",
        "1",
        "--data-only",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "0 of 1 shards cached" in first and "rendered seeds_10000.npz" in first
    assert (tmp_path / "train" / "seeds_10000.npz").is_file()
    assert (tmp_path / "validation" / "seeds_20000.json").is_file()
    assert main(argv) == 0
    assert "1 of 1 shards cached" in capsys.readouterr().out
