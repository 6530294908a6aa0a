"""The ``referring.json`` dataset: prompts with their true pixel and 3D point, per frame.

It drives the ground-truth backend and the end-to-end checks, so the loader is strict: every
field is required, unknown fields are refused (a typo must not silently drop a check), and each
error names the file, the query index and the field. Schema::

    {"target_frame": "base_link",
     "queries": [{"prompt": "the red mug left of the plate",
                  "stamp": {"sec": 12, "nanosec": 500000000},
                  "pixel": [412.0, 233.5],
                  "point": [0.512, -0.104, 0.031],
                  "mode": "locate",
                  "tolerance_m": 0.01}]}

``pixel`` is (u = column, v = row) in the colour image of the frame with that stamp (a stamp of 0
matches any frame); ``point`` is the true 3D point in ``target_frame``, in metres.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import NoReturn

from roborefer_ros.core.frame import ns_to_stamp, stamp_to_ns
from roborefer_ros.core.request import Mode

_TOP_FIELDS = frozenset({"target_frame", "queries"})
_QUERY_FIELDS = frozenset({"prompt", "stamp", "pixel", "point", "mode", "tolerance_m"})
_STAMP_FIELDS = frozenset({"sec", "nanosec"})
_MODES = {"locate": Mode.LOCATE, "place": Mode.PLACE, "auto": Mode.AUTO}


class ReferringFileError(ValueError):
    """A referring file that cannot be read or breaks the schema; the message says where."""


@dataclass(frozen=True)
class ReferringQuery:
    """One prompt with its answer in one frame."""

    prompt: str
    stamp_ns: int  # 0: any frame
    pixel: tuple[float, float]  # (u = column, v = row), colour image pixels
    point: tuple[float, float, float]  # metres, in the set's target_frame
    mode: Mode
    tolerance_m: float


@dataclass(frozen=True)
class ReferringSet:
    target_frame: str
    queries: tuple[ReferringQuery, ...]


def normalise_prompt(prompt: str) -> str:
    """The key prompts are matched by: whitespace runs collapsed, case folded."""
    return " ".join(prompt.split()).casefold()


def load_referring(path: str | os.PathLike[str]) -> ReferringSet:
    """Read and validate a referring file, or raise ReferringFileError."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as stream:
            data = json.load(stream, parse_constant=_refuse_constant)
    except OSError as err:
        raise ReferringFileError(f"{name}: cannot read: {err.strerror or err}") from err
    except json.JSONDecodeError as err:
        raise ReferringFileError(
            f"{name}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from err
    except (ValueError, UnicodeDecodeError) as err:
        raise ReferringFileError(f"{name}: not valid JSON: {err}") from err
    return _parse_set(data, name)


def dump_referring(referring: ReferringSet, path: str | os.PathLike[str]) -> None:
    """Write ``referring`` in the schema ``load_referring`` reads."""
    queries = []
    for query in referring.queries:
        sec, nanosec = ns_to_stamp(query.stamp_ns)
        queries.append(
            {
                "prompt": query.prompt,
                "stamp": {"sec": sec, "nanosec": nanosec},
                "pixel": [float(v) for v in query.pixel],
                "point": [float(v) for v in query.point],
                "mode": query.mode.name.lower(),
                "tolerance_m": float(query.tolerance_m),
            }
        )
    text = json.dumps(
        {"target_frame": referring.target_frame, "queries": queries},
        indent=2,
        allow_nan=False,
        ensure_ascii=False,
    )
    with open(os.fspath(path), "w", encoding="utf-8") as stream:
        stream.write(text + "\n")


def _refuse_constant(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a valid number")


def _parse_set(data: object, name: str) -> ReferringSet:
    if not isinstance(data, dict):
        _fail(name, "the top level must be an object")
    _check_fields(data, _TOP_FIELDS, name, "")
    target_frame = data["target_frame"]
    if not isinstance(target_frame, str) or not target_frame.strip():
        _fail(name, f"field 'target_frame' must be a non-empty string, got {target_frame!r}")
    raw_queries = data["queries"]
    if not isinstance(raw_queries, list):
        _fail(name, f"field 'queries' must be a list, got {type(raw_queries).__name__}")
    queries = tuple(_parse_query(q, name, i) for i, q in enumerate(raw_queries))
    seen: dict[tuple[str, int], int] = {}
    for index, query in enumerate(queries):
        key = (normalise_prompt(query.prompt), query.stamp_ns)
        if key in seen:
            _fail(name, f"query {index}: same prompt and stamp as query {seen[key]}")
        seen[key] = index
    return ReferringSet(target_frame=target_frame.strip(), queries=queries)


def _parse_query(raw: object, name: str, index: int) -> ReferringQuery:
    where = f"query {index}: "
    if not isinstance(raw, dict):
        _fail(name, f"{where}must be an object, got {type(raw).__name__}")
    _check_fields(raw, _QUERY_FIELDS, name, where)
    prompt = raw["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        _fail(name, f"{where}field 'prompt' must be a non-empty string, got {prompt!r}")
    mode = raw["mode"]
    if not isinstance(mode, str) or mode not in _MODES:
        _fail(name, f"{where}field 'mode' must be one of {sorted(_MODES)}, got {mode!r}")
    pixel = _numbers(raw["pixel"], 2, name, where + "field 'pixel'")
    if min(pixel) < 0.0:
        _fail(name, f"{where}field 'pixel' must not be negative, got {list(pixel)}")
    point = _numbers(raw["point"], 3, name, where + "field 'point'")
    tolerance_m = _finite_float(raw["tolerance_m"])
    if tolerance_m is None or tolerance_m <= 0.0:
        _fail(name, f"{where}field 'tolerance_m' must be a number > 0, got {raw['tolerance_m']!r}")
    return ReferringQuery(
        prompt=prompt.strip(),
        stamp_ns=_parse_stamp(raw["stamp"], name, where),
        pixel=(pixel[0], pixel[1]),
        point=(point[0], point[1], point[2]),
        mode=_MODES[mode],
        tolerance_m=tolerance_m,
    )


def _parse_stamp(raw: object, name: str, where: str) -> int:
    if not isinstance(raw, dict):
        _fail(name, f"{where}field 'stamp' must be an object with sec and nanosec, got {raw!r}")
    _check_fields(raw, _STAMP_FIELDS, name, f"{where}field 'stamp': ")
    sec, nanosec = raw["sec"], raw["nanosec"]
    if not _is_int(sec) or sec < 0:
        _fail(name, f"{where}field 'stamp.sec' must be an integer >= 0, got {sec!r}")
    if not _is_int(nanosec) or not 0 <= nanosec < 1_000_000_000:
        _fail(name, f"{where}field 'stamp.nanosec' must be an integer in [0, 1e9), got {nanosec!r}")
    return stamp_to_ns(sec, nanosec)


def _numbers(raw: object, count: int, name: str, what: str) -> tuple[float, ...]:
    """``count`` finite numbers (JSON ints or floats, not booleans) as floats."""
    if not isinstance(raw, list) or len(raw) != count:
        _fail(name, f"{what} must be a list of {count} numbers, got {raw!r}")
    values = tuple(_finite_float(v) for v in raw)
    if any(v is None for v in values):
        _fail(name, f"{what} must hold finite numbers, got {raw!r}")
    return tuple(v for v in values if v is not None)


def _finite_float(value: object) -> float | None:
    """A JSON number as a finite float; None for booleans, non-numbers, overflow, inf."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(raw: dict[str, object], fields: frozenset[str], name: str, where: str) -> None:
    missing = sorted(fields - raw.keys())
    if missing:
        _fail(name, f"{where}missing field '{missing[0]}'")
    unknown = sorted(raw.keys() - fields)
    if unknown:
        _fail(name, f"{where}unknown field '{unknown[0]}'")


def _fail(name: str, message: str) -> NoReturn:
    raise ReferringFileError(f"{name}: {message}")
