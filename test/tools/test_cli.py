"""The argument types every command-line tool shares: bad input is one argparse line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from roborefer_ros.tools.cli import output_dir, parse_seeds, positive_float, seed


def test_seed_lists() -> None:
    assert parse_seeds("0-3") == (0, 1, 2, 3)
    assert parse_seeds("0-3,7") == (0, 1, 2, 3, 7)
    assert parse_seeds("7, 1,4-5,4") == (1, 4, 5, 7)
    for bad in ("3-1", "a", "-2", "", "5-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="bad seed list"):
            parse_seeds(bad)


def test_a_seed_is_a_non_negative_integer() -> None:
    assert seed("0") == 0
    assert seed("1234") == 1234
    with pytest.raises(argparse.ArgumentTypeError, match="non-negative, got -1"):
        seed("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="not an integer"):
        seed("x")


def test_positive_float() -> None:
    assert positive_float("0.5") == 0.5
    for bad in ("0", "-1", "inf", "nan", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_float(bad)


def test_output_dir_refuses_an_existing_file(tmp_path: Path) -> None:
    assert output_dir(str(tmp_path)) == tmp_path
    assert output_dir(str(tmp_path / "new")) == tmp_path / "new"
    (tmp_path / "file").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="exists and is not a directory"):
        output_dir(str(tmp_path / "file"))


def test_argparse_turns_them_into_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--seed", type=seed)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--seed", "-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seed: seeds are non-negative, got -1" in err
    assert "Traceback" not in err
