"""Layer-command cases shared by the command reader's tests and the driver's: random valid
commands, mutated records near every rule's boundary, and what the hardware returns for them."""

import dataclasses

import numpy as np

from golden.command import (
    MAX_HEADS,
    MAX_LAYERS,
    PLANES,
    RECORD_WORDS,
    SCALE_WORD,
    WORDS,
    Command,
    Error,
    Mode,
    check_command,
    survivor_bytes,
    unpack_command,
)
from golden.formats import PROB, VALUE_KEEP

__all__ = ["good", "bad_cases", "boundary_cases", "random_good", "mutate", "expected_result", "decoded"]


def good(**overrides):
    """A valid command (every address a multiple of 16 bytes, each region below 0x10000), with
    ``overrides``."""
    values = dict(mode=Mode.SUMMARIZE, last=True, fresh=True, causal=False, keys=40, rows=40, head_dim=8,
                  heads=2, layer=3, token_keep=30, head_keep=2, value_keep=1 << (VALUE_KEEP.frac - 1),
                  threshold=3277, out_row_stride=16, survivors_base=0x9000, scales=((40000, 20), (123, 3)))
    for i, plane in enumerate(PLANES):
        values[f"{plane}_base"] = 0x1000 * (i + 1)
        values[f"{plane}_stride"] = 0x400 if plane == "out" else 0x200 >> (i % 2)
    values.update(overrides)
    return Command(**values)


def bad_cases(cfg):
    """``[(overrides of good(), Error)]``: each bad-command class on ``cfg`` and the code naming it.

    Every rule of ``golden.command.check_command`` fails at least once, most on both sides of
    their range; the plane rules once per plane."""
    top = 1 << cfg.axi_addr_bits
    port = cfg.axi_data_bits // 8
    cases = [
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
        (dict(layer=MAX_LAYERS), Error.LAYER_RANGE),
        (dict(layer=0xFFFF_FFFF), Error.LAYER_RANGE),
        (dict(token_keep=41), Error.KEEP_RANGE),
        (dict(token_keep=0), Error.KEEP_RANGE),
        (dict(head_keep=3), Error.HEAD_KEEP_RANGE),
        (dict(value_keep=0), Error.VALUE_KEEP_RANGE),
        (dict(value_keep=(1 << VALUE_KEEP.frac) + 1), Error.VALUE_KEEP_RANGE),
        (dict(threshold=(1 << PROB.frac) + 1), Error.THRESHOLD_RANGE),
        (dict(scales=((0, 3), (1, 1))), Error.SCALE_RANGE),
        (dict(scales=((1, 1), (1, 63))), Error.SCALE_RANGE),
    ]
    # Per plane: a misaligned base (odd planes) or stride (even ones), a region ending one port
    # word beyond the space (base or stride pushed).
    for i, plane in enumerate(PLANES):
        field = f"{plane}_{'base' if i % 2 else 'stride'}"
        cases.append(({field: good().__dict__[field] + (i % 3 + 1)}, Error[f"ALIGN_{plane.upper()}"]))
    cases.append((dict(out_row_stride=18), Error.ALIGN_OUT))
    cases.append((dict(survivors_base=0x9000 + port // 2), Error.ALIGN_SURVIVORS))
    for i, plane in enumerate(PLANES):
        stride = good().__dict__[f"{plane}_stride"]
        if i % 2 or top // 2 >= 1 << 32:
            overrides = {f"{plane}_base": top - 2 * stride + port}
        else:
            overrides = {f"{plane}_stride": top // 2 - stride + port}
        cases.append((overrides, Error[f"RANGE_{plane.upper()}"]))
    last_fit = (top - survivor_bytes(cfg)) // port * port
    cases.append((dict(survivors_base=last_fit + port), Error.RANGE_SURVIVORS))
    cases.append((dict(survivors_base=top), Error.RANGE_SURVIVORS))
    return cases


def boundary_cases(cfg):
    """``[overrides of good()]`` that pass with every region ending exactly at the top of the space."""
    top = 1 << cfg.axi_addr_bits
    port = cfg.axi_data_bits // 8
    cases = [{f"{plane}_base": top - 2 * good().__dict__[f"{plane}_stride"]} for plane in PLANES]
    cases.append(dict(survivors_base=(top - survivor_bytes(cfg)) // port * port))
    cases.append(dict(layer=MAX_LAYERS - 1, value_keep=1 << VALUE_KEEP.frac, threshold=1 << PROB.frac,
                      fresh=False, causal=True, last=False, mode=Mode.GENERATE))
    return cases


def random_good(rng, cfg):
    """A random command that passes ``check_command`` on ``cfg`` (``rng``: a ``random.Random``)."""
    port = cfg.axi_data_bits // 8
    keys = rng.randint(1, cfg.max_context)
    heads = rng.randint(1, MAX_HEADS)
    space = 1 << cfg.axi_addr_bits
    values = dict(mode=rng.choice(list(Mode)), last=rng.random() < 0.5, fresh=rng.random() < 0.5,
                  causal=rng.random() < 0.5, keys=keys, rows=rng.randint(1, keys),
                  head_dim=rng.randint(1, cfg.head_dim), heads=heads, layer=rng.randrange(MAX_LAYERS),
                  token_keep=rng.randint(1, keys), head_keep=rng.randint(1, heads),
                  value_keep=rng.randint(1, 1 << VALUE_KEEP.frac), threshold=rng.randint(0, 1 << PROB.frac),
                  out_row_stride=port * rng.randint(0, 64),
                  survivors_base=port * rng.randint(0, (space - survivor_bytes(cfg)) // port),
                  scales=tuple((rng.randint(1, 0xFFFF), rng.randint(0, 62)) for _ in range(MAX_HEADS)))
    for plane in PLANES:
        stride = port * rng.randint(0, min(space // heads // port // 4, 0xFFFF_FFFF // port))
        base = port * rng.randint(0, (space - heads * stride) // port)
        values[f"{plane}_base"], values[f"{plane}_stride"] = base, stride
    cmd = Command(**values)
    assert check_command(cmd, cfg) is Error.NONE
    return cmd


def _set64(words, index, value):
    words[index] = value & 0xFFFF_FFFF
    words[index + 1] = value >> 32 & 0xFFFF_FFFF


def mutate(rng, words, cfg):
    """``words`` with one to three fields set to values near a rule's boundary, or random bits."""
    words = np.array(words, dtype=np.uint32)
    space = 1 << cfg.axi_addr_bits
    port = cfg.axi_data_bits // 8
    limits = {"keys": cfg.max_context, "rows": int(words[WORDS["keys"]]), "head_dim": cfg.head_dim,
              "heads": MAX_HEADS, "layer": MAX_LAYERS - 1, "token_keep": int(words[WORDS["keys"]]),
              "head_keep": int(words[WORDS["heads"]]), "value_keep": 1 << VALUE_KEEP.frac,
              "threshold": 1 << PROB.frac}
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        if kind == 0:
            name = rng.choice(sorted(limits))
            words[WORDS[name]] = max(0, limits[name] + rng.choice([-1, 0, 1, 2, 1 << 20])) & 0xFFFF_FFFF
            if rng.random() < 0.2:
                words[WORDS[name]] = 0
        elif kind == 1:
            words[0] ^= 1 << rng.randrange(32)
        elif kind == 2:
            plane = rng.choice(PLANES + ("survivors",))
            which = "base" if plane == "survivors" else rng.choice(["base", "stride"]
                                                                   + (["row"] if plane == "out" else []))
            index = WORDS["out_row_stride"] if which == "row" else WORDS[f"{plane}_{which}"]
            words[index] ^= 1 << rng.randrange(7)
        elif kind == 3:
            plane = rng.choice(PLANES)
            heads = min(int(words[WORDS["heads"]]), MAX_HEADS)
            end = space - rng.choice([0, 1]) * port
            stride = int(words[WORDS[f"{plane}_stride"]])
            base = max(0, end - heads * stride) + rng.choice([0, 0, port])
            _set64(words, WORDS[f"{plane}_base"], base)
        elif kind == 4:
            h = rng.randrange(MAX_HEADS)
            words[SCALE_WORD + h] = rng.choice([0, 63 << 16 | 5, 62 << 16 | 1, rng.getrandbits(22)])
        elif kind == 5:
            base = (space - survivor_bytes(cfg)) // port * port + rng.choice([-port, 0, 0, port, 1])
            _set64(words, WORDS["survivors_base"], base)
        else:
            words[rng.randrange(RECORD_WORDS)] = rng.getrandbits(32)
    return words


def decoded(cmd):
    """A :class:`golden.command.Command` as the hardware's command struct (a dict)."""
    values = {name: int(getattr(cmd, name)) for name in ("mode", "last", "fresh", "causal", "keys", "rows",
                                                         "head_dim", "heads", "layer", "token_keep",
                                                         "head_keep", "value_keep", "threshold",
                                                         "out_row_stride", "survivors_base")}
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
