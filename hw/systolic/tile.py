"""A tile of processing elements, combinational between its elements."""

from amaranth.hdl import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .pe import ProcessingElement, check_operand, product_bits

__all__ = ["Tile"]


class Tile(wiring.Component):
    """``rows x cols`` processing elements; operand A along rows, partial sums down columns.

    Element ``(r, c)`` multiplies ``a[r]`` (shared by the row, a wire) by
    ``b[r][c]`` (its own) and adds the partial sum of element ``(r - 1, c)``;
    ``sum_out[c]`` leaves the bottom row. Nothing is registered between the
    elements (only inside each, around its multiplier): the mesh puts the
    registers at tile boundaries, so the chain of ``rows`` adders and the
    ``cols`` loads of an ``a`` wire set the tile's size.

    Parameters
    ----------
    rows, cols : int
        Elements down and across, 1..256.
    a_shape, b_shape : shape
        Operand shapes (see :class:`ProcessingElement`).
    acc_bits : int
        Bits of the partial sums.

    Members
    -------
    a : In(ArrayLayout(a_shape, rows))
        Operand A of each row.
    b : In(ArrayLayout(ArrayLayout(b_shape, cols), rows))
        Operand B of each element.
    sum_in : In(ArrayLayout(signed(acc_bits), cols))
        Partial sums entering the top row.
    a_out : Out(ArrayLayout(a_shape, rows))
        ``a``, passed on (a wire) to the tile on the right.
    sum_out : Out(ArrayLayout(signed(acc_bits), cols))
        ``sum_in[c]`` plus the column's products of :attr:`latency` cycles before.

    Latency :attr:`latency` = ``ProcessingElement.LATENCY`` from the operands
    to ``sum_out``; ``sum_in`` to ``sum_out`` is combinational.
    """

    def __init__(self, *, rows, cols, a_shape, b_shape, acc_bits):
        self._rows = check_int("rows", rows, 1, 256)
        self._cols = check_int("cols", cols, 1, 256)
        self._a_shape = check_operand("a_shape", a_shape)
        self._b_shape = check_operand("b_shape", b_shape)
        self._acc_bits = check_int("acc_bits", acc_bits, product_bits(self._a_shape, self._b_shape), 64)
        sums = data.ArrayLayout(signed(self._acc_bits), self._cols)
        super().__init__({
            "a": In(data.ArrayLayout(self._a_shape, self._rows)),
            "b": In(data.ArrayLayout(data.ArrayLayout(self._b_shape, self._cols), self._rows)),
            "sum_in": In(sums),
            "a_out": Out(data.ArrayLayout(self._a_shape, self._rows)),
            "sum_out": Out(sums),
        })

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)

    @property
    def latency(self):
        return ProcessingElement.LATENCY

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.a_out.eq(self.a)
        for c in range(self._cols):
            partial = self.sum_in[c]
            for r in range(self._rows):
                pe = m.submodules[f"pe_{r}_{c}"] = ProcessingElement(
                    a_shape=self._a_shape, b_shape=self._b_shape, acc_bits=self._acc_bits)
                m.d.comb += [pe.a.eq(self.a[r]), pe.b.eq(self.b[r][c]), pe.sum_in.eq(partial)]
                partial = pe.sum_out
            m.d.comb += self.sum_out[c].eq(partial)
        return m
