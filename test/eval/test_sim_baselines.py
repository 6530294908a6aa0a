"""The two reference answerers of the embedded model's benchmark: the image centre, and a random
visible object of the named category, which must land on an object of that category (and on
the target whenever it is the only one of its kind)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.eval.answers import read_answers
from roborefer_ros.eval.sim_baselines import (
    CENTRE,
    category_answers,
    centre_answers,
    named_category,
    write_answers,
)
from roborefer_ros.sim import build_scene
from roborefer_ros.tools.export_sim import main as export_main

SEED = 903


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    argv = [str(out), "--seeds", str(SEED), "--per-scene", "10", "--place-share", "0.4"]
    assert export_main(argv) == 0
    return out


def test_named_category_is_the_head_noun_or_the_first_anchor() -> None:
    assert named_category("the red cup to the left of the plate") == "cup"
    assert named_category("the free space between the box and the apple") == "box"
    assert named_category("the purple dog") is None


def test_centre_answers_every_record(exported: Path, tmp_path: Path) -> None:
    answers = centre_answers(exported)
    records = sum(
        len(json.loads((exported / s / "question.json").read_text()))
        for s in ("Location", "Placement")
    )
    assert len(answers) == records and {a.text for a in answers} == {CENTRE}
    path = write_answers(tmp_path / "centre.jsonl", answers)
    assert len(read_answers(path)) == records


def test_category_answers_land_on_an_object_of_the_named_kind(exported: Path) -> None:
    with build_scene(SEED, "ur5e") as scene:
        frame = scene.render(0.0)
        spec = scene.spec
    height, width = frame.labels.shape
    records = {
        str(r["id"]): r for r in json.loads((exported / "Location" / "question.json").read_text())
    }
    answers = [a for a in category_answers(exported) if a.split == "Location"]
    assert len(answers) == len(records)
    for answer in answers:
        ((x, y),) = parse_points(answer.text, AnswerFormat.ROBOREFER, (width, height))
        label = frame.labels[int(y * height), int(x * width)]
        prompt = str(records[answer.id]["prompt"])
        assert label >= 0, prompt
        assert spec.objects[label].kind.value == named_category(prompt)
