"""The ``crc`` field of ``unitree_hg/LowCmd`` (ROS-free).

Unitree's ``crc32_core`` runs over the C struct of the command as 32-bit little-endian words,
most significant bit first, polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no
final XOR: that is CRC-32/MPEG-2 over each word's bytes taken most significant first. The struct
(natural alignment, zero padding): ``uint8 mode_pr, uint8 mode_machine, 2 bytes padding,
35 x {uint8 mode, 3 bytes padding, float32 q, dq, tau, kp, kd, uint32 reserve},
uint32 reserve[4], uint32 crc`` = 1004 bytes; the CRC covers all but the last word.

The arm_sdk examples of unitree_ros2 leave ``crc`` at 0 (only ``/lowcmd`` is checked); the bridge
fills it anyway (``g1_fill_crc``) and the simulated G1 checks it (a mismatch is dropped and
counted). The robot's ``LowState`` carries the same CRC over its own struct (``lowstate_crc``).
``crc32_mpeg2`` runs in zlib's C code: the non-reflected CRC of the data equals the bit-reversed
reflected CRC-32 of the data with each byte's bits reversed (same polynomial, same all-ones
start), about 10 us for a LowCmd instead of ~0.3 ms byte by byte in Python.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.arm_sdk import NUM_MOTORS, ArmCommand

_POLY = 0x04C11DB7
LOWCMD_STRUCT_BYTES = 4 + NUM_MOTORS * 28 + 16 + 4


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


_TABLE = _table()
_REVERSED_BITS = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def crc32_mpeg2(data: bytes, crc: int = 0xFFFFFFFF) -> int:
    """CRC-32/MPEG-2 (check value of b"123456789": 0x0376E6E7), continued from ``crc``."""
    # zlib.crc32(x, s) = R(s ^ ~0, x) ^ ~0 for the reflected register update R without the
    # final XOR; the non-reflected update from ``crc`` is R's bit mirror image.
    start = _reverse32(crc) ^ 0xFFFFFFFF
    return _reverse32(zlib.crc32(data.translate(_REVERSED_BITS), start) ^ 0xFFFFFFFF)


def crc32_mpeg2_table(data: bytes, crc: int = 0xFFFFFFFF) -> int:
    """The same CRC byte by byte through a 256-entry table (slow; the tests' reference)."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[(crc >> 24) ^ byte]
    return crc


def crc32_core_words(words: list[int]) -> int:
    """Unitree's crc32_core over 32-bit words (bit by bit, as documented; slow: tests only)."""
    crc = 0xFFFFFFFF
    for word in words:
        for bit in range(31, -1, -1):
            top = crc & 0x80000000
            crc = (crc << 1) & 0xFFFFFFFF
            if top:
                crc ^= _POLY
            if (word >> bit) & 1:
                crc ^= _POLY
    return crc


def lowcmd_struct(command: ArmCommand, reserve: tuple[int, int, int, int] = (0, 0, 0, 0)) -> bytes:
    """The little-endian C struct the CRC runs over, crc word included (as 0)."""
    parts = [struct.pack("<BB2x", command.mode_pr, command.mode_machine)]
    for motor in command.motors:
        parts.append(
            struct.pack("<B3x5fI", motor.mode, motor.q, motor.dq, motor.tau, motor.kp, motor.kd, 0)
        )
    parts.append(struct.pack("<4I", *reserve))
    parts.append(struct.pack("<I", 0))
    return b"".join(parts)


def lowcmd_crc(command: ArmCommand, reserve: tuple[int, int, int, int] = (0, 0, 0, 0)) -> int:
    """The ``crc`` value of the LowCmd carrying ``command`` and these ``reserve`` words."""
    raw = lowcmd_struct(command, reserve)[:-4]
    # each little-endian word, fed most significant byte first
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return crc32_mpeg2(swapped)


# unitree_hg's LowState as the robot's C struct (natural alignment, zero padding): 2092 bytes,
# the crc its last word. IMUState: float quaternion[4], gyroscope[3], accelerometer[3], rpy[3],
# int16 temperature (56 bytes); MotorState: uint8 mode, float q, dq, ddq, tau_est, int16
# temperature[2], float vol, uint32 sensor[2], motorstate, reserve[4] (56 bytes).
_IMU_STRUCT = np.dtype(
    {
        "names": ["quaternion", "gyroscope", "accelerometer", "rpy", "temperature"],
        "formats": [("<f4", 4), ("<f4", 3), ("<f4", 3), ("<f4", 3), "<i2"],
        "offsets": [0, 16, 28, 40, 52],
        "itemsize": 56,
    }
)
_MOTOR_STATE_STRUCT = np.dtype(
    {
        "names": ["mode", "q", "dq", "ddq", "tau_est", "temperature", "vol", "sensor"],
        "formats": ["u1", "<f4", "<f4", "<f4", "<f4", ("<i2", 2), "<f4", ("<u4", 2)],
        "offsets": [0, 4, 8, 12, 16, 20, 24, 28],
        "itemsize": 56,
    }
)
LOWSTATE_STRUCT = np.dtype(
    {
        "names": ["mode_pr", "mode_machine", "tick", "imu_state", "motor_state", "crc"],
        "formats": ["u1", "u1", "<u4", _IMU_STRUCT, (_MOTOR_STATE_STRUCT, NUM_MOTORS), "<u4"],
        "offsets": [8, 9, 12, 16, 72, 2088],
        "itemsize": 2092,
    }
)


def lowstate_crc(state: npt.NDArray[np.void]) -> int:
    """The ``crc`` of a LowState held as one ``LOWSTATE_STRUCT`` record (its crc word aside)."""
    raw = state.tobytes()[:-4]
    words = np.frombuffer(raw, dtype="<u4").astype(">u4")  # each word most significant first
    return crc32_mpeg2(words.tobytes())
