"""Layer-command cases shared by the command reader's tests and the driver's: random valid
commands, mutated records near every rule's boundary, and what the hardware returns for them."""

import dataclasses

import numpy as np

from golden.command import (
    MAX_HEADS,
    PLANES,
    RECORD_WORDS,
    SCALE_WORD,
    WORDS,
    Command,
    Error,
    Mode,
    check_command,
    unpack_command,
)
from golden.formats import PROB

__all__ = ["good", "bad_cases", "random_good", "mutate", "expected_result", "decoded"]


def good(**overrides):
    """A valid command (every address a multiple of 16 bytes), with ``overrides``."""
    values = dict(mode=Mode.SUMMARIZE, last=True, keys=40, rows=40, head_dim=8, heads=2,
                  token_keep=30, head_keep=2, value_keep=1 << (PROB.frac - 1), threshold=3277,
                  q_base=0x1000, k_msb_base=0x2000, k_lsb_base=0x3000, v_msb_base=0x4000,
                  v_lsb_base=0x5000, out_base=0x6000, q_stride=0x200, k_msb_stride=0x200,
                  k_lsb_stride=0x100, v_msb_stride=0x200, v_lsb_stride=0x100, out_stride=0x400,
                  out_row_stride=16, scales=((40000, 20), (123, 3)))
    values.update(overrides)
    return Command(**values)


def bad_cases(cfg):
    """``[(overrides of good(), Error)]``: each bad-command class on ``cfg`` and the code naming it."""
    top = 1 << cfg.axi_addr_bits
    return [
        (dict(magic=0x1234), Error.MAGIC),
        (dict(mode=2), Error.MODE),
        (dict(keys=0), Error.L_RANGE),
        (dict(keys=cfg.max_context + 1, rows=1, token_keep=1), Error.L_RANGE),
        (dict(rows=0), Error.ROWS_RANGE),
        (dict(rows=41), Error.ROWS_RANGE),
        (dict(head_dim=cfg.head_dim + 1), Error.D_RANGE),
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
        (dict(q_base=top), Error.RANGE_Q),
        (dict(k_msb_base=top - 0x3F0), Error.RANGE_K_MSB),
        (dict(k_lsb_stride=top // 2), Error.RANGE_K_LSB),
        (dict(v_msb_base=top - 0x200), Error.RANGE_V_MSB),
        (dict(v_lsb_base=top - 0x100), Error.RANGE_V_LSB),
        (dict(out_stride=top // 2), Error.RANGE_OUT),
    ]


def random_good(rng, cfg):
    """A random command that passes ``check_command`` on ``cfg`` (``rng``: a ``random.Random``)."""
    port = cfg.axi_data_bits // 8
    keys = rng.randint(1, cfg.max_context)
    heads = rng.randint(1, MAX_HEADS)
    space = 1 << cfg.axi_addr_bits
    values = dict(mode=rng.choice(list(Mode)), last=rng.random() < 0.5, keys=keys, rows=rng.randint(1, keys),
                  head_dim=rng.randint(1, cfg.head_dim), heads=heads, token_keep=rng.randint(1, keys),
                  head_keep=rng.randint(1, heads), value_keep=rng.randint(1, 1 << PROB.frac),
                  threshold=rng.randint(0, 1 << PROB.frac), out_row_stride=port * rng.randint(0, 64),
                  scales=tuple((rng.randint(1, 0xFFFF), rng.randint(0, 62)) for _ in range(MAX_HEADS)))
    for plane in PLANES:
        stride = port * rng.randint(0, (space // heads // port) // 4)
        base = port * rng.randint(0, (space - heads * stride) // port)
        values[f"{plane}_base"], values[f"{plane}_stride"] = base, stride
    cmd = Command(**values)
    assert check_command(cmd, cfg) is Error.NONE
    return cmd


def mutate(rng, words, cfg):
    """``words`` with one to three fields set to values near a rule's boundary, or random bits."""
    words = np.array(words, dtype=np.uint32)
    space = 1 << cfg.axi_addr_bits
    limits = {"keys": cfg.max_context, "rows": int(words[WORDS["keys"]]), "head_dim": cfg.head_dim,
              "heads": MAX_HEADS, "token_keep": int(words[WORDS["keys"]]),
              "head_keep": int(words[WORDS["heads"]]), "value_keep": 1 << PROB.frac,
              "threshold": 1 << PROB.frac}
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(6)
        if kind == 0:
            name = rng.choice(sorted(limits))
            words[WORDS[name]] = max(0, limits[name] + rng.choice([-1, 0, 1, 2, 1 << 20])) & 0xFFFF_FFFF
            if rng.random() < 0.2:
                words[WORDS[name]] = 0
        elif kind == 1:
            words[0] ^= 1 << rng.randrange(32)
        elif kind == 2:
            plane = rng.choice(PLANES)
            which = rng.choice(["base", "stride"] + (["row"] if plane == "out" else []))
            index = WORDS["out_row_stride"] if which == "row" else WORDS[f"{plane}_{which}"]
            words[index] ^= 1 << rng.randrange(7)
        elif kind == 3:
            plane = rng.choice(PLANES)
            heads = min(int(words[WORDS["heads"]]), MAX_HEADS)
            end = space - rng.choice([0, 1]) * (cfg.axi_data_bits // 8)
            stride = int(words[WORDS[f"{plane}_stride"]])
            base = max(0, end - heads * stride) + rng.choice([0, 0, cfg.axi_data_bits // 8])
            words[WORDS[f"{plane}_base"]] = base & 0xFFFF_FFFF
            words[WORDS[f"{plane}_base"] + 1] = base >> 32
        elif kind == 4:
            h = rng.randrange(MAX_HEADS)
            words[SCALE_WORD + h] = rng.choice([0, 63 << 16 | 5, 62 << 16 | 1, rng.getrandbits(22)])
        else:
            words[rng.randrange(RECORD_WORDS)] = rng.getrandbits(32)
    return words


def decoded(cmd):
    """A :class:`golden.command.Command` as the hardware's command struct (a dict)."""
    values = {name: int(getattr(cmd, name)) for name in ("mode", "last", "keys", "rows", "head_dim",
                                                         "heads", "token_keep", "head_keep",
                                                         "value_keep", "threshold", "out_row_stride")}
    values["base"] = {p: getattr(cmd, f"{p}_base") for p in PLANES}
    values["stride"] = {p: getattr(cmd, f"{p}_stride") for p in PLANES}
    values["scale"] = [{"mantissa": m, "shift": s} for m, s in cmd.scales]
    return values


def expected_result(words, cfg):
    """``(error, command dict or None)`` the command reader returns for a record of ``words``."""
    error = check_command(words, cfg)
    if error is not Error.NONE:
        return error, None
    cmd = unpack_command(words)
    if len(cmd.scales) < MAX_HEADS:
        cmd = dataclasses.replace(cmd, scales=cmd.scales + ((0, 0),) * (MAX_HEADS - len(cmd.scales)))
    return error, decoded(cmd)
