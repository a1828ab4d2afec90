"""Packed rows -> on-chip codes: the bit-width converter (wiring and constants only)."""

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .layouts import Plane, raw_row_layout, row_layout

__all__ = ["RowUnpacker", "merge_lsb", "check_row"]


def check_row(head_dim, msb_bits, lsb_bits):
    """``(head_dim, msb_bits, lsb_bits)`` checked: D in 1..256, planes of 1..15 bits, at most 16 in all."""
    head_dim = check_int("head_dim", head_dim, 1, 256)
    msb = check_int("msb_bits", msb_bits, 1, 15)
    lsb = check_int("lsb_bits", lsb_bits, 1, 15)
    if msb + lsb > 16:
        raise ValueError(f"msb_bits + lsb_bits must be at most 16, not {msb} + {lsb}")
    return head_dim, msb, lsb


def merge_lsb(code, lsb_code, *, lsb_bits):
    """The full code from an MSB-only ``code`` and a row's LSB-plane code (``golden.fetch.merge_lsb``):
    the MSB-only code's low ``lsb_bits`` (the half-LSB bias) are replaced; for the K/V buffer."""
    return Cat(lsb_code[:lsb_bits], code[lsb_bits:]).as_signed()


class RowUnpacker(wiring.Component):
    """Unpacks a row of ``head_dim`` elements into ``value_bits``-bit codes.

    Element ``e`` of a packed row is bits ``e*w .. e*w+w-1`` (little-endian,
    ``golden.quant.pack_plane``). The MSB plane (``w = msb_bits``, signed)
    becomes the MSB-only code ``msb << lsb_bits | 1 << (lsb_bits - 1)``
    (``golden.quant.msb_only``): the element's bits, left-aligned, above a
    constant bias. The LSB plane (``w = lsb_bits``, unsigned) becomes its
    unsigned code in the low bits. No logic but a 2-way multiplexer per bit.

    Parameters
    ----------
    head_dim : int
        D, elements per row, 1..256.
    msb_bits, lsb_bits : int
        Plane widths: ``msb_bits`` 1..15, ``lsb_bits`` 1..15, sum at most 16.
    index_bits : int
        Index width.

    Members
    -------
    raw_rows : In(stream.Signature(raw_row_layout))
    rows : Out(stream.Signature(row_layout))
        Combinational from ``raw_rows`` (latency 0); ``ready`` passes through.
    """

    def __init__(self, *, head_dim, msb_bits, lsb_bits, index_bits):
        self._head_dim, self._msb_bits, self._lsb_bits = check_row(head_dim, msb_bits, lsb_bits)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        row_bits = 8 * max(self.row_bytes)
        super().__init__({
            "raw_rows": In(stream.Signature(raw_row_layout(row_bits=row_bits, index_bits=self._index_bits))),
            "rows": Out(stream.Signature(row_layout(head_dim=self._head_dim, value_bits=self.value_bits,
                                                    index_bits=self._index_bits))),
        })

    @property
    def value_bits(self):
        return self._msb_bits + self._lsb_bits

    @property
    def row_bytes(self):
        """Bytes of a packed row of the MSB and of the LSB plane (``golden.quant.row_bytes``)."""
        from golden.quant import row_bytes
        return row_bytes(self._head_dim, self._msb_bits), row_bytes(self._head_dim, self._lsb_bits)

    def elaborate(self, platform):
        m = Module()
        src, dst = self.raw_rows, self.rows
        msb, lsb = self._msb_bits, self._lsb_bits
        raw = src.p.raw
        bias = Const(1 << (lsb - 1), lsb)
        for e in range(self._head_dim):
            msb_code = Cat(bias, raw[e * msb:(e + 1) * msb])
            lsb_code = Cat(raw[e * lsb:(e + 1) * lsb], Const(0, msb))
            m.d.comb += dst.p.codes[e].eq(Mux(src.p.plane == Plane.LSB, lsb_code, msb_code))
        m.d.comb += [
            dst.p.index.eq(src.p.index), dst.p.plane.eq(src.p.plane), dst.p.has_row.eq(src.p.has_row),
            dst.p.last.eq(src.p.last), dst.p.status.eq(src.p.status),
            dst.valid.eq(src.valid), src.ready.eq(dst.ready),
        ]
        return m
