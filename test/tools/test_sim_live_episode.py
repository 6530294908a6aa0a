"""The live episode's goal send: a lost request is resent under the same goal id, never twice."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rclpy.task import Future
from roborefer_ros.action import PickPlace

from roborefer_ros.tools import sim_live_episode
from roborefer_ros.tools.sim_live_episode import EpisodeSetupError, _send_goal


class ScriptedActionClient:
    """Answers each send with the next scripted outcome: None (never answered), or accepted."""

    def __init__(self, answers: list[bool | None]) -> None:
        self.answers = answers
        self.sent_ids: list[bytes] = []

    def send_goal_async(self, goal: Any, feedback_callback: Any, goal_uuid: Any) -> Future[Any]:
        assert isinstance(goal, PickPlace.Goal)
        self.sent_ids.append(bytes(goal_uuid.uuid))
        answer = self.answers[len(self.sent_ids) - 1]
        future: Future[Any] = Future()
        if answer is not None:
            future.set_result(SimpleNamespace(accepted=answer))
        return future


@pytest.fixture(autouse=True)
def quick_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_live_episode, "GOAL_ANSWER_S", 0.05)


def send(client: ScriptedActionClient) -> Any:
    observer: Any = SimpleNamespace(pick_place=client)
    return _send_goal(observer, PickPlace.Goal(), lambda _msg: None, lambda: True)


def test_an_unanswered_send_is_repeated_with_the_same_goal_id() -> None:
    client = ScriptedActionClient([None, True])
    handle = send(client)
    assert handle.accepted
    assert len(client.sent_ids) == 2
    assert client.sent_ids[0] == client.sent_ids[1]


def test_a_refused_resend_means_the_first_send_got_through_and_is_followed() -> None:
    client = ScriptedActionClient([None, False])
    handle = send(client)
    assert handle.accepted
    assert bytes(handle.goal_id.uuid) == client.sent_ids[0]


def test_a_refused_first_send_is_a_rejection() -> None:
    client = ScriptedActionClient([False])
    with pytest.raises(EpisodeSetupError, match="rejected the goal"):
        send(client)
    assert len(client.sent_ids) == 1


def test_a_server_that_never_answers_is_reported_after_the_last_send() -> None:
    client = ScriptedActionClient([None] * sim_live_episode.GOAL_SENDS)
    with pytest.raises(EpisodeSetupError, match="did not answer the goal"):
        send(client)
    assert len(set(client.sent_ids)) == 1
