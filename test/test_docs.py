"""The documentation describes the product as it is: README is a front door of at most 250 lines
whose links and images resolve, the generated blocks of docs/ equal their generators, and CI runs
the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roborefer_ros.tools import gen_docs

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_is_a_front_door() -> None:
    assert README.count("\n") <= 250
    for command in ("make demo", "make test"):
        assert command in README


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test " in README or "make test\n" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ci


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_local_link_and_image_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: {broken}"


def test_generated_blocks_are_current() -> None:
    """Parameter tables and the module map (python -m roborefer_ros.tools.gen_docs)."""
    assert gen_docs.stale_blocks() == []


def test_a_stale_block_is_found(tmp_path: Path) -> None:
    for rel in gen_docs.BLOCKS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    page = tmp_path / "docs" / "parameters.md"
    page.write_text(page.read_text().replace("`target_frame`", "`target_frame_old`", 1))
    assert gen_docs.stale_blocks(tmp_path) == ["docs/parameters.md: refer-node-parameters"]
    gen_docs.write_blocks(tmp_path)
    assert gen_docs.stale_blocks(tmp_path) == []


def test_the_module_map_names_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    for path in (ROOT / "roborefer_ros").rglob("*.py"):
        if path.name != "__init__.py":
            assert f"| `{path.stem}` |" in text, path
