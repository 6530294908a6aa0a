"""The argument types every command-line tool shares: bad input is one argparse line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from roborefer_ros.tools.cli import (
    domain_id,
    image_size,
    name_value,
    new_path,
    non_negative_float,
    non_negative_int,
    output_dir,
    output_file,
    parse_seeds,
    positive_float,
    positive_int,
    seed,
    share,
    size_text,
    text,
)


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


def test_numbers_and_ranges() -> None:
    assert positive_int("3") == 3 and non_negative_int("0") == 0 and domain_id("232") == 232
    assert non_negative_float("0") == 0.0 and share("0.25") == 0.25
    for parse, bad in (
        (positive_int, "0"),
        (positive_int, "1.5"),
        (non_negative_int, "-1"),
        (domain_id, "233"),
        (non_negative_float, "-0.1"),
        (non_negative_float, "inf"),
        (share, "1.5"),
        (share, "x"),
    ):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_text_and_name_value() -> None:
    assert text("the cup") == "the cup"
    assert name_value("max_frame_age_s=3") == "max_frame_age_s=3"
    assert name_value("server_url=http://a:1/?x=y") == "server_url=http://a:1/?x=y"
    for bad in ("", "   "):
        with pytest.raises(argparse.ArgumentTypeError, match="must not be empty"):
            text(bad)
    for bad in ("max_frame_age_s", "=3", " =3"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected NAME=VALUE"):
            name_value(bad)


def test_paths_to_write(tmp_path: Path) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    assert output_file(str(tmp_path / "new" / "out.png")) == tmp_path / "new" / "out.png"
    with pytest.raises(argparse.ArgumentTypeError, match="is a directory"):
        output_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="exists and is not a directory"):
        output_file(str(file / "out.png"))
    assert new_path(str(tmp_path / "bag")) == tmp_path / "bag"
    with pytest.raises(argparse.ArgumentTypeError, match="already exists"):
        new_path(str(file))


def test_image_sizes() -> None:
    assert image_size("640x480") == (640, 480) and image_size(" 1280X720 ") == (1280, 720)
    assert size_text("1280x720") == "1280x720"
    for bad in ("640", "0x480", "axb", "640x480x3"):
        with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT"):
            image_size(bad)
