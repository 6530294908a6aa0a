"""The Fast DDS profile every graph process starts with: a 100 ms writer heartbeat (late /tf), set
through the environment unless a profile is named already, and passed on by roborefer-launch."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from roborefer_ros.tools import launcher
from roborefer_ros.tools.dds_profile import (
    LEGACY_PROFILE_ENV,
    PROFILE_ENV,
    apply_profile,
    profile_path,
)

ROOT = Path(__file__).resolve().parents[2]
NS = {"dds": "http://www.eprosima.com"}


def test_the_profile_sets_a_100_ms_heartbeat_on_the_default_writer() -> None:
    path = profile_path()
    assert path == ROOT / "config" / "fastdds_profile.xml"
    writer = ET.parse(path).getroot().find("dds:profiles/dds:data_writer", NS)
    assert writer is not None and writer.get("is_default_profile") == "true"
    period = writer.find("dds:times/dds:heartbeat_period", NS)
    assert period is not None
    seconds = (
        int(period.findtext("dds:sec", "", NS)) + int(period.findtext("dds:nanosec", "", NS)) * 1e-9
    )
    assert seconds == pytest.approx(0.1)


def test_the_fast_dds_2_profile_says_the_same_in_camel_case() -> None:
    root = ET.parse(ROOT / "config" / "fastdds_profile_fastdds2.xml").getroot()
    ns = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    period = root.find("p:data_writer/p:times/p:heartbeatPeriod", ns)
    assert period is not None and period.findtext("p:nanosec", "", ns) == "100000000"


def test_apply_profile_sets_it_unless_one_is_named() -> None:
    env: dict[str, str] = {}
    assert apply_profile(env) == str(ROOT / "config" / "fastdds_profile.xml")
    assert env == {PROFILE_ENV: str(ROOT / "config" / "fastdds_profile.xml")}
    for name in (PROFILE_ENV, LEGACY_PROFILE_ENV):
        mine = {name: "/etc/site_profile.xml"}
        assert apply_profile(mine) == "/etc/site_profile.xml"
        assert mine == {name: "/etc/site_profile.xml"}  # the user's choice wins


def test_roborefer_launch_passes_it_to_every_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    monkeypatch.delenv(LEGACY_PROFILE_ENV, raising=False)
    show = "import os; print('profile=' + os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE', ''))"
    spec = tmp_path / "show.yaml"
    spec.write_text(
        "processes:\n"
        f'  - name: show\n    command: [{sys.executable}, -c, "{show}"]\n    ros: false\n'
    )
    launcher.main([str(spec), "--grace", "1"])
    out = capsys.readouterr().out
    assert f"profile={ROOT / 'config' / 'fastdds_profile.xml'}" in out, out
    assert os.environ.get(PROFILE_ENV) is None  # the launcher's own environment is untouched
