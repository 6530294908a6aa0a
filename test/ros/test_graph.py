"""GraphClient.call: a request left unanswered is sent again when asked to (a just-started node
process may drop its first answer), and without a resend the wait ends in a TimeoutError."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from roborefer_ros.srv import RefPoint

from roborefer_ros.ros.graph import GraphClient

pytestmark = pytest.mark.graph


class SlowFirstServer:
    """Answers the first request after ``first_delay_s`` (an answer the caller has given up on)
    and every later one at once; each answer's message says which request it was."""

    def __init__(self, service: str, first_delay_s: float) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(f"slow_first_{os.getpid()}", context=self.context)
        self.first_delay_s = first_delay_s
        self.count = 0
        self._lock = threading.Lock()
        self.node.create_service(
            RefPoint, service, self._answer, callback_group=ReentrantCallbackGroup()
        )
        self._executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def _answer(self, request: RefPoint.Request, response: RefPoint.Response) -> RefPoint.Response:
        with self._lock:
            self.count += 1
            number = self.count
        if number == 1:
            time.sleep(self.first_delay_s)
        response.message = f"request {number}"
        return response

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)


@pytest.fixture
def server(graph: GraphClient) -> Iterator[tuple[SlowFirstServer, Any]]:
    """The server and a client of it that has seen it."""
    name = f"/graph_call_test_{os.getpid()}"
    slow = SlowFirstServer(name, first_delay_s=3.0)
    client = graph.node.create_client(RefPoint, name)
    graph.wait_for_service(client)
    yield slow, client
    slow.close()


def test_an_unanswered_request_is_sent_again(
    server: tuple[SlowFirstServer, Any], graph: GraphClient
) -> None:
    slow, client = server
    started = time.monotonic()
    response = graph.call(client, RefPoint.Request(prompt="x"), timeout_s=10, resend_s=0.5)
    assert response.message == "request 2"
    assert time.monotonic() - started < 2.5  # not the first one's 3 s
    assert slow.count == 2


def test_without_a_resend_an_unanswered_request_times_out(
    server: tuple[SlowFirstServer, Any], graph: GraphClient
) -> None:
    slow, client = server
    with pytest.raises(TimeoutError, match="no response from"):
        graph.call(client, RefPoint.Request(prompt="x"), timeout_s=0.8)
    assert slow.count == 1
