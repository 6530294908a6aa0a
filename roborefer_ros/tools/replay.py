"""``roborefer-replay BAG``: play a rosbag2 bag on the live graph, like ``ros2 bag play``.

For installs without rosbag2 (the pip set-up). The stored CDR bytes are published unchanged with
the recorded timing (relative to the first message, divided by ``--rate``) and each topic's
recorded QoS (reliability, durability, depth; /tf_static stays transient local). ``--clock``
publishes /clock at the bag's time for nodes with ``use_sim_time``. Exit 0 at the end of the bag
or on Ctrl-C, 2 when the bag cannot be read.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.reader import BagMessage, BagReader, TopicQos
from roborefer_ros.tools.cli import non_negative_float, positive_float

CLOCK_PERIOD_S = 0.01  # /clock while waiting between messages: 100 Hz
_MAX_SLEEP_S = 0.05  # the longest uninterrupted sleep, so a stop is noticed at once


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``pkg/msg/Name``; BagError when it is not installed."""
    package, _, name = msgtype.partition("/msg/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError, ValueError):
        raise BagError(f"message type {msgtype} is not installed") from None


def qos_profile(qos: TopicQos) -> QoSProfile:
    return QoSProfile(
        depth=qos.depth,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE if qos.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL
        if qos.transient_local
        else DurabilityPolicy.VOLATILE,
    )


class Replayer:
    """Publishes a bag's messages on ``node`` (which it does not spin: publishing needs none).

    ``qos_overrides`` replaces the recorded QoS of some topics (e.g. reliable camera topics for an
    evaluation that must not lose frames). Topics whose type is not installed are skipped and
    listed in ``skipped``.
    """

    def __init__(
        self,
        node: Node,
        bag: BagReader,
        *,
        rate: float = 1.0,
        clock: bool = False,
        topics: Collection[str] = (),
        qos_overrides: Mapping[str, TopicQos] | None = None,
    ) -> None:
        if not rate > 0.0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.bag, self.rate = bag, rate
        self.skipped: dict[str, str] = {}
        self.publishers: dict[str, Any] = {}
        overrides = qos_overrides or {}
        unknown = sorted(set(topics) - bag.topics.keys())
        if unknown:
            raise BagError(f"{bag.path}: no topic {unknown[0]} (topics: {', '.join(bag.topics)})")
        for name, topic in bag.topics.items():
            if topics and name not in topics:
                continue
            try:
                cls = message_class(topic.msgtype)
            except BagError as err:
                self.skipped[name] = str(err)
                continue
            qos = qos_profile(overrides.get(name, topic.qos))
            self.publishers[name] = node.create_publisher(cls, name, qos)
        self._clock: Any = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self._clock_msg = Clock
            self._clock = node.create_publisher(Clock, "/clock", QoSProfile(depth=1))

    def wait_for_subscribers(
        self, topics: Collection[str], timeout_s: float, stop: threading.Event | None = None
    ) -> list[str]:
        """Wait until each topic has a subscriber; return those that still have none."""
        deadline = time.monotonic() + timeout_s
        stop = stop or threading.Event()
        while True:
            missing = [t for t in topics if self.publishers[t].get_subscription_count() < 1]
            if not missing or time.monotonic() > deadline or stop.is_set():
                return missing
            stop.wait(0.02)

    def wait_for_acks(self, timeout_s: float) -> list[str]:
        """Wait until reliable subscribers acknowledged every sample (a sample a reader lost is
        only repaired at the writer's next heartbeat, seconds later, and only while the writer
        exists); return the topics still unacknowledged after ``timeout_s`` in all."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout_s
        pending = []
        for topic, publisher in self.publishers.items():
            left = max(deadline - time.monotonic(), 0.0)
            if not publisher.wait_for_all_acked(Duration(nanoseconds=round(left * 1e9))):
                pending.append(topic)
        return pending

    def play(
        self,
        stop: threading.Event,
        on_message: Callable[[BagMessage], None] | None = None,
    ) -> int:
        """One pass over the bag with the recorded timing; returns the messages published.

        ``on_message`` runs just before each message is published (e.g. to send requests ahead of
        the frames they ask about).
        """
        published = 0
        first_ns: int | None = None
        start = time.monotonic()
        if not self.publishers:
            return 0
        for msg in self.bag.messages(list(self.publishers)):
            if first_ns is None:
                first_ns = msg.log_time_ns
                start = time.monotonic()
            due = start + (msg.log_time_ns - first_ns) * 1e-9 / self.rate
            self._wait_until(due, start, first_ns, stop)
            if stop.is_set():
                break
            if on_message is not None:
                on_message(msg)
            self._publish_clock(msg.log_time_ns)
            self.publishers[msg.topic].publish(msg.data)
            published += 1
        return published

    def _wait_until(self, due: float, start: float, first_ns: int, stop: threading.Event) -> None:
        while not stop.is_set():
            now = time.monotonic()
            if now >= due:
                return
            if self._clock is not None:
                self._publish_clock(first_ns + round((now - start) * self.rate * 1e9))
                stop.wait(min(due - now, CLOCK_PERIOD_S))
            else:
                stop.wait(min(due - now, _MAX_SLEEP_S))

    def _publish_clock(self, bag_time_ns: int) -> None:
        if self._clock is None:
            return
        msg = self._clock_msg()
        msg.clock.sec, msg.clock.nanosec = divmod(bag_time_ns, 1_000_000_000)
        self._clock.publish(msg)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="roborefer-replay", description=__doc__.splitlines()[0])
    parser.add_argument("bag", help="rosbag2 bag directory (MCAP or sqlite3)")
    parser.add_argument("--rate", type=positive_float, default=1.0, help="playback speed factor")
    parser.add_argument("--loop", action="store_true", help="play again at the end, until Ctrl-C")
    parser.add_argument("--clock", action="store_true", help="publish /clock (use_sim_time)")
    parser.add_argument(
        "--start-delay",
        type=non_negative_float,
        default=0.5,
        metavar="S",
        help="seconds between creating the publishers and the first message (discovery)",
    )
    parser.add_argument(
        "--wait-for-subscribers",
        type=non_negative_float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds until every played topic has a subscriber "
        "(then --start-delay, for the subscribers' side of discovery)",
    )
    parser.add_argument(
        "--wait-for-all-acked",
        type=non_negative_float,
        default=5.0,
        metavar="S",
        help="at the end, wait up to S seconds for reliable subscribers to acknowledge everything",
    )
    parser.add_argument("--topics", nargs="+", default=[], help="play only these topics")
    parser.add_argument(
        "--reliable",
        action="store_true",
        help="offer reliable on every topic (still serves best-effort subscribers; no drops "
        "for reliable ones)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        bag = BagReader(args.bag)
    except BagError as err:
        print(f"roborefer-replay: {err}", file=sys.stderr)
        return 2
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()
    # Our own handlers: the loop below polls ``stop``, so Ctrl-C ends it between messages.
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    node = Node("roborefer_replay", start_parameter_services=False)
    try:
        overrides = {}
        if args.reliable:
            overrides = {
                name: TopicQos(True, topic.qos.transient_local, topic.qos.depth)
                for name, topic in bag.topics.items()
            }
        replayer = Replayer(
            node,
            bag,
            rate=args.rate,
            clock=args.clock,
            topics=args.topics,
            qos_overrides=overrides,
        )
        for topic, reason in replayer.skipped.items():
            print(f"roborefer-replay: skipping {topic}: {reason}", file=sys.stderr)
        if args.wait_for_subscribers > 0:
            missing = replayer.wait_for_subscribers(
                list(replayer.publishers), args.wait_for_subscribers, stop
            )
            if missing:
                print(f"roborefer-replay: no subscriber on {', '.join(missing)}", file=sys.stderr)
        stop.wait(args.start_delay)
        passes = 0
        while not stop.is_set():
            count = replayer.play(stop)
            passes += 1
            print(f"roborefer-replay: pass {passes}: published {count} messages", flush=True)
            if not args.loop:
                break
        if not stop.is_set():
            unacked = replayer.wait_for_acks(args.wait_for_all_acked)
            if unacked:
                print(f"roborefer-replay: not acknowledged: {', '.join(unacked)}", file=sys.stderr)
    except BagError as err:
        print(f"roborefer-replay: {err}", file=sys.stderr)
        return 2
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        bag.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
