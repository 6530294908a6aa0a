"""The unitree_hg in use (ours from interfaces/, or unitree_ros2's) has unitree_ros2's fields.

The expected fields, their order and types are those of unitree_ros2's
``cyclonedds_ws/src/unitree/unitree_hg/msg`` (the robot's DDS types): a reordered or retyped
field would make the g1 bridge's LowCmd unreadable to the robot.
"""

from __future__ import annotations

import importlib

import pytest

UPSTREAM: dict[str, dict[str, str]] = {
    "LowCmd": {
        "mode_pr": "uint8",
        "mode_machine": "uint8",
        "motor_cmd": "unitree_hg/MotorCmd[35]",
        "reserve": "uint32[4]",
        "crc": "uint32",
    },
    "MotorCmd": {
        "mode": "uint8",
        "q": "float",
        "dq": "float",
        "tau": "float",
        "kp": "float",
        "kd": "float",
        "reserve": "uint32",
    },
    "LowState": {
        "version": "uint32[2]",
        "mode_pr": "uint8",
        "mode_machine": "uint8",
        "tick": "uint32",
        "imu_state": "unitree_hg/IMUState",
        "motor_state": "unitree_hg/MotorState[35]",
        "wireless_remote": "uint8[40]",
        "reserve": "uint32[4]",
        "crc": "uint32",
    },
    "MotorState": {
        "mode": "uint8",
        "q": "float",
        "dq": "float",
        "ddq": "float",
        "tau_est": "float",
        "temperature": "int16[2]",
        "vol": "float",
        "sensor": "uint32[2]",
        "motorstate": "uint32",
        "reserve": "uint32[4]",
    },
    "IMUState": {
        "quaternion": "float[4]",
        "gyroscope": "float[3]",
        "accelerometer": "float[3]",
        "rpy": "float[3]",
        "temperature": "int16",
    },
    "HandCmd": {"motor_cmd": "sequence<unitree_hg/MotorCmd>", "reserve": "uint32[4]"},
    "HandState": {
        "motor_state": "sequence<unitree_hg/MotorState>",
        "press_sensor_state": "sequence<unitree_hg/PressSensorState>",
        "imu_state": "unitree_hg/IMUState",
        "power_v": "float",
        "power_a": "float",
        "system_v": "float",
        "device_v": "float",
        "error": "uint32[2]",
        "reserve": "uint32[2]",
    },
    "PressSensorState": {
        "pressure": "float[12]",
        "temperature": "float[12]",
        "lost": "uint32",
        "reserve": "uint32",
    },
    "BmsCmd": {"cmd": "uint8", "reserve": "uint8[40]"},
    "BmsState": {
        "version_high": "uint8",
        "version_low": "uint8",
        "fn": "uint8",
        "cell_vol": "uint16[40]",
        "bmsvoltage": "uint32[3]",
        "current": "int32",
        "soc": "uint8",
        "soh": "uint8",
        "temperature": "int16[12]",
        "cycle": "uint16",
        "manufacturer_date": "uint16",
        "bmsstate": "uint32[5]",
        "reserve": "uint32[3]",
    },
    "MainBoardState": {
        "fan_state": "uint16[6]",
        "temperature": "int16[6]",
        "value": "float[6]",
        "state": "uint32[6]",
    },
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_fields_types_and_order_match_unitree_ros2(name: str) -> None:
    msgs = importlib.import_module("unitree_hg.msg")
    fields = getattr(msgs, name).get_fields_and_field_types()
    assert list(fields.items()) == list(UPSTREAM[name].items())


def test_fixed_arrays_have_their_upstream_sizes() -> None:
    from unitree_hg.msg import LowCmd, LowState

    assert len(LowCmd().motor_cmd) == 35
    assert len(LowState().motor_state) == 35
    assert len(LowState().wireless_remote) == 40
