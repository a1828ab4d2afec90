"""golden.command: record packing, unpacking, the checks of the core and the survivor record."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from golden.command import (
    MAGIC,
    MAX_HEADS,
    PLANES,
    RECORD_BYTES,
    RECORD_WORDS,
    SCALE_WORD,
    WORDS,
    Error,
    Mode,
    check_command,
    command_bytes,
    out_row_bytes,
    pack_command,
    pack_survivors,
    survivor_bytes,
    survivor_row_stride,
    survivor_rows,
    unpack_command,
    unpack_survivors,
)
from sim.command_cases import bad_cases, boundary_cases, good

TINY = preset("tiny")
PRESETS = ["tiny", "ulx3s", "paper"]


def test_record_size():
    assert RECORD_BYTES == 512 and RECORD_WORDS == 128
    assert len(command_bytes(good())) == RECORD_BYTES
    # Every field has a word of its own, the words do not overlap and end before the scales.
    wide = [name for name in WORDS if name.endswith("_base")]
    assert sorted(wide) == sorted([f"{p}_base" for p in PLANES] + ["survivors_base"])
    used = sorted(WORDS.values()) + [WORDS[name] + 1 for name in wide]
    assert len(used) == len(set(used)) and max(used) == 33 < SCALE_WORD
    assert SCALE_WORD + MAX_HEADS <= RECORD_WORDS


def test_roundtrip():
    cmd = good(q_msb_base=0x1_2345_6780, v_lsb_base=0xFFFF_FFFF_0000_0010, survivors_base=0x2_0000_0040,
               last=False, fresh=False, causal=True, layer=63, mode=Mode.GENERATE)
    back = unpack_command(pack_command(cmd))
    assert back.scales[:2] == cmd.scales and all(s == (0, 0) for s in back.scales[2:])
    assert dataclasses.replace(back, scales=back.scales[:2]) == cmd
    assert unpack_command(command_bytes(cmd)) == back
    words = pack_command(cmd)
    assert words[0] == MAGIC << 16 | 1 << 10 | 1
    assert words[WORDS["q_msb_base"]] == 0x2345_6780 and words[WORDS["q_msb_base"] + 1] == 1
    assert words[WORDS["survivors_base"]] == 0x40 and words[WORDS["survivors_base"] + 1] == 2
    assert words[WORDS["layer"]] == 63 and WORDS["layer"] == 5
    assert words[SCALE_WORD] == 20 << 16 | 40000 and SCALE_WORD == 64
    fresh = pack_command(good(fresh=True, causal=False, last=True))
    assert fresh[0] == MAGIC << 16 | 1 << 9 | 1 << 8


def test_plane_words():
    words = pack_command(good())
    for i, plane in enumerate(PLANES):
        assert WORDS[f"{plane}_base"] == 10 + 2 * i and WORDS[f"{plane}_stride"] == 24 + i
        assert words[WORDS[f"{plane}_base"]] == getattr(good(), f"{plane}_base")
    assert WORDS["out_row_stride"] == 31 and WORDS["survivors_base"] == 32


def test_out_row_bytes():
    assert out_row_bytes(8, 12) == 16 and out_row_bytes(64, 12) == 128


@pytest.mark.parametrize("name", PRESETS)
def test_good_passes(name):
    cfg = preset(name)
    assert check_command(good(), cfg) is Error.NONE
    assert check_command(pack_command(good()), cfg) is Error.NONE


@pytest.mark.parametrize("name", PRESETS)
def test_bad_cases_cover_every_command_rule(name):
    cfg = preset(name)
    named = {error for _, error in bad_cases(cfg)}
    assert named == {e for e in Error if Error.NONE < e < Error.ALIGN_CMD}
    for overrides, error in bad_cases(cfg):
        assert check_command(good(**overrides), cfg) is error, overrides
    for overrides in boundary_cases(cfg):
        assert check_command(good(**overrides), cfg) is Error.NONE, overrides


BAD = bad_cases(TINY)


@pytest.mark.parametrize("overrides, error", BAD, ids=[f"{e.name}-{i}" for i, (_, e) in enumerate(BAD)])
def test_bad_command(overrides, error):
    assert check_command(good(**overrides), TINY) is error


def test_unused_head_scales_are_not_checked():
    assert check_command(good(heads=1, head_keep=1, scales=((5, 5), (0, 63))), TINY) is Error.NONE


def test_region_end_on_the_boundary_passes():
    assert check_command(good(q_msb_base=(1 << 32) - 0x400), TINY) is Error.NONE
    assert check_command(good(q_msb_base=(1 << 32) - 0x3FC), TINY) is Error.RANGE_Q_MSB


def test_survivors_end_on_the_boundary_passes():
    end = (1 << 32) - survivor_bytes(TINY)
    assert end % 4 == 0
    assert check_command(good(survivors_base=end), TINY) is Error.NONE
    assert check_command(good(survivors_base=end + 4), TINY) is Error.RANGE_SURVIVORS


def test_control_bits():
    words = pack_command(good())
    for bit in range(11, 16):
        flipped = words.copy()
        flipped[0] |= 1 << bit
        assert check_command(flipped, TINY) is Error.MODE, bit
    for bit in (8, 9, 10):
        flipped = words.copy()
        flipped[0] ^= 1 << bit
        assert check_command(flipped, TINY) is Error.NONE, bit


def test_value_keep_range():
    assert check_command(good(value_keep=65536), TINY) is Error.NONE
    assert check_command(good(value_keep=1), TINY) is Error.NONE
    assert check_command(good(value_keep=65537), TINY) is Error.VALUE_KEEP_RANGE


def test_first_failing_rule_wins():
    assert check_command(good(magic=0, keys=0), TINY) is Error.MAGIC
    assert check_command(good(keys=0, q_msb_base=3), TINY) is Error.L_RANGE
    assert check_command(good(layer=64, token_keep=0), TINY) is Error.LAYER_RANGE
    assert check_command(good(q_lsb_base=3, k_msb_base=1 << 40), TINY) is Error.ALIGN_Q_LSB
    assert check_command(good(survivors_base=2, q_msb_base=1 << 40), TINY) is Error.ALIGN_SURVIVORS
    assert check_command(good(out_base=1 << 40, survivors_base=1 << 40), TINY) is Error.RANGE_OUT


def test_alignment_follows_the_port():
    ulx3s = preset("ulx3s")  # 8-byte port
    assert check_command(good(q_lsb_base=0x1004), TINY) is Error.NONE
    assert check_command(good(q_lsb_base=0x1004), ulx3s) is Error.ALIGN_Q_LSB
    assert check_command(good(survivors_base=0x9004), ulx3s) is Error.ALIGN_SURVIVORS


def test_pack_wrong():
    with pytest.raises(TypeError, match=r"cmd must be a Command, not "):
        pack_command({"keys": 1})
    with pytest.raises(ValueError, match=r"keys must be in 0..4294967295, not -1"):
        pack_command(good(keys=-1))
    with pytest.raises(ValueError, match=r"scales must hold at most 32 heads, not 33"):
        pack_command(good(scales=((1, 1),) * 33))
    with pytest.raises(ValueError, match=r"shift must be in 0..63, not 64"):
        pack_command(good(scales=((1, 64),)))
    with pytest.raises(ValueError, match=r"survivors_base must be in 0..18446744073709551615, not -1"):
        pack_command(good(survivors_base=-1))


def test_unpack_wrong():
    with pytest.raises(ValueError, match=r"words must hold 128 words, not 3"):
        unpack_command(np.zeros(3, np.uint32))


def test_error_codes_fit_a_byte():
    assert max(Error) < 256 and list(Error) == sorted(Error)
    assert [e.value for e in Error] == list(range(len(Error)))


# The survivor record ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_survivor_geometry(name):
    cfg = preset(name)
    row, port = out_row_bytes(cfg.head_dim, cfg.value_bits), cfg.axi_data_bits // 8
    assert survivor_rows(cfg) * row * 8 >= 64 + cfg.max_context > (survivor_rows(cfg) - 1) * row * 8
    assert survivor_row_stride(cfg) % port == 0 and 0 <= survivor_row_stride(cfg) - row < port
    assert survivor_bytes(cfg) == (survivor_rows(cfg) - 1) * survivor_row_stride(cfg) + row


@pytest.mark.parametrize("name", PRESETS)
def test_survivors_roundtrip(name):
    cfg = preset(name)
    rng = np.random.default_rng(7)
    for keys, heads in ((1, 1), (cfg.max_context, MAX_HEADS), (cfg.max_context // 2 + 1, 5)):
        head_alive, token_alive = rng.random(heads) < 0.5, rng.random(keys) < 0.5
        rows = pack_survivors(cfg, head_alive, token_alive)
        assert len(rows) == survivor_rows(cfg)
        assert [at for at, _ in rows] == [r * survivor_row_stride(cfg) for r in range(len(rows))]
        image = bytearray(survivor_bytes(cfg))
        for at, raw in rows:
            assert len(raw) == out_row_bytes(cfg.head_dim, cfg.value_bits)
            image[at:at + len(raw)] = raw
        heads_back, tokens_back, count = unpack_survivors(cfg, bytes(image), keys, heads)
        assert np.array_equal(heads_back, head_alive) and np.array_equal(tokens_back, token_alive)
        assert count == int(token_alive.sum())
        # The header: head mask in bits 0..31, then the count.
        header = int.from_bytes(bytes(image[:8]), "little")
        assert header & 0xFFFF_FFFF == sum(1 << h for h in np.flatnonzero(head_alive))


def test_survivors_wrong():
    with pytest.raises(ValueError, match=r"head_alive must hold at most 32 heads and token_alive at most "
                                         r"64 tokens, not 33, 1"):
        pack_survivors(TINY, np.ones(33, bool), np.ones(1, bool))
    with pytest.raises(ValueError, match=rf"image must hold survivor_bytes\(cfg\) = {survivor_bytes(TINY)} "
                                         r"bytes, not 1"):
        unpack_survivors(TINY, b"\0", 1, 1)
