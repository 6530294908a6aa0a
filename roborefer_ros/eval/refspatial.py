"""A local RefSpatial-Bench copy, in either published layout, as typed samples.

Layouts (split names are matched case-insensitively: Location, Placement, Unseen):

- folders: ``<split>/question.json`` (a JSON list of records ``id, rgb_path, mask_path, object,
  prompt, suffix, category, step``; paths relative to the split folder) with
  ``<split>/image/*.png`` and ``<split>/mask/*.png``;
- parquet: files with columns ``id, image, mask, object, prompt, suffix, step`` (images as PNG
  bytes or ``{"bytes": ...}`` structs), the split taken from the file name up to the first ``-``
  or ``.`` (``location.parquet``, ``data/location-00000-of-00001.parquet``); shards of one split
  are read in name order.

Images are never held in memory by the loader: a sample carries references that read and decode
its image and mask on demand (the whole bench, 277 images, would be gigabytes decoded). Parquet
reads keep at most one row group of one column of encoded bytes cached, so a sequential pass reads
each row group once.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

SPLITS = ("Location", "Placement", "Unseen")
_FOLDER_FIELDS = ("id", "rgb_path", "mask_path", "object", "prompt", "suffix", "step")
_PARQUET_TEXT_COLUMNS = ("id", "object", "prompt", "suffix", "step")


class BenchError(Exception):
    """A bench copy, record, answer or output that cannot be used; the message names it."""


def canonical_split(name: str) -> str | None:
    """``"Location"``, ``"Placement"`` or ``"Unseen"`` for any casing of those names, else None."""
    for split in SPLITS:
        if name.strip().lower() == split.lower():
            return split
    return None


class ImageRef(Protocol):
    """Where one encoded image lives; read on demand."""

    def read_bytes(self) -> bytes:
        """The encoded image file (PNG); BenchError when it cannot be read."""

    def describe(self) -> str:
        """Where the image is, for error messages."""


@dataclass(frozen=True)
class FileImage:
    """An image file on disk."""

    path: Path

    def read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as err:
            raise BenchError(f"cannot read {self.path}: {err}") from None

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class BenchSample:
    """One benchmark question. ``id`` is the record's id as text (ids are ints in the bench).

    ``step``: the number of reasoning steps the authors assign to it. ``category``: the record's
    category (parquet copies have none: the split name in lower case).
    """

    split: str
    id: str
    prompt: str
    suffix: str
    object: str
    category: str
    step: int
    image: ImageRef
    mask: ImageRef

    @property
    def key(self) -> tuple[str, str]:
        """(split, id): unique within a bench copy."""
        return (self.split, self.id)

    def load_rgb(self) -> npt.NDArray[np.uint8]:
        """HxWx3 uint8 RGB, decoded now (not cached)."""
        return np.asarray(_open_image(self.image).convert("RGB"), dtype=np.uint8)

    def load_mask(self) -> npt.NDArray[np.bool_]:
        """HxW bool: mask > 0; of a colour mask, any colour channel > 0 (alpha ignored)."""
        image = _open_image(self.mask)
        if image.mode in ("P", "PA"):
            image = image.convert("RGB")
        mask = np.asarray(image)
        if mask.ndim == 3:
            mask = mask[..., :3].max(axis=2) if mask.shape[2] >= 3 else mask[..., 0]
        if mask.ndim != 2:
            raise BenchError(f"mask {self.mask.describe()} has shape {mask.shape}")
        return np.asarray(mask > 0, dtype=np.bool_)


def load_bench(root: str | Path, splits: Iterable[str] | None = None) -> list[BenchSample]:
    """Every sample of the requested splits (default: all found), split by split in the order
    Location, Placement, Unseen, records in file order.

    BenchError when the folder holds no split, a requested split is missing, one split is found
    in both layouts, or a record is malformed (the message names the file and the record).
    """
    root = Path(root)
    if not root.is_dir():
        raise BenchError(f"bench folder {root} does not exist")
    wanted = _wanted_splits(splits)
    sources = _find_sources(root)
    if not sources:
        raise BenchError(
            f"no RefSpatial-Bench split in {root}: expected <split>/question.json or "
            f"<split>*.parquet for a split in {', '.join(SPLITS)}"
        )
    missing = [s for s in wanted if s not in sources] if splits is not None else []
    if missing:
        raise BenchError(f"split(s) {', '.join(missing)} not in {root}; found {sorted(sources)}")
    samples: list[BenchSample] = []
    for split in SPLITS:
        if split not in wanted or split not in sources:
            continue
        source = sources[split]
        if isinstance(source, Path):
            samples.extend(_folder_samples(split, source))
        else:
            for path in source:
                samples.extend(_parquet_samples(split, path))
    _check_unique(samples)
    return samples


def _wanted_splits(splits: Iterable[str] | None) -> tuple[str, ...]:
    if splits is None:
        return SPLITS
    out = []
    for name in splits:
        split = canonical_split(name)
        if split is None:
            raise BenchError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        out.append(split)
    return tuple(out)


def _find_sources(root: Path) -> dict[str, Path | list[Path]]:
    """Split -> its folder, or its parquet shards in name order."""
    sources: dict[str, Path | list[Path]] = {}
    for child in sorted(root.iterdir()):
        split = canonical_split(child.name)
        if split is not None and (child / "question.json").is_file():
            if split in sources:
                raise BenchError(f"split {split} found twice in {root}")
            sources[split] = child
    shards: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.parquet")):
        split = canonical_split(path.name.split("-")[0].split(".")[0])
        if split is not None:
            shards.setdefault(split, []).append(path)
    for split in (s for s in SPLITS if s in shards):
        paths = shards[split]
        if split in sources:
            raise BenchError(
                f"split {split} found in both layouts: {sources[split]} and {paths[0]}"
            )
        sources[split] = paths
    return sources


def _folder_samples(split: str, folder: Path) -> list[BenchSample]:
    path = folder / "question.json"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BenchError(f"cannot read {path}: {err}") from None
    if not isinstance(records, list):
        raise BenchError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
    samples = []
    for index, record in enumerate(records):
        where = f"{path} record {index}"
        if not isinstance(record, dict):
            raise BenchError(f"{where}: expected an object, got {type(record).__name__}")
        _require(record, _FOLDER_FIELDS, where)
        samples.append(
            BenchSample(
                split=split,
                id=_text(record["id"], "id", where),
                prompt=_text(record["prompt"], "prompt", where),
                suffix=_text(record["suffix"], "suffix", where),
                object=_text(record["object"], "object", where),
                category=_text(record.get("category", split.lower()), "category", where),
                step=_step(record["step"], where),
                image=FileImage(_inside(folder, record["rgb_path"], where)),
                mask=FileImage(_inside(folder, record["mask_path"], where)),
            )
        )
    return samples


def _inside(folder: Path, relative: object, where: str) -> Path:
    """``folder / relative``, refusing paths that leave the split folder."""
    if not isinstance(relative, str) or not relative:
        raise BenchError(f"{where}: path {relative!r} is not a relative path")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise BenchError(f"{where}: path {relative!r} leaves the split folder {folder}")
    return path


def _parquet_samples(split: str, path: Path) -> list[BenchSample]:
    pq = _pyarrow_parquet()
    try:
        parquet = pq.ParquetFile(path)
        columns = set(parquet.schema_arrow.names)
    except (OSError, ValueError) as err:  # pyarrow's errors derive from these
        raise BenchError(f"cannot read {path}: {err}") from None
    _require(columns, (*_PARQUET_TEXT_COLUMNS, "image", "mask"), str(path))
    text_columns = [c for c in (*_PARQUET_TEXT_COLUMNS, "category") if c in columns]
    samples = []
    for group in range(parquet.num_row_groups):
        rows = parquet.read_row_group(group, columns=text_columns).to_pylist()
        for row_index, row in enumerate(rows):
            where = f"{path} row group {group} row {row_index}"
            samples.append(
                BenchSample(
                    split=split,
                    id=_text(row["id"], "id", where),
                    prompt=_text(row["prompt"], "prompt", where),
                    suffix=_text(row["suffix"], "suffix", where),
                    object=_text(row["object"], "object", where),
                    category=_text(row.get("category") or split.lower(), "category", where),
                    step=_step(row["step"], where),
                    image=ParquetImage(path, group, row_index, "image"),
                    mask=ParquetImage(path, group, row_index, "mask"),
                )
            )
    return samples


@dataclass(frozen=True)
class ParquetImage:
    """One cell of an image column of a parquet file (PNG bytes or a ``{bytes}`` struct)."""

    path: Path
    row_group: int
    row: int
    column: str

    def read_bytes(self) -> bytes:
        cell = _ROW_GROUP_CACHE.column(self.path, self.row_group, self.column)[self.row]
        value = cell.get("bytes") if isinstance(cell, dict) else cell
        if not isinstance(value, bytes) or not value:
            raise BenchError(f"{self.describe()}: no image bytes (got {type(value).__name__})")
        return value

    def describe(self) -> str:
        return f"{self.path} row group {self.row_group} row {self.row} column {self.column!r}"


class _RowGroupCache:
    """The last row group column read, as Python values: sequential passes read each once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Path, int, str] | None = None
        self._values: list[Any] = []

    def column(self, path: Path, row_group: int, column: str) -> list[Any]:
        with self._lock:
            if self._key != (path, row_group, column):
                try:
                    table = (
                        _pyarrow_parquet()
                        .ParquetFile(path)
                        .read_row_group(row_group, columns=[column])
                    )
                except (OSError, ValueError) as err:
                    raise BenchError(f"cannot read {path} column {column!r}: {err}") from None
                self._values = table.column(column).to_pylist()
                self._key = (path, row_group, column)
            return self._values


_ROW_GROUP_CACHE = _RowGroupCache()


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BenchError("a parquet bench copy needs pyarrow (pip install pyarrow)") from None
    return pq


def _open_image(ref: ImageRef) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(ref.read_bytes()))
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise BenchError(f"cannot decode image {ref.describe()}: {err}") from None
    return image


def _require(record: Iterable[str], fields: Sequence[str], where: str) -> None:
    present = set(record)
    missing = [f for f in fields if f not in present]
    if missing:
        raise BenchError(f"{where}: missing field(s) {', '.join(missing)}")


def _text(value: object, name: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BenchError(f"{where}: {name} must be text, got {value!r}")
    return str(value)


def _step(value: object, where: str) -> int:
    try:
        step = int(str(value))
    except ValueError:
        raise BenchError(f"{where}: step must be an integer, got {value!r}") from None
    if step < 0:
        raise BenchError(f"{where}: step must be >= 0, got {step}")
    return step


def _check_unique(samples: Sequence[BenchSample]) -> None:
    seen: set[tuple[str, str]] = set()
    for sample in samples:
        if sample.key in seen:
            raise BenchError(f"duplicate id {sample.id!r} in split {sample.split}")
        seen.add(sample.key)
