"""Layouts of a layer command in hardware: the record's words and the decoded command.

The fields and their order come from ``golden.command`` (the record format
and the error table); :data:`ErrorCode` is ``golden.command.Error`` as an
Amaranth enum.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data, enum

from golden.command import (
    MAX_HEADS,
    MAX_LAYERS,
    PLANES,
    RECORD_WORDS,
    SCALE_MANT_FIELD,
    SCALE_SHIFT_FIELD,
    Error,
)
from golden.formats import PROB, VALUE_KEEP

__all__ = ["ErrorCode", "record_layout", "scale_layout", "command_layout", "result_layout"]

#: The error table of golden.command as an Amaranth enum (its width follows the largest code).
ErrorCode = enum.Enum("ErrorCode", [(e.name, e.value) for e in Error])

#: A record as the reader collects it: word i is record word i.
record_layout = data.ArrayLayout(32, RECORD_WORDS)

#: A head's score scale: ``score = round(dot * mantissa >> shift)`` (golden.qk).
scale_layout = data.StructLayout({"mantissa": SCALE_MANT_FIELD, "shift": SCALE_SHIFT_FIELD})


def command_layout(*, max_context, head_dim, addr_bits):
    """A checked command: every field within the range ``golden.command.check_command`` allows.

    ``base`` and ``stride`` hold one field per plane of ``golden.command.PLANES``.
    """
    count = unsigned(max_context.bit_length())
    heads = unsigned(MAX_HEADS.bit_length())
    return data.StructLayout({
        "mode": 1, "last": 1, "fresh": 1, "causal": 1,
        "keys": count, "rows": count, "head_dim": unsigned(head_dim.bit_length()),
        "heads": heads, "layer": range(MAX_LAYERS), "token_keep": count, "head_keep": heads,
        "value_keep": unsigned((1 << VALUE_KEEP.frac).bit_length()),
        "threshold": unsigned((1 << PROB.frac).bit_length()),
        "base": data.StructLayout({plane: addr_bits for plane in PLANES}),
        "stride": data.StructLayout({plane: 32 for plane in PLANES}),
        "out_row_stride": 32,
        "survivors_base": addr_bits,
        "scale": data.ArrayLayout(scale_layout, MAX_HEADS),
    })


def result_layout(command):
    """What the command reader hands on per request: the command (zero on an error) and its error."""
    return data.StructLayout({"command": command, "error": ErrorCode})
