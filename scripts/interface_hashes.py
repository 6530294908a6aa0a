#!/usr/bin/env python3
"""RIHS01 type hashes of interface definitions, computed by rosidl (adapter + type description
generator) without a CMake build.

    python scripts/interface_hashes.py interfaces/moveit_msgs ...   # prints "pkg/kind/Name HASH"

Packages are given in dependency order; types of other packages come from the installed
``share/<pkg>/<kind>/<Name>.json`` files rosidl wrote when those were built. test/test_interfaces.py
uses it to compare the stand-ins in interfaces/ with upstream's hashes.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

KINDS = ("msg", "srv", "action")


def installed_share() -> Path:
    """``share/`` of the environment the ROS wheels installed into."""
    return Path(sysconfig.get_paths()["data"]) / "share"


def type_hashes(package_dirs: Sequence[Path], share: Path | None = None) -> dict[str, str]:
    """``{"pkg/kind/Name": "RIHS01_..."}`` for every interface file of the packages (each
    folder's name is its package name), computed in order; services and actions add their
    parts (``Name_Request``, ``Name_Goal``, ...)."""
    from rosidl_adapter import convert_to_idl
    from rosidl_generator_type_description import generate_type_hash

    share = share or installed_share()
    hashes: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        includes: dict[str, Path] = {}
        for given in package_dirs:
            package_dir = given.resolve()
            name = package_dir.name
            idl_root, out = work / "idl" / name, work / "json" / name
            idl_tuples = []
            for kind in KINDS:
                for source in sorted((package_dir / kind).glob(f"*.{kind}")):
                    with contextlib.redirect_stdout(io.StringIO()):  # it reports every file
                        idl = convert_to_idl(
                            package_dir, name, source.relative_to(package_dir), idl_root
                        )
                    idl_tuples.append(f"{idl_root}:{idl.relative_to(idl_root)}")
            deps = {d.name: d for d in share.iterdir() if d.is_dir()}
            deps.update(includes)
            arguments = {
                "package_name": name,
                "output_dir": str(out),
                "idl_tuples": idl_tuples,
                "include_paths": [f"{pkg}:{path}" for pkg, path in deps.items() if pkg != name],
            }
            args_file = work / f"{name}.json"
            args_file.write_text(json.dumps(arguments))
            for generated in generate_type_hash(str(args_file)):
                top = json.loads(Path(generated).read_text())["type_hashes"][0]
                hashes[top["type_name"]] = top["hash_string"]
            includes[name] = out
    return hashes


def main(argv: list[str] | None = None) -> int:
    dirs = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    for type_name, value in sorted(type_hashes(dirs).items()):
        print(type_name, value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
