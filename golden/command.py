"""The layer command list in DRAM: record layout, packing, and the checks the core applies.

The host writes one **record** per layer command, :data:`RECORD_WORDS`
little-endian 32-bit words (:data:`RECORD_BYTES` = 256 bytes), the records
of a list one after the other from ``CMD_PTR`` (a multiple of
:data:`RECORD_BYTES`, so a record never crosses a 4 KB boundary and is one
burst). Words (:data:`WORDS` gives each field's word):

====  ==================  ==========================================================
word  field               meaning
====  ==================  ==========================================================
0     control             ``magic << 16 | last << 8 | mode`` (:data:`MAGIC`, :class:`Mode`)
1     keys                L, tokens of the context (1..max_context)
2     rows                query rows (1..L)
3     head_dim            D (1..cfg.head_dim)
4     heads               heads of the layer (1..:data:`MAX_HEADS`)
5     token_keep          tokens this layer keeps (1..L, ``golden.pruning.keep_count``)
6     head_keep           heads this layer keeps (1..heads)
7     value_keep          local value pruning ratio code, U1.15 (1..32768, :func:`value_keep_code`)
8     threshold           re-fetch threshold code, U1.15 (0..32768, ``golden.fetch``)
9-20  <plane>_base        byte addresses, lo/hi word pairs: q, k_msb, k_lsb, v_msb, v_lsb, out
21-26 <plane>_stride      bytes from one head's region to the next (same planes)
27    out_row_stride      bytes from one output row to the next
28-31 (reserved, zero)
32+h  scale[h]            head h's score scale ``shift << 16 | mantissa``
                          (``golden.qk.score_multiplier``; mantissa 1..65535, shift 0..62)
====  ==================  ==========================================================

Planes: Q rows are ``pack_plane(q, value_bits, signed=True)`` rows, K and V
the MSB and LSB planes of ``golden.quant.pack_kv``; output rows are
``pack_plane(out, value_bits + OUT_FRAC, signed=True)`` rows
(:func:`out_row_bytes`) at ``out_base + h * out_stride + i * out_row_stride``.

**Checks** (:func:`check_command`): the rules of :class:`Error` in code
order; the first that fails names the command's error, and the core runs
nothing of it. An alignment error means a base or a stride that is not a
multiple of the memory port's width; a range error a region ``base +
heads * stride`` beyond the address space. The codes after the command
rules are the core's own (command pointer, AXI errors): one table for
golden, hardware, C header and driver.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

import numpy as np

from .formats import OUT_FRAC, PROB, as_int
from .quant import row_bytes

__all__ = ["MAGIC", "RECORD_WORDS", "RECORD_BYTES", "MAX_HEADS", "SCALE_WORD", "PLANES", "WORDS",
           "Mode", "Error", "Command", "value_keep_code", "out_row_bytes", "pack_command",
           "unpack_command", "check_command", "command_bytes"]

#: The upper half of word 0 of every record: a list that runs into garbage stops.
MAGIC = 0x5A77
RECORD_WORDS = 64
RECORD_BYTES = 4 * RECORD_WORDS
#: Heads a layer command holds scales for (as gen.blocks.TOPK_HEADS ranks).
MAX_HEADS = 32
#: Word of head 0's score scale.
SCALE_WORD = 32
#: The DRAM regions of a command, in word order.
PLANES = ("q", "k_msb", "k_lsb", "v_msb", "v_lsb", "out")
#: Largest score shift (``golden.qk.qk_scores``) and the field widths of a scale word.
SCALE_SHIFT_MAX = 62
SCALE_MANT_FIELD = 16
SCALE_SHIFT_FIELD = 6


def _word_table():
    words = {"control": 0, "keys": 1, "rows": 2, "head_dim": 3, "heads": 4, "token_keep": 5,
             "head_keep": 6, "value_keep": 7, "threshold": 8}
    for i, plane in enumerate(PLANES):
        words[f"{plane}_base"] = 9 + 2 * i         # lo word; hi word follows
        words[f"{plane}_stride"] = 21 + i
    words["out_row_stride"] = 27
    return words


#: Field name -> word index (a base's lo word; its hi word is the next one).
WORDS = _word_table()


class Mode(enum.IntEnum):
    """What a layer command runs."""
    SUMMARIZE = 0
    GENERATE = 1


class Error(enum.IntEnum):
    """Why the core rejected a command or stopped; checked in this order (0: none)."""
    NONE = 0
    MAGIC = 1            # word 0's upper half is not MAGIC
    MODE = 2             # mode is not a Mode, or reserved control bits are set
    L_RANGE = 3          # keys not in 1..max_context
    ROWS_RANGE = 4       # rows not in 1..keys
    D_RANGE = 5          # head_dim not in 1..cfg.head_dim
    HEADS_RANGE = 6      # heads not in 1..MAX_HEADS
    KEEP_RANGE = 7       # token_keep not in 1..keys
    HEAD_KEEP_RANGE = 8  # head_keep not in 1..heads
    VALUE_KEEP_RANGE = 9     # value_keep code not in 1..32768
    THRESHOLD_RANGE = 10     # threshold code above 32768
    SCALE_RANGE = 11     # a used head's scale: mantissa 0 or shift above 62
    ALIGN_Q = 12         # base or stride not a multiple of the port width ...
    ALIGN_K_MSB = 13
    ALIGN_K_LSB = 14
    ALIGN_V_MSB = 15
    ALIGN_V_LSB = 16
    ALIGN_OUT = 17       # ... (out: the row stride too)
    RANGE_Q = 18         # base + heads * stride beyond the address space ...
    RANGE_K_MSB = 19
    RANGE_K_LSB = 20
    RANGE_V_MSB = 21
    RANGE_V_LSB = 22
    RANGE_OUT = 23
    # The core's own, not a field of the command:
    ALIGN_CMD = 24       # CMD_PTR not a multiple of RECORD_BYTES
    CMD_READ = 25        # SLVERR / DECERR reading the command record
    DATA_READ = 26       # SLVERR / DECERR reading Q, K or V
    OUT_WRITE = 27       # SLVERR / DECERR writing output rows


@dataclass(frozen=True)
class Command:
    """One layer command as the host fills it (see the module docstring for each field)."""
    mode: int = Mode.SUMMARIZE
    last: bool = True
    keys: int = 1
    rows: int = 1
    head_dim: int = 1
    heads: int = 1
    token_keep: int = 1
    head_keep: int = 1
    value_keep: int = 1 << PROB.frac
    threshold: int = 0
    q_base: int = 0
    k_msb_base: int = 0
    k_lsb_base: int = 0
    v_msb_base: int = 0
    v_lsb_base: int = 0
    out_base: int = 0
    q_stride: int = 0
    k_msb_stride: int = 0
    k_lsb_stride: int = 0
    v_msb_stride: int = 0
    v_lsb_stride: int = 0
    out_stride: int = 0
    out_row_stride: int = 0
    scales: tuple = ()          # (mantissa, shift) per head, at most MAX_HEADS
    magic: int = MAGIC


def value_keep_code(ratio):
    """Local value pruning ratio as a U1.15 code ``round_half_up(ratio * 2**15)``, at least 1."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise ValueError(f"ratio must be a number in (0, 1], not {ratio!r}")
    return max(1, int(np.floor(ratio * (1 << PROB.frac) + 0.5)))


def out_row_bytes(head_dim, value_bits):
    """Bytes of one packed output row (``value_bits + OUT_FRAC``-bit signed codes)."""
    return row_bytes(head_dim, value_bits + OUT_FRAC)


def _u32(name, value, bits=32):
    value = as_int(name, value)
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must be in 0..{(1 << bits) - 1}, not {value}")
    return value


def pack_command(cmd):
    """A :class:`Command` -> its record, ``RECORD_WORDS`` uint32 words.

    Any value a field can hold packs (so that bad commands can be written and
    rejected by the core); only values that do not fit their words raise.
    """
    if not isinstance(cmd, Command):
        raise TypeError(f"cmd must be a Command, not {cmd!r}")
    words = np.zeros(RECORD_WORDS, dtype=np.uint32)
    words[0] = (_u32("magic", cmd.magic, 16) << 16 | int(bool(cmd.last)) << 8
                | _u32("mode", cmd.mode, 8))
    for name in ("keys", "rows", "head_dim", "heads", "token_keep", "head_keep", "value_keep",
                 "threshold", "out_row_stride"):
        words[WORDS[name]] = _u32(name, getattr(cmd, name))
    for plane in PLANES:
        base = _u32(f"{plane}_base", getattr(cmd, f"{plane}_base"), 64)
        words[WORDS[f"{plane}_base"]] = base & 0xFFFF_FFFF
        words[WORDS[f"{plane}_base"] + 1] = base >> 32
        words[WORDS[f"{plane}_stride"]] = _u32(f"{plane}_stride", getattr(cmd, f"{plane}_stride"))
    if len(cmd.scales) > MAX_HEADS:
        raise ValueError(f"scales must hold at most {MAX_HEADS} heads, not {len(cmd.scales)}")
    for h, (mant, shift) in enumerate(cmd.scales):
        words[SCALE_WORD + h] = (_u32("shift", shift, SCALE_SHIFT_FIELD) << 16
                                 | _u32("mantissa", mant, SCALE_MANT_FIELD))
    return words


def command_bytes(cmd):
    """The record of ``cmd`` as the bytes the host writes to DRAM."""
    return pack_command(cmd).astype("<u4").tobytes()


def unpack_command(words):
    """A record (``RECORD_WORDS`` words, or its bytes) -> :class:`Command`, every field as stored.

    The scales of all ``MAX_HEADS`` words are returned; reserved bits are dropped
    (the core checks them: :attr:`Error.MODE`).
    """
    if isinstance(words, (bytes, bytearray)):
        words = np.frombuffer(bytes(words), dtype="<u4")
    words = [int(w) for w in np.asarray(words, dtype=np.uint64).ravel()]
    if len(words) != RECORD_WORDS:
        raise ValueError(f"words must hold {RECORD_WORDS} words, not {len(words)}")
    values = {"magic": words[0] >> 16, "last": bool(words[0] >> 8 & 1), "mode": words[0] & 0xFF}
    for name in ("keys", "rows", "head_dim", "heads", "token_keep", "head_keep", "value_keep",
                 "threshold", "out_row_stride"):
        values[name] = words[WORDS[name]]
    for plane in PLANES:
        w = WORDS[f"{plane}_base"]
        values[f"{plane}_base"] = words[w] | words[w + 1] << 32
        values[f"{plane}_stride"] = words[WORDS[f"{plane}_stride"]]
    values["scales"] = tuple((w & 0xFFFF, w >> 16 & 0x3F) for w in words[SCALE_WORD:])
    return Command(**values)


def _mode_ok(words):
    control = words[0]
    return (control & 0xFF) in tuple(Mode) and (control >> 9) & 0x7F == 0


def check_command(cmd, cfg):
    """The :class:`Error` of ``cmd`` (a :class:`Command` or its record words) on hardware ``cfg``.

    ``cfg`` is read for ``max_context``, ``head_dim``, ``axi_data_bits`` and
    ``axi_addr_bits``. The rules are tried in code order; the first failing
    one is returned, :attr:`Error.NONE` when all pass.
    """
    words = pack_command(cmd) if isinstance(cmd, Command) else np.asarray(cmd, dtype=np.uint32)
    c = unpack_command(words)
    words = [int(w) for w in words]
    port = cfg.axi_data_bits // 8
    space = 1 << cfg.axi_addr_bits
    rules = [
        (Error.MAGIC, c.magic == MAGIC),
        (Error.MODE, _mode_ok(words)),
        (Error.L_RANGE, 1 <= c.keys <= cfg.max_context),
        (Error.ROWS_RANGE, 1 <= c.rows <= c.keys),
        (Error.D_RANGE, 1 <= c.head_dim <= cfg.head_dim),
        (Error.HEADS_RANGE, 1 <= c.heads <= MAX_HEADS),
        (Error.KEEP_RANGE, 1 <= c.token_keep <= c.keys),
        (Error.HEAD_KEEP_RANGE, 1 <= c.head_keep <= c.heads),
        (Error.VALUE_KEEP_RANGE, 1 <= c.value_keep <= 1 << PROB.frac),
        (Error.THRESHOLD_RANGE, c.threshold <= 1 << PROB.frac),
        (Error.SCALE_RANGE, all(m >= 1 and s <= SCALE_SHIFT_MAX for m, s in c.scales[:c.heads])),
    ]
    for plane in PLANES:
        strides = [getattr(c, f"{plane}_stride")] + ([c.out_row_stride] if plane == "out" else [])
        aligned = all(v % port == 0 for v in [getattr(c, f"{plane}_base"), *strides])
        rules.append((Error[f"ALIGN_{plane.upper()}"], aligned))
    for plane in PLANES:
        end = getattr(c, f"{plane}_base") + c.heads * getattr(c, f"{plane}_stride")
        rules.append((Error[f"RANGE_{plane.upper()}"], end <= space))
    for error, ok in rules:
        if not ok:
            return error
    return Error.NONE


#: The Command fields in declaration order (for tables and drivers).
COMMAND_FIELDS = tuple(f.name for f in fields(Command))
