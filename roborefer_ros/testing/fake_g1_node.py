"""A fake G1 on the ROS graph, for live-graph tests of the g1 backend.

``python -m roborefer_ros.testing.fake_g1_node [--rate-hz 100] [--stale-after-s S]
[--mode-machine 5]``: subscribes ``/arm_sdk`` (``unitree_hg/LowCmd``), moves ``FakeG1``'s joints
after the commands (first-order lag, arm_sdk weight blend) and publishes ``/lowstate``
(``unitree_hg/LowState``) at ``--rate-hz``. ``--stale-after-s``: stop publishing that long after
the first command with a non-zero weight (the stale-state fault). ``--hands holding|empty``: also
follow ``/dex3/{left,right}/cmd`` (``unitree_hg/HandCmd``) and publish
``/lf/dex3/{left,right}/state`` (``unitree_hg/HandState``) with the LowState: ``holding`` stops the
fingers halfway (an object between them), ``empty`` lets them close (``none``, the default:
no HandState at all).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from functools import partial
from typing import Any

import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from roborefer_ros.manipulation.g1.arm_sdk import NUM_MOTORS
from roborefer_ros.manipulation.g1.kinematics import ArmSide
from roborefer_ros.ros.pick_place.g1_backend import arm_command_of, hand_command_of
from roborefer_ros.ros.spin_thread import spin_until_shutdown
from roborefer_ros.testing.fake_g1 import FakeG1

QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
STATE_QOS = QoSProfile(
    depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT
)


class FakeG1Node(Node):
    def __init__(
        self, rate_hz: float, stale_after_s: float, mode_machine: int, hands: str = "none"
    ) -> None:
        super().__init__("fake_g1")
        import unitree_hg.msg as msgs

        self.msgs = msgs
        self.robot = FakeG1(
            mode_machine=mode_machine, object_in_hand=hands == "holding", hand_state=hands != "none"
        )
        self.hand_pubs: dict[ArmSide, Any] = {}
        if self.robot.hand_state:
            for side in ArmSide:
                self.hand_pubs[side] = self.create_publisher(
                    msgs.HandState, f"/lf/dex3/{side.value}/state", STATE_QOS
                )
                self.create_subscription(
                    msgs.HandCmd, f"/dex3/{side.value}/cmd", partial(self._on_hand, side), QOS
                )
        self.stale_after_s = stale_after_s
        self.first_command_s: float | None = None
        self.commands = 0
        self.last_step_s = time.monotonic()
        self.last_publish_s = time.monotonic()
        self.pub = self.create_publisher(msgs.LowState, "/lowstate", STATE_QOS)
        self.create_subscription(msgs.LowCmd, "/arm_sdk", self._on_command, QOS)
        # Published from a plain thread, not an executor timer: rclpy's timers in this process
        # paused for up to 0.8 s while LowCmd arrived at 50 Hz (measured), which looked like a
        # robot whose state goes stale.
        self.period_s = 1.0 / rate_hz
        self.running = True
        self.publisher_thread = threading.Thread(target=self._publish_loop, daemon=True)
        self.publisher_thread.start()
        self.get_logger().info(
            f"fake G1 up: /lowstate at {rate_hz} Hz, mode_machine {mode_machine}"
        )

    def destroy_node(self) -> None:
        self.running = False
        self.publisher_thread.join(timeout=1.0)
        super().destroy_node()

    def _on_command(self, msg: Any) -> None:
        command, _crc, _reserve = arm_command_of(msg)
        now = time.monotonic()
        self.robot.step(now, now - self.last_step_s)
        self.last_step_s = now
        self.robot.command = command
        self.commands += 1
        if self.first_command_s is None and command.weight > 0.0:
            self.first_command_s = now

    def _on_hand(self, side: ArmSide, msg: Any) -> None:
        self.robot.receive_hand(hand_command_of(side, msg))

    def _publish_loop(self) -> None:
        next_s = time.monotonic()
        while self.running and rclpy.ok(context=self.context):
            self._publish()
            next_s = max(next_s + self.period_s, time.monotonic() - self.period_s)
            time.sleep(max(0.0, next_s - time.monotonic()))

    def _publish(self) -> None:
        now = time.monotonic()
        if now - self.last_publish_s > 0.2:  # says whether a stale state is this process's fault
            self.get_logger().warning(f"/lowstate paused {now - self.last_publish_s:.2f} s")
        self.last_publish_s = now
        self.robot.step(now, now - self.last_step_s)
        self.last_step_s = now
        if self.first_command_s is not None and now - self.first_command_s > self.stale_after_s:
            return
        msg = self.msgs.LowState()
        msg.mode_machine = self.robot.mode_at(now)
        for slot in range(NUM_MOTORS):
            msg.motor_state[slot].q = float(self.robot.q[slot])
        self.pub.publish(msg)
        for side, pub in self.hand_pubs.items():
            hand = self.msgs.HandState()
            hand.motor_state = [self.msgs.MotorState(q=float(q)) for q in self.robot.hand_q[side]]
            pub.publish(hand)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate-hz", type=float, default=100.0)
    parser.add_argument("--stale-after-s", type=float, default=math.inf)
    parser.add_argument("--mode-machine", type=int, default=5)
    parser.add_argument("--hands", choices=("none", "holding", "empty"), default="none")
    args, ros_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    rclpy.init(args=[sys.argv[0], *ros_args])
    node = FakeG1Node(args.rate_hz, args.stale_after_s, args.mode_machine, args.hands)
    # single-threaded: rclpy's multi-threaded executor busy-loops at 50 Hz input
    return spin_until_shutdown(node, num_threads=1)


if __name__ == "__main__":
    raise SystemExit(main())
