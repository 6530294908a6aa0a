"""The RefSpatial-Bench loader: both layouts give the same typed samples, lazily."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roborefer_ros.eval.refspatial import (
    BenchError,
    BenchSample,
    FileImage,
    ParquetImage,
    canonical_split,
    load_bench,
)
from test.eval._bench_data import (
    CASES,
    H,
    W,
    image_of,
    mask_of,
    write_folder_bench,
    write_parquet_bench,
)


def _fields(sample: BenchSample) -> tuple[object, ...]:
    return (sample.split, sample.id, sample.prompt, sample.object, sample.step)


def _expected() -> list[tuple[object, ...]]:
    return [(c.split, c.id, c.prompt, c.prompt, c.step) for c in CASES]


def test_folder_layout_loads_every_record_in_split_order(tmp_path: Path) -> None:
    samples = load_bench(write_folder_bench(tmp_path))
    assert [_fields(s) for s in samples] == _expected()
    first = samples[0]
    assert first.category == "location"
    assert first.suffix.startswith("Your answer")
    assert isinstance(first.image, FileImage)
    assert first.image.path == (tmp_path / "Location" / "image" / "0.png").resolve()


def test_parquet_layout_gives_the_same_samples_and_pixels(tmp_path: Path) -> None:
    folder = load_bench(write_folder_bench(tmp_path / "f"))
    parquet = load_bench(write_parquet_bench(tmp_path / "p"))
    assert [_fields(s) for s in parquet] == _expected()
    assert all(isinstance(s.image, ParquetImage) for s in parquet)
    # no category column: the split name stands in
    assert [s.category for s in parquet] == [c.split.lower() for c in CASES]
    for a, b, case in zip(folder, parquet, CASES, strict=True):
        assert np.array_equal(a.load_rgb(), image_of(case))
        assert np.array_equal(b.load_rgb(), image_of(case))
        assert np.array_equal(a.load_mask(), mask_of(case) > 0)
        assert np.array_equal(b.load_mask(), mask_of(case) > 0)


def test_second_row_group_of_a_parquet_file_is_addressed(tmp_path: Path) -> None:
    samples = load_bench(write_parquet_bench(tmp_path), splits=["location"])
    third = samples[2]  # row_group_size=2: row 0 of row group 1
    assert isinstance(third.image, ParquetImage)
    assert (third.image.row_group, third.image.row) == (1, 0)
    assert np.array_equal(third.load_mask(), mask_of(CASES[2]) > 0)


def test_split_folder_names_are_case_insensitive(tmp_path: Path) -> None:
    write_folder_bench(tmp_path, {"Location": "location", "Placement": "PLACEMENT"})
    samples = load_bench(tmp_path, splits=["LOCATION", "placement"])
    assert [s.split for s in samples] == ["Location"] * 3 + ["Placement"] * 2
    assert canonical_split(" unseen ") == "Unseen"
    assert canonical_split("train") is None


def test_images_are_read_on_demand_not_at_load(tmp_path: Path) -> None:
    samples = load_bench(write_folder_bench(tmp_path))
    image = tmp_path / "Location" / "image" / "0.png"
    Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(image)  # changed after loading
    assert not samples[0].load_rgb().any()
    image.unlink()
    with pytest.raises(BenchError, match=r"0\.png"):
        samples[0].load_rgb()


def test_colour_mask_counts_any_channel_above_zero(tmp_path: Path) -> None:
    samples = load_bench(write_folder_bench(tmp_path), splits=["Unseen"])
    rgba = np.zeros((H, W, 4), dtype=np.uint8)
    rgba[..., 3] = 255  # opaque everywhere: alpha must not count
    rgba[3, 7, 2] = 9  # one pixel with only blue set
    Image.fromarray(rgba).save(tmp_path / "Unseen" / "mask" / "0.png")
    mask = samples[0].load_mask()
    assert mask.shape == (H, W)
    assert mask.dtype == np.bool_
    assert list(zip(*np.nonzero(mask), strict=True)) == [(3, 7)]


def test_missing_field_is_named(tmp_path: Path) -> None:
    write_folder_bench(tmp_path)
    path = tmp_path / "Placement" / "question.json"
    records = json.loads(path.read_text())
    del records[1]["step"]
    path.write_text(json.dumps(records))
    with pytest.raises(BenchError, match=r"Placement.question\.json record 1: missing field.*step"):
        load_bench(tmp_path)


def test_paths_may_not_leave_the_split_folder(tmp_path: Path) -> None:
    write_folder_bench(tmp_path)
    path = tmp_path / "Unseen" / "question.json"
    records = json.loads(path.read_text())
    records[0]["mask_path"] = "../Location/mask/0.png"
    path.write_text(json.dumps(records))
    with pytest.raises(BenchError, match=r"leaves the split folder"):
        load_bench(tmp_path)


def test_one_split_in_both_layouts_is_refused(tmp_path: Path) -> None:
    write_folder_bench(tmp_path)
    write_parquet_bench(tmp_path / "copy")
    with pytest.raises(BenchError, match=r"split Location found in both layouts"):
        load_bench(tmp_path)


def test_unknown_or_absent_splits_and_empty_folders_are_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"no RefSpatial-Bench split"):
        load_bench(tmp_path)
    write_folder_bench(tmp_path / "b", {"Unseen": "not_a_split"})
    with pytest.raises(BenchError, match=r"unknown split 'train'"):
        load_bench(tmp_path / "b", splits=["train"])
    with pytest.raises(BenchError, match=r"split\(s\) Unseen not in"):
        load_bench(tmp_path / "b", splits=["Unseen"])
    assert {s.split for s in load_bench(tmp_path / "b")} == {"Location", "Placement"}


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write_folder_bench(tmp_path)
    path = tmp_path / "Location" / "question.json"
    records = json.loads(path.read_text())
    records[2]["id"] = "1"  # "1" and 1 are the same id
    path.write_text(json.dumps(records))
    with pytest.raises(BenchError, match=r"duplicate id '1' in split Location"):
        load_bench(tmp_path)
