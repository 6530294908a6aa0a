"""The LowCmd crc: CRC-32/MPEG-2 (documented check value) equals Unitree's word-wise crc32_core."""

from __future__ import annotations

import random
import struct

from roborefer_ros.manipulation.g1.arm_sdk import ArmCommand, MotorCommand
from roborefer_ros.manipulation.g1.crc import (
    LOWCMD_STRUCT_BYTES,
    crc32_core_words,
    crc32_mpeg2,
    crc32_mpeg2_table,
    lowcmd_crc,
    lowcmd_struct,
)


def test_mpeg2_check_value() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the catalogued CRC-32/MPEG-2 check


def test_table_crc_equals_the_bitwise_word_algorithm() -> None:
    rng = random.Random(5)
    for length in (1, 2, 7, 64):
        words = [rng.getrandbits(32) for _ in range(length)]
        as_bytes = b"".join(struct.pack(">I", w) for w in words)
        assert crc32_mpeg2(as_bytes) == crc32_core_words(words)


def test_the_zlib_crc_equals_the_table_crc_from_any_start() -> None:
    rng = random.Random(7)
    for length in (0, 1, 3, 1000):
        data = bytes(rng.getrandbits(8) for _ in range(length))
        for start in (0xFFFFFFFF, 0, 0x12345678):
            assert crc32_mpeg2(data, start) == crc32_mpeg2_table(data, start)


def test_lowcmd_struct_layout_and_crc() -> None:
    motors = [MotorCommand() for _ in range(35)]
    motors[15] = MotorCommand(mode=1, q=0.5, kp=60.0, kd=1.5)
    motors[29] = MotorCommand(q=1.0)
    command = ArmCommand(tuple(motors), mode_pr=0, mode_machine=5)
    raw = lowcmd_struct(command)
    assert len(raw) == LOWCMD_STRUCT_BYTES == 1004
    assert raw[1] == 5 and raw[4 + 15 * 28] == 1
    assert struct.unpack_from("<f", raw, 4 + 29 * 28 + 4)[0] == 1.0
    words = list(struct.unpack(f"<{len(raw) // 4}I", raw))[:-1]
    assert lowcmd_crc(command) == crc32_core_words(words)
    reserve = (1, 2, 3, 0xFFFFFFFF)
    words = list(struct.unpack(f"<{len(raw) // 4}I", lowcmd_struct(command, reserve)))[:-1]
    assert lowcmd_crc(command, reserve) == crc32_core_words(words) != lowcmd_crc(command)
