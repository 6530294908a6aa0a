"""The ``crc`` field of ``unitree_hg/LowCmd`` (ROS-free).

Unitree's ``crc32_core`` runs over the C struct of the command as 32-bit little-endian words,
most significant bit first, polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no
final XOR: that is CRC-32/MPEG-2 over each word's bytes taken most significant first. The struct
(natural alignment, zero padding): ``uint8 mode_pr, uint8 mode_machine, 2 bytes padding,
35 x {uint8 mode, 3 bytes padding, float32 q, dq, tau, kp, kd, uint32 reserve},
uint32 reserve[4], uint32 crc`` = 1004 bytes; the CRC covers all but the last word.

The arm_sdk examples of unitree_ros2 leave ``crc`` at 0 (only ``/lowcmd`` is checked); the bridge
fills it anyway (``g1_fill_crc``), which costs about 0.2 ms per command.
"""

from __future__ import annotations

import struct

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


def crc32_mpeg2(data: bytes, crc: int = 0xFFFFFFFF) -> int:
    """CRC-32/MPEG-2 (check value of b"123456789": 0x0376E6E7)."""
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


def lowcmd_crc(command: ArmCommand) -> int:
    """The ``crc`` value of the LowCmd carrying ``command`` (reserve words zero)."""
    raw = lowcmd_struct(command)[:-4]
    # each little-endian word, fed most significant byte first
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return crc32_mpeg2(swapped)
