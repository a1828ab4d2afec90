"""golden.command: record packing, unpacking and the checks of the core."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from golden.command import (
    MAGIC,
    MAX_HEADS,
    RECORD_BYTES,
    RECORD_WORDS,
    WORDS,
    Command,
    Error,
    Mode,
    check_command,
    command_bytes,
    out_row_bytes,
    pack_command,
    unpack_command,
    value_keep_code,
)

TINY = preset("tiny")


def good(**overrides):
    """A valid tiny-preset command (4-byte port: every address a multiple of 4)."""
    values = dict(mode=Mode.SUMMARIZE, last=True, keys=40, rows=40, head_dim=8, heads=2,
                  token_keep=30, head_keep=2, value_keep=value_keep_code(0.5), threshold=3277,
                  q_base=0x1000, k_msb_base=0x2000, k_lsb_base=0x3000, v_msb_base=0x4000,
                  v_lsb_base=0x5000, out_base=0x6000, q_stride=0x200, k_msb_stride=0x200,
                  k_lsb_stride=0x100, v_msb_stride=0x200, v_lsb_stride=0x100, out_stride=0x400,
                  out_row_stride=16, scales=((40000, 20), (123, 3)))
    values.update(overrides)
    return Command(**values)


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


# Each bad-command class and the code that names it.
BAD = [
    (dict(magic=0x1234), Error.MAGIC),
    (dict(mode=2), Error.MODE),
    (dict(keys=0), Error.L_RANGE),
    (dict(keys=TINY.max_context + 1, rows=1, token_keep=1), Error.L_RANGE),
    (dict(rows=0), Error.ROWS_RANGE),
    (dict(rows=41), Error.ROWS_RANGE),
    (dict(head_dim=TINY.head_dim + 1), Error.D_RANGE),
    (dict(head_dim=0), Error.D_RANGE),
    (dict(heads=0, head_keep=0), Error.HEADS_RANGE),
    (dict(heads=MAX_HEADS + 1), Error.HEADS_RANGE),
    (dict(token_keep=41), Error.KEEP_RANGE),
    (dict(token_keep=0), Error.KEEP_RANGE),
    (dict(head_keep=3), Error.HEAD_KEEP_RANGE),
    (dict(value_keep=0), Error.VALUE_KEEP_RANGE),
    (dict(value_keep=32769), Error.VALUE_KEEP_RANGE),
    (dict(threshold=32769), Error.THRESHOLD_RANGE),
    (dict(scales=((0, 3), (1, 1))), Error.SCALE_RANGE),
    (dict(scales=((1, 1), (1, 63))), Error.SCALE_RANGE),
    (dict(q_base=0x1002), Error.ALIGN_Q),
    (dict(k_msb_stride=0x201), Error.ALIGN_K_MSB),
    (dict(k_lsb_base=0x3001), Error.ALIGN_K_LSB),
    (dict(v_msb_base=0x4003), Error.ALIGN_V_MSB),
    (dict(v_lsb_stride=2), Error.ALIGN_V_LSB),
    (dict(out_row_stride=18), Error.ALIGN_OUT),
    (dict(q_base=1 << 32), Error.RANGE_Q),
    (dict(k_msb_base=(1 << 32) - 0x3FC), Error.RANGE_K_MSB),
    (dict(k_lsb_stride=0x8000_0000), Error.RANGE_K_LSB),
    (dict(v_msb_base=(1 << 32) - 0x200), Error.RANGE_V_MSB),
    (dict(v_lsb_base=0xFFFF_FF00), Error.RANGE_V_LSB),
    (dict(out_stride=0x8000_0000), Error.RANGE_OUT),
]


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
