"""The fake model server's request log as tests read it while the server writes."""

from __future__ import annotations

import json
from pathlib import Path

from roborefer_ros.tools.fake_model_server import FakeModelServer


def test_a_request_line_still_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    """A large request is written in pieces: a reader once saw half a line (JSONDecodeError in
    a CI run). Only complete lines are returned; the rest comes once its newline is there."""
    server = FakeModelServer("roborefer", {}, tmp_path)
    assert server.log_path is not None
    first = json.dumps({"path": "/query", "body": "a"}) + "\n"
    second = json.dumps({"path": "/query", "body": "b" * 5000})
    server.log_path.write_text(first + second[:197])
    assert [r["body"] for r in server.requests()] == ["a"]
    server.log_path.write_text(first + second + "\n")
    assert [r["body"] for r in server.requests()] == ["a", "b" * 5000]
