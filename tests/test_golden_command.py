"""golden.command: record packing, unpacking and the checks of the core."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from golden.command import (
    MAGIC,
    RECORD_BYTES,
    RECORD_WORDS,
    WORDS,
    Error,
    Mode,
    check_command,
    command_bytes,
    out_row_bytes,
    pack_command,
    unpack_command,
    value_keep_code,
)
from sim.command_cases import bad_cases, good

TINY = preset("tiny")


def test_record_size():
    assert RECORD_BYTES == 256 and RECORD_WORDS == 64
    assert len(command_bytes(good())) == RECORD_BYTES
    # Every field has a word of its own and the words do not overlap.
    used = sorted(WORDS.values()) + [WORDS[f"{p}_base"] + 1 for p in ("q", "k_msb", "k_lsb", "v_msb",
                                                                     "v_lsb", "out")]
    assert len(used) == len(set(used)) and max(used) < 32


def test_roundtrip():
    cmd = good(q_base=0x1_2345_6780, last=False, mode=Mode.GENERATE)
    back = unpack_command(pack_command(cmd))
    assert back.scales[:2] == cmd.scales and all(s == (0, 0) for s in back.scales[2:])
    assert dataclasses.replace(back, scales=back.scales[:2]) == cmd
    assert unpack_command(command_bytes(cmd)) == back
    words = pack_command(cmd)
    assert words[0] == MAGIC << 16 | 1
    assert words[WORDS["q_base"]] == 0x2345_6780 and words[WORDS["q_base"] + 1] == 1
    assert words[32] == 20 << 16 | 40000


def test_value_keep_code():
    assert value_keep_code(1.0) == 32768
    assert value_keep_code(0.5) == 16384
    assert value_keep_code(1e-9) == 1


@pytest.mark.parametrize("ratio", [0, 1.5, True, "x"])
def test_value_keep_code_wrong(ratio):
    with pytest.raises(ValueError, match=r"ratio must be a number in \(0, 1\], not "):
        value_keep_code(ratio)


def test_out_row_bytes():
    assert out_row_bytes(8, 12) == 16 and out_row_bytes(64, 12) == 128


def test_good_passes():
    assert check_command(good(), TINY) is Error.NONE
    assert check_command(pack_command(good()), TINY) is Error.NONE


BAD = bad_cases(TINY)


@pytest.mark.parametrize("overrides, error", BAD, ids=[f"{e.name}-{i}" for i, (_, e) in enumerate(BAD)])
def test_bad_command(overrides, error):
    assert check_command(good(**overrides), TINY) is error


def test_unused_head_scales_are_not_checked():
    assert check_command(good(heads=1, head_keep=1, scales=((5, 5), (0, 63))), TINY) is Error.NONE


def test_region_end_on_the_boundary_passes():
    assert check_command(good(q_base=(1 << 32) - 0x400), TINY) is Error.NONE


def test_reserved_control_bits():
    words = pack_command(good())
    words[0] |= 1 << 12
    assert check_command(words, TINY) is Error.MODE


def test_first_failing_rule_wins():
    assert check_command(good(magic=0, keys=0), TINY) is Error.MAGIC
    assert check_command(good(keys=0, q_base=3), TINY) is Error.L_RANGE
    assert check_command(good(q_base=3, k_msb_base=1 << 40), TINY) is Error.ALIGN_Q


def test_alignment_follows_the_port():
    ulx3s = preset("ulx3s")  # 8-byte port
    assert check_command(good(q_base=0x1004), TINY) is Error.NONE
    assert check_command(good(q_base=0x1004), ulx3s) is Error.ALIGN_Q


def test_pack_wrong():
    with pytest.raises(TypeError, match=r"cmd must be a Command, not "):
        pack_command({"keys": 1})
    with pytest.raises(ValueError, match=r"keys must be in 0..4294967295, not -1"):
        pack_command(good(keys=-1))
    with pytest.raises(ValueError, match=r"scales must hold at most 32 heads, not 33"):
        pack_command(good(scales=((1, 1),) * 33))
    with pytest.raises(ValueError, match=r"shift must be in 0..63, not 64"):
        pack_command(good(scales=((1, 64),)))


def test_unpack_wrong():
    with pytest.raises(ValueError, match=r"words must hold 64 words, not 3"):
        unpack_command(np.zeros(3, np.uint32))


def test_error_codes_fit_a_byte():
    assert max(Error) < 256 and list(Error) == sorted(Error)
