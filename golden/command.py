"""The layer command list in DRAM: record layout, packing, and the checks the core applies.

The host writes one **record** per layer command, :data:`RECORD_WORDS`
little-endian 32-bit words (:data:`RECORD_BYTES` = 512 bytes), the records
of a list one after the other from ``CMD_PTR`` (a multiple of
:data:`RECORD_BYTES`, so a record never crosses a 4 KB boundary and is one
burst). Words (:data:`WORDS` gives each field's word):

=====  ==================  ==========================================================
word   field               meaning
=====  ==================  ==========================================================
0      control             ``magic << 16 | causal << 10 | fresh << 9 | last << 8 | mode``
                           (:data:`MAGIC`, :class:`Mode`)
1      keys                L, tokens of the context (1..max_context)
2      rows                query rows (1..L); row ``i`` sits at position ``L - rows + i``
3      head_dim            D (1..cfg.head_dim)
4      heads               heads of the layer (1..:data:`MAX_HEADS`)
5      layer               the layer's index in the model (0..:data:`MAX_LAYERS` - 1)
6      token_keep          tokens this layer keeps (1..L): survivors of cascade pruning
7      head_keep           heads this layer keeps (1..heads)
8      value_keep          local value pruning code, U1.16 (1..65536, ``golden.pruning.value_keep_code``)
9      threshold           re-fetch threshold code, U1.15 (0..32768, ``golden.fetch``)
10-23  <plane>_base        byte addresses, lo/hi word pairs, of :data:`PLANES`
24-30  <plane>_stride      bytes from one head's region to the next (same planes)
31     out_row_stride      bytes from one output row to the next
32-33  survivors_base      where the core writes the layer's survivor record (lo/hi)
34-63  (reserved, zero)
64+h   scale[h]            head h's score scale ``shift << 16 | mantissa``
                           (``golden.qk.score_multiplier``; mantissa 1..65535, shift 0..62)
96-127 (reserved, zero)
=====  ==================  ==========================================================

``fresh`` starts a new sequence: the core forgets its tokens, importances
and head lists before this command. Without it the command continues the
sequence: ``keys`` may grow (new tokens alive, importance 0; generation) but
not shrink (:attr:`Error.KEYS_SHRINK`). ``causal`` masks key ``j`` from row
``i`` when ``j > L - rows + i``. ``mode`` is recorded (``DECODED_CONTROL``);
both modes run the same datapath, they differ in ``rows`` and in what the
host re-quantises.

Planes: Q, K and V rows are the MSB and LSB planes of ``golden.quant.pack_kv``
(Q too: the fetcher's bit-width converter joins them), ``cfg.head_dim``
elements per row (a head with ``D < cfg.head_dim`` stored zero-padded), row
``j`` of a head at ``base + h * stride + j * row_bytes``; output rows are
``pack_plane(out, value_bits + OUT_FRAC, signed=True)`` rows of
``cfg.head_dim`` elements (:func:`out_row_bytes`) at ``out_base + h *
out_stride + i * out_row_stride``. Heads pruned by the layer write no rows.

**Survivor record** (:func:`pack_survivors`): the bit string ``head mask
(32 bits: bit h = head h ran) | alive token count (32 bits) | token bitmap
(max_context bits: bit j = token j was a key of this layer)``, cut into
:func:`survivor_rows` rows of ``out_row_bytes(cfg.head_dim, value_bits)``
bytes, row ``r`` at ``survivors_base + r * survivor_row_stride(cfg)``.

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

from .formats import OUT_FRAC, PROB, VALUE_KEEP, as_int
from .quant import row_bytes

__all__ = ["MAGIC", "RECORD_WORDS", "RECORD_BYTES", "MAX_HEADS", "SCALE_WORD", "PLANES", "WORDS",
           "MAX_LAYERS", "Mode", "Error", "Command", "out_row_bytes", "pack_command",
           "unpack_command", "check_command", "command_bytes", "survivor_rows", "survivor_row_stride",
           "survivor_bytes", "pack_survivors", "unpack_survivors", "COMMAND_FIELDS"]

#: The upper half of word 0 of every record: a list that runs into garbage stops.
MAGIC = 0x5A77
RECORD_WORDS = 128
RECORD_BYTES = 4 * RECORD_WORDS
#: Heads a layer command holds scales for (as gen.blocks.TOPK_HEADS ranks).
MAX_HEADS = 32
#: Layers of a model the core keeps head lists for.
MAX_LAYERS = 64
#: Word of head 0's score scale.
SCALE_WORD = 64
#: The per-head DRAM regions of a command, in word order.
PLANES = ("q_msb", "q_lsb", "k_msb", "k_lsb", "v_msb", "v_lsb", "out")
#: Bits of the survivor record ahead of the token bitmap: head mask, alive token count.
SURVIVOR_HEADER_BITS = 64
#: Largest score shift (``golden.qk.qk_scores``) and the field widths of a scale word.
SCALE_SHIFT_MAX = 62
SCALE_MANT_FIELD = 16
SCALE_SHIFT_FIELD = 6


def _word_table():
    words = {"control": 0, "keys": 1, "rows": 2, "head_dim": 3, "heads": 4, "layer": 5, "token_keep": 6,
             "head_keep": 7, "value_keep": 8, "threshold": 9}
    for i, plane in enumerate(PLANES):
        words[f"{plane}_base"] = 10 + 2 * i        # lo word; hi word follows
        words[f"{plane}_stride"] = 24 + i
    words["out_row_stride"] = 31
    words["survivors_base"] = 32                    # lo word; hi word follows
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
    LAYER_RANGE = 7      # layer not in 0..MAX_LAYERS - 1
    KEEP_RANGE = 8       # token_keep not in 1..keys
    HEAD_KEEP_RANGE = 9  # head_keep not in 1..heads
    VALUE_KEEP_RANGE = 10    # value_keep code not in 1..65536
    THRESHOLD_RANGE = 11     # threshold code above 32768
    SCALE_RANGE = 12     # a used head's scale: mantissa 0 or shift above 62
    ALIGN_Q_MSB = 13     # base or stride not a multiple of the port width ...
    ALIGN_Q_LSB = 14
    ALIGN_K_MSB = 15
    ALIGN_K_LSB = 16
    ALIGN_V_MSB = 17
    ALIGN_V_LSB = 18
    ALIGN_OUT = 19       # ... (out: the row stride too)
    ALIGN_SURVIVORS = 20     # survivors_base not a multiple of the port width
    RANGE_Q_MSB = 21     # base + heads * stride beyond the address space ...
    RANGE_Q_LSB = 22
    RANGE_K_MSB = 23
    RANGE_K_LSB = 24
    RANGE_V_MSB = 25
    RANGE_V_LSB = 26
    RANGE_OUT = 27
    RANGE_SURVIVORS = 28     # survivors_base + survivor_bytes beyond the address space
    # The core's own, not a field of the command alone:
    ALIGN_CMD = 29       # CMD_PTR not a multiple of RECORD_BYTES
    CMD_READ = 30        # SLVERR / DECERR reading the command record
    DATA_READ = 31       # SLVERR / DECERR reading Q, K or V
    OUT_WRITE = 32       # SLVERR / DECERR writing output rows or the survivor record
    KEYS_SHRINK = 33     # keys below the tokens of the sequence, without fresh


@dataclass(frozen=True)
class Command:
    """One layer command as the host fills it (see the module docstring for each field)."""
    mode: int = Mode.SUMMARIZE
    last: bool = True
    fresh: bool = True
    causal: bool = False
    keys: int = 1
    rows: int = 1
    head_dim: int = 1
    heads: int = 1
    layer: int = 0
    token_keep: int = 1
    head_keep: int = 1
    value_keep: int = 1 << VALUE_KEEP.frac
    threshold: int = 0
    q_msb_base: int = 0
    q_lsb_base: int = 0
    k_msb_base: int = 0
    k_lsb_base: int = 0
    v_msb_base: int = 0
    v_lsb_base: int = 0
    out_base: int = 0
    q_msb_stride: int = 0
    q_lsb_stride: int = 0
    k_msb_stride: int = 0
    k_lsb_stride: int = 0
    v_msb_stride: int = 0
    v_lsb_stride: int = 0
    out_stride: int = 0
    out_row_stride: int = 0
    survivors_base: int = 0
    scales: tuple = ()          # (mantissa, shift) per head, at most MAX_HEADS
    magic: int = MAGIC


def out_row_bytes(head_dim, value_bits):
    """Bytes of one packed output row (``value_bits + OUT_FRAC``-bit signed codes)."""
    return row_bytes(head_dim, value_bits + OUT_FRAC)


#: The one-word fields, packed as they are.
_SCALAR_FIELDS = ("keys", "rows", "head_dim", "heads", "layer", "token_keep", "head_keep", "value_keep",
                  "threshold", "out_row_stride")


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
    words[0] = (_u32("magic", cmd.magic, 16) << 16 | int(bool(cmd.causal)) << 10
                | int(bool(cmd.fresh)) << 9 | int(bool(cmd.last)) << 8 | _u32("mode", cmd.mode, 8))
    for name in _SCALAR_FIELDS:
        words[WORDS[name]] = _u32(name, getattr(cmd, name))
    for plane in PLANES:
        base = _u32(f"{plane}_base", getattr(cmd, f"{plane}_base"), 64)
        words[WORDS[f"{plane}_base"]] = base & 0xFFFF_FFFF
        words[WORDS[f"{plane}_base"] + 1] = base >> 32
        words[WORDS[f"{plane}_stride"]] = _u32(f"{plane}_stride", getattr(cmd, f"{plane}_stride"))
    survivors = _u32("survivors_base", cmd.survivors_base, 64)
    words[WORDS["survivors_base"]] = survivors & 0xFFFF_FFFF
    words[WORDS["survivors_base"] + 1] = survivors >> 32
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
    values = {"magic": words[0] >> 16, "last": bool(words[0] >> 8 & 1), "fresh": bool(words[0] >> 9 & 1),
              "causal": bool(words[0] >> 10 & 1), "mode": words[0] & 0xFF}
    for name in _SCALAR_FIELDS:
        values[name] = words[WORDS[name]]
    w = WORDS["survivors_base"]
    values["survivors_base"] = words[w] | words[w + 1] << 32
    for plane in PLANES:
        w = WORDS[f"{plane}_base"]
        values[f"{plane}_base"] = words[w] | words[w + 1] << 32
        values[f"{plane}_stride"] = words[WORDS[f"{plane}_stride"]]
    values["scales"] = tuple((w & 0xFFFF, w >> 16 & 0x3F) for w in words[SCALE_WORD:SCALE_WORD + MAX_HEADS])
    return Command(**values)


def _mode_ok(words):
    control = words[0]
    return (control & 0xFF) in tuple(Mode) and (control >> 11) & 0x1F == 0


def check_command(cmd, cfg):
    """The :class:`Error` of ``cmd`` (a :class:`Command` or its record words) on hardware ``cfg``.

    ``cfg`` is read for ``max_context``, ``head_dim``, ``value_bits``,
    ``axi_data_bits`` and ``axi_addr_bits``. The rules are tried in code order; the first failing
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
        (Error.LAYER_RANGE, c.layer < MAX_LAYERS),
        (Error.KEEP_RANGE, 1 <= c.token_keep <= c.keys),
        (Error.HEAD_KEEP_RANGE, 1 <= c.head_keep <= c.heads),
        (Error.VALUE_KEEP_RANGE, 1 <= c.value_keep <= 1 << VALUE_KEEP.frac),
        (Error.THRESHOLD_RANGE, c.threshold <= 1 << PROB.frac),
        (Error.SCALE_RANGE, all(m >= 1 and s <= SCALE_SHIFT_MAX for m, s in c.scales[:c.heads])),
    ]
    for plane in PLANES:
        strides = [getattr(c, f"{plane}_stride")] + ([c.out_row_stride] if plane == "out" else [])
        aligned = all(v % port == 0 for v in [getattr(c, f"{plane}_base"), *strides])
        rules.append((Error[f"ALIGN_{plane.upper()}"], aligned))
    rules.append((Error.ALIGN_SURVIVORS, c.survivors_base % port == 0))
    for plane in PLANES:
        end = getattr(c, f"{plane}_base") + c.heads * getattr(c, f"{plane}_stride")
        rules.append((Error[f"RANGE_{plane.upper()}"], end <= space))
    rules.append((Error.RANGE_SURVIVORS, c.survivors_base + survivor_bytes(cfg) <= space))
    for error, ok in rules:
        if not ok:
            return error
    return Error.NONE


def _survivor_row(cfg):
    return out_row_bytes(cfg.head_dim, cfg.value_bits)


def survivor_rows(cfg):
    """Rows of ``out_row_bytes(cfg.head_dim, cfg.value_bits)`` bytes the survivor record takes."""
    return -(-(SURVIVOR_HEADER_BITS + cfg.max_context) // (8 * _survivor_row(cfg)))


def survivor_row_stride(cfg):
    """Bytes from one survivor record row to the next: a row rounded up to the port width."""
    port = cfg.axi_data_bits // 8
    return -(-_survivor_row(cfg) // port) * port


def survivor_bytes(cfg):
    """Bytes from ``survivors_base`` to the end of the survivor record's last row."""
    return (survivor_rows(cfg) - 1) * survivor_row_stride(cfg) + _survivor_row(cfg)


def pack_survivors(cfg, head_alive, token_alive):
    """The survivor record as ``[(offset, bytes)]`` rows from ``survivors_base``.

    ``head_alive`` bool ``(heads,)``, ``token_alive`` bool ``(keys,)``: the heads
    that ran and the tokens that were keys of the layer.
    """
    head_alive = np.asarray(head_alive, dtype=bool).ravel()
    token_alive = np.asarray(token_alive, dtype=bool).ravel()
    if head_alive.size > MAX_HEADS or token_alive.size > cfg.max_context:
        raise ValueError(f"head_alive must hold at most {MAX_HEADS} heads and token_alive at most "
                         f"{cfg.max_context} tokens, not {head_alive.size}, {token_alive.size}")
    bits = np.zeros(survivor_rows(cfg) * 8 * _survivor_row(cfg), dtype=np.uint8)
    mask = sum(1 << h for h in np.flatnonzero(head_alive))
    header = mask | int(token_alive.sum()) << 32
    bits[:SURVIVOR_HEADER_BITS] = [(header >> i) & 1 for i in range(SURVIVOR_HEADER_BITS)]
    bits[SURVIVOR_HEADER_BITS:SURVIVOR_HEADER_BITS + token_alive.size] = token_alive
    raw = np.packbits(bits, bitorder="little").reshape(survivor_rows(cfg), _survivor_row(cfg))
    return [(r * survivor_row_stride(cfg), raw[r].tobytes()) for r in range(survivor_rows(cfg))]


def unpack_survivors(cfg, image, keys, heads):
    """``(head_alive (heads,), token_alive (keys,), count)`` from the ``survivor_bytes(cfg)``
    bytes at ``survivors_base``."""
    image = np.frombuffer(bytes(image), dtype=np.uint8)
    if image.size < survivor_bytes(cfg):
        raise ValueError(f"image must hold survivor_bytes(cfg) = {survivor_bytes(cfg)} bytes, not {image.size}")
    rows = [image[r * survivor_row_stride(cfg):][:_survivor_row(cfg)] for r in range(survivor_rows(cfg))]
    bits = np.unpackbits(np.concatenate(rows), bitorder="little")
    header = sum(int(b) << i for i, b in enumerate(bits[:SURVIVOR_HEADER_BITS]))
    head_alive = np.array([(header >> h) & 1 for h in range(heads)], dtype=bool)
    token_alive = bits[SURVIVOR_HEADER_BITS:SURVIVOR_HEADER_BITS + keys].astype(bool)
    return head_alive, token_alive, header >> 32


#: The Command fields in declaration order (for tables and drivers).
COMMAND_FIELDS = tuple(f.name for f in fields(Command))
