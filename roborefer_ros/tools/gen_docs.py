"""``python -m roborefer_ros.tools.gen_docs [--check]``: regenerate the generated blocks of docs/.

The parameter tables of docs/parameters.md come from the nodes' own declarations and the module
map of docs/architecture.md from the source tree (each module's first docstring sentence), so
neither can go stale: ``--check`` (what the tests run) exits 1 naming every block that differs.
A block sits between ``<!-- NAME:begin ... -->`` and ``<!-- NAME:end -->``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "roborefer_ros"


def _parameter_table(node: str) -> str:
    from roborefer_ros.ros.params import markdown_table

    if node == "refer_node":
        from roborefer_ros.ros.refer.params import REFER_NODE_PARAMETERS

        return markdown_table(REFER_NODE_PARAMETERS)
    if node == "pick_place_node":
        from roborefer_ros.ros.pick_place.params import PICK_PLACE_PARAMETERS

        return markdown_table(PICK_PLACE_PARAMETERS)
    if node == "g1":
        from roborefer_ros.ros.pick_place.g1_params import G1_PARAMETERS

        return markdown_table(G1_PARAMETERS)
    if node == "moveit":
        from roborefer_ros.ros.pick_place.moveit_backend import MOVEIT_PARAMETERS

        return markdown_table(MOVEIT_PARAMETERS)
    if node == "move_group":
        from roborefer_ros.ros.sim.move_group.params import SIM_MOVE_GROUP_PARAMETERS

        return markdown_table(SIM_MOVE_GROUP_PARAMETERS)
    from roborefer_ros.ros.sim.params import SIM_NODE_PARAMETERS

    return markdown_table(SIM_NODE_PARAMETERS)


def _summary(path: Path) -> str:
    """The first sentence of a module's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    return (match.group(1) if match else paragraph).rstrip(":").replace("|", "\\|")


def module_map() -> str:
    """One table per folder of the package: its modules and what each is for."""
    out: list[str] = []
    folders = sorted({p.parent for p in PACKAGE.rglob("*.py")}, key=lambda d: d.parts)
    for folder in folders:
        rel = folder.relative_to(ROOT)
        init = folder / "__init__.py"
        about = _summary(init) if init.is_file() else ""
        out.append(f"**`{rel}/`**" + (f": {about}" if about else ""))
        out.append("")
        out.append("| module | what it is for |")
        out.append("|---|---|")
        for path in sorted(folder.glob("*.py")):
            if path.name == "__init__.py":
                continue
            out.append(f"| `{path.stem}` | {_summary(path)} |")
        out.append("")
    return "\n".join(out).rstrip()


#: file -> block name -> generator
BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "docs/parameters.md": {
        "refer-node-parameters": lambda: _parameter_table("refer_node"),
        "pick-place-parameters": lambda: _parameter_table("pick_place_node"),
        "moveit-parameters": lambda: _parameter_table("moveit"),
        "g1-parameters": lambda: _parameter_table("g1"),
        "sim-node-parameters": lambda: _parameter_table("sim_node"),
        "sim-move-group-parameters": lambda: _parameter_table("move_group"),
    },
    "docs/architecture.md": {"module-map": module_map},
}


def _replace(text: str, name: str, body: str, where: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin[^>]*-->\n)(.*?)(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"{where} has no block {name!r} (<!-- {name}:begin --> ... end)")
    return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(3), text)


def stale_blocks(root: Path = ROOT) -> list[str]:
    """``file: block`` for every generated block that differs from its generator."""
    stale = []
    for rel, blocks in BLOCKS.items():
        text = (root / rel).read_text()
        for name, make in blocks.items():
            if _replace(text, name, make(), rel) != text:
                stale.append(f"{rel}: {name}")
    return stale


def write_blocks(root: Path = ROOT) -> None:
    for rel, blocks in BLOCKS.items():
        path = root / rel
        text = path.read_text()
        for name, make in blocks.items():
            text = _replace(text, name, make(), rel)
        path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.gen_docs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="only report stale blocks")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_blocks()
            for block in stale:
                print(
                    f"stale: {block} (run python -m roborefer_ros.tools.gen_docs)", file=sys.stderr
                )
            return 1 if stale else 0
        write_blocks()
    except (OSError, ValueError) as err:
        print(f"gen_docs: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
